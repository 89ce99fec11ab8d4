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
captured profile. A bot path is relative to the feature file's folder (a
path that is not there is tried from pytest's rootdir, as it used to be).
Values are read by the property's type in the bot (``"42"`` is text for a
text property, a number for a number, ``"a, b"`` a list): never as JSON.

Loaded by :mod:`simulator.pytest_plugin` when pytest-bdd is installed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from plugin.core.properties import SYSTEM_PROPERTIES, InvalidValue, PropertyDef, validate_value
from runtime.model import PropertySpec

from .assertions import ExpectationFailed, check_offered
from .host import SimulatorHost
from .model import (
    DEFAULT_STEP_TIMEOUT,
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

__all__ = ["GherkinConversation", "feature_dir"]

_QUOTED = re.compile(r'"([^"]*)"')
_FEATURE_DIR = pytest.StashKey[Path]()


@dataclass
class GherkinConversation:
    """One Gherkin scenario's conversation: the scene, then the live conversation."""

    host: SimulatorHost
    root: Path
    name: str = "gherkin scenario"
    feature_dir: Path | None = None  # the folder of the feature file being run
    bot: Path | None = None
    channel: str = "web"
    profile: dict[str, Any] = field(default_factory=dict)
    apis: dict[str, ApiStub] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    module: str | None = None  # start mid-flow there
    quiet: float = 0.0  # the quiet period that closes each answer
    timeout: float = DEFAULT_STEP_TIMEOUT  # seconds one input may take
    live: LiveConversation | None = None

    def resolve(self, path: str) -> Path:
        """``path`` from the feature file's folder; else, for suites written
        before, from pytest's rootdir."""
        candidate = Path(path)
        if candidate.is_absolute():
            return candidate.resolve()
        for base in (self.feature_dir, self.root):
            if base is not None and (base / candidate).exists():
                return (base / candidate).resolve()
        return ((self.feature_dir or self.root) / candidate).resolve()

    def _definitions(self) -> Mapping[str, PropertySpec | PropertyDef]:
        if self.bot is None:
            return SYSTEM_PROPERTIES
        return {**SYSTEM_PROPERTIES, **self.host.simulator.bot(self.bot).properties}

    def typed(self, name: str, text: str) -> Any:
        """``text`` as property ``name`` holds it, by its type in the bot (or
        the system's); text when the bot does not declare it or the type
        refuses it (the check then says what was stored instead)."""
        definition = self._definitions().get(name)
        try:
            if isinstance(definition, PropertySpec):
                return definition.check(text)
            if definition is not None:
                return validate_value(definition, text)
        except InvalidValue:
            pass
        return text

    def given_value(self, name: str, text: str) -> Any:
        """A starting profile value: by the property's type when the bot or the
        system declares it, else JSON (a number, a list, ...) or text."""
        if name in self._definitions():
            return self.typed(name, text)
        try:
            return json.loads(text)
        except ValueError:
            return text

    def opened(self) -> LiveConversation:
        if self.live is None:
            if self.bot is None:
                raise AssertionError('no bot: start with Given the bot "path/to/bot.yaml"')
            profile = {name: self.given_value(name, str(value))
                       for name, value in self.profile.items()}
            given = None
            if self.module is not None:
                # The user's properties the bot declares are the ones the skipped turns
                # collected; the others stay what the channel knows of the user.
                declared = self.host.simulator.bot(self.bot).properties
                given = Given(self.module, {k: v for k, v in profile.items()
                                            if k in declared})
            scenario = Scenario(
                name=self.name, source=str(self.bot), line=0, bot_file=self.bot, target=None,
                channels=(self.channel,), steps=(), profile=profile,
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

    def act(self, what: str,
            send: Callable[[LiveConversation], Awaitable[list[dict[str, Any]]]]) -> None:
        """Send one input and hear the bot out (its quiet period), within the
        step timeout.

        Raises:
            ExpectationFailed: the bot took longer (the step is named).
        """
        __tracebackhide__ = True
        live = self.opened()
        limit = self.timeout

        async def step() -> None:
            async with asyncio.timeout(limit):
                await send(live)
                await live.collect_late()

        try:
            self.host.run(step(), timeout=limit + 5)
        except TimeoutError:
            raise ExpectationFailed("timeout", f"{what} to finish within {limit:g}s (raise it "
                                    "with: Given each step may take N seconds)",
                                    "no answer in time") from None

    def check_live(self, check: Callable[[LiveConversation], Any]) -> None:
        """Run a check that reads the live conversation (not an :class:`Expect`)."""
        __tracebackhide__ = True
        live = self.opened()
        outcome = check(live)
        if inspect.isawaitable(outcome):
            self.host.run(_awaited(outcome))

    def close(self) -> None:
        if self.live is not None:
            self.host.run(self.live.close())
            self.live = None


async def _awaited(outcome: Awaitable[Any]) -> Any:
    return await outcome


def feature_dir(request: pytest.FixtureRequest) -> Path | None:
    """The folder of the feature file the requesting scenario comes from."""
    return request.node.stash.get(_FEATURE_DIR, None)


@pytest.hookimpl(optionalhook=True)
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Any,
                               scenario: Any) -> None:
    """Remember the feature file's folder: bot paths are relative to it."""
    request.node.stash[_FEATURE_DIR] = Path(feature.filename).resolve().parent


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
    """Typed when the conversation opens (the bot may be named after this step)."""
    audience_conversation.profile[name] = value


@given(parsers.parse('the conversation starts at module "{module}"'))
def starts_mid_flow(audience_conversation: GherkinConversation, module: str) -> None:
    """Start mid-flow: the user's properties given so far count as collected."""
    audience_conversation.module = module


@given(parsers.parse("the bot is heard out until it is quiet for {seconds:g} seconds"))
def quiet_period(audience_conversation: GherkinConversation, seconds: float) -> None:
    """Messages the bot sends after its answer count until it is quiet this long."""
    audience_conversation.quiet = seconds


@given(parsers.parse("each step may take {seconds:g} seconds"))
def step_timeout(audience_conversation: GherkinConversation, seconds: float) -> None:
    audience_conversation.timeout = seconds


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


@given(parsers.parse('the API "{api}" takes {seconds:g} seconds to answer'))
def api_delay(audience_conversation: GherkinConversation, api: str, seconds: float) -> None:
    """Delay the API's stub (as given before this step, else a 200 with ``{}``)."""
    stub = audience_conversation.apis.get(api, ApiStub(api))
    audience_conversation.apis[api] = replace(stub, delay=seconds)


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
    audience_conversation.act(f"the user says {text!r}", lambda live: live.say(text))


@when(parsers.parse('the user taps "{label}" on an earlier message'))
def user_taps_earlier(audience_conversation: GherkinConversation, label: str) -> None:
    audience_conversation.act(f"the user taps {label!r} on an earlier message",
                              lambda live: live.tap_earlier(label))


@when(parsers.parse('the user taps "{label}"'))
def user_taps(audience_conversation: GherkinConversation, label: str) -> None:
    audience_conversation.act(f"the user taps {label!r}", lambda live: live.tap(label))


# --- what the user sees -------------------------------------------------------


@then(parsers.parse('the bot replies "{text}"'))
def bot_replies(audience_conversation: GherkinConversation, text: str) -> None:
    audience_conversation.check(Expect(text=text))


@then(parsers.parse('the bot\'s reply contains "{text}"'))
def reply_contains(audience_conversation: GherkinConversation, text: str) -> None:
    audience_conversation.check(Expect(contains=text))


@then(parsers.parse('the bot\'s reply matches "{pattern}"'))
def reply_matches(audience_conversation: GherkinConversation, pattern: str) -> None:
    audience_conversation.check(Expect(regex=pattern))


@then(parsers.re(r'the bot offers a button "(?P<title>[^"]*)" with payload "(?P<payload>[^"]*)"'))
def offers_payload(audience_conversation: GherkinConversation, title: str, payload: str) -> None:
    choice = Choice(title=title, payload=payload)
    audience_conversation.check_live(lambda live: check_offered(choice, live.replies))


@then(parsers.re(r'the bot offers a button "(?P<title>[^"]*)" with URL "(?P<url>[^"]*)"'))
def offers_link(audience_conversation: GherkinConversation, title: str, url: str) -> None:
    choice = Choice(title=title, url=url)
    audience_conversation.check_live(lambda live: check_offered(choice, live.replies))


@then(parsers.re(r"the bot shows the cards? (?P<titles>\".+)"))
def shows_cards(audience_conversation: GherkinConversation, titles: str) -> None:
    audience_conversation.check(Expect(cards=tuple(_QUOTED.findall(titles))))


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
    audience_conversation.check(Expect(properties={name: audience_conversation.typed(name,
                                                                                     value)}))


@then(parsers.parse('the property "{name}" includes "{value}"'))
def property_includes(audience_conversation: GherkinConversation, name: str, value: str) -> None:
    """A list property holds ``value`` among its items."""
    conversation = audience_conversation

    async def includes(live: LiveConversation) -> None:
        held = (await live.captured()).attributes.get(name)
        item = conversation.typed(name, value)
        wanted = item[0] if isinstance(item, list) and len(item) == 1 else item
        if not isinstance(held, list) or wanted not in held:
            got = "it is not set" if held is None else repr(held)
            raise ExpectationFailed("properties", f"property {name!r} to include {wanted!r}",
                                    got)

    conversation.check_live(includes)


@then(parsers.parse('the value for "{name}" is refused'))
def property_refused(audience_conversation: GherkinConversation, name: str) -> None:
    audience_conversation.check(Expect(rejected=(name,)))


@then(parsers.parse('the API "{api}" failed with "{reason}"'))
def api_failed(audience_conversation: GherkinConversation, api: str, reason: str) -> None:
    audience_conversation.check(Expect(apis={api: ApiExpect(failed=reason)}))


@then(parsers.parse('the API "{api}" was not called'))
def api_not_called(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.check(Expect(apis={api: ApiExpect(called=False)}))


@then(parsers.parse('the API "{api}" succeeded'))
def api_succeeded(audience_conversation: GherkinConversation, api: str) -> None:
    audience_conversation.check(Expect(apis={api: ApiExpect(ok=True)}))


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
