"""``.npz`` files whose arrays can be used where they lie, without a copy.

``np.savez`` writes each array as a stored (uncompressed) zip member, but at whatever offset the
zip headers leave it, and ``np.load`` copies every member out of the file.  Tables of 25M rows and
the models trained on them are hundreds of MB, so that copy (and the memory it needs) was a large
part of loading them.  ``write`` pads each member's local header (an extra field, as zipalign
does) so that the array data starts on a 64-byte boundary; the file is still an ordinary npz that
``np.load`` reads.  ``read`` returns read-only numpy views into the buffer (bytes, or a file
mapped with ``map_file``) for every aligned stored member, and a copy for anything else (files
written by ``np.savez``, compressed members).  Nothing is verified here: callers check their
manifest's SHA-256 of the whole buffer.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import struct
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping

ALIGNMENT = 64  # numpy pads .npy headers to 64 bytes too, so the data of an aligned member is aligned
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # the 30 fixed bytes of a zip local file header
_ZIP64_LOCAL_EXTRA = 20  # zipfile adds it to a member opened with force_zip64
_PADDING_ID = 0xD935  # the extra-field id zipalign uses for padding; readers skip unknown ids
# Chunks at least this large are hashed on HashingWriter's second thread (numpy writes 16 MiB ones).
_BACKGROUND_HASH_BYTES = 1 << 20


class Writable(Protocol):
    """What ``write`` needs of its target (``zipfile``'s own demand): a binary file, or a stream that
    cannot seek."""

    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def write(target: Writable, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez(target, allow_pickle=False, **arrays)``, each array's data 64-byte aligned."""
    with zipfile.ZipFile(target, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_STORED
            start = archive.fp.tell() if archive.fp is not None else 0
            fixed = _LOCAL_HEADER.size + len(member.filename.encode("utf-8")) + _ZIP64_LOCAL_EXTRA + 4
            pad = -(start + fixed) % ALIGNMENT
            member.extra = struct.pack("<HH", _PADDING_ID, pad) + bytes(pad)
            with archive.open(member, mode="w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


class HashingWriter(io.RawIOBase):
    """A write-only stream that SHA-256-hashes what passes through it on the way to ``target``.

    It cannot seek, so ``zipfile`` (inside ``write``) writes each member once, in order, with a data
    descriptor after it instead of going back to patch the header: the bytes are hashed as they are
    written, with no second pass over hundreds of MB and no copy in memory.  Large ``bytes`` chunks
    (immutable: numpy hands its arrays over as 16 MiB ones) are hashed on a second thread while the
    next chunk is prepared and written (hashlib releases the GIL); one chunk at a time is in flight.
    """

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self._target = target
        self._hash = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="npz-hash")
        self._pending: Future[None] | None = None
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self._wait()
        if isinstance(data, bytes) and size >= _BACKGROUND_HASH_BYTES:
            self._pending = self._pool.submit(self._hash.update, data)
        else:
            self._hash.update(data)
        self._target.write(data)
        self.size += size
        return size

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def hexdigest(self) -> str:
        self._wait()
        return self._hash.hexdigest()

    def close(self) -> None:
        """Stops the hashing thread; ``target`` stays open (its owner closes it)."""
        try:
            self._wait()
        finally:
            self._pool.shutdown()
            super().close()


def map_file(path: str | Path) -> mmap.mmap | bytes:
    """The file's bytes, mapped read-only (no copy in this process's memory); empty files as b""."""
    with Path(path).open("rb") as handle:
        size = handle.seek(0, io.SEEK_END)
        if size == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def read(buffer: Any) -> dict[str, np.ndarray]:
    """Every array of the npz in ``buffer`` (bytes, memoryview or mmap) by name, in file order."""
    view = memoryview(buffer).cast("B")
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(_BufferFile(view)) as archive:
        for member in archive.infolist():
            name = member.filename.removesuffix(".npy")
            array = _view(view, member) if member.compress_type == zipfile.ZIP_STORED else None
            if array is None:
                with archive.open(member) as handle:
                    array = np.lib.format.read_array(handle, allow_pickle=False)
            arrays[name] = array
    return arrays


def _view(view: memoryview, member: zipfile.ZipInfo) -> np.ndarray | None:
    """The member's array as a read-only view into ``view``; None when it cannot be one."""
    fields = _LOCAL_HEADER.unpack_from(view, member.header_offset)
    start = member.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    header = io.BytesIO(view[start : start + min(member.file_size, 1 << 16)])
    version = np.lib.format.read_magic(header)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
    else:
        return None
    offset = start + header.tell()
    if dtype.hasobject or offset % max(dtype.alignment, 1):
        return None
    count = int(np.prod(shape, dtype=np.int64))
    if offset + count * dtype.itemsize > start + member.file_size:
        return None  # a truncated member: let numpy's reader report it
    array = np.frombuffer(view, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)
    if array.flags.writeable:
        # (bytes and read-only maps give read-only views already) nothing may change the buffer
        array.flags.writeable = False
    return array


class _BufferFile(io.RawIOBase):
    """A read-only, seekable file over a buffer, for ``zipfile``: reads copy only what is asked for
    (``io.BytesIO`` would copy a memoryview whole; an mmap is not a full file object before 3.13)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, target: Any) -> int:
        chunk = self._view[self._position : self._position + len(memoryview(target).cast("B"))]
        memoryview(target).cast("B")[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)
