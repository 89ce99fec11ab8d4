"""The pytest-bdd step library: Gherkin sentences for simulator scenarios.

    Feature: Quotes
      Scenario: the CRM is down
        Given the bot "scenarios/bots/leads.yaml" on channel "whatsapp"
        And the API "crm_lookup" times out
        When the user says "quote"
        And the user says "ada@example.com"
        Then the API "crm_lookup" failed with "timeout"
        And the bot's reply contains "couldn't check"

``Given`` steps set the scene (bot, channel, starting profile, API stubs);
the conversation opens at the first ``When``. ``Then`` steps build the same
:class:`~simulator.model.Expect` values a YAML scenario holds and check them
with :mod:`simulator.assertions`, against the last ``When``'s replies and the
captured profile. Bot paths are relative to pytest's rootdir.

Loaded by :mod:`simulator.pytest_plugin` when pytest-bdd is installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, then, when

from .host import SimulatorHost
from .model import (
    ApiExpect,
    ApiStub,
    Choice,
    Expect,
    Given,
    Scenario,
    ScenarioRun,
    StubFailure,
)
from .runner import LiveConversation

__all__ = ["GherkinConversation"]

_QUOTED = re.compile(r'"([^"]*)"')


@dataclass
class GherkinConversation:
    """One Gherkin scenario's conversation: the scene, then the live conversation."""

    host: SimulatorHost
    root: Path
    name: str = "gherkin scenario"
    bot: Path | None = None
    channel: str = "web"
    profile: dict[str, Any] = field(default_factory=dict)
    apis: dict[str, ApiStub] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    module: str | None = None  # start mid-flow there
    quiet: float = 0.0  # the quiet period that closes each answer
    live: LiveConversation | None = None

    def resolve(self, path: str) -> Path:
        candidate = Path(path)
        if not candidate.is_absolute() and (self.root / candidate).exists():
            return (self.root / candidate).resolve()
        return candidate.resolve()

    def opened(self) -> LiveConversation:
        if self.live is None:
            if self.bot is None:
                raise AssertionError('no bot: start with Given the bot "path/to/bot.yaml"')
            given = None
            if self.module is not None:
                # The user's properties the bot declares are the ones the skipped turns
                # collected; the others stay what the channel knows of the user.
                declared = self.host.simulator.bot(self.bot).properties
                given = Given(self.module, {k: v for k, v in self.profile.items()
                                            if k in declared})
            scenario = Scenario(
                name=self.name, source=str(self.bot), line=0, bot_file=self.bot, target=None,
                channels=(self.channel,), steps=(), profile=dict(self.profile),
                apis=dict(self.apis), variables=dict(self.variables), given=given,
                quiet=self.quiet)
            live = self.host.run(self.host.simulator.open(ScenarioRun(scenario, self.channel)))
            self.live = live
            if given is not None:
                self.host.run(live.begin(given))
        return self.live

    def check(self, expect: Expect) -> None:
        __tracebackhide__ = True
        live = self.opened()
        self.host.run(live.check(expect))

    def close(self) -> None:
        if self.live is not None:
            self.host.run(self.live.close())
            self.live = None


def _titles(text: str) -> tuple[Choice, ...]:
    return tuple(Choice(title=t) for t in _QUOTED.findall(text))


# --- the scene ----------------------------------------------------------------


@given(parsers.re(r'the bot "(?P<path>[^"]+)" on channel "(?P<channel>[^"]+)"'))
def bot_on_channel(audience_conversation: GherkinConversation, path: str, channel: str) -> None:
    audience_conversation.bot = audience_conversation.resolve(path)
    audience_conversation.channel = channel


@given(parsers.re(r'the bot "(?P<path>[^"]+)"'))
def bot(audience_conversation: GherkinConversation, path: str) -> None:
    audience_conversation.bot = audience_conversation.resolve(path)


@given(parsers.parse('the user\'s "{name}" is "{value}"'))
def starting_property(audience_conversation: GherkinConversation, name: str, value: str) -> None:
    audience_conversation.profile[name] = value


@given(parsers.parse('the conversation starts at module "{module}"'))
def starts_mid_flow(audience_conversation: GherkinConversation, module: str) -> None:
    """Start mid-flow: the user's properties given so far count as collected."""
    audience_conversation.module = module


@given(parsers.parse("the bot is heard out until it is quiet for {seconds:g} seconds"))
def quiet_period(audience_conversation: GherkinConversation, seconds: float) -> None:
    """Messages the bot sends after its answer count until it is quiet this long."""
    audience_conversation.quiet = seconds


@given(parsers.parse('the variable "{name}" is "{value}"'))
def variable(audience_conversation: GherkinConversation, name: str, value: str) -> None:
    audience_conversation.variables[name] = value


@given(parsers.parse('the API "{api}" answers {status:d} with {body}'))
def api_answers_with(audience_conversation: GherkinConversation, api: str, status: int,
                     body: str) -> None:
    audience_conversation.apis[api] = ApiStub(api, status=status, body=json.loads(body))


@given(parsers.parse('the API "{api}" answers {status:d}'))
def api_answers(audience_conversation: GherkinConversation, api: str, status: int) -> None:
    audience_conversation.apis[api] = ApiStub(api, status=status)


@given(parsers.parse('the API "{api}" answers with a body that is not JSON'))
def api_not_json(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.apis[api] = ApiStub(api, text="<html>Bad gateway</html>")


@given(parsers.parse('the API "{api}" times out'))
def api_times_out(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.apis[api] = ApiStub(api, fail=StubFailure.TIMEOUT)


@given(parsers.parse('the API "{api}" resets the connection'))
def api_resets(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.apis[api] = ApiStub(api, fail=StubFailure.RESET)


@given(parsers.parse('the API "{api}" refuses the connection'))
def api_refuses(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.apis[api] = ApiStub(api, fail=StubFailure.REFUSED)


# --- the user -----------------------------------------------------------------


@when(parsers.parse('the user says "{text}"'))
def user_says(audience_conversation: GherkinConversation, text: str) -> None:
    live = audience_conversation.opened()
    audience_conversation.host.run(live.say(text))
    audience_conversation.host.run(live.collect_late())


@when(parsers.parse('the user taps "{label}" on an earlier message'))
def user_taps_earlier(audience_conversation: GherkinConversation, label: str) -> None:
    live = audience_conversation.opened()
    audience_conversation.host.run(live.tap_earlier(label))
    audience_conversation.host.run(live.collect_late())


@when(parsers.parse('the user taps "{label}"'))
def user_taps(audience_conversation: GherkinConversation, label: str) -> None:
    live = audience_conversation.opened()
    audience_conversation.host.run(live.tap(label))
    audience_conversation.host.run(live.collect_late())


# --- what the user sees -------------------------------------------------------


@then(parsers.parse('the bot replies "{text}"'))
def bot_replies(audience_conversation: GherkinConversation, text: str) -> None:
    audience_conversation.check(Expect(text=text))


@then(parsers.parse('the bot\'s reply contains "{text}"'))
def reply_contains(audience_conversation: GherkinConversation, text: str) -> None:
    audience_conversation.check(Expect(contains=text))


@then(parsers.parse("the bot sends {count:d} messages"))
def message_count(audience_conversation: GherkinConversation, count: int) -> None:
    audience_conversation.check(Expect(messages=count))


@then(parsers.re(r"the bot offers the buttons (?P<titles>.+)"))
def offers_buttons(audience_conversation: GherkinConversation, titles: str) -> None:
    audience_conversation.check(Expect(buttons=_titles(titles)))


@then(parsers.re(r"the bot offers the quick replies (?P<titles>.+)"))
def offers_quick_replies(audience_conversation: GherkinConversation, titles: str) -> None:
    audience_conversation.check(Expect(quick_replies=_titles(titles)))


@then(parsers.re(r"the bot offers the numbered options (?P<titles>.+)"))
def offers_options(audience_conversation: GherkinConversation, titles: str) -> None:
    audience_conversation.check(Expect(options=_titles(titles)))


@then(parsers.re(r"the bot offers (?P<titles>\".+)"))
def offers(audience_conversation: GherkinConversation, titles: str) -> None:
    audience_conversation.check(Expect(offers=_titles(titles)))


@then("the bot offers no quick replies")
def no_quick_replies(audience_conversation: GherkinConversation) -> None:
    audience_conversation.check(Expect(quick_replies=()))


@then("the conversation ends with a call to action")
def ends_with_cta(audience_conversation: GherkinConversation) -> None:
    audience_conversation.opened().check_ends_with_cta()


# --- what was captured --------------------------------------------------------


@then(parsers.parse('the property "{name}" is not set'))
def property_not_set(audience_conversation: GherkinConversation, name: str) -> None:
    audience_conversation.check(Expect(not_set=(name,)))


@then(parsers.parse('the property "{name}" is set'))
def property_set(audience_conversation: GherkinConversation, name: str) -> None:
    audience_conversation.check(Expect(set=(name,)))


@then(parsers.parse('the property "{name}" is "{value}"'))
def property_is(audience_conversation: GherkinConversation, name: str, value: str) -> None:
    audience_conversation.check(Expect(properties={name: _scalar(value)}))


@then(parsers.parse('the value for "{name}" is refused'))
def property_refused(audience_conversation: GherkinConversation, name: str) -> None:
    audience_conversation.check(Expect(rejected=(name,)))


@then(parsers.parse('the API "{api}" failed with "{reason}"'))
def api_failed(audience_conversation: GherkinConversation, api: str, reason: str) -> None:
    audience_conversation.check(Expect(apis={api: ApiExpect(failed=reason)}))


@then(parsers.parse('the API "{api}" answered {status:d}'))
def api_answered(audience_conversation: GherkinConversation, api: str, status: int) -> None:
    audience_conversation.check(Expect(apis={api: ApiExpect(status=status, status_given=True)}))


@then(parsers.parse('the branch "{label}" is taken'))
def branch_taken(audience_conversation: GherkinConversation, label: str) -> None:
    audience_conversation.check(Expect(branch=label))


@then(parsers.parse('the conversation is in module "{module}"'))
def in_module(audience_conversation: GherkinConversation, module: str) -> None:
    audience_conversation.check(Expect(module=module))


@then(parsers.parse('the FAQ "{faq}" is answered'))
def faq_answered(audience_conversation: GherkinConversation, faq: str) -> None:
    audience_conversation.check(Expect(faq=faq))


@then("the bot does not fall back")
def no_fallback(audience_conversation: GherkinConversation) -> None:
    audience_conversation.check(Expect(no_fallback=True))


@then(parsers.parse('the conversation is assigned to "{who}"'))
def assigned_to(audience_conversation: GherkinConversation, who: str) -> None:
    audience_conversation.check(Expect(assigned_to=who))


def _scalar(text: str) -> Any:
    """A step's value as the profile holds it: JSON numbers and booleans, else text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) else text
