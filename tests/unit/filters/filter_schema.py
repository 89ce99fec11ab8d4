"""The property schema shared by the filter tests: the system properties plus
one custom property of every type."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from plugin.properties import SYSTEM_PROPERTIES, PropertyDef, custom_property

NOW = datetime(2024, 5, 10, 12, 0, 0, 123000, tzinfo=UTC)

PROPERTIES: Mapping[str, PropertyDef] = {
    **SYSTEM_PROPERTIES,
    **{
        prop.name: prop
        for prop in (
            custom_property("name", "text"),
            custom_property("email", "email"),
            custom_property("phone", "phone"),
            custom_property("plan", "choice", choices=("free", "pro")),
            custom_property("age", "number"),
            custom_property("birthday", "date"),
            custom_property("vip", "boolean"),
            custom_property("tags", "list"),
        )
    },
}
