"""The group committer on a real workspace, without HTTP: what it stores, what it refuses.

Retries are caught in memory when recent and by `collected_ids`' primary key when not: the
second path (plain INSERT fails on the key, the group is written again claiming ids one by
one) must give exactly the answer of the first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from live_server import prepare_workspace
from onefold import Workspace
from onefold.collect.committer import Delivery, GroupCommitter
from onefold.collect.messages import Accepted, Rejected, check_message

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def message(mid: str) -> Accepted:
    msg = {"type": "track", "event": "Product Viewed", "userId": "u-1", "messageId": mid}
    checked = check_message(msg, 0, NOW, raw=orjson.dumps(msg))
    assert isinstance(checked, Accepted)
    return checked


def landed_ids(ws: Workspace) -> list[str]:
    rows = ws.engine.fetchall("SELECT record_key FROM landed_records ORDER BY record_key")
    return [r[0] for r in rows]


def test_old_ids_sent_again_are_duplicates_past_the_recent_window(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.engine, recent_ids=1)  # remembers one id only
        committer.start()
        mapping = ws.mappings["web"]

        def deliver(*ids: str) -> Delivery:
            return committer.submit(mapping, [message(i) for i in ids], [], "t").result(10)

        try:
            assert deliver("a").stored == deliver("b").stored == 1  # "b" is remembered
            again = deliver("a")  # forgotten by memory: the primary key says no
            assert (again.stored, again.duplicates) == (0, ("a",))
            mixed = deliver("c", "b", "c")  # new, remembered, repeated in the request
            assert (mixed.stored, sorted(mixed.duplicates)) == (1, ["b", "c"])
            old = deliver("d", "a")  # new and forgotten: the key fails, claimed one by one
            assert (old.stored, old.duplicates) == (1, ("a",))
        finally:
            committer.stop()
        assert landed_ids(ws) == ["a", "b", "c", "d"]
        loads = ws.engine.fetchall(
            "SELECT rows_read, rows_new FROM loads WHERE file = '(http) web' ORDER BY load_id"
        )
        assert loads == [(1, 1), (1, 1), (1, 1), (2, 1)]  # read, new: what reached SQL


def test_rejects_are_kept_with_the_request_that_sent_them(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    bad = check_message({"type": "track", "event": "x"}, 3, NOW)
    assert isinstance(bad, Rejected)
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.engine)
        committer.start()
        try:
            done = committer.submit(ws.mappings["web"], [message("m")], [bad], "req-9").result(10)
        finally:
            committer.stop()
        assert (done.stored, done.rejected) == (1, (bad,))
        rows = ws.engine.fetchall("SELECT stage, file, row_number, field, reason FROM rejects")
        assert rows == [("collect", "(http) request req-9", 3, "userId", bad.reason)]
