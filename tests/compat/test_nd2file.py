"""``nd2kit.ND2File`` / ``nd2kit.imread`` against nd2 0.12, and the lazy arrays.

Every member of ND2File is compared with nd2 0.12 on every modern corpus file (and on
generated files, so that the suite stands without the corpus). Deliberate
differences are asserted explicitly:

* RGB samples: files store B, G, R (``docs/format.md``, section ``image_frame``); nd2 returns the stored order
  under R, G, B labels, nd2kit reorders to R, G, B — so ``nd2kit == nd2[..., ::-1]``;
* sample types: nd2 ignores ``ePixelType``; nd2kit honours it (see
  test_reader.py for signed and 32-bit integer files);
* ``to_dask`` returns a plain ``dask.array.Array`` (nd2 wraps it in a
  ``ResourceBackedDaskArray``), and ``to_xarray`` adds ``stage_x/y/z`` coordinates on
  ``P`` and ``units`` attrs.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import math
import pickle
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import corpus_files
from hypothesis import given, settings
from hypothesis import strategies as st
from reader.test_reader import custom_file, rebuild  # shared file builders

import nd2kit
from nd2kit.testing.samples import sample_file_bytes, sample_frames

nd2 = pytest.importorskip("nd2")
da = pytest.importorskip("dask.array")
xr = pytest.importorskip("xarray")
dask = pytest.importorskip("dask")

MAGIC = b"\xda\xce\xbe\x0a"
MODERN = [p for p in corpus_files() if p.read_bytes()[:4] == MAGIC]
WITH_P = [p for p in MODERN if p.name in ("spec_ne.nd2", "full16_acq.nd2")]
STAGE = {"stage_x", "stage_y", "stage_z"}

pytestmark = pytest.mark.filterwarnings("ignore:ND2File file not closed:UserWarning")


# ----------------------------------------------------------------------------- helpers


def plain(x: Any) -> Any:
    """A comparable plain form of nd2/nd2kit structures (dataclasses, NamedTuples)."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return ("dc", type(x).__name__, {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)})
    if isinstance(x, tuple) and hasattr(x, "_asdict"):
        return ("nt", type(x).__name__, {k: plain(v) for k, v in x._asdict().items()})
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return ("nd", str(x.dtype), plain(x.tolist()))
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, np.generic):
        return plain(x.item())
    return x


def assert_same_structure(a: Any, b: Any) -> None:
    """nd2 structure `a` equals nd2kit structure `b` (also via asdict/_asdict)."""
    assert plain(b) == plain(a)
    if dataclasses.is_dataclass(a):
        assert plain(dataclasses.asdict(b)) == plain(dataclasses.asdict(a))
    elif isinstance(a, tuple) and hasattr(a, "_asdict"):
        assert plain(b._asdict()) == plain(a._asdict())


def rgb_fix(f: nd2kit.ND2File, nd2_arr: Any) -> np.ndarray:
    """nd2's array in nd2kit's sample order: RGB files are reversed on the S axis."""
    arr = np.asarray(nd2_arr)
    return arr[..., ::-1] if f.is_rgb else arr


@pytest.fixture()
def pair(request: pytest.FixtureRequest):
    path = request.param
    with nd2.ND2File(path) as a, nd2kit.ND2File(path) as b:
        yield a, b


def _memory_url(data: bytes) -> str:
    import fsspec

    url = f"memory://nd2kit-tests/{uuid.uuid4().hex}/f.nd2"
    with fsspec.open(url, "wb") as fh:
        fh.write(data)
    return url


GENERATED = {
    "t3z2c2-u16": dict(t=3, z=2, channels=2, height=9, width=7),
    "t5-u8": dict(t=5, z=1, channels=1, height=6, width=5, dtype="uint8"),
    "z4c3-f32": dict(t=1, z=4, channels=3, height=5, width=3, dtype="float32"),
    "single": dict(t=1, z=1, channels=1, height=4, width=6),
    # every reader feature the corpus covers, so a clone without the corpus tests it too
    "v2-xml-t3z2c2": dict(version="2.0", t=3, z=2, channels=2, height=9, width=7),
    "v2-xml-m2t2-f32": dict(version="2.0", m=2, t=2, z=1, channels=2, height=5, width=3,
                            dtype="float32"),
    "loops-zt": dict(loops="ZT", t=3, z=2, channels=1, height=5, width=5),
    "loops-mtz": dict(loops="MTZ", m=3, t=2, z=2, channels=2, height=4, width=3),
    "loops-tm": dict(loops="TM", m=2, t=3, z=1, channels=1, height=4, width=4),
    "rgb8-padded": dict(rgb=True, channels=1, t=2, z=1, height=6, width=5, dtype="uint8"),
    "rgb8-v2": dict(version="2.0", rgb=True, channels=1, t=1, z=1, height=3, width=3,
                    dtype="uint8"),
    "zlib-t3z2c2": dict(compression=6, t=3, z=2, channels=2, height=9, width=7),
    "zlib-v2-f32-zt": dict(compression=1, version="2.0", loops="ZT", t=2, z=2, channels=1,
                           height=5, width=3, dtype="float32"),
    "zlib-rgb8": dict(compression=9, rgb=True, channels=1, t=2, z=1, height=6, width=5,
                      dtype="uint8"),
}


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("generated")
    for name, kw in GENERATED.items():
        (d / f"{name}.nd2").write_bytes(sample_file_bytes(**kw))
    return d


# ----------------------------------------------------------------------------- members

SCALAR_MEMBERS = ["path", "version", "is_legacy", "closed", "shape", "ndim", "dtype", "size",
                  "nbytes", "is_rgb", "components_per_channel", "loop_indices", "custom_data"]
STRUCT_MEMBERS = ["attributes", "metadata", "experiment", "text_info"]


def _compare_members(a: Any, b: nd2kit.ND2File) -> None:
    for m in SCALAR_MEMBERS:
        assert plain(getattr(b, m)) == plain(getattr(a, m)), m
    assert dict(b.sizes) == dict(a.sizes)
    assert list(b.sizes) == list(a.sizes)  # axis order
    assert tuple(b.voxel_size()) == tuple(a.voxel_size())
    assert b.voxel_size() == a.voxel_size()
    for m in STRUCT_MEMBERS:
        assert_same_structure(getattr(a, m), getattr(b, m))


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN, ids=lambda p: p.name, indirect=True)
def test_members_match_nd2(pair) -> None:
    a, b = pair
    _compare_members(a, b)
    assert isinstance(b.path, str) and b.version in ((2, 0), (3, 0))


@pytest.mark.parametrize("name", list(GENERATED))
def test_members_match_nd2_generated(name: str, generated_dir: Path) -> None:
    p = generated_dir / f"{name}.nd2"
    with nd2.ND2File(p) as a, nd2kit.ND2File(p) as b:
        _compare_members(a, b)
        np.testing.assert_array_equal(b.asarray(), rgb_fix(b, a.asarray()))
        for i in range(b.attributes.sequenceCount):
            np.testing.assert_array_equal(b.read_frame(i), rgb_fix(b, a.read_frame(i)))
        np.testing.assert_array_equal(b.to_dask().compute(), rgb_fix(b, a.to_dask().compute()))
        # and the pattern the generator wrote (an oracle independent of both readers)
        kw = GENERATED[name]
        n = b.attributes.sequenceCount
        comp = b.attributes.componentCount
        want = sample_frames(n, 1, comp, kw["height"], kw["width"], kw.get("dtype", "uint16"))
        for i in range(n):
            got = b.read_frame(i)  # (Y, X, S) RGB, (C, Y, X) channels, (Y, X) one channel
            yxc = got if b.is_rgb else np.moveaxis(got, 0, -1) if got.ndim == 3 else got[..., None]
            np.testing.assert_array_equal(yxc, want[i][..., ::-1] if b.is_rgb else want[i])


def test_generated_values_are_the_pattern(generated_dir: Path) -> None:
    with nd2kit.ND2File(generated_dir / "t3z2c2-u16.nd2") as f:
        frames = sample_frames(3, 2, 2, 9, 7, "uint16")  # (seq, y, x, c)
        expected = frames.reshape(3, 2, 9, 7, 2).transpose(0, 1, 4, 2, 3)
        np.testing.assert_array_equal(f.asarray(), expected)
        assert dict(f.sizes) == {"T": 3, "Z": 2, "C": 2, "Y": 9, "X": 7}
        assert f.version == (3, 0) and f.dtype == np.uint16


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN, ids=lambda p: p.name, indirect=True)
def test_unstructured_metadata_matches_nd2(pair) -> None:
    a, b = pair
    for strip in (True, False):
        assert plain(b.unstructured_metadata(strip_prefix=strip)) == plain(a.unstructured_metadata(strip_prefix=strip))
    keys = sorted(a.unstructured_metadata())
    assert keys == sorted(b.unstructured_metadata())
    for kw in [dict(include=set(keys[:2])), dict(exclude=set(keys[1:3])),
               dict(include=set(keys[:3]), exclude={keys[0]}),
               dict(strip_prefix=False, include=set(keys[-1:]))]:
        assert plain(b.unstructured_metadata(**kw)) == plain(a.unstructured_metadata(**kw)), kw
    # unknown keys: both warn and skip
    with pytest.warns(UserWarning) as wa:
        ua = a.unstructured_metadata(include={"NoSuchChunk", keys[0]})
    with pytest.warns(UserWarning) as wb:
        ub = b.unstructured_metadata(include={"NoSuchChunk", keys[0]})
    assert plain(ub) == plain(ua) and list(ub) == [keys[0]]
    assert len(wa) == len(wb) == 1 and "NoSuchChunk" in str(wb[0].message)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_closed_and_context_manager_match_nd2(path: Path) -> None:
    a, b = nd2.ND2File(path), nd2kit.ND2File(path)
    assert b.closed is a.closed is False
    a.close()
    b.close()
    assert b.closed is a.closed is True
    with pytest.raises(ValueError, match="closed"):
        b.read_frame(0)
    with pytest.raises(ValueError, match="closed"):
        b.asarray()
    with b as f:
        assert f is b and not b.closed
        assert b.asarray().shape == b.shape
    assert b.closed
    assert "closed" in repr(b)
    b.open()
    assert not b.closed and repr(b).startswith("<ND2File")
    b.close()
    with nd2kit.ND2File(path) as f:
        assert not f.closed
    assert f.closed


# ----------------------------------------------------------------------------- pixels


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN, ids=lambda p: p.name, indirect=True)
def test_pixels_match_nd2(pair) -> None:
    a, b = pair
    for i in range(a.attributes.sequenceCount):
        fa, fb = a.read_frame(i), b.read_frame(i)
        assert fb.shape == fa.shape and fb.dtype == fa.dtype
        np.testing.assert_array_equal(fb, rgb_fix(b, fa), err_msg=f"frame {i}")
    ref = rgb_fix(b, a.asarray())
    arr = b.asarray()
    assert arr.shape == b.shape and arr.dtype == b.dtype
    np.testing.assert_array_equal(arr, ref)
    np.testing.assert_array_equal(np.asarray(b), ref)
    np.testing.assert_array_equal(np.asarray(b, dtype=np.float64), ref.astype(np.float64))
    np.testing.assert_array_equal(b.asarray(copy=False), ref)


@pytest.mark.corpus
def test_rgb_order_is_reversed_with_respect_to_nd2() -> None:
    rgb = [p for p in MODERN if nd2kit.ND2File(p).is_rgb]
    if not rgb:
        pytest.skip("no RGB file in corpus")
    for p in rgb:
        with nd2.ND2File(p) as a, nd2kit.ND2File(p) as b:
            assert b.sizes["S"] == 3 and list(b.sizes)[-1] == "S"
            raw = b._reader.read_frame(0)  # stored order B, G, R
            np.testing.assert_array_equal(b.read_frame(0)[..., 0], raw.reshape(b.read_frame(0).shape)[..., 2])
            np.testing.assert_array_equal(a.read_frame(0), raw.reshape(a.read_frame(0).shape))
            np.testing.assert_array_equal(b.asarray(), a.asarray()[..., ::-1])


@pytest.mark.corpus
@pytest.mark.parametrize("pair", WITH_P, ids=lambda p: p.name, indirect=True)
def test_asarray_position_matches_nd2(pair) -> None:
    a, b = pair
    assert "P" in b.sizes
    names = a._position_names()
    assert b._position_names() == names
    for k in range(b.sizes["P"]):
        ref = rgb_fix(b, a.asarray(position=k))
        got = b.asarray(position=k)
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(b.asarray(position=names[k]), ref)
        np.testing.assert_array_equal(b.asarray(position=k, copy=False), ref)
    with pytest.raises(IndexError):
        b.asarray(position=b.sizes["P"])
    with pytest.raises(ValueError):
        b.asarray(position="no such position")


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN[:3], ids=lambda p: p.name, indirect=True)
def test_asarray_position_without_p_axis_matches_nd2(pair) -> None:
    a, b = pair
    if "P" in b.sizes:
        pytest.skip("file has a P axis")
    np.testing.assert_array_equal(b.asarray(position=0), rgb_fix(b, a.asarray(position=0)))
    with pytest.raises(IndexError):
        a.asarray(position=1)
    with pytest.raises(IndexError):
        b.asarray(position=1)


@pytest.mark.corpus
@pytest.mark.parametrize("path", WITH_P, ids=lambda p: p.name)
def test_asarray_negative_position(path: Path) -> None:
    with nd2kit.ND2File(path) as b:
        try:
            got = b.asarray(position=-1)
        except (IndexError, ValueError):
            return
        np.testing.assert_array_equal(got, b.asarray(position=b.sizes["P"] - 1))


@pytest.mark.parametrize("name", ["t3z2c2-u16", "single"])
def test_read_frame_out_of_range_matches_nd2(name: str, generated_dir: Path) -> None:
    """Frames past the end raise IndexError.

    nd2 0.12 is off by one here: it raises only above the frame count and returns a
    zero "missing" frame for index == count (there is no such frame), so nd2kit
    raises from the count on.
    """
    p = generated_dir / f"{name}.nd2"
    with nd2.ND2File(p) as a, nd2kit.ND2File(p) as b:
        n = a.attributes.sequenceCount
        with pytest.raises(IndexError):
            a.read_frame(n + 1)
        with pytest.raises(IndexError):
            b.read_frame(n)
        with pytest.raises(IndexError):
            b.read_frame(-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(IndexError):
                b.read_frame(n)


# ----------------------------------------------------------------------------- dask


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN, ids=lambda p: p.name, indirect=True)
def test_to_dask_matches_nd2(pair) -> None:
    a, b = pair
    ref = rgb_fix(b, a.to_dask().compute())
    d = b.to_dask()
    assert isinstance(d, da.Array)
    assert d.shape == b.shape and d.dtype == b.dtype
    assert all(sum(c) == n for c, n in zip(d.chunks, d.shape))
    np.testing.assert_array_equal(d.compute(), ref)
    np.testing.assert_array_equal(d.compute(scheduler="threads"), ref)
    np.testing.assert_array_equal(d.compute(scheduler="sync"), ref)
    # a few slices, computed lazily
    idx = tuple(slice(1, None, 2) if n > 2 else slice(None) for n in d.shape)
    np.testing.assert_array_equal(d[idx].compute(), ref[idx])
    np.testing.assert_array_equal(d[(0,) * (d.ndim - 2)].compute(), ref[(0,) * (d.ndim - 2)])


def test_dask_chunks_hold_several_frames() -> None:
    data = sample_file_bytes(t=40, z=5, channels=1, height=8, width=8)
    f = nd2kit.ND2File(data)
    d = f.to_dask()
    nframes = 40 * 5
    nchunks = math.prod(len(c) for c in d.chunks[:2])
    assert nchunks < nframes
    assert max(d.chunks[0]) * max(d.chunks[1]) > 1  # a chunk holds several frames
    assert d.chunks[2:] == ((8,), (8,))  # whole frames
    np.testing.assert_array_equal(d.compute(), f.asarray())
    # a small budget: chunks along the inner axes first, never partial frames
    ch = f._dask_chunks(target_bytes=5 * 128)
    assert ch[1] == (5,) and ch[2:] == ((8,), (8,)) and sum(ch[0]) == 40
    small = da.from_array(f._frame_array(), chunks=ch, asarray=False)
    np.testing.assert_array_equal(small.compute(), f.asarray())


@given(t=st.integers(1, 7), z=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(2, 40),
       target=st.integers(1, 40_000))
@settings(max_examples=40)
def test_dask_chunks_properties(t: int, z: int, c: int, h: int, target: int) -> None:
    f = nd2kit.ND2File(_chunk_file(t, z, c, h))
    ch = f._dask_chunks(target_bytes=target)
    assert tuple(sum(x) for x in ch) == f.shape
    assert all(min(x) >= 1 for x in ch)
    ncoord = len(f.shape) - 3 + (1 if c == 1 else 0)
    frame_bytes = math.prod(f.shape[ncoord:]) * f.dtype.itemsize
    frames_per_chunk = math.prod(max(x) for x in ch[:ncoord])
    assert frames_per_chunk * frame_bytes <= max(target, frame_bytes)
    rows = ch[f._row_axis + ncoord]
    row_bytes = frame_bytes // h
    if frame_bytes > target:
        assert max(rows) * row_bytes <= max(target, row_bytes)
    else:
        assert rows == (h,)
    d = da.from_array(f._frame_array(), chunks=ch, asarray=False)
    np.testing.assert_array_equal(d.compute(scheduler="sync"), f.asarray())


@functools.cache
def _chunk_file(t: int, z: int, c: int, h: int) -> bytes:
    return sample_file_bytes(t=t, z=z, channels=c, height=h, width=6)


ONE_PIXEL = {
    "line-1x6": dict(t=1, z=1, channels=1, height=1, width=6),
    "line-Z2": dict(t=1, z=2, channels=1, height=1, width=6),
    "line-T2-C2": dict(t=2, z=1, channels=2, height=1, width=6),
    "column-T2": dict(t=2, z=1, channels=1, height=5, width=1),
}


@pytest.mark.parametrize("name", list(ONE_PIXEL))
def test_one_pixel_high_or_wide_images_match_nd2(name: str, tmp_path: Path) -> None:
    data = sample_file_bytes(**ONE_PIXEL[name])
    p = tmp_path / f"{name}.nd2"
    p.write_bytes(data)
    with nd2.ND2File(p) as a, nd2kit.ND2File(p) as b:
        assert dict(b.sizes) == dict(a.sizes)
        ref = a.asarray()
        assert ref.shape == a.shape == b.shape
        for src in (p, data, io.BytesIO(data)):
            with nd2kit.ND2File(src) as f:
                got = f.asarray()
                assert got.shape == f.shape, type(src).__name__
                np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(b.read_frame(0), a.read_frame(0))
        assert b.read_frame(0).shape == a.read_frame(0).shape
        d = b.to_dask()
        assert d.compute().shape == d.shape == ref.shape
        np.testing.assert_array_equal(d.compute(), ref)
        small = da.from_array(b._frame_array(), chunks=b._dask_chunks(target_bytes=4), asarray=False)
        np.testing.assert_array_equal(small.compute(), ref)


@pytest.mark.parametrize("target", [10_000, 3_000, 1])
def test_dask_row_chunks_for_large_uncompressed_frames(target: int) -> None:
    data = sample_file_bytes(t=2, z=1, channels=2, height=100, width=30)  # 12000 B frames
    f = nd2kit.ND2File(data)
    ch = f._dask_chunks(target_bytes=target)
    assert ch[0] == (1, 1)
    rows = ch[2]
    assert sum(rows) == 100 and len(rows) > 1
    assert max(rows) * 2 * 30 * 2 <= max(target, 2 * 30 * 2)  # at least one row per chunk
    assert ch[1] == (2,) and ch[3] == (30,)
    d = da.from_array(f._frame_array(), chunks=ch, asarray=False)
    np.testing.assert_array_equal(d.compute(scheduler="threads"), f.asarray())
    np.testing.assert_array_equal(d[:, :, 7:63].compute(), f.asarray()[:, :, 7:63])


def test_dask_no_row_chunks_for_compressed_frames() -> None:
    frames = sample_frames(2, 1, 1, 100, 30, "uint16")
    f = nd2kit.ND2File(custom_file(frames, bits=16, pixel_type=1, compress=True))
    ch = f._dask_chunks(target_bytes=1000)
    assert ch[-2:] == ((100,), (30,))


def test_to_dask_uses_row_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nd2kit.ND2File, "_dask_chunks",
                        functools.partialmethod(nd2kit.ND2File._dask_chunks, target_bytes=3000))
    f = nd2kit.ND2File(sample_file_bytes(t=3, z=1, channels=1, height=100, width=30))
    d = f.to_dask()
    assert len(d.chunks[-2]) > 1
    np.testing.assert_array_equal(d.compute(scheduler="threads"), f.asarray())
    np.testing.assert_array_equal(d[1, 40:60].compute(), f.asarray()[1, 40:60])


@pytest.mark.parametrize("copy", [False, True])
def test_dask_chunks_are_views_unless_copy(copy: bool, tmp_path: Path) -> None:
    """By default the chunks of an uncompressed mapped file are read-only views of the
    map (dask makes the one copy); copy=True reads every chunk into new memory. Either
    way every compute() result is new, writable memory, single chunks included."""
    p = tmp_path / "f.nd2"
    p.write_bytes(sample_file_bytes(t=6, z=2, channels=2, height=9, width=7))
    with nd2kit.ND2File(p) as f:
        expected = f.asarray()
        mm = np.frombuffer(f._reader.store.buffer, np.uint8)
        d = f.to_dask(copy=copy)
        chunks: list[np.ndarray] = []
        d.map_blocks(lambda b: chunks.append(b) or b, dtype=d.dtype, meta=d._meta).compute(scheduler="sync")
        assert chunks and all(np.shares_memory(c, mm) is not copy for c in chunks)
        assert all(c.flags.writeable is copy for c in chunks)
        for sub in (d, d[2], d[1, 0, :, 3:5]):  # several chunks, one chunk, a crop
            got = sub.compute()
            assert got.flags.writeable and not np.shares_memory(got, mm)
            got[...] = 0  # the result is the caller's: the file does not change
        np.testing.assert_array_equal(d.compute(), expected)
        np.testing.assert_array_equal(np.asarray(d.sum(axis=0)), expected.sum(axis=0))


def test_dask_compressed_chunks_are_new_memory() -> None:
    f = nd2kit.ND2File(sample_file_bytes(t=4, channels=1, height=8, width=8, compression=6))
    chunks: list[np.ndarray] = []
    d = f.to_dask()
    d.map_blocks(lambda b: chunks.append(b) or b, dtype=d.dtype, meta=d._meta).compute(scheduler="sync")
    assert chunks and all(c.flags.writeable for c in chunks)
    np.testing.assert_array_equal(d.compute(), f.asarray())


@pytest.mark.parametrize("source", ["path", "bytes", "memory-url"])
def test_dask_valid_after_close(source: str, tmp_path: Path) -> None:
    data = sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)
    p = tmp_path / "f.nd2"
    p.write_bytes(data)
    src = {"path": p, "bytes": data, "memory-url": _memory_url(data) if source == "memory-url" else None}[source]
    f = nd2kit.ND2File(src)
    expected = f.asarray()
    d = f.to_dask()
    x = f.to_xarray()
    f.close()
    assert f.closed
    np.testing.assert_array_equal(d.compute(), expected)
    np.testing.assert_array_equal(d.compute(scheduler="threads"), expected)
    np.testing.assert_array_equal(x.values, expected)


def test_dask_pickled_while_open_computes_after_close() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    data = sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)
    f = nd2kit.ND2File(data)
    expected = f.asarray()
    d = f.to_dask()
    blobs = [pickle.dumps(d), cloudpickle.dumps(d)]
    f.close()
    for blob in blobs:
        d2 = pickle.loads(blob)
        np.testing.assert_array_equal(d2.compute(), expected)
        np.testing.assert_array_equal(d2.compute(scheduler="threads"), expected)


@pytest.mark.parametrize("dumps", ["pickle", "cloudpickle"])
def test_dask_pickled_after_close_computes(dumps: str, tmp_path: Path) -> None:
    mod = pytest.importorskip(dumps)
    p = tmp_path / "f.nd2"
    p.write_bytes(sample_file_bytes(t=3, z=2, channels=2, height=9, width=7))
    f = nd2kit.ND2File(p)
    expected = f.asarray()
    d = f.to_dask()
    f.close()
    d2 = pickle.loads(mod.dumps(d))
    np.testing.assert_array_equal(d2.compute(), expected)


def test_frame_array_indexing_matches_numpy() -> None:
    f = nd2kit.ND2File(sample_file_bytes(t=3, z=4, channels=3, height=7, width=5))
    ref = f.asarray()
    fa = f._frame_array()
    assert fa.shape == ref.shape and fa.ndim == ref.ndim and fa.dtype == ref.dtype and len(fa) == 3
    keys = [
        (Ellipsis,), (0,), (-1,), (slice(None, None, 2),), (1, slice(1, 3)),
        (slice(None), 2, 1), (Ellipsis, slice(2, 5), slice(None)), (Ellipsis, 3, slice(None, None, -1)),
        (0, 0, 0, slice(1, 6, 2), 4), ([2, 0], slice(None)), (slice(None), [3, 1], Ellipsis),
        (2, 3, Ellipsis), (slice(-2, None), slice(None, -1), slice(None), slice(5, 2, -1)),
    ]
    for key in keys:
        got = fa[key]
        np.testing.assert_array_equal(got, ref[key], err_msg=str(key))
        assert got.shape == ref[key].shape, key
    np.testing.assert_array_equal(np.asarray(fa), ref)
    with pytest.raises(IndexError):
        fa[3]


def test_frame_array_empty_selection() -> None:
    f = nd2kit.ND2File(sample_file_bytes(t=3, z=4, channels=1, height=3, width=3))
    ref = f.asarray()
    fa = f._frame_array()
    for key in [(slice(2, 2),), (slice(None), slice(3, 1))]:
        assert fa[key].shape == ref[key].shape


def test_dask_names_differ_for_different_in_memory_files() -> None:
    a = sample_file_bytes(t=2, z=1, channels=1, height=4, width=4)
    b = rebuild(a, frame=lambda n, pl: pl[:8] + (np.frombuffer(pl[8:], "<u2") + 1000).astype("<u2").tobytes())
    fa, fb = nd2kit.ND2File(a), nd2kit.ND2File(b)
    assert (fb.asarray() - fa.asarray() == 1000).all()
    da_, db_ = fa.to_dask(), fb.to_dask()
    assert da_.name != db_.name
    assert ((db_ - da_).compute() == 1000).all()


def test_to_dask_from_file_object_matches_nd2() -> None:
    data = sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)
    with nd2.ND2File(io.BytesIO(data)) as a:
        ref = a.to_dask().compute()
    with nd2kit.ND2File(io.BytesIO(data)) as b:
        np.testing.assert_array_equal(b.to_dask().compute(), ref)
        np.testing.assert_array_equal(b.to_xarray().values, ref)


def test_path_of_bytesio_matches_nd2() -> None:
    data = sample_file_bytes(t=1, z=1, channels=1, height=3, width=3)
    with nd2.ND2File(io.BytesIO(data)) as a, nd2kit.ND2File(io.BytesIO(data)) as b:
        assert b.path == a.path


def test_file_object_without_lazy_arrays_works() -> None:
    """Everything but the lazy arrays works on file objects (see the xfail above)."""
    data = sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)
    with nd2.ND2File(io.BytesIO(data)) as a, nd2kit.ND2File(io.BytesIO(data)) as b:
        _compare_members_no_path(a, b)
        np.testing.assert_array_equal(b.asarray(), a.asarray())
        np.testing.assert_array_equal(b.to_xarray(delayed=False).values, a.asarray())


def _compare_members_no_path(a: Any, b: nd2kit.ND2File) -> None:
    for m in SCALAR_MEMBERS:
        if m != "path":
            assert plain(getattr(b, m)) == plain(getattr(a, m)), m
    for m in STRUCT_MEMBERS:
        assert_same_structure(getattr(a, m), getattr(b, m))


# ----------------------------------------------------------------------------- xarray


def _compare_xarray(xa: Any, xb: Any, f: nd2kit.ND2File) -> None:
    assert xb.dims == xa.dims
    assert xb.shape == xa.shape
    assert set(xa.coords) <= set(xb.coords)
    assert set(xb.coords) - set(xa.coords) <= STAGE  # nd2kit's extra coordinates
    for c in xa.coords:
        va, vb = np.asarray(xa.coords[c].values), np.asarray(xb.coords[c].values)
        assert xb.coords[c].dims == xa.coords[c].dims, c
        assert va.shape == vb.shape, c
        if va.dtype.kind in "fc":
            np.testing.assert_allclose(vb, va, rtol=0, atol=0, err_msg=c)
        else:
            assert vb.tolist() == va.tolist(), c
    np.testing.assert_array_equal(np.asarray(xb.values), rgb_fix(f, xa.values))
    md_a, md_b = xa.attrs["metadata"], xb.attrs["metadata"]
    assert set(md_b) == set(md_a)
    for k in md_a:
        assert plain(md_b[k]) == plain(md_a[k]), k


@pytest.mark.corpus
@pytest.mark.parametrize("pair", MODERN, ids=lambda p: p.name, indirect=True)
def test_to_xarray_matches_nd2(pair) -> None:
    a, b = pair
    for delayed, squeeze in itertools.product([True, False], [True, False]):
        xa = a.to_xarray(delayed=delayed, squeeze=squeeze)
        xb = b.to_xarray(delayed=delayed, squeeze=squeeze)
        if delayed:
            assert isinstance(xb.data, da.Array)
        else:
            assert isinstance(xb.data, np.ndarray)
        _compare_xarray(xa, xb, b)
        if "P" not in b.sizes:  # position 0 of a file without a P axis
            _compare_xarray(a.to_xarray(delayed=delayed, squeeze=squeeze, position=0),
                            b.to_xarray(delayed=delayed, squeeze=squeeze, position=0), b)


@pytest.mark.corpus
@pytest.mark.parametrize("pair", WITH_P, ids=lambda p: p.name, indirect=True)
def test_to_xarray_position_matches_nd2(pair) -> None:
    a, b = pair
    for k in range(b.sizes["P"]):
        for delayed, squeeze in itertools.product([True, False], [True, False]):
            xa = a.to_xarray(delayed=delayed, squeeze=squeeze, position=k)
            xb = b.to_xarray(delayed=delayed, squeeze=squeeze, position=k)
            _compare_xarray(xa, xb, b)


@pytest.mark.corpus
@pytest.mark.parametrize("path", WITH_P, ids=lambda p: p.name)
def test_to_xarray_stage_positions(path: Path) -> None:
    with nd2kit.ND2File(path) as f:
        xy = next(c for c in f.experiment if c.type == "XYPosLoop")
        pts = xy.parameters.points
        x = f.to_xarray()
        assert "P" in x.dims and len(pts) == x.sizes["P"]
        for i, ax in enumerate("xyz"):
            c = x.coords[f"stage_{ax}"]
            assert c.dims == ("P",) and c.attrs["units"] == "µm"
            np.testing.assert_array_equal(c.values, [p.stagePositionUm[i] for p in pts])
        assert list(x.coords["P"].values) == [p.name or f"XYPos:{i}" for i, p in enumerate(pts)]
        for k in range(len(pts)):
            for delayed in (True, False):
                xk = f.to_xarray(position=k, delayed=delayed, squeeze=False)
                assert xk.sizes["P"] == 1
                assert xk.coords["stage_x"].values.tolist() == [pts[k].stagePositionUm[0]]
                np.testing.assert_array_equal(xk.values.squeeze(), x.isel(P=k).values)


def test_to_xarray_coordinates_generated() -> None:
    data = sample_file_bytes(t=4, z=3, channels=2, height=5, width=6, period_ms=250.0,
                             z_step=0.5, calibration=0.25)
    f = nd2kit.ND2File(data)
    for delayed in (True, False):
        x = f.to_xarray(delayed=delayed)
        assert x.dims == ("T", "Z", "C", "Y", "X")
        np.testing.assert_allclose(x.coords["X"].values, np.arange(6) * 0.25)
        np.testing.assert_allclose(x.coords["Y"].values, np.arange(5) * 0.25)
        np.testing.assert_allclose(x.coords["Z"].values, np.arange(3) * 0.5)
        assert list(x.coords["C"].values) == [c.channel.name for c in f.metadata.channels] == ["DAPI", "GFP"]
        for c, unit in {"X": "µm", "Y": "µm", "Z": "µm", "T": "ms"}.items():
            assert x.coords[c].attrs["units"] == unit
        assert x.coords["C"].attrs.get("units") is None
        tl = f.experiment[0]
        assert tl.type == "TimeLoop"
        step = tl.parameters.periodDiff.avg if tl.parameters.periodDiff.avg is not None else tl.parameters.periodMs
        np.testing.assert_allclose(x.coords["T"].values, np.arange(4) * step)
        np.testing.assert_array_equal(x.values, f.asarray())
        assert not STAGE & set(x.coords)


@pytest.mark.corpus
def test_to_xarray_time_from_measured_period() -> None:
    p = [q for q in MODERN if "timelapse" in q.name and "Arcadia" in q.name]
    if not p:
        pytest.skip("timelapse file not in corpus")
    with nd2kit.ND2File(p[0]) as f:
        loop = f.experiment[0]
        assert loop.type == "TimeLoop" and loop.parameters.periodMs == 0.0
        avg = loop.parameters.periodDiff.avg
        assert avg and avg > 0
        t = f.to_xarray().coords["T"]
        np.testing.assert_allclose(t.values, np.arange(loop.count) * avg)
        assert t.attrs["units"] == "ms"


# ----------------------------------------------------------------------------- pickling


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_pickle_round_trip(path: Path) -> None:
    with nd2.ND2File(path) as a:
        a2 = pickle.loads(pickle.dumps(a))
        assert a2.closed is False
        a2.close()
    f = nd2kit.ND2File(path)
    expected = f.asarray()
    g = pickle.loads(pickle.dumps(f))
    assert g.closed is False and g.path == f.path
    np.testing.assert_array_equal(g.asarray(), expected)
    assert_same_structure(f.metadata, g.metadata)
    g.close()
    f.close()
    h = pickle.loads(pickle.dumps(f))
    assert h.closed is True
    with pytest.raises(ValueError, match="closed"):
        h.asarray()
    h.open()
    np.testing.assert_array_equal(h.asarray(), expected)
    h.close()


@pytest.mark.parametrize("source", ["bytes", "memory-url"])
def test_pickle_in_memory_sources(source: str) -> None:
    data = sample_file_bytes(t=2, z=2, channels=1, height=4, width=4)
    src = data if source == "bytes" else _memory_url(data)
    f = nd2kit.ND2File(src)
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g.asarray(), f.asarray())
    f.close()
    assert pickle.loads(pickle.dumps(f)).closed


# ----------------------------------------------------------------------------- imread


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_imread_matches_nd2_every_combination(path: Path) -> None:
    rgb = nd2kit.ND2File(path).is_rgb
    fix = (lambda x: x[..., ::-1]) if rgb else (lambda x: x)
    ref = None
    for dsk, xar, vf, so in itertools.product([False, True], [False, True], [False, True], [None, {}]):
        kw = dict(dask=dsk, xarray=xar, validate_frames=vf, storage_options=so)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = nd2.imread(path, **kw)
        b = nd2kit.imread(path, **kw)
        if xar:
            assert isinstance(b, xr.DataArray) and b.dims == a.dims
            assert isinstance(b.data, da.Array) if dsk else isinstance(b.data, np.ndarray)
            va, vb = a.values, b.values
        elif dsk:
            assert isinstance(b, da.Array) and isinstance(a, da.Array)
            assert b.shape == a.shape and b.dtype == a.dtype
            va, vb = a.compute(), b.compute()
        else:
            assert isinstance(b, np.ndarray)
            va, vb = a, b
        assert vb.dtype == va.dtype and vb.shape == va.shape
        np.testing.assert_array_equal(vb, fix(np.asarray(va)), err_msg=str(kw))
        if ref is None:
            ref = vb
        np.testing.assert_array_equal(vb, ref)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_imread_copy_false(path: Path) -> None:
    arr = nd2kit.imread(path)
    view = nd2kit.imread(path, copy=False)
    np.testing.assert_array_equal(view, arr)
    assert arr.flags.writeable
    if not nd2kit.ND2File(path).attributes.compressionType:
        assert not view.flags.writeable
        with pytest.raises(ValueError):
            view[(0,) * view.ndim] = 0


def test_imread_generated_sources(tmp_path: Path) -> None:
    data = sample_file_bytes(t=3, z=2, channels=2, height=9, width=7)
    p = tmp_path / "f.nd2"
    p.write_bytes(data)
    ref = nd2.imread(p)
    url = _memory_url(data)
    for src, so in [(p, None), (str(p), None), ("file://" + str(p), None), (url, {}), (data, None)]:
        np.testing.assert_array_equal(nd2kit.imread(src, storage_options=so), ref)
        np.testing.assert_array_equal(nd2kit.imread(src, dask=True, storage_options=so).compute(), ref)
        x = nd2kit.imread(src, xarray=True, dask=True, storage_options=so)
        assert x.dims == ("T", "Z", "C", "Y", "X")
        np.testing.assert_array_equal(x.values, ref)
    np.testing.assert_array_equal(nd2.imread(url, storage_options={}), ref)
    view = nd2kit.imread(p, copy=False)
    assert not view.flags.writeable and np.array_equal(view, ref)
