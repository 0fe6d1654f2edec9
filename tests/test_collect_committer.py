"""The group committer and its journal on a real workspace, without HTTP: what is stored, what
is refused, and what a crash between the journal and the database leaves.

A request is answered once its group is synced to the journal; the loader lands journal
frames in DuckDB and moves the journal position in the same transaction, so reopening the
workspace after a kill lands exactly the frames the database does not hold.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from live_server import prepare_workspace
from onefold import Workspace
from onefold.collect.committer import Delivery, GroupCommitter
from onefold.collect.journal import JOURNAL_DIR, Frame, Journal, JournalError, Position
from onefold.collect.loader import land_frames
from onefold.collect.messages import Accepted, Rejected, check_message
from onefold.collect.store import messages_table, read_position, rejects_table
from onefold.engine.base import Engine

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


def test_a_failed_sync_is_refused_and_leaves_no_frame_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onefold.collect.journal as journal_module

    root = tmp_path / "ws"
    prepare_workspace(root)
    real_sync = journal_module.os.fdatasync
    failures = iter([True])

    def flaky_sync(fd: int) -> None:
        if next(failures, False):
            raise OSError(5, "Input/output error")
        real_sync(fd)

    with Workspace(root) as ws:
        journal = Journal(ws.root / JOURNAL_DIR)
        journal.open_after(read_position(ws.engine))
        first = journal.append(frame("f1", rejects=(bad_message(0),)))
        land_frames(ws.engine, [(first, frame("f1", rejects=(bad_message(0),)))])
        monkeypatch.setattr(journal_module.os, "fdatasync", flaky_sync)
        with pytest.raises(OSError):
            journal.append(frame("f2"))  # refused: the client gets a 503 and retries
        journal.append(frame("f3", rejects=(bad_message(1),)))
        monkeypatch.setattr(journal_module.os, "fdatasync", real_sync)
        journal.close()  # killed here: f3 was acknowledged, not landed
    with Workspace(root) as ws:
        assert landed_ids(ws) == ["f1", "f3"]
        rejects = ws.engine.fetchall("SELECT row_number FROM rejects ORDER BY 1")
        assert rejects == [(0,), (1,)]


def test_a_partial_write_is_cut_back_and_later_frames_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onefold.collect.journal as journal_module

    real_write = journal_module.os.write
    calls = {"n": 0}

    def short_write(fd: int, data: memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 2:  # the second frame: half of it, then the disk is full
            real_write(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    journal = Journal(tmp_path / "j")
    journal.open_after(Position(0, 0))
    monkeypatch.setattr(journal_module.os, "write", short_write)
    journal.append(frame("p1"))
    with pytest.raises(OSError):
        journal.append(frame("p2"))
    journal.append(frame("p3"))
    journal.close()
    replayed = [f.messages["record_key"].to_pylist() for _, f in journal.replay(Position(0, 0))]
    assert replayed == [["p1"], ["p3"]]


def test_damage_before_the_newest_segment_stops_recovery_and_keeps_the_journal(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=1)  # a segment per frame
    journal.open_after(Position(0, 0))
    journal.append(frame("d1"))
    journal.append(frame("d2"))
    journal.close()
    older = journal.segments()[0][1]
    older.write_bytes(older.read_bytes()[:-3])  # not a crash: the disk lost bytes
    with pytest.raises(JournalError, match="damaged frame"):
        list(journal.replay(Position(0, 0)))
    assert len(journal.segments()) == 2


def test_a_clean_stop_with_a_failing_loader_keeps_the_journal_for_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onefold.collect.loader as loader_module

    root = tmp_path / "ws"
    prepare_workspace(root)
    real_land = loader_module.land_frames

    def failing(engine: object, frames: object) -> dict[str, set[str]]:
        raise OSError(28, "No space left on device")

    with Workspace(root) as ws:
        committer = GroupCommitter(ws.fork().engine, ws.root)
        monkeypatch.setattr(loader_module, "land_frames", failing)
        committer.start()
        # a request whose only message is invalid: a frame of rejects alone
        done = committer.submit(ws.mappings["web"], [], [bad_message(4)], "req-r").result(10)
        assert done.rejected
        committer.stop()
        assert ws.engine.fetchall("SELECT count(*) FROM rejects") == [(0,)]
        assert Journal(ws.root / JOURNAL_DIR).segments(), "the unlanded journal was deleted"
    monkeypatch.setattr(loader_module, "land_frames", real_land)
    with Workspace(root) as ws:
        assert ws.engine.fetchall("SELECT row_number FROM rejects") == [(4,)]


def test_opening_the_workspace_beside_a_live_collector_leaves_its_journal_alone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    prepare_workspace(root)
    with Workspace(root) as ws:
        committer = GroupCommitter(ws.fork().engine, ws.root, load_every=3600)
        committer.start()
        try:
            committer.submit(ws.mappings["web"], [message("live")], [], "t").result(10)
            with Workspace(root) as again:  # one process may open its database twice
                assert landed_ids(again) == []  # not recovered under the live loader
            assert Journal(ws.root / JOURNAL_DIR).segments()
        finally:
            committer.stop()
        assert landed_ids(ws) == ["live"]
        assert committer.loader.last_error is None


def test_a_loader_that_died_is_reported_and_flush_does_not_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onefold.collect.loader import Loader

    def broken(self: Loader) -> None:
        raise RuntimeError("bug")

    prepare_workspace(tmp_path / "ws")
    monkeypatch.setattr(Loader, "_run", broken)
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.fork().engine, ws.root)
        committer.start()
        try:
            committer.submit(ws.mappings["web"], [message("x")], [], "t").result(10)
            started = time.monotonic()
            assert committer.loader.flush(timeout=20) is False
            assert time.monotonic() - started < 5
            assert committer.loader.last_error and "bug" in committer.loader.last_error
        finally:
            committer.stop()
        assert Journal(ws.root / JOURNAL_DIR).segments(), "kept for the next open"
    with Workspace(tmp_path / "ws") as ws:
        assert landed_ids(ws) == ["x"]


def test_after_a_clean_restart_new_frames_sort_after_the_landed_position(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    prepare_workspace(root)
    with Workspace(root) as ws:
        first = GroupCommitter(ws.fork().engine, ws.root)
        first.start()
        first.submit(ws.mappings["web"], [message("a1")], [], "t").result(10)
        first.stop()  # landed, journal deleted: only the database remembers the position
        landed_at = read_position(ws.engine)
        assert landed_at.segment >= 1 and not Journal(ws.root / JOURNAL_DIR).segments()
        second = GroupCommitter(ws.fork().engine, ws.root, load_every=3600)
        second.start()
        second.submit(ws.mappings["web"], [message("b1")], [], "t").result(10)
        [(segment, _)] = Journal(ws.root / JOURNAL_DIR).segments()
        assert segment > landed_at.segment
        second._journal.close()  # the process dies here: b1 acknowledged, not landed
    with Workspace(root) as ws:
        assert landed_ids(ws) == ["a1", "b1"]


def test_keys_not_reread_for_too_long_are_refused_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onefold.collect.keys as keys_module
    from onefold.collect.keys import KeyRing, KeysUnavailable

    keys = prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        ring = KeyRing(ws.fork().engine, refresh_seconds=0.05)
        ring.start()
        try:
            assert ring.verify(keys.write, "write") is not None
            assert ring.verify(keys.write, "read") is None  # a write key cannot read

            def failing() -> None:
                raise OSError("database unavailable")

            monkeypatch.setattr(ring, "reload", failing)  # every background re-read fails
            monkeypatch.setattr(keys_module, "MAX_STALE_SECONDS", 0.2)
            time.sleep(0.4)
            with pytest.raises(KeysUnavailable):
                ring.verify(keys.write, "write")
        finally:
            ring.stop()


def test_a_frame_the_database_keeps_refusing_is_set_aside_and_the_rest_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onefold.collect.loader as loader_module

    real_land = loader_module.land_frames

    def refuses_poison(engine: Engine, frames: list[tuple[Position, Frame]]) -> object:
        if any("poison" in f.messages["record_key"].to_pylist() for _, f in frames):
            raise ValueError("the database refuses this frame")
        return real_land(engine, frames)

    monkeypatch.setattr(loader_module, "land_frames", refuses_poison)
    monkeypatch.setattr(loader_module, "RETRY_SECONDS", 0.01)
    prepare_workspace(tmp_path / "ws")
    with Workspace(tmp_path / "ws") as ws:
        committer = GroupCommitter(ws.fork().engine, ws.root, load_every=3600)
        committer.start()
        try:
            for mid in ("good1", "poison", "good2"):  # three frames, loaded together
                committer.submit(ws.mappings["web"], [message(mid)], [], mid).result(10)
            assert committer.loader.flush(timeout=30)
            assert committer.loader.set_aside == 1
        finally:
            committer.stop()
        assert landed_ids(ws) == ["good1", "good2"]
        [kept] = (ws.root / JOURNAL_DIR / "set-aside").glob("*.frame")
        assert Frame.decode(kept.read_bytes()).messages["record_key"].to_pylist() == ["poison"]
