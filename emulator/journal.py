"""An append-only journal of framed records with snapshots, for the emulator's durable state.

Files in one directory, ``<generation>`` counting up from 1:

* ``journal-<generation>.log``  records appended since that generation began
* ``snapshot-<generation>.log`` a compaction: everything that was true when that generation began
  (written as ``.tmp``, fsynced, then renamed, so a snapshot that exists is whole)

The state is the newest snapshot followed by every journal of its generation or later.  Each
file starts with ``MAGIC``; each record is ``<length u32><crc32 u32><payload>``.  A process killed
in the middle of an append leaves a short or mismatching last record: reading stops there, and
``Journal.open`` cuts the file back to the last whole record before appending again.

Appends are group-committed: ``append`` writes the frame (the OS has it: a kill -9 of this process
cannot lose it), ``sync`` returns once an fdatasync covered it (a power cut cannot either), and
one fdatasync covers every append made before it, so concurrent writers share the cost.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

MAGIC = b"PICKSJ1\n"
_HEADER = struct.Struct("<II")
_NAME = re.compile(r"(journal|snapshot)-(\d{8})\.log")


class JournalError(Exception):
    """The journal directory cannot be used (a damaged snapshot, a foreign file)."""


def encode_frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def read_frames(data: bytes) -> tuple[list[bytes], int]:
    """The whole records of a journal file's bytes and the offset just past the last of them."""
    if not data.startswith(MAGIC):
        return [], 0
    payloads: list[bytes] = []
    offset = len(MAGIC)
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        start, end = offset + _HEADER.size, offset + _HEADER.size + length
        if end > len(data):
            break
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            break
        payloads.append(payload)
        offset = end
    return payloads, offset


def fsync_directory(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Journal:
    """One directory of journal and snapshot files; see the module docstring."""

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self._lock = threading.Lock()  # appends and rotation
        self._sync_lock = threading.Lock()  # one fdatasync at a time
        self._compact_lock = threading.Lock()
        self._fd: int | None = None
        self._generation = 0
        self._appended = 0  # sequence number of the last append
        self._synced = 0  # every append up to this one is on disk
        self.bytes_since_snapshot = 0

    # --- reading -----------------------------------------------------------------------------

    def _files(self) -> dict[tuple[str, int], Path]:
        found: dict[tuple[str, int], Path] = {}
        for path in self.directory.iterdir():
            match = _NAME.fullmatch(path.name)
            if match:
                found[(match.group(1), int(match.group(2)))] = path
        return found

    def _path(self, kind: str, generation: int) -> Path:
        return self.directory / f"{kind}-{generation:08d}.log"

    def open(self) -> Iterator[bytes]:
        """Yield every stored record, oldest first (newest snapshot, then the journals after it),
        then leave the journal ready for appends.  Run the iterator to its end before appending."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):
            stale.unlink()  # a snapshot that was never finished
        files = self._files()
        snapshots = sorted(generation for kind, generation in files if kind == "snapshot")
        base = snapshots[-1] if snapshots else 0
        for (kind, generation), path in files.items():
            if generation < base or (kind == "snapshot" and generation != base):
                path.unlink()  # compacted into the newest snapshot already
        if base:
            data = self._path("snapshot", base).read_bytes()
            payloads, end = read_frames(data)
            if end != len(data):
                raise JournalError(
                    f"{self._path('snapshot', base)} is damaged at byte {end}; restore it "
                    "from a backup, or delete the state directory to start empty"
                )
            yield from payloads
        journals = sorted(generation for kind, generation in self._files() if kind == "journal")
        for generation in journals:
            path = self._path("journal", generation)
            data = path.read_bytes()
            payloads, end = read_frames(data)
            yield from payloads
            if end < len(data):
                # A torn last record: it was never acknowledged.  Cut it off so appends follow whole records.
                with path.open("r+b") as handle:
                    handle.truncate(max(end, 0))
                    if end == 0:
                        handle.write(MAGIC)
                    handle.flush()
                    os.fsync(handle.fileno())
        self._open_generation(max(journals[-1] if journals else 0, base, 1))

    def _open_generation(self, generation: int) -> None:
        path = self._path("journal", generation)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(fd).st_size == 0:
            _write_all(fd, MAGIC)
            os.fsync(fd)
            fsync_directory(self.directory)
        self._fd, self._generation = fd, generation
        self.bytes_since_snapshot = os.fstat(fd).st_size

    # --- writing -----------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Write one record; returns its sequence number for ``sync``.  Once this returns, the
        record survives the process being killed."""
        frame = encode_frame(payload)
        with self._lock:
            if self._fd is None:
                raise JournalError("the journal is closed")
            _write_all(self._fd, frame)
            self._appended += 1
            self.bytes_since_snapshot += len(frame)
            return self._appended

    def sync(self, sequence: int) -> None:
        """Return once record ``sequence`` (and every one before it) is on disk."""
        if not self.fsync:
            return
        with self._sync_lock:
            if self._synced >= sequence:
                return  # another writer's fdatasync covered it
            with self._lock:
                fd, target = self._fd, self._appended
            if fd is not None:
                os.fdatasync(fd) if hasattr(os, "fdatasync") else os.fsync(fd)
            self._synced = target

    def write(self, payload: bytes) -> None:
        self.sync(self.append(payload))

    def _rotate(self) -> int:
        """Start the next generation; every earlier append is on disk when this returns."""
        with self._sync_lock, self._lock:
            if self._fd is None:
                raise JournalError("the journal is closed")
            os.fsync(self._fd)
            os.close(self._fd)
            self._synced = self._appended
            self._open_generation(self._generation + 1)
            return self._generation

    def compact(self, write_snapshot: Callable[[Callable[[bytes], None]], None]) -> None:
        """Replace everything stored with a snapshot: ``write_snapshot(emit)`` calls ``emit`` with
        each record of the current state.  Appends may continue meanwhile; they go to the new
        generation, which is replayed after the snapshot, so records must be idempotent (each
        says what a thing now is, not how it changed)."""
        with self._compact_lock:
            generation = self._rotate()
            final = self._path("snapshot", generation)
            temporary = final.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                buffer = bytearray(MAGIC)

                def emit(payload: bytes) -> None:
                    buffer.extend(encode_frame(payload))
                    if len(buffer) >= 1 << 20:
                        _write_all(fd, bytes(buffer))
                        buffer.clear()

                write_snapshot(emit)
                _write_all(fd, bytes(buffer))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, final)
            fsync_directory(self.directory)
            for (_kind, older), path in self._files().items():
                if older < generation:
                    path.unlink()

    def close(self) -> None:
        with self._sync_lock, self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None
                self._synced = self._appended
