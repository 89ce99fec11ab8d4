"""What the commands print: tables of text in aligned columns, progress bars."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table", "print_table", "progress_bar"]

_BAR_WIDTH = 30


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first a header) in columns two spaces apart, no trailing spaces."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    print(format_table(rows))


def progress_bar(done: int, total: int) -> str:
    """``[#####.....] done/total``; a total of 0 shows as complete."""
    filled = _BAR_WIDTH if total == 0 else _BAR_WIDTH * min(done, total) // total
    return f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total}"
