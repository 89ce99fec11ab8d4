"""What a run covers, item by item: real scenarios against a small bot in
process, followed by the coverage observer."""

from __future__ import annotations

from pathlib import Path

from plugin.db.database import Database
from simulator.coverage.items import (
    NO_ARM,
    api_key,
    arm_key,
    cta_key,
    faq_key,
    give_up_key,
    goto_key,
    invalid_key,
    module_key,
    start_key,
    step_key,
    tap_key,
)

from .conftest import simulate

MENU_QR = ("modules", "menu", "steps", 0, "say", "quick_replies")


async def test_a_walk_through_the_age_flow(db: Database, cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, """\
        - name: senior
          steps:
            - say: hello
            - tap: Age
            - say: "12"
              expect: {text: How old?, rejected: [age]}
            - say: what are your hours
              expect: {faq: hours}
            - say: "70"
              expect: {text: Done}
        """)
    (section,) = report.sections
    covered = section.covered("web")
    assert {start_key("menu", "default"), module_key("menu"), step_key("menu", 0),
            tap_key((*MENU_QR, 0)), start_key("age", "payload", "AGE"), module_key("age"),
            invalid_key("age"), faq_key("hours"), arm_key("age", 1, 0), module_key("senior"),
            goto_key("senior", 0), step_key("menu_end", 0), cta_key("menu_end", "end")
            } <= covered
    # Not reached: the give-up, the fall-through, the crm flow, the other rules.
    assert not {give_up_key("age", 0), arm_key("age", 1, NO_ARM), step_key("age", 2),
                module_key("crm"), tap_key((*MENU_QR, 1)), start_key("menu", "keyword", "menu"),
                start_key("menu", "pattern", "show me .*")} & covered
    assert section.misses == {}


async def test_no_arm_a_flow_ending_without_cta_and_a_give_up(db: Database,
                                                              cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, """\
        - name: thirty
          steps:
            - say: menu
            - tap: AGE
            - say: "30"
              expect: {text: Thanks}
        - name: gives up
          steps:
            - say: show me everything
            - tap: AGE
            - say: x
            - say: y
              expect: {text: "Sorry?"}
        """)
    (section,) = report.sections
    covered = section.covered("web")
    assert {start_key("menu", "keyword", "menu"), start_key("menu", "pattern", "show me .*"),
            arm_key("age", 1, NO_ARM), step_key("age", 2), give_up_key("age", 0),
            invalid_key("age")} <= covered
    # 'Thanks' offers nothing: the flow's end was reached, its call to action never shown.
    assert cta_key("age", "end") not in covered
    assert section.misses == {cta_key("age", "end"): 1}
    assert start_key("menu", "default") not in covered  # a keyword started it


async def test_call_outcomes_and_a_hand_over(db: Database, cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, """\
        - name: crm answers
          apis: {crm: {body: {plan: pro}}}
          steps:
            - say: menu
            - tap: CRM
              expect: {text: Plan pro}
        - name: crm times out
          apis: {crm: {fail: timeout}}
          steps:
            - say: menu
            - tap: CRM
              expect: {assigned_to: human}
        """)
    (section,) = report.sections
    covered = section.covered("web")
    assert {api_key("crm", 0, "success"), api_key("crm", 0, "timeout"),
            cta_key("crm", "end"), cta_key("crm_slow", "handover"),
            tap_key((*MENU_QR, 1))} <= covered
    assert api_key("crm", 0, "status") not in {i.key for i in section.items}  # not routed


async def test_channels_are_counted_apart(db: Database, cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, """\
        - name: whatsapp only
          channel: whatsapp
          steps:
            - say: hello
            - tap: CRM
        - name: web only
          channel: web
          steps:
            - say: hello
        """)
    (section,) = report.sections
    assert section.channels == ["web", "whatsapp"]
    # On WhatsApp the quick reply is a numbered option: tapping it still counts.
    assert tap_key((*MENU_QR, 1)) in section.covered("whatsapp")
    assert tap_key((*MENU_QR, 1)) not in section.covered("web")
    assert section.ratio("whatsapp")[0] > section.ratio("web")[0]
    # Unstubbed, the call failed with a status no route takes: not an item of its own.
    assert api_key("crm", 0, "status") in section.covered("whatsapp")
    items = {i.key for i in section.items}
    assert section.ratio() == (len(items & (section.covered("whatsapp") | section.covered("web"))),
                               len(items))


async def test_a_start_keyword_that_interrupts_a_question_covers_its_rule(
        db: Database, cov_bot: Path) -> None:
    _, report = await simulate(db, cov_bot, """\
        - name: menu mid-question
          steps:
            - say: hello
            - tap: Age
            - say: menu
              expect: {messages: 2, text: How old?}
            - say: "70"
              expect: {text: Done}
        """)
    (section,) = report.sections
    covered = section.covered("web")
    assert {start_key("menu", "keyword", "menu"), arm_key("age", 1, 0),
            cta_key("menu_end", "end")} <= covered
    assert invalid_key("age") not in covered
