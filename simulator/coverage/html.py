"""The HTML coverage report: an index with each bot's figures per channel and
kind, and each bot file shown line by line, every line holding items marked
covered, partly covered or not covered, the items listed beside it.

Writes plain, self-contained pages (no script); every text from a bot file is
escaped.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html import escape
from pathlib import Path

from .items import Item
from .report import CoverageReport, Section, percent, shown_file

__all__ = ["write_html"]

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}
th{border-bottom:1px solid #999}.num{text-align:right}
pre{margin:0}.src td{vertical-align:top;padding:0 8px;font:13px/1.35 monospace}
.ln{color:#888;text-align:right;user-select:none}
.hit{background:#e3f6e3}.part{background:#fff3cd}.miss{background:#fbe0e0}
.items{color:#555;font-family:system-ui,sans-serif;font-size:12px}
.items .no{color:#a40000}.items .yes{color:#1a6b1a}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style><body>{body}</body></html>\n")


def _page_name(index: int, section: Section) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(section.file).stem) or "bot"
    return f"{index:02d}-{stem}.html"


def write_html(report: CoverageReport, directory: Path) -> Path:
    """Write the report into ``directory`` (made if missing); the index's path."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, section in enumerate(report.sections, 1):
        name = _page_name(number, section)
        (directory / name).write_text(_section_page(section), "utf-8")
        covered, total = section.ratio()
        channels = ", ".join(f"{escape(c)} {percent(*section.ratio(c)):.1f}%"
                             for c in section.channels)
        rows.append(f"<tr><td><a href='{name}'>{escape(shown_file(section.file))}</a></td>"
                    f"<td>{escape(section.title)}</td><td class=num>{percent(covered, total):.1f}%"
                    f"</td><td class=num>{covered}/{total}</td><td>{channels}</td></tr>")
    covered, total = report.ratio()
    body = (f"<h1>Coverage: {percent(covered, total):.1f}% of {total} items</h1>"
            "<table><tr><th>file</th><th>bot</th><th>covered</th><th>items</th>"
            "<th>by channel</th></tr>" + "".join(rows) + "</table>")
    index = directory / "index.html"
    index.write_text(_page("Coverage", body), "utf-8")
    return index


def _section_page(section: Section) -> str:
    covered_keys = section.covered()
    kinds = "".join(f"<tr><td>{escape(k)}</td><td class=num>{c}/{t}</td></tr>"
                    for k in section.kinds() for c, t in [section.ratio(kind=k)])
    head = (f"<p><a href='index.html'>all bots</a></p><h1>{escape(shown_file(section.file))}"
            f" ({escape(section.title)}): {percent(*section.ratio()):.1f}%</h1>"
            f"<table>{kinds}</table>")
    if section.unobservable:
        head += ("<p>Not observable on this target: "
                 f"{escape(', '.join(sorted(section.unobservable)))}</p>")
    head += "".join(f"<p>{escape(note)}</p>" for note in section.notes)
    by_line: dict[int, list[Item]] = defaultdict(list)
    for item in section.counted:
        if item.line is not None:
            by_line[item.line].append(item)
    try:
        source = Path(section.file).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        source = []
    rows = []
    for number, text in enumerate(source, 1):
        items = by_line.get(number, [])
        done = [i.key in covered_keys for i in items]
        mark = "" if not items else "hit" if all(done) else "part" if any(done) else "miss"
        listed = "<br>".join(
            f"<span class={'yes' if i.key in covered_keys else 'no'}>"
            f"{'✓' if i.key in covered_keys else '✗'} {escape(i.kind)}: {escape(i.label)}"
            "</span>" for i in items)
        rows.append(f"<tr class='{mark}'><td class=ln>{number}</td><td><pre>{escape(text)}"
                    f"</pre></td><td class=items>{listed}</td></tr>")
    if not rows:
        rows = [f"<tr><td>{escape(i.kind)}</td><td>{escape(i.label)}</td><td>"
                f"{'covered' if i.key in covered_keys else 'not covered'}</td></tr>"
                for i in section.counted]
    return _page(f"Coverage of {section.file}", head + f"<table class=src>{''.join(rows)}</table>")
