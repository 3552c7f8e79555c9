"""The model boundary (issue #8): metadata values of the wrong type or an absurd range,
geometry the file cannot hold, frame counts beyond the allocation bound, and missing or
damaged frames on every read path.

Only :class:`nd2kit.Nd2Error` subclasses may come out of a damaged file, each naming
its chunk (and, for metadata values, the field path); missing and damaged frames read
as zeros with a warning wherever they are read, and the zero-copy view is refused when
any frame in it is damaged.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reader import file_chunks, rebuild

import nd2kit
from nd2kit.codecs import frame as fcodec
from nd2kit.codecs import lite_variant as lv
from nd2kit.codecs.container import build_file
from nd2kit.compat.nd2reader import Nd2Reader
from nd2kit.errors import CorruptChunkError, Nd2Error
from nd2kit.model import limits
from nd2kit.model._coerce import checked_int
from nd2kit.model.attributes import ATTRIBUTE_RANGES, attribute_ints
from nd2kit.model.pixels import frame_geometry
from nd2kit.reader import open_reader
from nd2kit.storage import open_store
from nd2kit.testing.samples import sample_file_bytes

ATTRS = "ImageAttributesLV!"
EXP = "ImageMetadataLV!"


# ----------------------------------------------------------------------------- helpers


def records(rec: Any, name: str) -> Iterator[Any]:
    """Every record called `name` below (and including) `rec`."""
    if rec.name == name:
        yield rec
    if rec.type == lv.LvType.LEVEL and isinstance(rec.value, list):
        for child in rec.value:
            yield from records(child, name)


def edit_chunk(data: bytes, chunk: str, edit: Callable[[Any], None]) -> bytes:
    """Rebuild `data` with the LiteVariant chunk `chunk` edited in place by `edit(root)`."""
    out = []
    for item in file_chunks(data):
        if item[0] == chunk:
            tree = lv.decode_lossless(item[1])
            edit(tree.root)
            item = (item[0], lv.encode(tree, keep_offsets=False))
        out.append(item)
    return build_file(out)


def set_records(data: bytes, chunk: str, name: str, value: Any) -> bytes:
    """Every record `name` of `chunk` replaced by `value` (type chosen by from_python)."""
    new = value if isinstance(value, lv.LvRecord) else lv.from_python(name, value)

    def edit(root: Any) -> None:
        hits = list(records(root, name))
        assert hits, name
        for r in hits:
            r.type, r.value = new.type, new.value

    return edit_chunk(data, chunk, edit)


def set_attr(data: bytes, key: str, value: Any) -> bytes:
    return rebuild(data, attrs={key: value if isinstance(value, lv.LvRecord) else lv.from_python(key, value)})


def damage_header(data: bytes, index: int) -> bytes:
    """The magic of frame `index`'s chunk header overwritten."""
    off = open_reader(open_store(data)).chunkmap[f"ImageDataSeq|{index}!"].offset
    bad = bytearray(data)
    bad[off: off + 4] = b"XXXX"
    return bytes(bad)


def set_map_offset(data: bytes, index: int, offset: int) -> bytes:
    """The chunk map's offset of frame `index` set to `offset` (u64)."""
    key = f"ImageDataSeq|{index}!".encode()
    at = data.rindex(key) + len(key)  # the map is written last: its entry is the last hit
    bad = bytearray(data)
    bad[at: at + 8] = struct.pack("<Q", offset)
    return bytes(bad)


def exercise(data: bytes) -> list[Nd2Error]:
    """Run every public read path; return the Nd2Errors raised (anything else fails)."""
    errors: list[Nd2Error] = []

    def run(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except Nd2Error as e:
            errors.append(e)
        except IndexError:
            pass  # a frame index outside what the file addresses: the caller's error
        except NotImplementedError:
            pass  # Nd2Reader: loops without a (T, M, Z) layout (documented)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f = nd2kit.ND2File(data)
        except Nd2Error as e:
            return [e]
        for fn in (lambda: f.attributes, lambda: f.sizes, lambda: f.dtype, lambda: f.read_frame(0),
                   lambda: f.asarray(), lambda: f.asarray(copy=False), lambda: f.loop_indices,
                   lambda: f.to_dask().compute(), lambda: f.metadata, lambda: f.experiment):
            run(fn)
        f.close()
        r = Nd2Reader(data)
        for fn in (lambda: r.imageAttributes, lambda: r.experiment, lambda: r.imageDataShape,
                   lambda: r.image(0), lambda: r.image(0, rect=(0, 0, 2, 2)),
                   lambda: r.generateLoopIndexes(), lambda: r.delayedImageData().compute()):
            run(fn)
        r.close()
    return errors


def assert_located(errors: list[Nd2Error]) -> None:
    """Every error names its chunk; errors about the attributes name the field, too."""
    for e in errors:
        assert e.chunk is not None, repr(e)
        if isinstance(e, CorruptChunkError) and e.chunk.startswith("ImageAttributes"):
            assert e.field is not None and e.field.startswith("SLxImageAttributes"), repr(e)


@pytest.fixture(scope="module")
def small() -> bytes:
    return sample_file_bytes(t=2, z=2, channels=1, height=6, width=5)


# ----------------------------------------------------------------------------- the one check


def test_checked_int_types_and_ranges() -> None:
    ok = {"chunk": "C!", "field": "R.k", "lo": 0, "hi": 10}
    assert checked_int(3, **ok) == 3
    assert checked_int(np.uint16(4), **ok) == 4
    assert checked_int(True, **ok) == 1
    assert checked_int(5.0, **ok) == 5
    for bad in ("3", 2.5, float("inf"), float("nan"), None, [1], {"a": 1}, b"\x01", -1, 11, 2**64):
        with pytest.raises(CorruptChunkError) as ei:
            checked_int(bad, offset=7, **ok)
        assert (ei.value.chunk, ei.value.field, ei.value.offset) == ("C!", "R.k", 7)
        assert "'R.k'" in str(ei.value) and "offset 7" in str(ei.value)


BAD_VALUES = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.booleans(),
    st.sampled_from([0, 1, 2, 3, 7, 24, 33, 65, 64, 65544, 2**31, 2**32 - 1, 2**32, 2**63 - 1,
                     2**64 - 1, -1, -(2**31)]),
    st.dictionaries(st.sampled_from(["a", "uiCount"]), st.integers(-3, 3), max_size=2),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ATTRIBUTE_RANGES)), BAD_VALUES)
def test_attribute_values_of_any_type_only_raise_located_errors(key: str, value: Any) -> None:
    base = sample_file_bytes(t=2, z=1, channels=1, height=4, width=3)
    data = set_attr(base, key, value)
    assert_located(exercise(data))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ATTRIBUTE_RANGES)), BAD_VALUES)
def test_attribute_ints_agree_with_the_ranges(key: str, value: Any) -> None:
    lo, hi = ATTRIBUTE_RANGES[key]
    try:
        got = attribute_ints({key: value}, chunk=ATTRS, offset=5)
    except CorruptChunkError as e:
        assert (e.chunk, e.field, e.offset) == (ATTRS, f"SLxImageAttributes.{key}", 5)
        return
    assert lo <= got[key] <= hi and got[key] == value


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["uiCount", "eType"]), BAD_VALUES)
def test_experiment_values_of_any_type_only_raise_located_errors(name: str, value: Any) -> None:
    base = sample_file_bytes(t=2, z=2, channels=1, height=4, width=3)
    data = set_records(base, EXP, name, value)
    assert_located(exercise(data))


# ----------------------------------------------------------------------------- root causes


def test_1_absurd_bits_per_component_names_the_field(small: bytes) -> None:
    """was ``TypeError: data type '<u8193' not understood``"""
    data = set_attr(small, "uiBpcInMemory", 65544)
    for fn in (lambda: nd2kit.ND2File(data).asarray(), lambda: nd2kit.ND2File(data).attributes,
               lambda: Nd2Reader(data).imageAttributes):
        with pytest.raises(CorruptChunkError) as ei:
            fn()
        assert ei.value.chunk == ATTRS and ei.value.field == "SLxImageAttributes.uiBpcInMemory"
        assert ei.value.offset == open_reader(open_store(data)).chunkmap[ATTRS].offset


@pytest.mark.parametrize(("key", "value"), [("uiWidth", "wide"), ("uiComp", 1.5),
                                            ("ePixelType", float("-inf")), ("uiHeight", [1, 2]),
                                            ("uiWidthBytes", -8)])
def test_1_wrong_types_name_the_field(small: bytes, key: str, value: Any) -> None:
    data = set_attr(small, key, value)
    with pytest.raises(CorruptChunkError) as ei:
        nd2kit.ND2File(data).read_frame(0)
    assert ei.value.chunk == ATTRS and ei.value.field == f"SLxImageAttributes.{key}"


@pytest.mark.parametrize(("key", "value"), [("uiWidth", 2**31), ("uiHeight", 2**40),
                                            ("uiComp", 0), ("uiHeight", 0)])
def test_2_geometry_out_of_range(small: bytes, key: str, value: int) -> None:
    data = set_attr(small, key, value)
    with pytest.raises(CorruptChunkError) as ei:
        open_reader(open_store(data)).frame_layout()
    assert ei.value.field == f"SLxImageAttributes.{key}"


def test_2_frame_larger_than_the_file(small: bytes) -> None:
    data = set_attr(small, "uiHeight", 1 << 20)
    with pytest.raises(CorruptChunkError, match="past the end") as ei:
        nd2kit.ND2File(data).to_dask()
    assert ei.value.chunk == ATTRS and ei.value.field == "SLxImageAttributes.uiHeight"


def test_2_compressed_frames_bounded_by_the_inflate_ratio() -> None:
    data = sample_file_bytes(t=2, z=1, channels=1, height=6, width=5, compression=6)
    size = len(data)
    ok = set_attr(data, "uiHeight", 8)  # larger than stored but plausible: inflate decides
    with pytest.raises(CorruptChunkError, match="inflates to"):
        nd2kit.ND2File(ok).read_frame(0)
    rows = limits.alloc_limit(size) // 12 + 1  # stride 12 (5 x 2 bytes rounded up to 4)
    big = set_attr(data, "uiHeight", rows)
    with pytest.raises(CorruptChunkError, match="inflate to") as ei:
        nd2kit.ND2File(big).read_frame(0)
    assert ei.value.field == "SLxImageAttributes.uiHeight"


def test_frame_geometry_is_pure_and_checks_the_file() -> None:
    raw = {"uiWidth": 5, "uiHeight": 6, "uiComp": 1, "uiBpcInMemory": 16, "uiWidthBytes": 12}
    g = frame_geometry(raw, chunk=ATTRS, file_size=100)
    assert (g.height, g.width, g.components, g.stride, g.dtype.str, g.nbytes) == (6, 5, 1, 12, "<u2", 72)
    with pytest.raises(CorruptChunkError, match="past the end"):
        frame_geometry(raw, chunk=ATTRS, file_size=71)
    with pytest.raises(CorruptChunkError, match="lack uiComp") as ei:
        frame_geometry({k: v for k, v in raw.items() if k != "uiComp"}, chunk=ATTRS)
    assert ei.value.field == "SLxImageAttributes.uiComp"


@pytest.mark.parametrize("count", [2**40, 10**9])
def test_3_loop_count_beyond_the_file_is_refused(small: bytes, count: int) -> None:
    """was: asarray asking for 191 GiB, loop_indices running out of memory, and
    to_dask().compute() ending in SystemError for a loop count of 2**40"""
    data = set_records(small, EXP, "uiCount", count)
    f = nd2kit.ND2File(data)
    for fn in (lambda: f.sizes, lambda: f.asarray(), lambda: f.loop_indices, lambda: f.to_dask()):
        with pytest.raises(CorruptChunkError) as ei:
            fn()
        assert ei.value.chunk == EXP and ei.value.field == "SLxExperiment.uLoopPars.uiCount"
        assert ei.value.offset == f._reader.chunkmap[EXP].offset
    r = Nd2Reader(data)
    for fn in (lambda: r.imageDataShape, lambda: r.generateLoopIndexes(),
               lambda: r.delayedImageData()):
        with pytest.raises(CorruptChunkError):
            fn()
    assert r.dimensionSizes()  # metadata stays readable


def test_3_loops_addressing_a_few_more_frames_read_zeros(small: bytes) -> None:
    """Loops may address frames the file does not store (nd2 reads zeros): allowed
    within the bound."""
    data = set_records(small, EXP, "uiCount", 3)  # 3 x 3 frames, 4 stored
    f = nd2kit.ND2File(data)
    with pytest.warns(UserWarning, match="missing"):
        arr = f.asarray()
    assert arr.shape == (3, 3, 6, 5) and not arr[2].any()


def test_alloc_cap_is_configurable(small: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    data = set_records(small, EXP, "uiCount", 1000)  # 10**6 frames of 60 bytes
    nd2kit.ND2File(data).sizes  # noqa: B018 - within the default cap
    monkeypatch.setattr(limits, "ALLOC_CAP", 0)
    with pytest.raises(CorruptChunkError, match="alloc_limit"):
        nd2kit.ND2File(data).sizes  # noqa: B018


def test_4_frame_missing_from_the_map_reads_zeros_on_every_path() -> None:
    """The last frame's map entry gone and uiSequenceCount short: the loops still
    address it, so it reads as zeros with a warning (was IndexError)."""
    base = sample_file_bytes(t=3, z=1, channels=1, height=4, width=4)
    full = nd2kit.ND2File(base).asarray()
    data = set_attr(rebuild(base, drop=("ImageDataSeq|2!",)), "uiSequenceCount", 2)
    f = nd2kit.ND2File(data)
    with pytest.warns(UserWarning, match="frame 2"):
        assert not f.read_frame(2).any()
    with pytest.warns(UserWarning, match="frame 2"):
        arr = f.asarray()
    np.testing.assert_array_equal(arr[:2], full[:2])
    assert not arr[2].any()
    with pytest.warns(UserWarning, match="frame 2"):
        np.testing.assert_array_equal(f.to_dask().compute(), arr)
    r = Nd2Reader(data)
    with pytest.warns(UserWarning, match="frame 2"):
        assert not r.image(2).any()
    with pytest.raises(IndexError):
        f.read_frame(3)


@pytest.mark.parametrize("offset", [2**63 - 1, 2**63 + 5, 2**64 - 1])
def test_5_map_offset_beyond_int64_reads_as_damaged(small: bytes, offset: int) -> None:
    data = set_map_offset(small, 1, offset)
    for src in (data, io.BytesIO(data)):
        r = open_reader(open_store(src))
        offs = r.frame_data_offsets()
        assert offs[1] == -1 and (offs[[0, 2, 3]] > 0).all()
        with pytest.warns(UserWarning, match="frame 1"):
            assert not r.read_frame(1).any()


def test_8_height_of_2_64_minus_1(small: bytes) -> None:
    data = set_attr(small, "uiHeight", lv.LvRecord(lv.LvType.UINT64, "", 2**64 - 1))
    assert_located(errs := exercise(data))
    assert errs and all(isinstance(e, CorruptChunkError) for e in errs)
    assert {e.field for e in errs} == {"SLxImageAttributes.uiHeight"}


def test_9_loop_type_minus_inf(small: bytes) -> None:
    data = set_records(small, EXP, "eType", float("-inf"))
    r = Nd2Reader(data)
    assert r.experiment is not None  # was OverflowError
    assert nd2kit.ND2File(data).experiment == []


@pytest.mark.parametrize("index", [0, 2, 3])
def test_10_damaged_frame_refuses_zero_copy_and_reads_zeros_everywhere(small: bytes, index: int) -> None:
    full = nd2kit.ND2File(small).asarray()
    data = damage_header(small, index)
    expected = full.copy()
    expected.reshape(-1, *full.shape[2:])[index] = 0
    f = nd2kit.ND2File(data)
    with pytest.warns(UserWarning, match=f"frame {index}"):
        view = f.asarray(copy=False)
    assert view.flags.owndata or view.base is None or not isinstance(view.base, np.ndarray) \
        or not np.shares_memory(view, np.frombuffer(f._reader.store.buffer, np.uint8))
    np.testing.assert_array_equal(view, expected)
    with pytest.warns(UserWarning, match=f"frame {index}"):
        np.testing.assert_array_equal(f.asarray(), expected)
    with pytest.warns(UserWarning, match=f"frame {index}"):
        np.testing.assert_array_equal(f.to_dask().compute(), expected)
    with pytest.warns(UserWarning, match=f"frame {index}"):  # sub-rectangle through dask
        np.testing.assert_array_equal(f.to_dask()[..., 1:4, 2:].compute(), expected[..., 1:4, 2:])
    with pytest.warns(UserWarning, match=f"frame {index}"):
        assert not f.read_frame(index).any()
    r = Nd2Reader(data)
    with pytest.warns(UserWarning, match=f"frame {index}"):
        assert not r.image(index).any()
    with pytest.warns(UserWarning, match=f"frame {index}"):
        assert not r.image(index, rect=(1, 1, 2, 2)).any()
    with pytest.warns(UserWarning, match=f"frame {index}"):
        d = r.delayedImageData().compute()
    assert not d.reshape(-1, *d.shape[3:])[index].any()


def test_10_zero_copy_kept_for_sound_files(small: bytes) -> None:
    f = nd2kit.ND2File(small)
    view = f.asarray(copy=False)
    assert np.shares_memory(view, np.frombuffer(f._reader.store.buffer, np.uint8))


def test_short_frame_payload_reads_zeros_not_the_next_chunk(small: bytes) -> None:
    """A frame chunk shorter than a frame is damaged: zeros with a warning, never
    pixels taken from the bytes after it."""
    data = rebuild(small, frame=lambda n, p: p[:-2] if n == 1 else p)
    f = nd2kit.ND2File(data)
    with pytest.warns(UserWarning, match="frame 1"):
        assert not f.read_frame(1).any()
    with pytest.warns(UserWarning, match="frame 1"):
        arr = f.asarray(copy=False)
    assert not arr[0, 1].any() and arr[0, 0].any()


def test_11_huge_height_fails_fast(small: bytes) -> None:
    data = set_attr(small, "uiHeight", 0xFFFFFFFF)
    t0 = time.perf_counter()
    with pytest.raises(CorruptChunkError):
        nd2kit.ND2File(data).to_dask().compute()
    assert time.perf_counter() - t0 < 2.0  # was ~19 s


# ----------------------------------------------------------------------------- truncated zlib


def test_truncated_zlib_frame_is_corrupt_naming_chunk_and_offset() -> None:
    data = sample_file_bytes(t=2, z=1, channels=1, height=6, width=5, compression=6)
    cut = rebuild(data, frame=lambda n, p: p[:-4] if n == 1 else p, frame_part1=None)  # no adler32
    r = open_reader(open_store(cut))
    r.read_frame(0)
    info = r.chunk_info("ImageDataSeq|1!")
    with pytest.raises(CorruptChunkError, match="truncated") as ei:
        r.read_frame(1)
    assert ei.value.chunk == "ImageDataSeq|1!" and ei.value.offset == info.data_offset + fcodec.PIXELS_AT


def test_inflate_requires_the_stream_end() -> None:
    block = bytes(range(40))
    stream = zlib.compress(block)
    assert fcodec.inflate(stream, 40) == block
    assert fcodec.inflate(stream[:-4], 40) == block  # the validator decides (require_end)
    with pytest.raises(CorruptChunkError, match="truncated") as ei:
        fcodec.inflate(stream[:-4], 40, chunk="ImageDataSeq|0!", offset=9, require_end=True)
    assert (ei.value.chunk, ei.value.offset) == ("ImageDataSeq|0!", 9)
