"""A job as the jobs page shows it: what it did, who started it, for whom."""

from __future__ import annotations

from datetime import UTC, datetime

from plugin.jobs.model import JobKind, new_job
from plugin.web.job_rows import job_row
from plugin.web.views import view_filter, without_test_users

NAMES = {"s1": "Launch"}
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _audience(spec: dict[str, object]) -> str:
    return job_row(new_job("b", JobKind.BROADCAST, {"message": {"text": "Hi"}}, total=0,
                           now=NOW, audience=spec, chunks=0), NAMES).audience


def test_audiences_in_words() -> None:
    assert _audience({"segment": "s1"}) == "Segment “Launch”"
    assert _audience({"segment": "gone"}) == "Segment “removed”"
    assert _audience({"filter": {"conditions": []}}) == "Everyone"
    assert _audience({"filter": {"conditions": [
        {"property": "user_id", "operator": "in", "value": ["a", "b"]}]}}) == "2 selected users"
    narrowed = view_filter({"conditions": [{"property": "email", "operator": "is_set"}],
                            "expression": "1"}, "s1")
    assert _audience({"filter": narrowed}) == (
        "1. email is set; 2. in segment “Launch” — (1) and 2")
    assert _audience({"filter": without_test_users(view_filter(None, "s1"))}) == (
        "Segment “Launch”, test users left out")
    assert _audience({"filter": without_test_users(None)}) == "Everyone, test users left out"


def test_what_who_and_how_far() -> None:
    job = new_job("b", JobKind.BULK_UPDATE, {"set": {"seats": 3, "tags": ["a", "b"]},
                                             "unset": ["plan"]}, total=4,
                  now=NOW, audience={"segment": "s1"}, chunks=1,
                  started_by={"key_id": "0123456789abcdef", "label": "", "role": "editor"})
    job.update(done=2, failed=1, failures=[{"user_id": "u9", "reason": "gone"}])
    row = job_row(job, NAMES)
    assert (row.kind, row.what, row.started_by) == (
        "Property update", "seats = 3, tags = a, b, clear plan", "key 0123456789abcdef (editor)")
    assert (row.handled, row.total, row.active, row.errors) == (3, 4, True, ["u9: gone"])
    assert job_row(new_job("b", JobKind.EXPORT, {"format": "xlsx"}, total=9, now=NOW),
                   NAMES).started_by == "—"
