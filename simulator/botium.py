"""Botium suites as teams already have them: BotiumScript ``.convo.txt`` files,
``.pconvo.txt`` partial convos (pulled in with ``INCLUDE name`` or
``#include name``) and ``.utterances.txt`` lists, read into
:class:`~simulator.model.Scenario` values played by :mod:`simulator.botium_play`.

A convo file, as Botium's text compiler reads it::

    Quote on the web                <- the convo's name (first line), then a description
    #me
    hi
    #bot
    Hi! I'm Acme's assistant.       <- text: matched as Botium does (wildcardIgnoreCase)
    CARDS Acme Cloud                <- an asserter: NAME arg|arg, '!' negates it
    #bot
    What's your name?
    #me
    BUTTON Get a quote              <- a tap, by title or payload

Each ``#bot`` section checks one bot message, in order, as Botium's queue
does. Supported: text (negated with ``!``), ``BUTTONS``, ``MEDIA``, ``CARDS``,
``INTENT``, ``JSON_PATH`` (``!`` negates each), ``PAUSE`` and ``INCLUDE``,
and the ``BUTTON`` input. Any other Botium asserter, logic hook or input, an
optional step (``?``), a channel on a section or a JSON message is refused
with its name and line: never skipped silently. An utterance name in a
``#me`` section expands the convo into one per utterance (``name/UTT-L1``…);
in a ``#bot`` section any of its utterances matches. ``botium.json`` beside
the convos (or above them) may set ``SCRIPTING_MATCHING_MODE``, and
``AUDIENCE_BOT``: the bot file (relative to it) the convos run against
in-process when the command line names none.

Pure parsing: reads the files it is given and the ``botium.json`` next to them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from plugin.core.documents import Problem, first_problems
from plugin.core.errors import InvalidRequest

from .model import DEFAULT_STEP_TIMEOUT, Scenario, Target

__all__ = [
    "ConvoError",
    "Check",
    "ConvoStep",
    "Convo",
    "BotiumSuite",
    "CONVO_SUFFIX",
    "is_botium_file",
    "parse_convo",
    "parse_utterances",
    "read_suite",
    "botium_scenarios",
    "load_convos",
]

CONVO_SUFFIX = ".convo.txt"
PARTIAL_SUFFIX = ".pconvo.txt"
UTTERANCES_SUFFIX = ".utterances.txt"
_SUFFIXES = (CONVO_SUFFIX, PARTIAL_SUFFIX, UTTERANCES_SUFFIX)
_SENDERS = ("me", "bot", "begin", "end", "include")
MAX_EXPANSIONS = 100  # convos one convo may expand into through its utterances

ASSERTERS = frozenset({"BUTTONS", "MEDIA", "CARDS", "INTENT", "JSON_PATH"})
LOGIC_HOOKS = frozenset({"PAUSE", "INCLUDE"})
USER_INPUTS = frozenset({"BUTTON"})
# Botium's other asserters, logic hooks and inputs: recognised, so that a convo
# using one is refused by name rather than read as text the bot must say.
_BOTIUM_OTHERS = frozenset({
    "PAUSE_ASSERTER", "RESPONSE_LENGTH", "FORMS", "ENTITIES", "ENTITY_VALUES",
    "ENTITY_CONTENT", "INTENT_UNIQUE", "INTENT_CONFIDENCE", "BUTTONS_COUNT",
    "BUTTONS_COUNT_REC", "MEDIA_COUNT", "MEDIA_COUNT_REC", "CARDS_COUNT", "CARDS_COUNT_REC",
    "JSON_PATH_COUNT", "TEXT", "TEXT_CONTAINS_ANY", "TEXT_CONTAINS_ANY_IC",
    "TEXT_CONTAINS_ALL", "TEXT_CONTAINS_ALL_IC", "TEXT_EQUALS", "TEXT_EQUALS_IC",
    "TEXT_REGEXP_ANY", "TEXT_REGEXP_ANY_IC", "TEXT_REGEXP_ALL", "TEXT_REGEXP_ALL_IC",
    "TEXT_WILDCARD_ANY", "TEXT_WILDCARD_ANY_IC", "TEXT_WILDCARD_ALL", "TEXT_WILDCARD_ALL_IC",
    "TEXT_WILDCARDEXACT_ANY", "TEXT_WILDCARDEXACT_ANY_IC", "TEXT_WILDCARDEXACT_ALL",
    "TEXT_WILDCARDEXACT_ALL_IC", "BOT_CONSUMED", "BOT_UNCONSUMED_COUNT", "WER",
    "WAITFORBOT", "SET_SCRIPTING_MEMORY", "CLEAR_SCRIPTING_MEMORY",
    "ASSIGN_SCRIPTING_MEMORY", "UPDATE_CUSTOM", "CLEAR_QUEUE", "SKIP_BOT_UNCONSUMED",
    "CONDITIONAL_STEP_TIME_BASED", "CONDITIONAL_STEP_BUSINESS_HOURS",
    "CONDITIONAL_STEP_CAPABILITY_VALUE_BASED", "CONDITIONAL_STEP_JSON_PATH_BASED",
    "ORDERED_LIST_TO_BUTTON", "UPDATE_CONTEXT", "CONVO_STEP_PARAMETERS", "FORM",
})
MATCHING_MODES = ("include", "includeIgnoreCase", "includeLowerCase", "wildcard",
                  "wildcardIgnoreCase", "wildcardExact", "wildcardExactIgnoreCase", "regexp",
                  "regexpIgnoreCase", "equals", "equalsIgnoreCase")
DEFAULT_MATCHING_MODE = "wildcardIgnoreCase"


class ConvoError(InvalidRequest):
    """Botium files that cannot be run: one line per problem, ``file:line: where: reason``."""

    code = "invalid_convo"

    def __init__(self, problems: Sequence[tuple[str, Problem]]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p[0], p[1].line or 0)))
        shown, more = first_problems(self.problems)
        lines = [problem.describe(source) for source, problem in shown]
        super().__init__("\n".join([*lines, *([more] if more else [])]),
                         errors=[{"file": s, **p.to_dict()} for s, p in shown])

    def lines(self) -> list[str]:
        return [problem.describe(source) for source, problem in self.problems]


@dataclass(frozen=True, slots=True)
class Check:
    """One asserter, logic hook or input line: ``NAME arg|arg``, maybe negated."""

    name: str
    args: tuple[str, ...]
    line: int
    negated: bool = False


@dataclass(frozen=True, slots=True)
class ConvoStep:
    sender: str  # me, bot, begin or end
    line: int
    text: str | None = None  # None: no text line (different from an empty one)
    negated: bool = False
    asserters: tuple[Check, ...] = ()
    hooks: tuple[Check, ...] = ()
    inputs: tuple[Check, ...] = ()
    text_line: int | None = None

    def describe(self) -> str:
        shown = f" {self.text!r}" if self.text else ""
        if self.inputs:
            shown = f" {self.inputs[0].name} {'|'.join(self.inputs[0].args)}"
        return f"#{self.sender}{shown} (line {self.line})"


@dataclass(frozen=True, slots=True)
class Convo:
    name: str
    source: str
    steps: tuple[ConvoStep, ...]
    partial: bool = False
    description: str = ""


@dataclass(slots=True)
class BotiumSuite:
    """Every convo, partial convo and utterance list of a set of files."""

    convos: list[Convo] = field(default_factory=list)
    partials: dict[str, Convo] = field(default_factory=dict)
    utterances: dict[str, tuple[str, ...]] = field(default_factory=dict)
    matching: dict[str, str] = field(default_factory=dict)  # convo file -> matching mode
    bots: dict[str, Path] = field(default_factory=dict)  # convo file -> botium.json's bot
    problems: list[tuple[str, Problem]] = field(default_factory=list)

    def problem(self, source: str, line: int | None, path: str, reason: str) -> None:
        self.problems.append((source, Problem(path, line, reason)))


def is_botium_file(path: Path) -> bool:
    return path.name.endswith(_SUFFIXES)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n")]


def parse_utterances(text: str) -> tuple[str, tuple[str, ...]]:
    """An ``.utterances.txt`` file: its name (first line) and its utterances."""
    lines = _lines(text)
    return lines[0], tuple(line for line in lines[1:] if line)


def parse_convo(text: str, source: str, suite: BotiumSuite, *, partial: bool = False) -> Convo:
    """A convo as Botium's text compiler reads it; problems go to ``suite``."""
    lines = _lines(text)
    header: list[str] = []
    sections: list[tuple[str, int, list[tuple[int, str]]]] = []
    for number, line in enumerate(lines, 1):
        if line.startswith("#"):
            sender, _, channel = line[1:].strip().partition(" ")
            if sender not in _SENDERS:
                suite.problem(source, number, f"#{sender}", f"unknown section #{sender} "
                              f"(Botium knows {', '.join('#' + s for s in _SENDERS)})")
                sender = "me"
            if sender == "include":
                sections.append(("include", number, [(number, f"INCLUDE {channel.strip()}")]))
                continue
            if channel.strip():
                suite.problem(source, number, f"#{sender}", f"a channel on a section "
                              f"({channel.strip()!r}) is not supported")
            sections.append((sender, number, []))
        elif sections:
            sections[-1][2].append((number, line))
        else:
            header.append(line)
    named = [h for h in header if h]
    name = named[0] if named else Path(source).name.split(".")[0]
    steps = tuple(_step(sender, line, body, source, suite) for sender, line, body in sections)
    return Convo(name, source, steps, partial, "\n".join(named[1:]))


def _split_args(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(part.replace("\0", "|").strip()
                 for part in text.replace("\\|", "\0").split("|"))


def _step(sender: str, line: int, body: list[tuple[int, str]], source: str,
          suite: BotiumSuite) -> ConvoStep:
    asserters: list[Check] = []
    hooks: list[Check] = []
    inputs: list[Check] = []
    text_lines: list[tuple[int, str]] = []
    pending: list[tuple[int, str]] = []  # empty lines kept only when text follows them
    for number, raw in body:
        logic = raw
        optional = logic.startswith("?") and not logic.startswith("??")
        if logic.startswith("?"):
            logic = logic[1:]
        negated = logic.startswith("!") and not logic.startswith("!!")
        if logic.startswith("!"):
            logic = logic[1:]
        name, _, rest = logic.partition(" ")
        check = Check(name, _split_args(rest.strip()), number, negated)
        known = name in ASSERTERS | LOGIC_HOOKS | USER_INPUTS | _BOTIUM_OTHERS
        if known and optional:
            suite.problem(source, number, f"#{sender}", f"optional asserter ?{name} is not "
                          "supported")
        if name in LOGIC_HOOKS:
            hooks.append(check)
        elif sender == "me" and name in USER_INPUTS | {"MEDIA", "FORM"}:
            if name not in USER_INPUTS:
                suite.problem(source, number, f"#{sender}", f"unsupported Botium user "
                              f"input {name}")
            inputs.append(check)
        elif sender != "me" and name in ASSERTERS:
            asserters.append(check)
        elif known:
            suite.problem(source, number, f"#{sender}", f"unsupported Botium asserter or "
                          f"logic hook {name}")
        elif raw:
            text_lines += [*pending, (number, raw)]
            pending = []
        elif text_lines:
            pending.append((number, raw))
    text: str | None = None
    negated_text = False
    text_line = text_lines[0][0] if text_lines else None
    if text_lines:
        first_line, first = text_lines[0]
        if first.startswith("?") and not first.startswith("??"):
            suite.problem(source, first_line, f"#{sender}", "an optional bot message (?) is "
                          "not supported")
            first = first[1:]
        if first.startswith("!") and not first.startswith("!!"):
            negated_text = True
            first = first[1:]
        text = "\n".join([first, *(t for _, t in text_lines[1:])]).strip()
        if sender == "me" and inputs:
            suite.problem(source, first_line, "#me", "no text expected beside a user input")
        if _is_json(text):
            suite.problem(source, first_line, f"#{sender}", "a JSON message (sourceData) is "
                          "not supported")
    if sender in ("begin", "end") and (text is not None or asserters or inputs):
        suite.problem(source, line, f"#{sender}", f"#{sender} may hold PAUSE and INCLUDE only")
    for check in asserters + hooks + inputs:
        _check_args(check, sender, source, suite)
    return ConvoStep(sender, line, text, negated_text, tuple(asserters), tuple(hooks),
                     tuple(inputs), text_line)


def _is_json(text: str) -> bool:
    if not text.startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _check_args(check: Check, sender: str, source: str, suite: BotiumSuite) -> None:
    from . import jsonpath

    def bad(reason: str) -> None:
        suite.problem(source, check.line, f"#{sender}", f"{check.name}: {reason}")

    if check.name in ("BUTTON", "INTENT", "INCLUDE") and len(check.args) != 1:
        bad("takes exactly one argument")
    elif check.name == "PAUSE":
        if len(check.args) != 1 or not check.args[0].isdigit():
            bad("takes the milliseconds to wait, as a whole number")
    elif check.name == "JSON_PATH":
        if not 1 <= len(check.args) <= 2:
            bad("takes a path and an optional value: JSON_PATH $.path|value")
        else:
            try:
                jsonpath.parse(check.args[0])
            except jsonpath.JsonPathError as exc:
                bad(f"unsupported path: {exc}")


# --- files -------------------------------------------------------------------


def read_suite(paths: Iterable[Path]) -> BotiumSuite:
    """Read the Botium files among ``paths`` (directories are walked); a convo
    file given alone brings the partial convos and utterances of its folder."""
    suite = BotiumSuite()
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.txt") if is_botium_file(p))
        elif is_botium_file(path):
            files.append(path)
            files += sorted(p for p in path.parent.glob("*.txt")
                            if p.name.endswith((PARTIAL_SUFFIX, UTTERANCES_SUFFIX)))
    for file in dict.fromkeys(files):
        source = str(file)
        try:
            text = file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            suite.problem(source, None, "", f"cannot read: {exc}")
            continue
        if file.name.endswith(UTTERANCES_SUFFIX):
            name, utterances = parse_utterances(text)
            suite.utterances[name] = utterances
        elif file.name.endswith(PARTIAL_SUFFIX):
            convo = parse_convo(text, source, suite, partial=True)
            suite.partials[convo.name] = convo
        else:
            suite.convos.append(parse_convo(text, source, suite))
            _configure(file, suite)
    return suite


def _configure(file: Path, suite: BotiumSuite) -> None:
    """The matching mode and bot of the ``botium.json`` nearest ``file``."""
    source = str(file)
    suite.matching[source] = DEFAULT_MATCHING_MODE
    for folder in [file.parent, *file.parent.parents][:6]:
        config = folder / "botium.json"
        if not config.is_file():
            continue
        try:
            caps = json.loads(config.read_text("utf-8"))["botium"]["Capabilities"]
            mode = caps.get("SCRIPTING_MATCHING_MODE", DEFAULT_MATCHING_MODE)
            bot = caps.get("AUDIENCE_BOT")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            suite.problem(str(config), None, "", f"cannot read its botium.Capabilities: {exc}")
            return
        if mode not in MATCHING_MODES:
            suite.problem(str(config), None, "botium/Capabilities/SCRIPTING_MATCHING_MODE",
                          f"unsupported matching mode {mode!r} (one of: "
                          f"{', '.join(MATCHING_MODES)})")
        else:
            suite.matching[source] = str(mode)
        if isinstance(bot, str) and bot:
            suite.bots[source] = (folder / bot).resolve()
        return


def _included(convo: Convo, suite: BotiumSuite, seen: tuple[str, ...] = ()) -> list[ConvoStep]:
    """The convo's steps with every INCLUDE replaced by the partial convo's steps."""
    steps: list[ConvoStep] = []
    for step in convo.steps:
        includes = [h for h in step.hooks if h.name == "INCLUDE"]
        for hook in includes:
            name = hook.args[0] if hook.args else ""
            partial = suite.partials.get(name)
            if partial is None:
                known = ", ".join(sorted(suite.partials)) or "none"
                suite.problem(convo.source, hook.line, f"#{step.sender}",
                              f"INCLUDE {name}: no partial convo (.pconvo.txt) of that name "
                              f"(found: {known})")
            elif name in seen:
                suite.problem(convo.source, hook.line, f"#{step.sender}",
                              f"INCLUDE {name}: includes itself ({' -> '.join((*seen, name))})")
            else:
                steps += _included(partial, suite, (*seen, name))
        rest = replace(step, hooks=tuple(h for h in step.hooks if h.name != "INCLUDE"))
        if not includes or rest.text is not None or rest.asserters or rest.inputs or rest.hooks:
            steps.append(rest)
    return steps


def _expansions(convo: Convo, steps: list[ConvoStep], suite: BotiumSuite
                ) -> list[tuple[str, list[ConvoStep]]]:
    """One convo per combination of the utterances its ``#me`` steps name."""
    choices: list[list[tuple[str, ConvoStep]]] = []
    for step in steps:
        if step.sender == "me" and step.text in suite.utterances:
            said = suite.utterances[step.text] or (step.text,)
            choices.append([(f"{step.text}-L{i}", replace(step, text=t))
                            for i, t in enumerate(said, 1)])
        else:
            choices.append([("", step)])
    variants: list[tuple[str, list[ConvoStep]]] = []
    for combination in itertools.islice(itertools.product(*choices), MAX_EXPANSIONS + 1):
        labels = [label for label, _ in combination if label]
        name = convo.name + ("/" + "/".join(labels) if labels else "")
        variants.append((name, [s for _, s in combination]))
    if len(variants) > MAX_EXPANSIONS:
        suite.problem(convo.source, 1, "", f"its utterances expand it into more than "
                      f"{MAX_EXPANSIONS} convos")
        variants = variants[:MAX_EXPANSIONS]
    return variants


def botium_scenarios(suite: BotiumSuite, *, bot_file: Path | None, target: Target,
                     channels: Sequence[str], timeout: float = DEFAULT_STEP_TIMEOUT
                     ) -> list[Scenario]:
    """The suite's convos as scenarios, each played by :class:`~simulator.botium_play.ConvoScript`.

    Raises:
        ConvoError: a file cannot be run (every problem of every file listed).
    """
    from .botium_play import ConvoScript
    from .model import AudienceTarget

    scenarios: list[Scenario] = []
    deployed = isinstance(target, AudienceTarget) and target.bot_id is not None
    names: dict[str, str] = {}
    for convo in suite.convos:
        bot = None if deployed else bot_file or suite.bots.get(convo.source)
        if bot is None and not deployed:
            suite.problem(convo.source, None, "", "no bot to run the convo against: give --bot "
                          "BOT.yaml (in-process), --target URL --key KEY --bot-id ID, or "
                          "AUDIENCE_BOT in botium.json")
        elif bot is not None and not bot.is_file():
            suite.problem(convo.source, None, "", f"the bot file {str(bot)!r} does not exist")
        steps = _included(convo, suite)
        if not any(s.sender in ("me", "bot") for s in steps):
            suite.problem(convo.source, 1, "", "the convo has no #me or #bot section")
        for name, variant in _expansions(convo, steps, suite):
            if name in names:
                suite.problem(convo.source, 1, "", f"convo name {name!r} is already used in "
                              f"{names[name]}")
            names.setdefault(name, convo.source)
            script = ConvoScript(tuple(variant), dict(suite.utterances),
                                 suite.matching.get(convo.source, DEFAULT_MATCHING_MODE))
            scenarios.append(Scenario(
                name=name, source=convo.source, line=1, bot_file=bot, target=target,
                channels=tuple(channels) or ("web",), steps=(), timeout=timeout,
                script=script))
    if suite.problems:
        raise ConvoError(suite.problems)
    return scenarios


def load_convos(paths: Iterable[Path], *, bot_file: Path | None = None, target: Target = None,
                channels: Sequence[str] = ("web",)) -> list[Scenario]:
    """Read and check the Botium files among ``paths`` (see :func:`read_suite`).

    Raises:
        ConvoError: every problem of every file.
    """
    return botium_scenarios(read_suite(paths), bot_file=bot_file, target=target,
                            channels=channels)
