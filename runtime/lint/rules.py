"""The rules about a bot's flows, questions, calls and declarations. Each is a
function of a :class:`Context` that reports what it finds with
:meth:`Context.report`; :data:`FLOW_RULES` lists them in the order they run.

Pure: reads the :class:`~runtime.model.Bot` and the file's line marks only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.audience.filters import And, Node, Or, Ref, parse_expression
from plugin.core.documents import LineMap
from plugin.core.errors import FilterError
from plugin.core.properties import PropertyType
from runtime.graph import (
    DocumentPath,
    Edge,
    EdgeKind,
    edges,
    flow_ends,
    message_places,
    reachable_modules,
)
from runtime.model import Ask, Bot, Branch, BranchArm, Call, SetValues
from runtime.templating import message_texts, placeholders

from .findings import Finding

__all__ = ["Context", "FLOW_RULES"]

# Property types whose own check refuses a wrong answer (a text answer fits any text).
_SELF_VALIDATING = frozenset({PropertyType.NUMBER, PropertyType.EMAIL, PropertyType.PHONE,
                              PropertyType.DATE, PropertyType.BOOLEAN, PropertyType.CHOICE})


@dataclass
class Context:
    """One bot being linted: the bot, where its paths are, what was found."""

    bot: Bot
    lines: LineMap
    file: str
    findings: list[Finding] = field(default_factory=list)

    def line(self, path: DocumentPath) -> int:
        return self.lines.line(path)

    def report(self, rule_id: str, path: DocumentPath, message: str,
               channel: str | None = None) -> None:
        text = "/".join(str(p) for p in path)
        self.findings.append(Finding(rule_id, self.file, self.line(path), text, message, channel))


def _where(ctx: Context, path: DocumentPath) -> str:
    return f"'{'/'.join(str(p) for p in path)}' (line {ctx.line(path)})"


# --- flows -------------------------------------------------------------------


def flows_end_on_cta(ctx: Context) -> None:
    """Every flow ends on a message with buttons or quick replies, or a hand-over."""
    reached = reachable_modules(ctx.bot)
    for end in flow_ends(ctx.bot):
        if end.has_call_to_action or end.module not in reached:
            continue
        if end.how == "give_up":
            if end.said is not None and end.said.path == ("bot",):
                what = ("the runtime's default fallback, which offers nothing (no module "
                        "has a start payload)")
            else:
                what = f"the fallback {_where(ctx, end.said.path) if end.said else ''}, " \
                       "which offers nothing"
            ctx.report("flow-without-cta", end.path,
                       f"after the last refused answer the flow ends on {what}; give the "
                       "question an 'on_give_up' module or the fallback quick replies")
        elif end.said is None:
            ctx.report("flow-without-cta", end.path,
                       f"module {end.module!r} ends the flow right after the user's answer, "
                       "saying nothing more")
        else:
            ctx.report("flow-without-cta", end.path,
                       f"module {end.module!r} ends the flow on {_where(ctx, end.said.path)}, "
                       "which offers no button or quick reply")


def modules_are_reachable(ctx: Context) -> None:
    reached = reachable_modules(ctx.bot)
    for name, module in ctx.bot.modules.items():
        if name in reached:
            continue
        if module.start.payloads:
            why = (f"its start payloads ({', '.join(module.start.payloads)}) are on no "
                   "button or quick reply a user can see")
        else:
            why = "it has no starting rule and no step leads to it"
        ctx.report("unreachable-module", ("modules", name), f"module {name!r}: {why}")


def no_loops_without_input(ctx: Context) -> None:
    """Cycles of modules that lead to each other before any question."""
    quiet: dict[str, list[Edge]] = {}
    for edge in edges(ctx.bot):
        if not edge.after_input and edge.kind is not EdgeKind.GIVE_UP \
                and edge.target in ctx.bot.modules:
            quiet.setdefault(edge.source, []).append(edge)
    for cycle in _cycles({m: [e.target for e in es] for m, es in quiet.items()}):
        inside = [e for m in cycle for e in quiet.get(m, []) if e.target in cycle]
        first = min(inside, key=lambda e: ctx.line(e.path))
        names = " -> ".join([*cycle, cycle[0]])
        if all(e.kind is EdgeKind.GOTO for e in inside) and not any(
                _can_leave(ctx.bot, e) for e in inside):
            ctx.report("goto-loop", first.path,
                       f"{names}: each module goes to the next and nothing asks the user; "
                       "the runtime cuts the turn off after its step budget")
        else:
            ctx.report("goto-loop-conditional", first.path,
                       f"{names} can repeat without asking the user anything")


def _can_leave(bot: Bot, edge: Edge) -> bool:
    """Whether a step before ``edge``'s goto can take the flow elsewhere."""
    steps = bot.modules[edge.source].steps[:edge.step]
    return any(isinstance(s, Branch | Call) for s in steps)


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan), each in a
    deterministic order starting from its first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph.get(node, []):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                found.append(sorted(component, key=lambda m: index[m]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


# --- branches ----------------------------------------------------------------


def branches_can_hold(ctx: Context) -> None:
    for name, module in ctx.bot.modules.items():
        for index, step in enumerate(module.steps):
            if not isinstance(step, Branch):
                continue
            for arm_index, arm in enumerate(step.arms):
                path = ("modules", name, "steps", index, "branch", arm_index, "when")
                reasons = _impossible(ctx.bot, arm)
                if reasons and not _tree_can_hold(arm, set(reasons)):
                    why = "; ".join(reasons.values())
                    ctx.report("branch-never-holds", path,
                               f"arm {arm.label!r} of the branch in {name!r} never holds: {why}")


def _impossible(bot: Bot, arm: BranchArm) -> dict[int, str]:
    """Condition index -> why it can never hold."""
    found: dict[int, str] = {}
    for number, condition in enumerate(arm.when.get("conditions", [])):
        if not isinstance(condition, Mapping):
            continue
        reason = _never(bot, condition)
        if reason:
            found[number] = f"condition {number + 1}: {reason}"
    return found


def _never(bot: Bot, condition: Mapping[str, Any]) -> str | None:
    name, operator = condition.get("property"), condition.get("operator")
    spec = bot.properties.get(str(name))
    if spec is None:
        return None  # a system property, or one the loader reports as unknown
    value = condition.get("value")
    definition = spec.definition
    if definition.type is PropertyType.CHOICE and operator in ("equals", "in"):
        values = value if isinstance(value, list) else [value]
        known = {c.lower() for c in definition.choices}
        if not any(isinstance(v, str) and v.lower() in known for v in values):
            shown = ", ".join(repr(v) for v in values)
            return f"{name!r} is one of {', '.join(definition.choices)}, never {shown}"
    rules = spec.validation
    if definition.type is PropertyType.NUMBER and isinstance(value, int | float) \
            and not isinstance(value, bool):
        low, high = rules.min, rules.max
        never = ((operator in ("gt",) and high is not None and value >= high)
                 or (operator in ("gte",) and high is not None and value > high)
                 or (operator in ("lt",) and low is not None and value <= low)
                 or (operator in ("lte",) and low is not None and value < low)
                 or (operator == "equals" and ((low is not None and value < low)
                                                or (high is not None and value > high))))
        if never:
            return (f"{name!r} is validated to lie between {_bound(low)} and {_bound(high)}, "
                    f"so it is never {operator} {value:g}")
    return None


def _bound(value: float | None) -> str:
    return "-∞" if value is None else f"{value:g}"


def _tree_can_hold(arm: BranchArm, impossible: set[int]) -> bool:
    expression = arm.when.get("expression")
    count = len(arm.when.get("conditions", []))
    if not expression:
        return not impossible
    try:
        tree = parse_expression(str(expression), count)
    except FilterError:
        return True  # the loader reports a bad expression
    return _holds(tree, impossible)


def _holds(node: Node, impossible: set[int]) -> bool:
    if isinstance(node, Ref):
        return node.index not in impossible
    if isinstance(node, And):
        return all(_holds(item, impossible) for item in node.items)
    assert isinstance(node, Or)
    return any(_holds(item, impossible) for item in node.items)


# --- questions, calls, declarations ---------------------------------------------


def questions_are_checked(ctx: Context) -> None:
    """Per asked property: a check that can refuse an answer, and a message when it does."""
    asked: dict[str, list[DocumentPath]] = {}
    for name, module in ctx.bot.modules.items():
        for index, step in enumerate(module.steps):
            if isinstance(step, Ask):
                asked.setdefault(step.property, []).append(
                    ("modules", name, "steps", index, "ask"))
    for prop, paths in asked.items():
        spec = ctx.bot.properties.get(prop)
        if spec is None:
            continue  # the loader reports an undeclared property
        at = ", ".join(f"line {ctx.line(p)}" for p in paths)
        rules = spec.validation
        has_rules = any(v is not None for v in (rules.regex, rules.min, rules.max,
                                                rules.min_length, rules.max_length))
        if spec.definition.type not in _SELF_VALIDATING and not has_rules:
            ctx.report("ask-without-validation", ("properties", prop),
                       f"{prop!r} ({spec.definition.type}, asked at {at}) takes any answer, "
                       "even an empty one")
        if spec.error_message is None:
            ctx.report("ask-without-error-message", ("properties", prop),
                       f"{prop!r} (asked at {at}) has no error_message")


def calls_handle_failure(ctx: Context) -> None:
    for name, module in ctx.bot.modules.items():
        for index, step in enumerate(module.steps):
            if isinstance(step, Call) and not step.on_failure.targets():
                path = ("modules", name, "steps", index, "call")
                ctx.report("call-without-on-failure", path,
                           f"the call of {step.api!r} in {name!r} has no on_failure"
                           + (f": {', '.join(step.save)} stay unset and the flow goes on"
                              if step.save else ""))


def declarations_are_used(ctx: Context) -> None:
    used = set(_used_properties(ctx.bot))
    for prop in ctx.bot.properties:
        if prop not in used:
            ctx.report("unused-property", ("properties", prop),
                       f"property {prop!r} is declared but never asked, set, saved or shown")
    called = {s.api for m in ctx.bot.modules.values() for s in m.steps if isinstance(s, Call)}
    for api in ctx.bot.apis:
        if api not in called:
            ctx.report("unused-api", ("apis", api), f"api {api!r} is declared but never called")


def _used_properties(bot: Bot) -> Iterator[str]:
    for module in bot.modules.values():
        for step in module.steps:
            if isinstance(step, Ask):
                yield step.property
            elif isinstance(step, Call):
                yield from step.save
            elif isinstance(step, SetValues):
                yield from step.values
                for value in step.values.values():
                    if isinstance(value, str):
                        yield from placeholders(value)
            elif isinstance(step, Branch):
                for arm in step.arms:
                    for condition in arm.when.get("conditions", []):
                        if isinstance(condition, Mapping):
                            yield str(condition.get("property"))
    for place in message_places(bot):
        for text in message_texts(place.message):
            yield from placeholders(text)
    for spec in bot.properties.values():
        if spec.error_message:
            yield from placeholders(spec.error_message)
    for api in bot.apis.values():
        for text in _strings([api.url, *api.headers.values(), api.body]):
            yield from placeholders(text)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


FLOW_RULES: tuple[Callable[[Context], None], ...] = (
    flows_end_on_cta,
    modules_are_reachable,
    no_loops_without_input,
    branches_can_hold,
    questions_are_checked,
    calls_handle_failure,
    declarations_are_used,
)
