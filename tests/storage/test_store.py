"""Byte stores (``nd2kit.storage``) and version dispatch.

Every kind of source (local path, ``bytes``/``bytearray``/``memoryview``, binary file
objects, fsspec URLs) must give the same arrays and metadata; local paths are
memory-mapped and give zero-copy read-only views; reads are thread-safe; version
dispatch rejects legacy v1 and non-ND2 bytes with typed errors; ``is_supported_file``
and ``is_legacy`` agree with nd2 0.12.
"""

from __future__ import annotations

import io
import mmap
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_files

import nd2kit
from nd2kit.errors import StoreError
from nd2kit.reader import open_reader
from nd2kit.storage import BytesStore, FileStore, MmapStore, RemoteStore, is_url, open_store
from nd2kit.testing.samples import sample_file_bytes

fsspec = pytest.importorskip("fsspec")
nd2 = pytest.importorskip("nd2")

MAGIC = b"\xda\xce\xbe\x0a"
ALL = corpus_files()
MODERN = [p for p in ALL if p.read_bytes()[:4] == MAGIC]
LEGACY = [p for p in ALL if p.read_bytes()[:4] == b"\x00\x00\x00\x0c"]


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    return sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)


@pytest.fixture()
def sample_path(tmp_path: Path, sample_bytes: bytes) -> Path:
    p = tmp_path / "sample.nd2"
    p.write_bytes(sample_bytes)
    return p


def _memory_url(data: bytes, name: str = "f.nd2") -> str:
    url = f"memory://nd2kit-tests/{uuid.uuid4().hex}/{name}"
    with fsspec.open(url, "wb") as fh:
        fh.write(data)
    return url


def _summary(f: nd2kit.ND2File) -> tuple:
    return (f.version, dict(f.sizes), f.dtype, f.attributes, f.metadata, f.experiment,
            f.text_info, f.custom_data, f.loop_indices, f.voxel_size())


# ----------------------------------------------------------------------------- stores


def test_open_store_kinds(sample_path: Path, sample_bytes: bytes) -> None:
    assert isinstance(open_store(sample_path), MmapStore)
    assert isinstance(open_store(str(sample_path)), MmapStore)
    assert isinstance(open_store("file://" + str(sample_path)), MmapStore)
    assert isinstance(open_store(sample_bytes), BytesStore)
    assert isinstance(open_store(bytearray(sample_bytes)), BytesStore)
    assert isinstance(open_store(memoryview(sample_bytes)), BytesStore)
    assert isinstance(open_store(io.BytesIO(sample_bytes)), FileStore)
    assert isinstance(open_store(_memory_url(sample_bytes)), RemoteStore)
    s = open_store(sample_bytes)
    assert open_store(s) is s
    with pytest.raises(TypeError):
        open_store(12345)
    assert is_url("s3://bucket/key.nd2") and is_url("memory://x/y") and is_url("file:///a")
    assert not is_url("/tmp/a.nd2") and not is_url("C:/a.nd2") and not is_url(b"abc")


def test_stores_read_same_bytes(sample_path: Path, sample_bytes: bytes) -> None:
    stores = [open_store(sample_path), open_store(sample_bytes),
              open_store(io.BytesIO(sample_bytes)), open_store(_memory_url(sample_bytes))]
    n = len(sample_bytes)
    for s in stores:
        assert s.size == n
        for off, k in [(0, 16), (4090, 20), (n - 40, 40), (n - 1, 1), (123, 0)]:
            assert bytes(s.read(off, k)) == sample_bytes[off : off + k]
            assert s.read_into_bytes(off, k) == sample_bytes[off : off + k]
            assert isinstance(s.read_into_bytes(off, k), bytes)
        for off, k in [(n - 3, 4), (-1, 2), (0, n + 1)]:
            with pytest.raises(StoreError):
                s.read(off, k)


def test_mmap_store_is_read_only_mapping(sample_path: Path) -> None:
    s = open_store(sample_path)
    assert isinstance(s.buffer, mmap.mmap)
    view = s.read(0, 4)
    assert isinstance(view, memoryview) and view.readonly
    assert bytes(view) == MAGIC
    with pytest.raises(TypeError):
        view[0] = 0  # type: ignore[index]
    s.close()
    assert s.closed


def test_local_store_maps_the_file_only_for_pixels(sample_path: Path, sample_bytes: bytes) -> None:
    """Metadata comes from positional reads; the memory map is made on first pixel
    access (or a large read) and outlives close() for the views handed out."""
    with nd2kit.ND2File(sample_path) as f:
        store = f._reader.store
        assert isinstance(store, MmapStore)
        _ = f.metadata, f.experiment, f.text_info, f.attributes
        assert store._mm is None  # no mapping, no page faults for metadata
        assert f.read_frame(0).base is not None
        assert store._mm is not None  # pixels came from the map
        frame = f.read_frame(0)
    assert np.array_equal(frame, nd2kit.ND2File(sample_bytes).read_frame(0))
    s = open_store(sample_path)
    small = s.read(0, 4)
    assert isinstance(small, bytes) and small == MAGIC and s._mm is None
    big = s.read(0, min(s.size, MmapStore.MAP_MIN))
    if s.size >= MmapStore.MAP_MIN:
        assert isinstance(big, memoryview) and s._mm is not None
    assert bytes(big) == sample_bytes[: len(big)]
    s.close()
    s2 = open_store(sample_path)
    s2.close()
    with pytest.raises(nd2kit.Nd2Error, match="closed"):
        s2.read_into_bytes(0, 4)


def test_local_store_short_read_is_corrupt(tmp_path: Path, sample_bytes: bytes) -> None:
    p = tmp_path / "shrinks.nd2"
    p.write_bytes(sample_bytes)
    s = open_store(p)
    p.write_bytes(sample_bytes[:100])  # truncated behind the store's back
    with pytest.raises(StoreError, match="short read") as ei:
        s.read_into_bytes(50, 200)
    assert ei.value.offset == 50 and isinstance(ei.value, OSError)
    s.close()


def test_local_store_read_many(tmp_path: Path, sample_bytes: bytes) -> None:
    """``MmapStore.read_many``: the concatenated ranges, in the order asked, and the
    errors of ``read_into_bytes`` (outside the file, short read naming its offset,
    closed)."""
    p = tmp_path / "many.nd2"
    p.write_bytes(sample_bytes)
    s = open_store(p)
    assert isinstance(s, MmapStore)
    n = len(sample_bytes)
    offs = [4096, 0, n - 16, 4096, 77]
    assert s.read_many(offs, 16) == b"".join(sample_bytes[o : o + 16] for o in offs)
    assert s.read_many([], 16) == b""
    for bad in ([0, n - 15], [-1, 0]):
        with pytest.raises(StoreError, match="outside"):
            s.read_many(bad, 16)
    p.write_bytes(sample_bytes[:300])  # truncated behind the store's back
    with pytest.raises(StoreError, match="short read") as ei:
        s.read_many([0, 200, 400], 150)
    assert ei.value.offset == 200
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.read_many([0], 4)


def test_empty_file_is_corrupt(tmp_path: Path) -> None:
    p = tmp_path / "empty.nd2"
    p.write_bytes(b"")
    assert open_store(p).size == 0  # a store may hold an empty file; the reader rejects it
    for src in (p, b"", io.BytesIO(b"")):
        with pytest.raises(nd2kit.CorruptChunkError, match="empty"):
            nd2kit.ND2File(src)


def test_store_reopen(sample_path: Path, sample_bytes: bytes) -> None:
    for s in [open_store(sample_path), open_store(sample_bytes), open_store(_memory_url(sample_bytes))]:
        s2 = s.reopen()
        assert s2 is not s and s2.size == s.size and bytes(s2.read(0, 64)) == sample_bytes[:64]
    with pytest.raises(nd2kit.Nd2Error):
        open_store(io.BytesIO(sample_bytes)).reopen()


def test_file_store_owns_only_what_it_opened(sample_bytes: bytes) -> None:
    bio = io.BytesIO(sample_bytes)
    s = open_store(bio)
    s.close()
    assert not bio.closed  # a caller's file object is left open
    fh = open(__file__, "rb")  # noqa: SIM115
    s = FileStore(fh, owns=True)
    s.close()
    assert fh.closed and s.closed


def test_file_store_closed_after_close(sample_bytes: bytes) -> None:
    s = open_store(_memory_url(sample_bytes))
    s.close()
    assert s.closed
    s = open_store(io.BytesIO(sample_bytes))
    s.close()
    assert s.closed


# ------------------------------------------------------------- every source, same data


def _sources(path: Path, data: bytes) -> dict[str, object]:
    return {
        "path": path,
        "str": str(path),
        "file-url": "file://" + str(path),
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "open-rb": open(path, "rb"),  # noqa: SIM115 - closed below
        "bytesio": io.BytesIO(data),
        "memory-url": _memory_url(data, path.name),
    }


def _check_all_sources(path: Path) -> None:
    data = path.read_bytes()
    with nd2kit.ND2File(path) as ref:
        expected_arr = ref.asarray()
        expected = _summary(ref)
        frames = [ref.read_frame(i) for i in range(ref.attributes.sequenceCount)]
        unstructured = ref.unstructured_metadata()
    for kind, src in _sources(path, data).items():
        with nd2kit.ND2File(src) as f:
            assert _summary(f) == expected, kind
            np.testing.assert_array_equal(f.asarray(), expected_arr, err_msg=kind)
            for i, fr in enumerate(frames):
                np.testing.assert_array_equal(f.read_frame(i), fr, err_msg=f"{kind} frame {i}")
            assert f.unstructured_metadata() == unstructured, kind
        if hasattr(src, "close"):
            src.close()


def test_every_source_same_arrays_generated(sample_path: Path) -> None:
    _check_all_sources(sample_path)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_every_source_same_arrays_corpus(path: Path) -> None:
    _check_all_sources(path)


def test_storage_options_are_passed_to_fsspec(sample_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _memory_url(sample_bytes)
    seen: list[dict] = []
    real = fsspec.core.url_to_fs

    def spy(u: str, **kw: object) -> object:
        seen.append(dict(kw))
        return real(u)

    monkeypatch.setattr(fsspec.core, "url_to_fs", spy)
    opts = {"skip_instance_cache": True}
    with nd2kit.ND2File(url, storage_options=opts) as f:
        assert f.path == url
        np.testing.assert_array_equal(f.asarray(), nd2kit.ND2File(sample_bytes).asarray())
    assert seen and seen[0] == opts
    arr = nd2kit.imread(url, storage_options=opts)
    assert arr.shape == nd2kit.ND2File(sample_bytes).shape
    assert nd2kit.is_supported_file(url, storage_options=opts)


def test_memory_url_matches_nd2(sample_bytes: bytes) -> None:
    url = _memory_url(sample_bytes)
    with nd2.ND2File(url, storage_options={}) as a, nd2kit.ND2File(url, storage_options={}) as b:
        assert b.path == a.path == url
        np.testing.assert_array_equal(b.asarray(), a.asarray())
        assert dict(b.sizes) == dict(a.sizes)


# ----------------------------------------------------------------------------- zero copy


def test_asarray_copy_false_is_zero_copy_readonly_view_of_mmap(sample_path: Path) -> None:
    f = nd2kit.ND2File(sample_path)
    view = f.asarray(copy=False)
    assert isinstance(f._reader.store, MmapStore)
    mm = f._reader.store.buffer
    assert np.shares_memory(view, np.frombuffer(mm, np.uint8))
    base = view
    while getattr(base, "base", None) is not None and not isinstance(base, mmap.mmap):
        base = base.base
    assert isinstance(base, mmap.mmap)
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[(0,) * view.ndim] = 1
    expected = f.asarray()
    assert expected.flags.writeable and not np.shares_memory(expected, view)
    np.testing.assert_array_equal(view, expected)
    f.close()
    # views handed out before close stay valid
    np.testing.assert_array_equal(view, expected)


def test_read_frame_is_readonly_view_of_mmap(sample_path: Path) -> None:
    with nd2kit.ND2File(sample_path) as f:
        fr = f.read_frame(1)
        assert not fr.flags.writeable
        assert np.shares_memory(fr, np.frombuffer(f._reader.store.buffer, np.uint8))


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_copy_false_view_corpus(path: Path) -> None:
    with nd2kit.ND2File(path) as f:
        view = f.asarray(copy=False)
        np.testing.assert_array_equal(view, f.asarray())
        if not f.attributes.compressionType:  # uncompressed: a read-only view of the map
            assert not view.flags.writeable
            assert np.shares_memory(view, np.frombuffer(f._reader.store.buffer, np.uint8))
        else:  # compressed frames: a fresh (private) array
            assert not np.shares_memory(view, f.asarray())


# ----------------------------------------------------------------------------- threads


def _hammer(read, expected: list[np.ndarray], n_threads: int = 8, rounds: int = 6) -> list:
    errors: list = []
    barrier = threading.Barrier(n_threads)

    def work(k: int) -> None:
        barrier.wait()
        try:
            for r in range(rounds):
                for j in range(len(expected)):
                    i = (j * 5 + k + r) % len(expected)
                    if not np.array_equal(read(i), expected[i]):
                        errors.append((k, i))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def test_threaded_read_frame_file_like_store() -> None:
    data = sample_file_bytes(t=8, z=3, channels=2, height=31, width=17)
    with nd2kit.ND2File(data) as ref:
        expected = [ref.read_frame(i).copy() for i in range(24)]
    f = nd2kit.ND2File(io.BytesIO(data))
    assert isinstance(f._reader.store, FileStore)
    assert _hammer(f.read_frame, expected) == []
    rdr = open_reader(open_store(io.BytesIO(data)))
    raw = [open_reader(open_store(data)).read_frame(i, copy=True) for i in range(24)]
    assert _hammer(rdr.read_frame, raw) == []
    # rows interleaved with whole frames on the same store
    assert _hammer(lambda i: rdr.read_rows(i, 3, 20), [r[3:20] for r in raw]) == []


def test_threaded_read_frame_fsspec_store() -> None:
    data = sample_file_bytes(t=5, z=2, channels=1, height=20, width=20)
    with nd2kit.ND2File(data) as ref:
        expected = [ref.read_frame(i).copy() for i in range(10)]
    with nd2kit.ND2File(_memory_url(data)) as f:
        assert _hammer(f.read_frame, expected) == []


@pytest.mark.corpus
def test_threaded_read_frame_real_file() -> None:
    real = [p for p in MODERN if "timelapse" in p.name] or MODERN
    if not real:
        pytest.skip("no corpus")
    p = real[0]
    with nd2kit.ND2File(p) as ref:
        n = ref.attributes.sequenceCount
        expected = [ref.read_frame(i).copy() for i in range(n)]
    with open(p, "rb") as fh:
        f = nd2kit.ND2File(io.BytesIO(fh.read()))
    assert _hammer(f.read_frame, expected, rounds=2) == []


# ----------------------------------------------------------------------------- dispatch


@pytest.mark.corpus
@pytest.mark.parametrize("path", LEGACY, ids=lambda p: p.name)
def test_legacy_v1_raises_unsupported(path: Path) -> None:
    for src in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        with pytest.raises(nd2kit.UnsupportedFormatError, match=r"(?i)legacy.*JPEG 2000|version 1"):
            nd2kit.ND2File(src)
        with pytest.raises(nd2kit.UnsupportedFormatError):
            open_reader(open_store(src))
    with pytest.raises(nd2kit.UnsupportedFormatError):
        nd2kit.imread(path)


JUNK = {
    "text": b"hello world, this is not an nd2 file" * 50,
    "tiff": b"II*\x00" + bytes(5000),
    "one-byte": b"\x00",
    "magic-only": MAGIC,
    "magic-zeros": MAGIC + bytes(5000),
    "zeros": bytes(8192),
}


@pytest.mark.parametrize("name", list(JUNK))
def test_junk_raises_nd2error(name: str, tmp_path: Path) -> None:
    data = JUNK[name]
    p = tmp_path / f"{name}.nd2"
    p.write_bytes(data)
    for src in (data, io.BytesIO(data), p):
        with pytest.raises(nd2kit.Nd2Error) as ei:
            nd2kit.ND2File(src)
        assert str(ei.value)


def test_non_nd2_names_the_problem() -> None:
    with pytest.raises(nd2kit.UnsupportedFormatError, match="not an ND2 file"):
        nd2kit.ND2File(JUNK["text"])


def test_truncated_modern_file_raises_nd2error(sample_bytes: bytes) -> None:
    for cut in (100, 4096, len(sample_bytes) // 2, len(sample_bytes) - 1):
        with pytest.raises(nd2kit.Nd2Error):
            nd2kit.ND2File(sample_bytes[:cut])


def test_bad_trailer_raises_corrupt(sample_bytes: bytes) -> None:
    bad = sample_bytes[:-40] + b"X" * 40
    with pytest.raises(nd2kit.CorruptChunkError) as e:
        nd2kit.ND2File(bad)
    # named and placed at the trailer's signature, the last 40 bytes of the file
    assert e.value.chunk == "<trailer>" and e.value.offset == len(bad) - 40


def test_version_dispatch_v2_v3(sample_bytes: bytes) -> None:
    assert open_reader(open_store(sample_bytes)).version == (3, 0)
    v2 = sample_bytes[:0x30] + b"Ver2.0" + sample_bytes[0x36:]
    assert open_reader(open_store(v2)).version == (2, 0)
    # a 2.x file looks up the XML chunk names: this one has only LV chunks
    with pytest.raises(nd2kit.ChunkNotFoundError):
        _ = nd2kit.ND2File(v2).attributes


@pytest.mark.corpus
@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_is_supported_and_is_legacy_match_nd2(path: Path) -> None:
    assert nd2kit.is_supported_file(path) == nd2.is_supported_file(path)
    assert nd2kit.is_supported_file(str(path)) == nd2.is_supported_file(str(path))
    assert nd2kit.is_legacy(path) == nd2.is_legacy(path)
    assert nd2kit.ND2File.is_supported_file(path) == nd2.is_supported_file(path)
    with open(path, "rb") as fh:
        assert nd2kit.is_supported_file(fh) == nd2.is_supported_file(fh)


@pytest.mark.parametrize("name", [k for k in JUNK if len(JUNK[k]) >= 4])
def test_is_supported_and_is_legacy_on_junk_match_nd2(name: str, tmp_path: Path) -> None:
    p = tmp_path / "junk.nd2"
    p.write_bytes(JUNK[name])
    assert nd2kit.is_supported_file(p) == nd2.is_supported_file(p)
    assert nd2kit.is_legacy(p) == nd2.is_legacy(p)
    assert nd2kit.is_supported_file(io.BytesIO(JUNK[name])) == nd2.is_supported_file(io.BytesIO(JUNK[name]))
    assert nd2kit.is_supported_file(JUNK[name]) == nd2.is_supported_file(io.BytesIO(JUNK[name]))


def test_is_supported_on_generated_and_url(sample_path: Path, sample_bytes: bytes) -> None:
    for src in (sample_path, sample_bytes, io.BytesIO(sample_bytes), _memory_url(sample_bytes),
                "file://" + str(sample_path)):
        assert nd2kit.is_supported_file(src)
    assert nd2.is_supported_file(_memory_url(sample_bytes))
    assert not nd2kit.is_supported_file(_memory_url(JUNK["text"]))
    assert not nd2kit.is_legacy(sample_path)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00"], ids=["empty", "1", "3"])
def test_is_legacy_on_tiny_files_matches_nd2(data: bytes, tmp_path: Path) -> None:
    p = tmp_path / "tiny.nd2"
    p.write_bytes(data)
    assert nd2kit.is_supported_file(p) == nd2.is_supported_file(p) is False
    assert nd2kit.is_legacy(p) == nd2.is_legacy(p)


def test_is_supported_tiny_files(tmp_path: Path) -> None:
    for data in (b"", b"\x00", b"\xda\xce"):
        p = tmp_path / "t.nd2"
        p.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert nd2kit.is_supported_file(p) is False
            assert nd2kit.is_supported_file(data) is False


def test_store_error_is_top_level_api() -> None:
    assert nd2kit.StoreError is StoreError and "StoreError" in nd2kit.__all__
    with pytest.raises(nd2kit.StoreError) as ei:
        BytesStore(b"abc").read(2, 10)
    assert isinstance(ei.value, nd2kit.Nd2Error) and isinstance(ei.value, OSError)
