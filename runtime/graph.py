"""A bot as a graph, read without running it: where each step, message and
button sits in the file, which module each step can lead to, which modules a
user can reach, and how each flow can end.

Shared by the tools that check a bot before or while it runs: ``audience
lint`` (:mod:`runtime.lint`), coverage and the crawler (:mod:`simulator`).
Works on any :class:`~runtime.model.Bot`, including one read leniently
(:func:`runtime.loader.read_bot`) whose steps name modules, apis or
properties that do not exist: those references are skipped.

How a flow ends (:func:`flow_ends`) follows the interpreter: a turn runs
steps until an ``ask`` waits, a ``handover``, or the last step of a module
(the flow ends there). What the user last saw in the turn that ended a flow
is what decides whether it ended on a call to action. A module entered at the
start of a turn (a starting rule, a give-up route) starts with nothing said;
one entered by ``goto``, a branch or a call carries what was said before it.

Pure: no I/O; imports only the runtime's model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from runtime.model import (
    Ask,
    Bot,
    BotMessage,
    Branch,
    Button,
    Call,
    FailureKind,
    Goto,
    Handover,
    Module,
    Say,
    SetValues,
    Step,
)

__all__ = [
    "DocumentPath",
    "EdgeKind",
    "Edge",
    "Offer",
    "Place",
    "FlowEnd",
    "step_kind",
    "step_path",
    "message_places",
    "offers",
    "edges",
    "entry_modules",
    "reachable_modules",
    "flow_ends",
    "fallback_place",
    "cta_place",
    "failure_path",
    "start_offers",
]

DocumentPath = tuple[str | int, ...]


def step_kind(step: Step) -> str:
    """The key a step is written with: ``say``, ``ask``, ``call``, …"""
    kinds: dict[type, str] = {Say: "say", Ask: "ask", Call: "call", Branch: "branch",
                              Goto: "goto", Handover: "handover", SetValues: "set"}
    return kinds[type(step)]


def step_path(bot: Bot, module: str, index: int) -> DocumentPath:
    """The path of step ``index`` of ``module``: ``modules/quote/steps/1/call``."""
    step = bot.modules[module].steps[index]
    return ("modules", module, "steps", index, step_kind(step))


@dataclass(frozen=True, slots=True)
class Place:
    """A message of the bot and where it is written. ``step`` is the
    (module, index) of the step that says it; ``None`` for the bot's fallback
    and call to action, FAQ answers and error messages."""

    path: DocumentPath
    message: BotMessage
    step: tuple[str, int] | None = None

    @property
    def is_prompt(self) -> bool:
        return bool(self.path) and self.path[-1] == "prompt"


@dataclass(frozen=True, slots=True)
class Offer:
    """A button, quick reply or card button of a message."""

    kind: str  # "button", "quick_reply" or "card_button"
    title: str
    payload: str | None
    url: str | None
    path: DocumentPath
    place: Place


def message_places(bot: Bot) -> list[Place]:
    """Every message the bot can say, in file order: steps, then the fallback,
    the call to action and the FAQ answers."""
    places: list[Place] = []
    for name, module in bot.modules.items():
        for index, step in enumerate(module.steps):
            path = ("modules", name, "steps", index, step_kind(step))
            if isinstance(step, Say):
                places.append(Place(path, step.message, (name, index)))
            elif isinstance(step, Ask):
                places.append(Place((*path, "prompt"), step.prompt, (name, index)))
    if bot.fallback is not None:
        places.append(Place(("bot", "fallback"), bot.fallback))
    if bot.cta is not None:
        places.append(Place(("bot", "cta"), bot.cta))
    for index, faq in enumerate(bot.faqs):
        places.append(Place(("faqs", index, "answer"), faq.answer))
    return places


def offers(place: Place) -> list[Offer]:
    """What ``place``'s message offers to tap or open."""
    message, path = place.message, place.path
    found = [Offer("button", b.title, b.payload, b.url, (*path, "buttons", i), place)
             for i, b in enumerate(message.buttons)]
    found += [Offer("quick_reply", q.title, q.payload, None, (*path, "quick_replies", i), place)
              for i, q in enumerate(message.quick_replies)]
    for c, card in enumerate(message.cards):
        found += [Offer("card_button", b.title, b.payload, b.url,
                        (*path, "cards", c, "buttons", i), place)
                  for i, b in enumerate(card.buttons)]
    return found


class EdgeKind(StrEnum):
    GOTO = "goto"
    ARM = "arm"  # a branch arm whose condition held
    ELSE = "else"
    SUCCESS = "on_success"
    FAILURE = "on_failure"
    GIVE_UP = "on_give_up"


@dataclass(frozen=True, slots=True)
class Edge:
    """A step that can move the conversation to another module.

    ``label`` is the arm's label or the failure kind; ``after_input`` says
    whether an ``ask`` comes before the step in its module, so that the user
    has said something between entering the module and taking the edge (a
    give-up route always follows input).
    """

    kind: EdgeKind
    source: str
    step: int
    target: str
    path: DocumentPath
    label: str = ""
    after_input: bool = False


def _step_edges(bot: Bot, name: str, module: Module, index: int) -> Iterator[Edge]:
    step = module.steps[index]
    path = ("modules", name, "steps", index, step_kind(step))
    asked = any(isinstance(s, Ask) for s in module.steps[:index])
    if isinstance(step, Goto):
        yield Edge(EdgeKind.GOTO, name, index, step.module, path, after_input=asked)
    elif isinstance(step, Branch):
        for arm_index, arm in enumerate(step.arms):
            yield Edge(EdgeKind.ARM, name, index, arm.goto, (*path, arm_index), arm.label, asked)
        if step.otherwise is not None:
            yield Edge(EdgeKind.ELSE, name, index, step.otherwise, (*path, len(step.arms)),
                       "else", asked)
    elif isinstance(step, Call):
        if step.on_success is not None:
            yield Edge(EdgeKind.SUCCESS, name, index, step.on_success, (*path, "on_success"),
                       "success", asked)
        for kind in FailureKind:
            target = step.on_failure.route(kind)
            if target is not None:
                yield Edge(EdgeKind.FAILURE, name, index, target, failure_path(step, path, kind),
                           str(kind), asked)
    elif isinstance(step, Ask) and step.on_give_up is not None:
        yield Edge(EdgeKind.GIVE_UP, name, index, step.on_give_up, (*path, "on_give_up"),
                   "give up", True)


def failure_path(step: Call, path: DocumentPath, kind: FailureKind) -> DocumentPath:
    """Where the route of a call's failure ``kind`` is written (the call itself
    when it has no ``on_failure``)."""
    routes = step.on_failure
    if not routes.targets():
        return path
    if getattr(routes, kind.value) is None and routes.default is not None:
        # One module for every failure (``on_failure: name``) or a default.
        specific = (routes.status, routes.timeout, routes.connection, routes.invalid_response)
        return (*path, "on_failure") if not any(specific) else (*path, "on_failure", "default")
    return (*path, "on_failure", kind.value)


def edges(bot: Bot) -> list[Edge]:
    """Every edge of the bot, in file order; edges to unknown modules included."""
    return [edge for name, module in bot.modules.items()
            for index in range(len(module.steps))
            for edge in _step_edges(bot, name, module, index)]


def entry_modules(bot: Bot) -> list[str]:
    """Modules a user can start by typing: the default one and those with
    keywords or patterns."""
    return [name for name, module in bot.modules.items()
            if module.default or module.start.keywords or module.start.patterns]


def start_offers(bot: Bot) -> dict[str, str]:
    """Start payload -> the module it starts."""
    found: dict[str, str] = {}
    for name, module in bot.modules.items():
        for payload in module.start.payloads:
            found.setdefault(payload, name)
    return found


def reachable_modules(bot: Bot) -> set[str]:
    """The modules some path from a user's input reaches: the entry modules,
    then every module an edge of a reached module leads to, and every module
    a start payload of a button or quick reply the user can be shown starts
    (buttons of questions answer them: they start nothing)."""
    starts = start_offers(bot)
    seen: set[str] = set()
    queue = list(entry_modules(bot))
    # The fallback, the call to action (shown after an FAQ) and the FAQ answers
    # can be shown at any time; without a fallback or call to action of the
    # bot's own, the runtime's default one offers every payload-started module.
    always = [p for p in message_places(bot) if p.step is None]
    payloads = [o.payload for place in always for o in offers(place) if o.payload]
    if bot.fallback is None or (bot.cta is None and bot.faqs):
        payloads += list(starts)
    queue += [starts[p] for p in payloads if p in starts]
    by_module: dict[str, list[Edge]] = {}
    for edge in edges(bot):
        by_module.setdefault(edge.source, []).append(edge)
    by_step: dict[str, list[Place]] = {}
    for place in message_places(bot):
        if place.step is not None and not place.is_prompt:
            by_step.setdefault(place.step[0], []).append(place)
    while queue:
        name = queue.pop()
        if name in seen or name not in bot.modules:
            continue
        seen.add(name)
        queue += [edge.target for edge in by_module.get(name, [])]
        queue += [starts[o.payload] for place in by_step.get(name, [])
                  for o in offers(place) if o.payload in starts]
    return seen


# --- how flows end -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowEnd:
    """One way a flow can end.

    ``how`` is ``end`` (the last step of ``module`` ran), ``handover`` (a
    ``handover`` step) or ``give_up`` (an ``ask`` with no ``on_give_up`` ran
    out of retries: the runtime says the fallback). ``path`` is the step it
    ends at; ``said`` the last message the user saw in that turn (``None``:
    nothing was said in it, e.g. the flow ended right after an answer).
    """

    module: str
    how: str
    path: DocumentPath
    said: Place | None

    @property
    def has_call_to_action(self) -> bool:
        return self.how == "handover" or (
            self.said is not None and self.said.message.has_call_to_action)


def _error_place(bot: Bot, ask: Ask) -> Place:
    """The message a refused answer to ``ask`` gets (it offers nothing)."""
    spec = bot.properties.get(ask.property)
    text = spec.error_message if spec is not None and spec.error_message else ""
    return Place(("properties", ask.property, "error_message"), BotMessage(text))


def fallback_place(bot: Bot) -> Place:
    """The fallback message; the runtime's default one offers a button per
    payload-started module."""
    if bot.fallback is not None:
        return Place(("bot", "fallback"), bot.fallback)
    buttons = tuple(Button(module, payload) for payload, module in start_offers(bot).items())
    return Place(("bot",), BotMessage("(the default fallback)", buttons=buttons))


def cta_place(bot: Bot) -> Place:
    """The call to action shown after an FAQ ends a flow; the runtime's default
    one offers a button per payload-started module."""
    if bot.cta is not None:
        return Place(("bot", "cta"), bot.cta)
    buttons = tuple(Button(module, payload) for payload, module in start_offers(bot).items())
    return Place(("bot",), BotMessage("(the default call to action)", buttons=buttons))


def flow_ends(bot: Bot) -> list[FlowEnd]:
    """Every way a flow of ``bot`` can end, each once, in file order of modules."""
    graph_edges: dict[tuple[str, int], list[Edge]] = {}
    for edge in edges(bot):
        graph_edges.setdefault((edge.source, edge.step), []).append(edge)
    # A turn's starting points: starting rules and give-up routes; and modules
    # nothing leads to, so that every module is looked at.
    targets = {e.target for e_list in graph_edges.values() for e in e_list
               if e.kind is not EdgeKind.GIVE_UP}
    work: list[tuple[str, Place | None]] = [
        (name, None) for name, module in bot.modules.items()
        if module.default or module.start.keywords or module.start.patterns
        or module.start.payloads or name not in targets]
    found: dict[tuple[str, str, DocumentPath, DocumentPath | None], FlowEnd] = {}
    seen: set[tuple[str, DocumentPath | None]] = set()
    while work:
        name, said = work.pop()
        key = (name, said.path if said is not None else None)
        if key in seen or name not in bot.modules:
            continue
        seen.add(key)
        for end, jumps in _walk(bot, name, said, graph_edges):
            if end is not None:
                found.setdefault((end.module, end.how, end.path,
                                  end.said.path if end.said else None), end)
            work += jumps
    order = {name: i for i, name in enumerate(bot.modules)}
    return sorted(found.values(), key=lambda e: (order.get(e.module, 0), e.path))


def _walk(bot: Bot, name: str, said: Place | None,
          graph_edges: dict[tuple[str, int], list[Edge]]
          ) -> Iterator[tuple[FlowEnd | None, list[tuple[str, Place | None]]]]:
    """Run ``name``'s steps from the top with ``said`` already said: yields the
    flow end (if this run ends the flow) and the modules it jumps to."""
    module = bot.modules[name]
    jumps: list[tuple[str, Place | None]] = []
    for index, step in enumerate(module.steps):
        path = ("modules", name, "steps", index, step_kind(step))
        out = graph_edges.get((name, index), [])
        if isinstance(step, Say):
            said = Place(path, step.message, (name, index))
        elif isinstance(step, Ask):
            for edge in out:  # give up: the error message, then the route's module
                jumps.append((edge.target, _error_place(bot, step)))
            if step.on_give_up is None:
                yield FlowEnd(name, "give_up", path, fallback_place(bot)), []
            said = None  # the answer starts a new turn
        elif isinstance(step, Handover):
            yield FlowEnd(name, "handover", path, said), jumps
            return
        elif isinstance(step, Goto):
            yield None, [*jumps, (step.module, said)]
            return
        elif isinstance(step, Branch | Call):
            jumps += [(edge.target, said) for edge in out]
            if _always_leaves(step):
                yield None, jumps
                return
    last = len(module.steps) - 1
    yield FlowEnd(name, "end", ("modules", name, "steps", last, step_kind(module.steps[last])),
                  said), jumps


def _always_leaves(step: Branch | Call) -> bool:
    """Whether the step always moves to another module (never to the next step)."""
    if isinstance(step, Branch):
        return step.otherwise is not None
    return step.on_success is not None and all(
        step.on_failure.route(kind) is not None for kind in FailureKind)
