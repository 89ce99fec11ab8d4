"""What the commands print: tables of text in aligned columns."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table", "print_table"]


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first a header) in columns two spaces apart, no trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    print(format_table(rows))
