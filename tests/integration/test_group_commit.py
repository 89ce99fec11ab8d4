"""Group commit: concurrent callers of one process share a capture write, and
each gets its own share of the result."""

from __future__ import annotations

import asyncio

from plugin.audience.profile_store import ProfileStore
from plugin.capture.group_commit import GroupCommit, split_result
from plugin.capture.store import IngestResult
from plugin.capture.update import Rejection
from plugin.core import events as ev
from plugin.db.database import Database
from tests.conftest import Api


def _messages(bot_id: str, caller: int, count: int, users: int) -> list[ev.Event]:
    return [ev.user_message(bot_id, f"u{i % users}", f"c{caller} m{i}") for i in range(count)]


async def test_callers_waiting_at_once_share_a_write_and_each_gets_its_part(
        db: Database, bot_id: str) -> None:
    commit = GroupCommit(db)
    batches = [_messages(bot_id, n, 100, 10) for n in range(4)]
    again = batches[3][:5]  # the last caller sends five of its events twice
    first = asyncio.create_task(commit.ingest(batches[0]))
    for _ in range(2):  # the caller queues, then the writer takes its batch and writes
        await asyncio.sleep(0)
    # Everything queued while that write runs goes in the next one.
    results = [await first, *await asyncio.gather(*(commit.ingest(b) for b in batches[1:]),
                                                   commit.ingest(again))]
    assert commit.writes == 2
    assert [(r.accepted, r.duplicates) for r in results] == [(100, 0)] * 4 + [(0, 5)]
    assert results[4].duplicate_positions == {0, 1, 2, 3, 4}
    profiles = await ProfileStore.of(db).find_profiles({"bot_id": bot_id}, [("_id", 1)], 20)
    assert [p["message_count"] for p in profiles] == [40] * 10  # each event once


def test_a_shared_result_is_split_by_position_and_rejections_by_event() -> None:
    a = [ev.user_message("b", "u1", "x"), ev.property_set("b", "u1", "age", "old")]
    b = [ev.property_set("b", "u2", "age", "young"), a[0]]
    shared = IngestResult(accepted=3, duplicate_positions={3}, rejected=[
        Rejection(a[1].id, "u1", "age", "not a number"),
        Rejection(b[0].id, "u2", "age", "not a number")])
    first, second = split_result(shared, [a, b])
    assert (first.accepted, first.duplicates, [r.user_id for r in first.rejected]) == (
        2, 0, ["u1"])
    assert (second.accepted, second.duplicates, second.duplicate_positions,
            [r.user_id for r in second.rejected]) == (1, 1, {1}, ["u2"])


async def test_concurrent_posts_answer_each_for_its_own_events(api: Api, bot_id: str) -> None:
    def body(n: int) -> dict[str, object]:
        return {"events": [
            {"id": f"e{n}-{i}", "user_id": f"u{i % 3}", "type": "user_message",
             "data": {"text": f"hi {i}"}} for i in range(20)]}

    sent = [body(n) for n in range(3)] + [body(0)]  # the last is the first, retried
    answers = await asyncio.gather(*(api.post(f"/v1/bots/{bot_id}/events", b) for b in sent))
    assert [status for status, _ in answers] == [202] * 4
    counted = sorted((a["accepted"], a["duplicates"]) for _, a in answers)
    assert counted == [(0, 20), (20, 0), (20, 0), (20, 0)]
    status, page = await api.post(f"/v1/bots/{bot_id}/audience/query", {})
    assert status == 200, page
    assert sorted(u["message_count"] for u in page["users"]) == [18, 21, 21]  # 7+7+6 each
