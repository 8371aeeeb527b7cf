"""picks.npz: aligned npz files that np.load reads and picks reads without copying."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pytest
from picks import npz

ARRAYS = {
    "codes": np.arange(1, 1001, dtype=np.int32),
    "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "empty": np.empty(0, dtype=np.int64),
    "small": np.array([7, 65535], dtype=np.uint16),
    "text": np.frombuffer(b"caf\xc3\xa9", dtype=np.uint8),
    "matrix": np.arange(30, dtype=np.float32).reshape(5, 6),
}


def _written() -> bytes:
    buffer = io.BytesIO()
    npz.write(buffer, ARRAYS)
    return buffer.getvalue()


def _assert_same(got: dict[str, np.ndarray]) -> None:
    assert list(got) == list(ARRAYS)
    for name, expected in ARRAYS.items():
        assert got[name].dtype == expected.dtype, name
        assert got[name].shape == expected.shape, name
        assert np.array_equal(got[name], expected), name


def test_written_file_is_an_ordinary_npz():
    with np.load(io.BytesIO(_written()), allow_pickle=False) as loaded:
        _assert_same({name: loaded[name] for name in loaded.files})


def test_read_gives_read_only_views_into_the_buffer():
    data = _written()
    got = npz.read(data)
    _assert_same(got)
    start = np.frombuffer(data, dtype=np.uint8).ctypes.data
    for name, array in got.items():
        assert not array.flags.writeable, name
        assert not array.flags.owndata, name
        if array.size:
            # the data lies inside the buffer, 64-byte aligned relative to its start
            assert 0 <= array.ctypes.data - start < len(data), name
            assert (array.ctypes.data - start) % npz.ALIGNMENT == 0, name
    with pytest.raises(ValueError):
        got["codes"][0] = 5


def test_files_written_by_numpy_are_read_too():
    buffer = io.BytesIO()
    np.savez(buffer, **ARRAYS)
    _assert_same(npz.read(buffer.getvalue()))
    compressed = io.BytesIO()
    np.savez_compressed(compressed, **ARRAYS)
    _assert_same(npz.read(compressed.getvalue()))


def test_a_mapped_file_reads_like_its_bytes(tmp_path):
    path = tmp_path / "arrays.npz"
    with path.open("wb") as handle:
        npz.write(handle, ARRAYS)
    mapped = npz.map_file(path)
    got = npz.read(mapped)
    _assert_same(got)
    assert not got["codes"].flags.writeable
    (tmp_path / "empty").write_bytes(b"")
    assert npz.map_file(tmp_path / "empty") == b""


def test_a_truncated_file_is_an_error_not_short_arrays():
    data = _written()
    with pytest.raises(Exception):  # noqa: B017, PT011 - zipfile or numpy, either says so
        npz.read(data[: len(data) // 2])


def test_a_mapped_file_written_by_numpy_is_read_too(tmp_path):
    path = tmp_path / "numpy.npz"
    np.savez(path, **ARRAYS)
    _assert_same(npz.read(npz.map_file(path)))
    np.savez_compressed(path, **ARRAYS)
    _assert_same(npz.read(npz.map_file(path)))


class _Unseekable(io.RawIOBase):
    """A write-only stream, as the model writer's hashing stream is: zipfile adds data descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.target = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # noqa: ANN001 - any buffer
        return self.target.write(data)


def test_a_stream_that_cannot_seek_gets_aligned_members_too():
    stream = _Unseekable()
    npz.write(stream, ARRAYS)
    data = stream.target.getvalue()
    got = npz.read(data)
    _assert_same(got)
    start = np.frombuffer(data, dtype=np.uint8).ctypes.data
    for name, array in got.items():
        if array.size:
            assert 0 <= array.ctypes.data - start < len(data), name  # a view, not a copy
            assert (array.ctypes.data - start) % npz.ALIGNMENT == 0, name


def test_hashing_writer_hashes_what_it_writes_large_chunks_on_its_thread_included() -> None:
    rng = np.random.default_rng(5)
    chunks: list[Any] = [rng.bytes(3 << 20), b"small", bytearray(rng.bytes(2 << 20)), rng.bytes(1 << 20)]
    target = io.BytesIO()
    with npz.HashingWriter(target) as writer:
        for chunk in chunks:
            writer.write(chunk)
        digest = writer.hexdigest()
    whole = b"".join(bytes(chunk) for chunk in chunks)
    assert target.getvalue() == whole
    assert (digest, writer.size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert not target.closed  # the target's owner closes it
