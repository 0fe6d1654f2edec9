"""The group committer and its journal on a real workspace, without HTTP: what is stored, what
is refused, and what a crash between the journal and the database leaves.

A request is answered once its group is synced to the journal; the loader lands journal
frames in DuckDB and moves the journal position in the same transaction, so reopening the
workspace after a kill lands exactly the frames the database does not hold.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from live_server import prepare_workspace
from onefold import Workspace
from onefold.collect.committer import Delivery, GroupCommitter
from onefold.collect.journal import JOURNAL_DIR, Frame, Journal, Position
from onefold.collect.loader import land_frames
from onefold.collect.messages import Accepted, Rejected, check_message
from onefold.collect.store import messages_table, read_position, rejects_table

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def message(mid: str) -> Accepted:
    msg = {"type": "track", "event": "Product Viewed", "userId": "u-1", "messageId": mid}
    checked = check_message(msg, 0, NOW, raw=orjson.dumps(msg))
    assert isinstance(checked, Accepted)
    return checked


def bad_message(index: int) -> Rejected:
    bad = check_message({"type": "track", "event": "x"}, index, NOW)
    assert isinstance(bad, Rejected)
    return bad


def frame(*ids: str, rejects: tuple[Rejected, ...] = ()) -> Frame:
    return Frame(
        messages_table("web", [message(i) for i in ids]),
        rejects_table([("web", "req-1", r) for r in rejects]),
    )


def landed_ids(ws: Workspace) -> list[str]:
    rows = ws.engine.fetchall("SELECT record_key FROM landed_records ORDER BY record_key")
    return [r[0] for r in rows]


def test_recent_ids_are_duplicates_and_older_ones_are_stored_once(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.engine, ws.root, recent_ids=1)  # remembers one id only
        committer.start()
        mapping = ws.mappings["web"]

        def deliver(*ids: str) -> Delivery:
            done = committer.submit(mapping, [message(i) for i in ids], [], "t").result(10)
            assert committer.loader.flush()
            return done

        try:
            assert deliver("a").stored == deliver("b").stored == 1  # "b" is remembered
            mixed = deliver("c", "b", "c")  # new, remembered, repeated in the request
            assert (mixed.stored, sorted(mixed.duplicates)) == (1, ["b", "c"])
            # "a" is forgotten by memory: answered as stored, and the key stores it once
            old = deliver("d", "a")
            assert (old.stored, old.duplicates) == (2, ())
        finally:
            committer.stop()
        assert landed_ids(ws) == ["a", "b", "c", "d"]
        assert committer.loader.messages == 4
        loads = ws.engine.fetchall(
            "SELECT rows_read, rows_new FROM loads WHERE file = '(http) web' ORDER BY load_id"
        )
        assert loads[-1] == (2, 1)  # the replayed id reached SQL and was refused by the key
        assert not list((ws.root / JOURNAL_DIR).glob("*.log")), "a clean stop keeps no journal"


def test_rejects_are_kept_with_the_request_that_sent_them(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    bad = bad_message(3)
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.engine, ws.root)
        committer.start()
        try:
            done = committer.submit(ws.mappings["web"], [message("m")], [bad], "req-9").result(10)
        finally:
            committer.stop()
        assert (done.stored, done.rejected) == (1, (bad,))
        rows = ws.engine.fetchall("SELECT stage, file, row_number, field, reason FROM rejects")
        assert rows == [("collect", "(http) request req-9", 3, "userId", bad.reason)]


def test_an_acknowledged_group_is_in_the_journal_before_the_database(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        # the loader waits (its own connection: the test reads beside it)
        committer = GroupCommitter(ws.fork().engine, ws.root, load_every=3600)
        committer.start()
        try:
            done = committer.submit(ws.mappings["web"], [message("j1")], [], "t").result(10)
            assert done.stored == 1
            journal = Journal(ws.root / JOURNAL_DIR)
            replayed = [
                f.messages["record_key"].to_pylist() for _, f in journal.replay(Position(0, 0))
            ]
            assert replayed == [["j1"]]
            assert landed_ids(ws) == []  # answered, not loaded yet
            assert committer.loader.flush()
            assert landed_ids(ws) == ["j1"]
        finally:
            committer.stop()


def test_reopening_lands_what_a_killed_server_left_in_the_journal(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    prepare_workspace(root)
    with Workspace(root) as ws:
        start = read_position(ws.engine)
        journal = Journal(ws.root / JOURNAL_DIR)
        journal.open_after(start)
        first = journal.append(frame("k1", "k2", rejects=(bad_message(0),)))
        land_frames(ws.engine, [(first, frame("k1", "k2", rejects=(bad_message(0),)))])
        # the loader landed the first frame and died before deleting it; two more were
        # acknowledged, and the last write was torn by the kill (never acknowledged)
        journal.append(frame("k3", rejects=(bad_message(1),)))
        journal.append(frame("k4"))
        segment = journal.segments()[-1][1]
        journal.close()
        with segment.open("ab") as f:
            f.write(b"OFJ1\xff\x00\x00\x00partial")
    with Workspace(root) as ws:
        assert landed_ids(ws) == ["k1", "k2", "k3", "k4"]
        rejects = ws.engine.fetchall("SELECT row_number FROM rejects ORDER BY row_number")
        assert rejects == [(0,), (1,)], "a reject landed twice, or lost"
        assert not Journal(ws.root / JOURNAL_DIR).segments()
    with Workspace(root) as ws:  # nothing left to land a second time
        assert landed_ids(ws) == ["k1", "k2", "k3", "k4"]


def test_a_replayed_frame_whose_ids_are_held_stores_none_twice(tmp_path: Path) -> None:
    prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        land_frames(ws.engine, [(Position(1, 10), frame("r1", "r2"))])
        stored = land_frames(ws.engine, [(Position(1, 20), frame("r2", "r3", "r3"))])
        assert stored == {"web": {"r3"}}
        assert landed_ids(ws) == ["r1", "r2", "r3"]
        assert read_position(ws.engine) == Position(1, 20)


def test_a_journal_segment_rolls_over_and_loaded_ones_are_deleted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=1)  # every frame starts a segment
    journal.open_after(Position(0, 0))
    ends = [journal.append(frame(f"s{i}")) for i in range(3)]
    assert [e.segment for e in ends] == [1, 2, 3]
    journal.release(ends[1])
    assert [n for n, _ in journal.segments()] == [2, 3]
    assert [f.messages["record_key"].to_pylist() for _, f in journal.replay(ends[1])] == [["s2"]]
    journal.close()


@pytest.mark.parametrize("cut", [1, 7, 20])
def test_a_torn_frame_ends_the_replay(tmp_path: Path, cut: int) -> None:
    journal = Journal(tmp_path / "j")
    journal.open_after(Position(0, 0))
    journal.append(frame("t1"))
    end = journal.append(frame("t2"))
    journal.close()
    path = journal.segments()[0][1]
    path.write_bytes(path.read_bytes()[: end.offset - cut])
    assert [f.messages["record_key"].to_pylist() for _, f in journal.replay(Position(0, 0))] == [
        ["t1"]
    ]
