"""The filter engine: numbered conditions joined by an AND/OR expression,
compiled to a MongoDB query or evaluated against one profile in Python.

Pure: imports nothing of Audience but plugin.core; no pymongo, no aiohttp.

>>> from plugin.core.properties import SYSTEM_PROPERTIES
>>> compile_filter({"conditions": [{"property": "message_count", "operator": "gte",
...                                 "value": 5}]}, SYSTEM_PROPERTIES)
{'message_count': {'$gte': 5}}
"""

from plugin.audience.filters.ast import And, Node, Or, Ref, format_expression
from plugin.audience.filters.compile import (
    SEGMENT_PROPERTY,
    ParsedFilter,
    SegmentRef,
    compile_filter,
    compile_parsed,
    operators_for,
    parse_filter,
    scoped_query,
)
from plugin.audience.filters.evaluate import evaluate, matches
from plugin.audience.filters.expression import parse_expression

__all__ = [
    "And",
    "Node",
    "Or",
    "ParsedFilter",
    "Ref",
    "SEGMENT_PROPERTY",
    "SegmentRef",
    "compile_filter",
    "compile_parsed",
    "evaluate",
    "format_expression",
    "matches",
    "operators_for",
    "parse_expression",
    "parse_filter",
    "scoped_query",
]
