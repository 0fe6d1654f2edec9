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


START = Position(0, 0)


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


class Journal:
    """Segments `NNNNNNNNNNNN.log` in `directory`; one appender thread at a time."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._fd: int | None = None
        self._segment = 0
        self._offset = 0
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------------
    def open_after(self, loaded: Position) -> None:
        """Start a fresh segment numbered after every existing one and after `loaded` (the
        database's position), so a new frame never sorts before one already loaded."""
        self.directory.mkdir(parents=True, exist_ok=True)
        last = max([loaded.segment, *(s for s, _ in self.segments())])
        self._start_segment(last + 1)

    def append(self, frame: Frame) -> Position:
        """Write one frame and sync it to disk; returns where it ends."""
        body = frame.encode()
        data = _HEADER.pack(_MAGIC, len(body), zlib.crc32(body)) + body
        with self._lock:
            if self._fd is None:
                raise RuntimeError("the journal is not open")
            if self._offset and self._offset + len(data) > self.segment_bytes:
                self._start_segment(self._segment + 1)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
            self._offset += len(data)
            return Position(self._segment, self._offset)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

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
        """Every intact frame that ends after `after`, in order; a torn frame ends its segment
        (it was never acknowledged)."""
        for number, path in self.segments():
            if number < after.segment:
                continue
            data = path.read_bytes()
            offset = 0
            while offset + _HEADER.size <= len(data):
                magic, length, crc = _HEADER.unpack_from(data, offset)
                start, end = offset + _HEADER.size, offset + _HEADER.size + length
                if magic != _MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
                    break
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


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
