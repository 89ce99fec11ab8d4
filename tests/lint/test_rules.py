"""Each lint rule against a small bot that breaks it, at the line it breaks
it, and against the same bot put right (nothing found)."""

from __future__ import annotations

import textwrap

import pytest

from plugin.handover.channel_profiles import PROFILES
from runtime.lint import RULES, Finding, Severity, lint_text

HEAD = """\
bot:
  id: t
  name: T
  fallback:
    text: Sorry?
    quick_replies: [{title: Start, payload: START}]
"""


def lint(body: str, *channels: str) -> list[Finding]:
    text = HEAD + textwrap.dedent(body)
    return list(lint_text(text, "t.yaml", [PROFILES[c] for c in channels]).findings)


def found(findings: list[Finding], rule: str) -> list[tuple[int | None, str]]:
    return [(f.line, f.message) for f in findings if f.rule == rule]


def test_every_rule_has_a_summary_and_a_fix_hint() -> None:
    assert all(r.summary and r.hint and r.id == key for key, r in RULES.items())


def test_a_finding_reads_file_line_severity_rule_message_and_hint() -> None:
    (finding,) = lint("""\
        modules:
          w:
            default: true
            steps:
              - say: Bye
        """)
    assert finding.describe() == (
        "t.yaml:11: error flow-without-cta: module 'w' ends the flow on "
        "'modules/w/steps/0/say' (line 11), which offers no button or quick reply\n"
        "    fix: end the flow on a message with buttons or quick replies, or hand over "
        "to a person")
    assert finding.to_dict()["severity"] == "error" and finding.severity is Severity.ERROR


# --- flows ---------------------------------------------------------------------

GOOD_END = "{text: Done, quick_replies: [{title: Again, payload: START}]}"


def test_a_flow_ending_after_a_goto_on_a_plain_message_is_found_at_its_last_step() -> None:
    findings = lint(f"""\
        modules:
          w:
            default: true
            start: {{payloads: [START]}}
            steps:
              - say: {GOOD_END}
              - goto: tail
          tail:
            steps:
              - set: {{}}
        """)
    # The goto carries what 'w' said (a call to action): 'tail' ends on it.
    assert found(findings, "flow-without-cta") == []
    findings = lint("""\
        modules:
          w:
            default: true
            start: {payloads: [START]}
            steps:
              - say: Hello
              - goto: tail
          tail:
            steps:
              - say: {text: "", quick_replies: [{title: Again, payload: START}]}
              - say: Bye
        """)
    assert found(findings, "flow-without-cta") == [(17, (
        "module 'tail' ends the flow on 'modules/tail/steps/1/say' (line 17), which offers "
        "no button or quick reply"))]


def test_a_flow_ending_right_after_an_answer_says_nothing() -> None:
    findings = lint("""\
        properties:
          email: {type: email, error_message: An email please.}
        modules:
          w:
            default: true
            steps:
              - say: {text: Hi, buttons: [{title: Go, payload: START}]}
              - ask: {property: email, prompt: Your email?}
        """)
    assert found(findings, "flow-without-cta") == [
        (14, "module 'w' ends the flow right after the user's answer, saying nothing more")]


def test_a_hand_over_ends_a_flow_well() -> None:
    assert lint("""\
        modules:
          w:
            default: true
            steps:
              - say: Passing you on
              - handover: {reason: asked}
        """) == []


def test_giving_up_without_a_route_ends_on_the_fallback() -> None:
    text = """\
        bot:
          id: t
          name: T
        properties:
          email: {type: email, error_message: An email please.}
        modules:
          w:
            default: true
            steps:
              - ask: {property: email, prompt: Your email?}
              - say: {text: Thanks, buttons: [{title: Again, payload: START}]}
        """
    findings = list(lint_text(textwrap.dedent(text), "t.yaml").findings)
    assert found(findings, "flow-without-cta") == [(10, (
        "after the last refused answer the flow ends on the runtime's default fallback, which "
        "offers nothing (no module has a start payload); give the question an 'on_give_up' "
        "module or the fallback quick replies"))]


def test_a_module_nothing_reaches() -> None:
    findings = lint("""\
        modules:
          w:
            default: true
            steps:
              - say: {text: Hi, buttons: [{title: Menu, url: "https://x.example"}]}
          orphan:
            steps:
              - say: {text: Lost, buttons: [{title: Menu, url: "https://x.example"}]}
          hidden:
            start: {payloads: [HIDDEN]}
            steps:
              - say: {text: Lost, buttons: [{title: Menu, url: "https://x.example"}]}
        """)
    assert found(findings, "unreachable-module") == [
        (12, "module 'orphan': it has no starting rule and no step leads to it"),
        (15, "module 'hidden': its start payloads (HIDDEN) are on no button or quick reply "
             "a user can see")]


def test_a_payload_on_a_reachable_button_reaches_its_module() -> None:
    assert found(lint("""\
        modules:
          w:
            default: true
            steps:
              - say: {text: Hi, buttons: [{title: Menu, payload: HIDDEN}]}
          hidden:
            start: {payloads: [HIDDEN]}
            steps:
              - say: {text: Here, buttons: [{title: Menu, url: "https://x.example"}]}
        """), "unreachable-module") == []


def test_gotos_in_a_circle_without_a_question_loop_forever() -> None:
    findings = lint("""\
        modules:
          w:
            default: true
            steps:
              - goto: a
          a:
            steps:
              - goto: b
          b:
            steps:
              - say: Again
              - goto: a
        """)
    assert found(findings, "goto-loop") == [(14, (
        "a -> b -> a: each module goes to the next and nothing asks the user; the runtime "
        "cuts the turn off after its step budget"))]


def test_a_cycle_a_branch_can_leave_is_a_warning_and_one_with_a_question_is_fine() -> None:
    findings = lint("""\
        properties:
          n: {type: number, error_message: A number please.}
        modules:
          w:
            default: true
            steps:
              - branch:
                  - {when: {conditions: [{property: n, operator: gte, value: 3}]}, goto: out}
                  - else: w
          out:
            steps:
              - ask: {property: n, prompt: {text: "N?", buttons: [{title: "1", payload: "1"}]}}
              - goto: out
        """)
    assert [f.rule for f in findings if "loop" in f.rule] == ["goto-loop-conditional"]
    assert found(findings, "goto-loop-conditional")[0][1] == (
        "w -> w can repeat without asking the user anything")


def test_branches_that_never_hold() -> None:
    findings = lint("""\
        properties:
          plan: {type: choice, choices: [starter, pro], error_message: Pick one.}
          seats: {type: number, validation: {min: 1, max: 50}, error_message: 1 to 50.}
        modules:
          w:
            default: true
            steps:
              - ask: {property: plan, prompt: {text: Plan?, buttons: [{title: S, payload: S}]}}
              - ask: {property: seats, prompt: Seats?}
              - branch:
                  - when: {conditions: [{property: plan, operator: equals, value: Gold}]}
                    goto: w
                  - when: {conditions: [{property: plan, operator: in, value: [PRO, gold]}]}
                    goto: w
                  - when: {conditions: [{property: seats, operator: gte, value: 100}]}
                    goto: w
                  - when:
                      conditions:
                        - {property: seats, operator: gte, value: 100}
                        - {property: plan, operator: equals, value: pro}
                      expression: 1 or 2
                    goto: w
                  - when: {conditions: [{property: nope, operator: is_set}]}
                    goto: w
              - say: {text: Done, quick_replies: [{title: Again, payload: START}]}
        """)
    assert found(findings, "branch-never-holds") == [
        (17, "arm '0' of the branch in 'w' never holds: condition 1: 'plan' is one of starter, "
             "pro, never 'Gold'"),
        (21, "arm '2' of the branch in 'w' never holds: condition 1: 'seats' is validated to "
             "lie between 1 and 50, so it is never gte 100"),
        (29, "invalid condition: condition 1: unknown property 'nope'")]


# --- questions, calls, declarations -----------------------------------------------


def test_questions_without_validation_or_error_message() -> None:
    findings = lint("""\
        properties:
          name: {type: text}
          nick: {type: text, validation: {min_length: 2}, error_message: Two letters at least.}
          age: {type: number}
        modules:
          w:
            default: true
            steps:
              - ask: {property: name, prompt: Name?}
              - ask: {property: nick, prompt: Nick?}
              - ask: {property: age, prompt: Age?}
              - say: {text: "{{name}}", quick_replies: [{title: Again, payload: START}]}
        """)
    assert found(findings, "ask-without-validation") == [
        (8, "'name' (text, asked at line 15) takes any answer, even an empty one")]
    assert found(findings, "ask-without-error-message") == [
        (8, "'name' (asked at line 15) has no error_message"),
        (10, "'age' (asked at line 17) has no error_message")]


def test_a_call_without_on_failure_and_unused_declarations() -> None:
    findings = lint("""\
        properties:
          plan: {type: text}
          spare: {type: text}
        apis:
          crm: {method: GET, url: "${API_BASE}/crm"}
          unused: {method: GET, url: "${API_BASE}/x"}
        modules:
          w:
            default: true
            steps:
              - call: {api: crm, save: {plan: plan}}
              - say: {text: "{{plan}}", quick_replies: [{title: Again, payload: START}]}
        """)
    assert found(findings, "call-without-on-failure") == [
        (17, "the call of 'crm' in 'w' has no on_failure: plan stay unset and the flow goes on")]
    assert found(findings, "unused-property") == [
        (9, "property 'spare' is declared but never asked, set, saved or shown")]
    assert found(findings, "unused-api") == [(12, "api 'unused' is declared but never called")]


def test_a_template_naming_an_unknown_property_and_an_unknown_module() -> None:
    findings = lint("""\
        modules:
          w:
            default: true
            steps:
              - say: {text: "Hi {{nmae}}", quick_replies: [{title: Again, payload: START}]}
              - goto: nowhere
        """)
    assert [(f.rule, f.line) for f in findings] == [("template-unknown-property", 11),
                                                    ("invalid-bot", 12)]
    assert "unknown module 'nowhere'" in findings[1].message


def test_unreadable_and_misshapen_files() -> None:
    (bad,) = lint_text("bot: [", "x.yaml").findings
    assert (bad.rule, bad.line) == ("yaml", 2) and "invalid YAML" in bad.message
    findings = lint_text("bot: {id: b, name: B}\nmodules: {w: {stepz: []}}\n", "x.yaml").findings
    assert {f.rule for f in findings} == {"schema"} and all(f.line == 2 for f in findings)


# --- channels --------------------------------------------------------------------

CHANNEL_BOT = """\
    modules:
      w:
        default: true
        steps:
          - say:
              text: Pick
              buttons:
                - {title: A, payload: START}
                - {title: B, payload: START}
                - {title: C, payload: START}
                - {title: D, url: "https://x.example"}
              quick_replies: QUICK
          - say:
              text: LONG
              cards:
                - title: Card
                  buttons: [{title: A, payload: START}, {title: B, payload: START},
                            {title: C, payload: START}, {title: D, payload: START}]
              quick_replies: [{title: Again, payload: START}]
    """


@pytest.mark.parametrize("channel", ["messenger", "whatsapp"])
def test_four_buttons_break_messenger_and_whatsapp_link_buttons_included(channel: str) -> None:
    quick = "[" + ", ".join(f"{{title: Q{i}, payload: START}}" for i in range(14)) + "]"
    body = CHANNEL_BOT.replace("QUICK", quick).replace("LONG", "x" * 2001)
    findings = lint(body, channel)
    assert found(findings, "too-many-buttons") == [
        (17, f"4 buttons (1 of them links): {channel} shows at most 3"),
        (24, f"card 'Card' has 4 buttons: {channel} shows at most 3 a card")]
    if channel == "messenger":
        assert found(findings, "too-many-quick-replies") == [
            (18, "14 quick replies: messenger shows at most 13")]
        assert found(findings, "text-too-long") == [
            (20, "2,001 characters: messenger takes at most 2,000 a message")]
        assert all(f.channel == "messenger" for f in findings)
    else:
        assert [line for line, _ in found(findings, "quick-replies-unsupported")] == [6, 18, 25]
        assert found(findings, "text-too-long") == []  # WhatsApp takes 4,096


def test_the_web_channel_and_no_channel_check_nothing_of_the_kind() -> None:
    body = CHANNEL_BOT.replace("QUICK", "[{title: Q, payload: START}]").replace("LONG", "x" * 5000)
    assert lint(body, "web") == []
    assert lint(body) == []


def test_the_example_bots_lint_clean() -> None:
    from pathlib import Path

    from runtime.lint import lint_file

    bots = Path(__file__).parents[2] / "scenarios" / "bots"
    for name in ("leads.yaml", "signup.yaml"):
        report = lint_file(bots / name, [PROFILES["web"], PROFILES["messenger"]])
        assert report.findings == () and report.loaded, name
