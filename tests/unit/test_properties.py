"""Every property type accepts what it should, normalises it, and refuses the rest
with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugin.core.properties import (
    SYSTEM_PROPERTIES,
    InvalidValue,
    PropertyType,
    custom_property,
    infer_type,
    validate_value,
)

CHOICE = custom_property("plan", "choice", choices=("Basic", "Pro"))


@pytest.mark.parametrize(
    ("type_", "value", "stored"),
    [
        ("text", "hello", "hello"),
        ("number", 3, 3),
        ("number", "4.5", 4.5),
        ("number", "10", 10),
        ("email", " Ann@Example.COM ", "ann@example.com"),
        ("phone", "+44 (20) 7946-0958", "+442079460958"),
        ("phone", 5551234567, "5551234567"),
        ("date", "2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("date", "2026-03-01T12:30:00+02:00", datetime(2026, 3, 1, 10, 30, tzinfo=UTC)),
        ("boolean", "Yes", True),
        ("boolean", False, False),
        ("list", ["a", 2], ["a", 2]),
    ],
)
def test_valid_values_are_normalised(type_: str, value: object, stored: object) -> None:
    assert validate_value(custom_property("p", type_), value) == stored


def test_choice_matches_case_insensitively_and_returns_the_canonical_choice() -> None:
    assert validate_value(CHOICE, "pro") == "Pro"


@pytest.mark.parametrize(
    ("type_", "value", "reason"),
    [
        ("text", 12, "expected text, got a number"),
        ("text", "x" * 4097, "text longer than 4096 characters"),
        ("number", "twelve", "'twelve' is not a number"),
        ("number", True, "expected a number, got a boolean"),
        ("number", float("nan"), "a number must be finite"),
        ("email", "ann.example.com", "'ann.example.com' is not an email address"),
        ("phone", "12", "'12' is not a phone number (7 to 15 digits, optional leading +)"),
        ("date", "next tuesday", "'next tuesday' is not an ISO 8601 date"),
        ("boolean", "maybe", "'maybe' is not yes/no or true/false"),
        ("list", "a,b", "expected a list, got text"),
        ("list", [{"a": 1}], "list item 0 must be text or a number"),
        ("text", None, "a value is required"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(type_: str, value: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        validate_value(custom_property("p", type_), value)
    assert caught.value.reason == reason


def test_choice_outside_the_list() -> None:
    with pytest.raises(InvalidValue, match="'Gold' is not one of Basic, Pro"):
        validate_value(CHOICE, "Gold")


@pytest.mark.parametrize("name", ["a.b", "$where", "1st", "", "x" * 65, "has space"])
def test_property_names_cannot_become_operators_or_paths(name: str) -> None:
    with pytest.raises(InvalidValue, match="a property name starts with a letter"):
        custom_property(name, "text")


def test_system_properties_always_exist_and_cannot_be_redefined() -> None:
    assert {"created_at", "last_message_at", "last_user_message", "current_message",
            "current_module", "current_campaign", "channel", "source", "message_count",
            "assigned_to"} <= set(SYSTEM_PROPERTIES)
    assert SYSTEM_PROPERTIES["message_count"].type is PropertyType.NUMBER
    assert SYSTEM_PROPERTIES["channel"].field == "channel"
    assert custom_property("age", "number").field == "attributes.age"
    with pytest.raises(InvalidValue, match="'channel' is a system property"):
        custom_property("channel", "text")
    with pytest.raises(InvalidValue, match="a choice property needs at least one choice"):
        custom_property("plan", "choice")


def test_first_value_decides_an_unknown_property_type() -> None:
    assert infer_type(True) is PropertyType.BOOLEAN
    assert infer_type(3.5) is PropertyType.NUMBER
    assert infer_type(["a"]) is PropertyType.LIST
    assert infer_type("x") is PropertyType.TEXT
    assert infer_type("x@y.z", "Email") is PropertyType.EMAIL
    assert infer_type("123", "phone") is PropertyType.PHONE
