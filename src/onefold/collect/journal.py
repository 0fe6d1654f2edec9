"""The collection journal: an append-only, fsynced log that a 2xx waits for.

A DuckDB commit costs ~10 ms of fixed work whatever its size (statements, index updates, the
write-ahead log), and a lone `/v1/track` call used to wait for one — beside the real-time
resolver's commits, which hold DuckDB's commit lock. An `fdatasync` of an appended frame
costs ~0.3 ms here. So a collected group is made durable by appending it to this journal,
answered, and only then loaded into DuckDB by `collect.loader` in large transactions: the
same order as Segment's or RudderStack's collectors (a durable queue first, the warehouse
after), with the queue on local disk beside the workspace.

Each loader transaction records, with the messages it lands, the journal position it reached
(`journal_position`), so replaying the journal after a crash lands exactly the frames after
that position — each acknowledged message once, rejects included. Frames are
`magic, length, crc32, body`: a frame torn by a crash (never acknowledged: the answer waits
for the sync) fails its length or checksum and ends the replay.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

JOURNAL_DIR = "journal"
#: A segment is closed and a new one started past this size; loaded segments are deleted.
SEGMENT_BYTES = 64 * 1024 * 1024
_HEADER = struct.Struct("<4sII")  # magic, body length, crc32 of the body
_MAGIC = b"OFJ1"
_SUFFIX = ".log"


@dataclass(frozen=True, order=True)
class Position:
    """Where a frame ends: (segment number, byte offset within it)."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Frame:
    """One acknowledged group: its messages (source, record_key, payload, meta) and rejects
    (source, request_id, row_number, record_key, field, raw_value, reason)."""

    messages: pa.Table
    rejects: pa.Table

    def encode(self) -> bytes:
        parts = [_ipc(self.messages), _ipc(self.rejects)]
        return struct.pack("<I", len(parts[0])) + parts[0] + parts[1]

    @classmethod
    def decode(cls, body: bytes) -> Frame:
        (n,) = struct.unpack_from("<I", body)
        messages = pa.ipc.open_stream(pa.py_buffer(body[4 : 4 + n])).read_all()
        rejects = pa.ipc.open_stream(pa.py_buffer(body[4 + n :])).read_all()
        return cls(messages, rejects)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


class JournalError(Exception):
    """A journal segment is damaged somewhere other than its torn tail."""


class Journal:
    """Segments `NNNNNNNNNNNN.log` in `directory`; one appender thread at a time.

    The appender holds an exclusive lock on `directory/LOCK` while it is open, so recovery
    (`collect.loader.recover_journal`) leaves a journal alone that a live collector writes —
    DuckDB lets one process open its file twice, and recovery would land and delete frames
    under that collector's loader.
    """

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._segment = 0
        self._offset = 0
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------------
    def open_after(self, loaded: Position) -> None:
        """Take the journal's lock and start a fresh segment numbered after every existing
        one and after `loaded` (the database's position), so a new frame never sorts before
        one already loaded. Raises `BlockingIOError` when another collector holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_journal(self.directory)
        if self._lock_fd is None:
            raise BlockingIOError(f"{self.directory} is held by another running collector")
        last = max([loaded.segment, *(s for s, _ in self.segments())])
        self._start_segment(last + 1)

    def append(self, frame: Frame) -> Position:
        """Write one frame and sync it to disk; returns where it ends.

        A failed write or sync leaves nothing behind it: the segment is cut back to its last
        whole frame and later frames go to a new segment (after a failed sync the kernel may
        have dropped the tail's dirty pages, so nothing more is appended to that file).
        """
        body = frame.encode()
        data = _HEADER.pack(_MAGIC, len(body), zlib.crc32(body)) + body
        with self._lock:
            if self._fd is None:
                raise RuntimeError("the journal is not open")
            if self._offset and self._offset + len(data) > self.segment_bytes:
                self._start_segment(self._segment + 1)
            fd = self._fd
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fdatasync(fd)
            except OSError:
                self._abandon_segment()
                raise
            self._offset += len(data)
            return Position(self._segment, self._offset)

    def _abandon_segment(self) -> None:
        """After a failed append: cut the segment back to its last whole frame, and move on to
        a new one (raising if even that fails: then the journal is closed and every request
        is refused until the collector restarts)."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._offset)
            os.fdatasync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
        self._start_segment(self._segment + 1)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None

    def _start_segment(self, number: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = self.directory / f"{number:012d}{_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _sync_directory(self.directory)  # the new file's name is durable too
        self._segment, self._offset = number, os.fstat(self._fd).st_size

    # -- reading and releasing -----------------------------------------------------------------
    def segments(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            if path.stem.isdigit():
                found.append((int(path.stem), path))
        return sorted(found)

    def replay(self, after: Position) -> Iterator[tuple[Position, Frame]]:
        """Every intact frame that ends after `after`, in order. A torn frame may end the
        newest segment (a crash mid-write: never acknowledged); anywhere else a frame that
        fails its checks raises `JournalError`, and nothing is deleted."""
        segments = self.segments()
        for number, path in segments:
            if number < after.segment:
                continue
            data = path.read_bytes()
            offset = 0
            while offset < len(data):
                start = offset + _HEADER.size
                intact = start <= len(data)
                if intact:
                    magic, length, crc = _HEADER.unpack_from(data, offset)
                    end = start + length
                    intact = (
                        magic == _MAGIC and end <= len(data) and zlib.crc32(data[start:end]) == crc
                    )
                if not intact:
                    if number == segments[-1][0]:
                        break  # the torn tail of the newest segment
                    raise JournalError(
                        f"{path}: damaged frame at byte {offset} of {len(data)}; the journal "
                        "is kept as it is (move the file aside to open the workspace)"
                    )
                offset = end
                if Position(number, offset) > after:
                    yield Position(number, offset), Frame.decode(data[start:end])

    def release(self, loaded: Position) -> None:
        """Delete the segments before `loaded`'s: frames are loaded in order, so a position in
        segment N means every earlier segment is in the database."""
        for number, path in self.segments():
            if number < loaded.segment:
                path.unlink(missing_ok=True)

    def release_all(self) -> None:
        """Delete every segment: call once all of them are loaded and no writer appends."""
        for _, path in self.segments():
            path.unlink(missing_ok=True)


def lock_journal(directory: Path) -> int | None:
    """An exclusive, non-blocking lock on the journal (`flock`: per open file, so it also
    tells apart two opens in one process); the descriptor to close, or None if held."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
