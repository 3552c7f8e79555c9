"""``open_reader`` readers: frames of versions 2.x/3.x (``docs/format.md``, ``nd2_container``).

Row padding (``uiWidthBytes``), 8/16/32-bit unsigned, signed and float samples,
lossless zlib frames, lossy frames (unsupported), missing frames, frames whose
chunks do not follow the ``nameLen = 4072`` convention, and row-range reads that
touch only the bytes of the rows asked for.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_files
from hypothesis import given
from hypothesis import strategies as st

import nd2kit
import nd2kit.reader.lazy
from nd2kit.codecs import lite_variant as lv
from nd2kit.codecs.container import build_file
from nd2kit.reader import FRAME_PREFIX, Reader, open_reader, pixel_dtype
from nd2kit.storage import open_store
from nd2kit.testing.samples import sample_file_bytes, sample_frames

nd2 = pytest.importorskip("nd2")

MAGIC = b"\xda\xce\xbe\x0a"
MODERN = [p for p in corpus_files() if p.read_bytes()[:4] == MAGIC]


# ----------------------------------------------------------------------------- helpers


class CountingBytesIO(io.BytesIO):
    """A file object that records every read (offset, size)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
        pos = self.tell()
        b = super().read(n)
        self.reads.append((pos, len(b)))
        return b

    @property
    def nread(self) -> int:
        return sum(n for _, n in self.reads)

    def reset(self) -> None:
        self.reads.clear()


def file_chunks(data: bytes) -> list[tuple]:
    """(name, payload[, part1]) of every chunk, in file order (frames keep part1 = 8)."""
    r = open_reader(open_store(data))
    out: list[tuple] = []
    for name in sorted(r.chunkmap, key=lambda n: r.chunkmap[n].offset):
        payload = bytes(r.chunk_payload(name))
        out.append((name, payload, 8) if name.startswith(FRAME_PREFIX) else (name, payload))
    return out


def rebuild(data: bytes, *, attrs: dict | None = None, drop: tuple[str, ...] = (),
            frame: Callable[[int, bytes], bytes] | None = None, frame_part1: int | None = 8,
            version: str = "Ver3.0") -> bytes:
    """Rebuild a file with image attributes edited, chunks dropped, frame payloads replaced.

    `frame(n, payload)` returns the new payload (timestamp included) of frame n.
    """
    out = []
    for item in file_chunks(data):
        name, payload = item[0], item[1]
        if name in drop:
            continue
        if name == "ImageAttributesLV!" and attrs:
            tree = lv.decode_lossless(payload)
            recs = {r.name: r for r in tree.root.value}
            for k, v in attrs.items():
                if k in recs and isinstance(v, lv.LvRecord):
                    recs[k].type, recs[k].value = v.type, v.value
                elif k in recs:
                    recs[k].value = v
                else:
                    tree.root.value.append(lv.from_python(k, v))
            payload = lv.encode(tree, keep_offsets=False)
        if name.startswith(FRAME_PREFIX):
            if frame is not None:
                payload = frame(int(name[len(FRAME_PREFIX):-1]), payload)
            out.append((name, payload, frame_part1) if frame_part1 else (name, payload))
        else:
            out.append((name, payload))
    return build_file(out, version=version)


def custom_file(frames: np.ndarray, *, bits: int, pixel_type: int | None, stride: int | None = None,
                pad_byte: int = 0xAB, significant: int | None = None, compress: bool = False) -> bytes:
    """A Ver3.0 file holding `frames` (n, h, w, c) with any sample type and stride.

    Row padding bytes are filled with `pad_byte` so that a reader that does not skip
    them shows garbage.
    """
    n, h, w, c = frames.shape
    base = sample_file_bytes(t=n, z=1, channels=c, height=h, width=w, dtype="uint8")
    row = w * c * frames.dtype.itemsize
    stride = stride or -(-row // 4) * 4
    attrs: dict = {"uiBpcInMemory": lv.LvRecord(lv.LvType.INT32, "", bits),
                   "uiBpcSignificant": lv.LvRecord(lv.LvType.INT32, "", significant or bits),
                   "uiWidthBytes": lv.LvRecord(lv.LvType.UINT32, "", stride)}
    if pixel_type is not None:
        attrs["ePixelType"] = lv.LvRecord(lv.LvType.INT32, "", pixel_type)
    if compress:
        attrs["eCompression"] = lv.LvRecord(lv.LvType.INT32, "", 0)
    le = frames.dtype.newbyteorder("<")

    def fr(k: int, payload: bytes) -> bytes:
        rows = np.full((h, stride), pad_byte, np.uint8)
        rows[:, :row] = frames[k].astype(le).view(np.uint8).reshape(h, row)
        block = rows.tobytes()
        return payload[:8] + (zlib.compress(block) if compress else block)

    data = rebuild(base, attrs=attrs, frame=fr, frame_part1=None if compress else 8)
    if pixel_type is None:
        data = _drop_attr(data, "ePixelType")
    return data


def _drop_attr(data: bytes, key: str) -> bytes:
    out = []
    for item in file_chunks(data):
        if item[0] == "ImageAttributesLV!":
            tree = lv.decode_lossless(item[1])
            tree.root.value = [r for r in tree.root.value if r.name != key]
            item = (item[0], lv.encode(tree, keep_offsets=False))
        out.append(item)
    return build_file(out)


def reader(data: bytes) -> Reader:
    return open_reader(open_store(data))


# ----------------------------------------------------------------------------- dtypes


def test_pixel_dtype_rule() -> None:
    assert pixel_dtype(8, 1) == np.dtype("<u1")
    assert pixel_dtype(16, 1) == np.dtype("<u2")
    assert pixel_dtype(16, None) == np.dtype("<u2")
    assert pixel_dtype(32, None) == np.dtype("<f4")  # nd2's rule without ePixelType
    assert pixel_dtype(32, 2) == np.dtype("<f4")
    assert pixel_dtype(32, 1) == np.dtype("<u4")
    assert pixel_dtype(16, 0) == np.dtype("<i2")
    assert pixel_dtype(8, 0) == np.dtype("<i1")
    assert pixel_dtype(32, 0) == np.dtype("<i4")


@pytest.mark.parametrize(
    "dtype,bits,ptype",
    [("uint8", 8, 1), ("uint16", 16, 1), ("float32", 32, 2), ("float32", 32, None),
     ("int16", 16, 0), ("int8", 8, 0), ("int32", 32, 0), ("uint32", 32, 1)],
)
@pytest.mark.parametrize("stride_extra", [0, 3, 17])
def test_sample_types_and_stride(dtype: str, bits: int, ptype: int | None, stride_extra: int) -> None:
    rng = np.random.default_rng(bits + stride_extra)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        frames = rng.normal(0, 1000, (3, 5, 7, 2)).astype(dt)
    else:
        info = np.iinfo(dt)
        frames = rng.integers(info.min, info.max, (3, 5, 7, 2), dtype=dt, endpoint=True)
    row = 7 * 2 * dt.itemsize
    data = custom_file(frames, bits=bits, pixel_type=ptype, stride=row + stride_extra)
    r = reader(data)
    lay = r.frame_layout()
    assert lay.stride == row + stride_extra and lay.dtype == dt.newbyteorder("<")
    for i in range(3):
        np.testing.assert_array_equal(r.read_frame(i), frames[i])
    f = nd2kit.ND2File(data)
    assert f.dtype == dt
    # mono planes: (T, C, Y, X)
    np.testing.assert_array_equal(f.asarray(), frames.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(f.to_dask().compute(), frames.transpose(0, 3, 1, 2))


def test_signed_int16_negative_values_and_nd2_difference(tmp_path: Path) -> None:
    frames = (sample_frames(2, 1, 1, 6, 5, "uint16").astype(np.int32) - 300).astype(np.int16)
    assert frames.min() < 0
    data = custom_file(frames, bits=16, pixel_type=0, significant=16)
    p = tmp_path / "signed.nd2"
    p.write_bytes(data)
    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as g:
        # deliberate difference: nd2 ignores ePixelType
        assert (f.attributes.pixelDataType, g.attributes.pixelDataType) == ("signed", "unsigned")
        assert f.dtype == np.int16
        arr = f.asarray()
        np.testing.assert_array_equal(arr, frames[..., 0])
        assert arr.min() == frames.min() < 0
        # deliberate difference: nd2 0.12 ignores ePixelType and
        # returns the same bits as uint16
        assert g.dtype == np.uint16
        np.testing.assert_array_equal(g.asarray().view(np.int16), arr)


def test_uint32_is_not_float(tmp_path: Path) -> None:
    frames = np.arange(2 * 3 * 4, dtype=np.uint32).reshape(2, 3, 4, 1) * 100_000
    data = custom_file(frames, bits=32, pixel_type=1)
    p = tmp_path / "u32.nd2"
    p.write_bytes(data)
    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as g:
        assert f.dtype == np.uint32
        assert (f.attributes.pixelDataType, g.attributes.pixelDataType) == ("unsigned", "float")
        np.testing.assert_array_equal(f.asarray(), frames[..., 0])
        # deliberate difference: nd2 reads every 32-bit image as float32
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g.asarray().view(np.uint32), f.asarray())


@pytest.mark.parametrize("dtype,bits,ptype", [("uint8", 8, 1), ("uint16", 16, 1), ("float32", 32, 2)])
def test_padded_rows_match_nd2(dtype: str, bits: int, ptype: int, tmp_path: Path) -> None:
    frames = sample_frames(2, 1, 3, 5, 3, dtype)
    row = 3 * 3 * np.dtype(dtype).itemsize
    data = custom_file(frames, bits=bits, pixel_type=ptype, stride=row + 7)
    p = tmp_path / "pad.nd2"
    p.write_bytes(data)
    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as g:
        np.testing.assert_array_equal(f.asarray(), g.asarray())
        for i in range(2):
            np.testing.assert_array_equal(f.read_frame(i), g.read_frame(i))


def test_stride_too_small_is_corrupt() -> None:
    frames = sample_frames(1, 1, 1, 3, 5, "uint16")
    data = custom_file(frames, bits=16, pixel_type=1)
    bad = rebuild(data, attrs={"uiWidthBytes": lv.LvRecord(lv.LvType.UINT32, "", 8)})
    with pytest.raises(nd2kit.CorruptChunkError, match="uiWidthBytes"):
        reader(bad).read_frame(0)


def test_missing_attribute_key_is_corrupt() -> None:
    data = _drop_attr(sample_file_bytes(t=1, z=1, channels=1, height=3, width=3), "uiComp")
    with pytest.raises(nd2kit.CorruptChunkError, match="uiComp"):
        reader(data).frame_layout()


def test_missing_attributes_chunk() -> None:
    data = rebuild(sample_file_bytes(t=1, z=1, channels=1, height=3, width=3),
                   drop=("ImageAttributesLV!",))
    with pytest.raises(nd2kit.ChunkNotFoundError):
        reader(data).frame_layout()


# ----------------------------------------------------------------------------- corpus pixels


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_frames_match_nd2_on_every_corpus_file(path: Path) -> None:
    """Raw frames (stored component order) equal nd2's, from mmap and file-like stores."""
    with nd2.ND2File(path) as g:
        n = g.attributes.sequenceCount
        expected = [np.asarray(g._rdr.read_frame(i)) for i in range(n)]
    data = path.read_bytes()
    for r in (open_reader(open_store(path)), open_reader(open_store(io.BytesIO(data)))):
        lay = r.frame_layout()
        for i in range(n):
            fr = r.read_frame(i)
            assert fr.shape == (lay.height, lay.width, lay.components)
            np.testing.assert_array_equal(fr.reshape(expected[i].shape), expected[i])
            np.testing.assert_array_equal(r.read_rows(i, 1, lay.height - 1), fr[1:-1])


@pytest.mark.corpus
def test_rgb8_row_padding() -> None:
    p = [q for q in MODERN if q.name == "rgb8.nd2"]
    if not p:
        pytest.skip("rgb8.nd2 not in corpus")
    r = open_reader(open_store(p[0]))
    lay = r.frame_layout()
    assert (lay.width, lay.components, lay.stride) == (3, 3, 12)  # 9 bytes of samples + 3 pad
    raw = bytes(r.store.read(int(r.frame_data_offsets()[0]) + 8, lay.nbytes))
    assert raw[9:12] == b"\0\0\0"
    np.testing.assert_array_equal(
        r.read_frame(0), np.frombuffer(raw, np.uint8).reshape(lay.height, 12)[:, :9].reshape(-1, 3, 3))


@pytest.mark.corpus
def test_lossless_and_packed_corpus_files_equal_plain() -> None:
    names = {q.name: q for q in MODERN}
    need = ["spec_v3.nd2", "spec_v3_lossless.nd2", "spec_v3_packed.nd2"]
    if not all(n in names for n in need):
        pytest.skip("spec_v3 files not in corpus")
    plain, lossless, packed = (open_reader(open_store(names[n])) for n in need)
    assert lossless.frame_layout().compressed and not plain.frame_layout().compressed
    assert packed.chunkmap["ImageDataSeq|0!"].offset % 4096 or packed.chunkmap["ImageDataSeq|1!"].offset % 4096
    for i in range(plain.frame_numbers().size):
        np.testing.assert_array_equal(lossless.read_frame(i), plain.read_frame(i))
        np.testing.assert_array_equal(packed.read_frame(i), plain.read_frame(i))
        np.testing.assert_array_equal(lossless.read_rows(i, 1, 2), plain.read_rows(i, 1, 2))


# ----------------------------------------------------------------------------- compression


def test_lossless_generated_all_stores() -> None:
    frames = sample_frames(3, 1, 2, 9, 5, "uint16")
    data = custom_file(frames, bits=16, pixel_type=1, significant=12, compress=True)
    for src in (data, io.BytesIO(data)):
        r = reader(data) if isinstance(src, bytes) else open_reader(open_store(src))
        assert r.frame_layout().compressed and r.frame_spacing() is None
        for i in range(3):
            np.testing.assert_array_equal(r.read_frame(i), frames[i])
            np.testing.assert_array_equal(r.read_rows(i, 2, 7), frames[i, 2:7])
    f = nd2kit.ND2File(data)
    np.testing.assert_array_equal(f.asarray(), frames.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(f.asarray(copy=False), frames.transpose(0, 3, 1, 2))


def test_lossless_bad_stream_is_corrupt_and_names_frame() -> None:
    frames = sample_frames(2, 1, 1, 4, 4, "uint16")
    data = custom_file(frames, bits=16, pixel_type=1, compress=True)
    bad = rebuild(data, frame=lambda n, pl: pl[:8] + (b"garbage!" * 4 if n == 1 else pl[8:]),
                  frame_part1=None)
    r = reader(bad)
    np.testing.assert_array_equal(r.read_frame(0), frames[0])
    with pytest.raises(nd2kit.CorruptChunkError, match="frame 1") as ei:
        r.read_frame(1)
    assert ei.value.chunk == "ImageDataSeq|1!"
    short = rebuild(data, frame=lambda n, pl: pl[:8] + zlib.compress(b"\0" * 5), frame_part1=None)
    with pytest.raises(nd2kit.CorruptChunkError, match="inflates to 5 bytes"):
        reader(short).read_frame(0)
    long = rebuild(data, frame=lambda n, pl: pl[:8] + zlib.compress(b"\0" * 1000), frame_part1=None)
    with pytest.raises(nd2kit.CorruptChunkError):
        reader(long).read_frame(0)


def test_lossy_frames_raise_unsupported_naming_the_frame() -> None:
    data = sample_file_bytes(t=2, z=2, channels=1, height=4, width=4)
    lossy = rebuild(data, attrs={"eCompression": lv.LvRecord(lv.LvType.INT32, "", 1)})
    r = reader(lossy)
    assert r.frame_layout().lossy
    for i in (0, 3):
        with pytest.raises(nd2kit.UnsupportedFormatError, match=f"frame {i}") as ei:
            r.read_frame(i)
        assert "lossy" in str(ei.value) and ei.value.chunk == f"ImageDataSeq|{i}!"
    with pytest.raises(nd2kit.UnsupportedFormatError, match="frame 2"):
        r.read_rows(2, 0, 1)
    f = nd2kit.ND2File(lossy)
    assert f.shape == (2, 2, 4, 4)  # metadata still readable
    with pytest.raises(nd2kit.UnsupportedFormatError, match="frame 1"):
        f.read_frame(1)
    with pytest.raises(nd2kit.UnsupportedFormatError):
        f.asarray()
    with pytest.raises(nd2kit.UnsupportedFormatError):
        f.to_dask().compute()


# ----------------------------------------------------------------------------- missing frames


@pytest.mark.parametrize("store_kind", ["bytes", "fileobj"])
def test_missing_frame_reads_zeros_with_warning(store_kind: str) -> None:
    data = sample_file_bytes(t=3, z=2, channels=2, height=5, width=4)
    full = nd2kit.ND2File(data).asarray()
    holed = rebuild(data, drop=("ImageDataSeq|3!",))
    src = holed if store_kind == "bytes" else io.BytesIO(holed)
    f = nd2kit.ND2File(src)
    r = f._reader
    assert not r.has_frame(3) and r.has_frame(2) and r.has_frame(4)
    assert list(r.frame_numbers()) == [0, 1, 2, 4, 5]
    with pytest.warns(UserWarning, match=r"frame 3 .*missing"):
        fr = f.read_frame(3)
    assert fr.shape == full.shape[2:] and not fr.any()
    with pytest.warns(UserWarning, match="missing"):
        raw = r.read_rows(3, 1, 3)
    assert raw.shape == (2, 4, 2) and not raw.any()
    with pytest.warns(UserWarning, match="missing"):
        arr = f.asarray()
    expected = full.copy()
    expected[1, 1] = 0  # frame 3 = (t=1, z=1)
    np.testing.assert_array_equal(arr, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(f.asarray(copy=False), expected)
        if store_kind == "bytes":
            np.testing.assert_array_equal(f.to_dask().compute(), expected)
    # other frames are untouched and do not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(f.read_frame(4), full[2, 0])


def test_missing_last_frame_disables_zero_copy() -> None:
    data = sample_file_bytes(t=2, z=2, channels=1, height=4, width=4)
    holed = rebuild(data, drop=("ImageDataSeq|3!",))
    f = nd2kit.ND2File(holed)
    with pytest.warns(UserWarning):
        arr = f.asarray(copy=False)
    assert arr.shape == (2, 2, 4, 4) and not arr[1, 1].any()


def test_damaged_frame_header_reads_as_missing() -> None:
    data = sample_file_bytes(t=2, z=1, channels=1, height=4, width=4)
    off = reader(data).chunkmap["ImageDataSeq|1!"].offset
    bad = bytearray(data)
    bad[off : off + 4] = b"XXXX"
    for src in (bytes(bad), io.BytesIO(bytes(bad))):
        r = open_reader(open_store(src))
        assert not r.has_frame(1) and r.has_frame(0)
        with pytest.warns(UserWarning, match="frame 1"):
            assert not r.read_frame(1).any()


def test_frame_past_end_of_file_is_corrupt() -> None:
    data = sample_file_bytes(t=2, z=1, channels=1, height=4, width=4)
    big = rebuild(data, attrs={"uiHeight": lv.LvRecord(lv.LvType.UINT32, "", 100_000)})
    with pytest.raises(nd2kit.CorruptChunkError, match="past the end"):
        reader(big).read_frame(1)


# ----------------------------------------------------------------------------- chunk layout


def test_frames_located_through_name_len_not_chunk_plus_4096() -> None:
    """Frames written like metadata chunks (nameLen != 4072): nd2kit uses the header."""
    data = sample_file_bytes(t=2, z=2, channels=2, height=5, width=3)
    expected = nd2kit.ND2File(data).asarray()
    endaligned = rebuild(data, frame_part1=None)
    r = reader(endaligned)
    info = r.chunk_info("ImageDataSeq|0!")
    assert info.name_len != 4072
    for src in (endaligned, io.BytesIO(endaligned)):
        f = nd2kit.ND2File(src)
        np.testing.assert_array_equal(f.asarray(), expected)
        np.testing.assert_array_equal(f.asarray(copy=False), expected)


def test_unaligned_chunks() -> None:
    """Chunks at arbitrary (not 4 KiB) offsets, as in spec_v3_packed.nd2."""
    from nd2kit.codecs import container

    data = sample_file_bytes(t=2, z=2, channels=2, height=5, width=3)
    expected = nd2kit.ND2File(data).asarray()
    parts = [data[:4096]]
    entries = []
    pos = 4096
    for k, item in enumerate(file_chunks(data)):
        filler = b"\0" * (k * 13 + 5)
        parts.append(filler)
        pos += len(filler)
        blob = container.encode_chunk(item[0], item[1], part1=item[2] if len(item) > 2 else None)
        blob = blob[: 16 + struct.unpack_from("<I", blob, 4)[0] + len(item[1])]  # no tail padding
        entries.append((item[0], pos, len(item[1])))
        parts.append(blob)
        pos += len(blob)
    from nd2kit.codecs.chunk_map import build_chunk_map_body

    body = build_chunk_map_body([e[0] for e in entries], [e[1] for e in entries],
                                [e[2] for e in entries], pos)
    trailer = container.MAP_SIGNATURE.encode() + struct.pack("<Q", pos)
    payload = body + trailer
    fn = container.FILEMAP_NAME.encode()
    parts.append(MAGIC + struct.pack("<IQ", len(fn), len(payload)) + fn + payload)
    packed = b"".join(parts)
    r = reader(packed)
    assert any(r.chunkmap[n].offset % 4096 for n in r.chunkmap)
    for src in (packed, io.BytesIO(packed)):
        np.testing.assert_array_equal(nd2kit.ND2File(src).asarray(), expected)


# ----------------------------------------------------------------------------- row reads


@pytest.fixture(scope="module")
def tall_file() -> bytes:
    return sample_file_bytes(t=2, z=1, channels=2, height=300, width=50)


def test_read_rows_touches_only_needed_rows(tall_file: bytes) -> None:
    fo = CountingBytesIO(tall_file)
    r = open_reader(open_store(fo))
    lay = r.frame_layout()
    offs = r.frame_data_offsets()
    full = open_reader(open_store(tall_file)).read_frame(1)
    fo.reset()
    rows = r.read_rows(1, 100, 110)
    np.testing.assert_array_equal(rows, full[100:110])
    assert fo.reads == [(int(offs[1]) + 8 + 100 * lay.stride, 10 * lay.stride)]
    fo.reset()
    rows = r.read_rows(1, 290, 400)  # clipped at the last row
    np.testing.assert_array_equal(rows, full[290:])
    assert fo.nread == 10 * lay.stride
    fo.reset()
    whole = r.read_frame(1)
    np.testing.assert_array_equal(whole, full)
    assert fo.nread == lay.nbytes


def _counting_opener(data: bytes, monkeypatch: pytest.MonkeyPatch) -> list[CountingBytesIO]:
    """Make the lazy arrays' (re)opened readers read `data` through counting file objects."""
    import nd2kit.reader.lazy

    stores: list[CountingBytesIO] = []

    def opener_call(self: object) -> Reader:
        fo = CountingBytesIO(data)
        stores.append(fo)
        rdr = open_reader(open_store(fo))
        fo.reset()  # count what the array reads, not the open (its tail read may span pixels)
        return rdr

    monkeypatch.setattr(nd2kit.reader.lazy.SourceOpener, "__call__", opener_call)
    return stores


def _pixel_reads(f: nd2kit.ND2File, fo: CountingBytesIO) -> list[tuple[int, int]]:
    lay = f._reader.frame_layout()
    pix = [int(o) + 8 for o in f._reader.frame_data_offsets()]
    return sorted((pos, n) for pos, n in fo.reads if any(s <= pos < s + lay.nbytes for s in pix))


def test_frame_array_rows_touch_only_needed_rows(tall_file: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The lazy array behind to_dask (reopened from the source) reads only the needed rows."""
    stores = _counting_opener(tall_file, monkeypatch)
    f = nd2kit.ND2File(tall_file)
    lay = f._reader.frame_layout()
    part = f._frame_array()[..., 20:30, :]
    np.testing.assert_array_equal(part, f.asarray()[..., 20:30, :])
    assert len(stores) == 1
    pix = [int(o) + 8 for o in f._reader.frame_data_offsets()]
    # 2 frames x rows 20..29, nothing else of the pixel blocks
    assert _pixel_reads(f, stores[0]) == [(s + 20 * lay.stride, 10 * lay.stride) for s in pix]


def test_dask_row_chunks_touch_only_their_rows(tall_file: bytes,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With row chunks (large uncompressed frames), a row slice reads only its rows."""
    import functools

    stores = _counting_opener(tall_file, monkeypatch)
    monkeypatch.setattr(nd2kit.ND2File, "_dask_chunks",
                        functools.partialmethod(nd2kit.ND2File._dask_chunks, target_bytes=10_000))
    f = nd2kit.ND2File(tall_file)
    lay = f._reader.frame_layout()
    d = f.to_dask()
    assert d.chunks[-2] == (50,) * 6  # 2 ch x 50 x 300 rows x 2 B = 60000 B per frame
    part = d[..., 20:30, :].compute(scheduler="sync")
    np.testing.assert_array_equal(part, f.asarray()[..., 20:30, :])
    pix = [int(o) + 8 for o in f._reader.frame_data_offsets()]
    reads = [r for fo in stores for r in _pixel_reads(f, fo)]
    # the slice reaches the reader: exactly rows 20..29 of each frame are read
    assert sorted(reads) == [(s + 20 * lay.stride, 10 * lay.stride) for s in pix]


def test_nd2file_rows_through_dask_touch_only_needed_rows(tall_file: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stores = _counting_opener(tall_file, monkeypatch)
    f = nd2kit.ND2File(tall_file)
    lay = f._reader.frame_layout()
    part = f.to_dask()[..., 20:30, :].compute(scheduler="sync")
    np.testing.assert_array_equal(part, f.asarray()[..., 20:30, :])
    pix = [int(o) + 8 for o in f._reader.frame_data_offsets()]
    reads = [r for fo in stores for r in _pixel_reads(f, fo)]
    assert sorted(reads) == [(s + 20 * lay.stride, 10 * lay.stride) for s in pix]


def test_nd2file_fileobj_dask_rows_touch_only_needed_rows(tall_file: bytes) -> None:
    fo = CountingBytesIO(tall_file)
    f = nd2kit.ND2File(fo)
    lay = f._reader.frame_layout()
    d = f.to_dask()
    fo.reset()
    part = d[..., 20:30, :].compute(scheduler="sync")
    np.testing.assert_array_equal(part, nd2kit.ND2File(tall_file).asarray()[..., 20:30, :])
    assert fo.nread <= 2 * 10 * lay.stride + 4096


def test_read_rows_compressed_reads_whole_frame() -> None:
    frames = sample_frames(1, 1, 1, 30, 8, "uint16")
    data = custom_file(frames, bits=16, pixel_type=1, compress=True)
    r = open_reader(open_store(io.BytesIO(data)))
    np.testing.assert_array_equal(r.read_rows(0, 10, 12), frames[0, 10:12])


_ROWS = sample_file_bytes(t=2, z=1, channels=3, height=13, width=5, dtype="uint8")
_ROWS_FRAMES = [open_reader(open_store(_ROWS)).read_frame(i, copy=True) for i in range(2)]


@given(i=st.integers(0, 1), y0=st.integers(0, 13), n=st.integers(0, 15),
       kind=st.sampled_from(["bytes", "fileobj"]))
def test_read_rows_equals_frame_slice(i: int, y0: int, n: int, kind: str) -> None:
    src = _ROWS if kind == "bytes" else io.BytesIO(_ROWS)
    r = open_reader(open_store(src))
    y1 = y0 + n
    np.testing.assert_array_equal(r.read_rows(i, y0, y1), _ROWS_FRAMES[i][y0:y1])


@pytest.mark.parametrize("y0,y1", [(14, 20), (5, 3)])
def test_read_rows_empty_ranges_like_slices(y0: int, y1: int) -> None:
    r = open_reader(open_store(_ROWS))
    assert r.read_rows(0, y0, y1).shape == _ROWS_FRAMES[0][y0:y1].shape


def test_read_rows_empty_ranges_compressed() -> None:
    frames = sample_frames(1, 1, 1, 13, 5, "uint16")
    r = reader(custom_file(frames, bits=16, pixel_type=1, compress=True))
    for y0, y1 in [(14, 20), (5, 3), (13, 13)]:
        assert r.read_rows(0, y0, y1).shape == frames[0][y0:y1].shape


def test_read_frame_copy_flag() -> None:
    data = sample_file_bytes(t=1, z=1, channels=1, height=4, width=4)
    r = reader(data)
    view, copy = r.read_frame(0), r.read_frame(0, copy=True)
    assert not view.flags.writeable and copy.flags.writeable
    assert np.shares_memory(view, np.frombuffer(data, np.uint8))
    assert not np.shares_memory(copy, np.frombuffer(data, np.uint8))


def test_read_frame_from_bytearray_is_read_only() -> None:
    data = bytearray(sample_file_bytes(t=1, z=1, channels=1, height=4, width=4))
    f = nd2kit.ND2File(data)
    fr = f.read_frame(0)
    assert not fr.flags.writeable
    assert not f._reader.read_rows(0, 0, 2).flags.writeable


def test_frame_spacing_and_offsets() -> None:
    data = sample_file_bytes(t=3, z=1, channels=1, height=4, width=4)
    r = reader(data)
    offs = r.frame_data_offsets()
    assert len(offs) == 3 and (offs >= 0).all()
    assert (offs % 4096 == 4088).all()  # pixels at chunk + 4096, timestamp 8 bytes before
    assert r.frame_spacing() == int(offs[1] - offs[0]) == int(offs[2] - offs[1])
    assert open_reader(open_store(io.BytesIO(data))).frame_spacing() is None  # no buffer
    np.testing.assert_array_equal(open_reader(open_store(io.BytesIO(data))).frame_data_offsets(), offs)
