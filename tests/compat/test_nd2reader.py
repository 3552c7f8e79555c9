"""Tests of the limnd2-compatible reader :class:`nd2kit.Nd2Reader`.

Oracles: :class:`nd2kit.ND2File` (itself checked against nd2 0.12 elsewhere), nd2 0.12
directly, ``docs/format.md`` (sections ``image_frame`` for the RGB order,
``downsampled_frame`` for pyramid levels), and values computed independently in the tests (box averages,
slices). limnd2 itself cannot be installed here; its semantics were taken from its
source (member names, rect ``(x, y, w, h)`` clipped at the right/bottom edges,
stored component order, pyramid chunk names).
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_files

import nd2kit
from nd2kit import ND2File, Nd2Reader, UnsupportedFormatError
from nd2kit.codecs import container
from nd2kit.codecs.lite_variant import encode, from_python
from nd2kit.compat.limnd2_types import UnexpectedCallError, pow2_size

ALL = corpus_files()
LEGACY = [p for p in ALL if p.name == "legacy16.nd2"]
MODERN = [p for p in ALL if p.name != "legacy16.nd2"]
REAL = [p for p in MODERN if p.parent.name == "real"]
ids = lambda p: p.name  # noqa: E731


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def stored_from_nd2file(f: ND2File, i: int) -> np.ndarray:
    """ND2File.read_frame(i) (C, Y, X[, S], size-1 axes dropped, RGB as R, G, B)
    rearranged to Nd2Reader's (Y, X, components) in stored order (RGB as B, G, R)."""
    arr = np.asarray(f.read_frame(i))
    have = [k for k in f.sizes if k in "CYXS"]
    for pos, ax in enumerate("CYXS"):
        if ax not in have:
            arr = np.expand_dims(arr, pos)
            have.insert(pos, ax)
    if "S" in f.sizes:
        arr = arr[..., ::-1]  # nd2kit returns R, G, B; files store B, G, R
    c, y, x, s = arr.shape
    return arr.transpose(1, 2, 0, 3).reshape(y, x, c * s)


def stored_from_nd2(arr: np.ndarray, sizes: dict) -> np.ndarray:
    """nd2 0.12's read_frame (stored sample order, size-1 axes dropped) as (Y, X, comps)."""
    have = [k for k in sizes if k in "CYXS"]
    for pos, ax in enumerate("CYXS"):
        if ax not in have:
            arr = np.expand_dims(arr, pos)
            have.insert(pos, ax)
    c, y, x, s = arr.shape
    return arr.transpose(1, 2, 0, 3).reshape(y, x, c * s)


def box_mean_once(a: np.ndarray) -> np.ndarray:
    """Independent 2×2 box average of (Y, X, C): floor for integers, mean for floats."""
    h, w = a.shape[0] // 2, a.shape[1] // 2
    blocks = a[: 2 * h, : 2 * w].reshape(h, 2, w, 2, a.shape[2])
    if a.dtype.kind == "f":
        return blocks.astype(np.float64).mean(axis=(1, 3)).astype(a.dtype)
    return (blocks.astype(np.int64).sum(axis=(1, 3)) // 4).astype(a.dtype)


LOOP_AXIS = {"t": "T", "m": "P", "z": "Z", "c": "U"}


def lv(root: str, tree: dict) -> bytes:
    return encode(from_python(root, tree))


def _level(etype: int, pars: dict, child: dict | None, valid: bytes | None = None) -> dict:
    d = {"eType": etype, "uLoopPars": pars, "uiNextLevelCount": 1 if child else 0,
         "ppNextLevelEx": {"i0000000000": child} if child else {}}
    if valid is not None:
        d["pItemValid"] = valid
    return d


def loop_level(kind: str, count: int, child: dict | None) -> dict:
    """One experiment level of kind t (TimeLoop), z, m (XYPosLoop)."""
    if kind == "t":
        return _level(1, {"uiCount": count, "dStart": 0.0, "dPeriod": 250.0, "dDuration": 0.0,
                          "dMinPeriodDiff": 0.0, "dMaxPeriodDiff": 0.0, "dAvgPeriodDiff": 250.0}, child)
    if kind == "z":
        return _level(4, {"uiCount": count, "dZLow": 10.0, "dZHigh": 10.0 + 0.5 * (count - 1),
                          "dZStep": 0.5, "dZHome": 10.0, "iType": 0, "bZInverted": False,
                          "bAbsolute": True}, child)
    if kind == "m":
        pts = {f"i{k:010d}": {"dPosX": 100.0 * k, "dPosY": 10.0 * k, "dPosZ": 1.0, "dPFSOffset": -1.0,
                              "dPosName": f"p{k}"} for k in range(count)}
        return _level(2, {"uiCount": count, "bUseZ": False, "bRelativeXY": False, "dReferenceX": 0.0,
                          "dReferenceY": 0.0, "Points": pts}, child)
    raise ValueError(kind)


def build_nd2(frames: np.ndarray, loops: list[tuple[str, int]] = (), *, meta: bool = True,
              extra: list[tuple[str, bytes]] = (), drop: tuple[int, ...] = ()) -> bytes:
    """A Ver3.0 file (laid out as NIS writes it) from frames (N, H, W, C) in stored order.

    `loops` are ``(kind, count)`` in nesting order, outermost first; frames in `drop`
    get no ``ImageDataSeq`` chunk.
    """
    frames = np.asarray(frames)
    n, h, w, c = frames.shape
    dt = frames.dtype
    bits = dt.itemsize * 8
    stride = -(-(w * c * dt.itemsize) // 4) * 4
    attrs = {"uiWidth": w, "uiWidthBytes": stride, "uiHeight": h, "uiComp": c, "uiBpcInMemory": bits,
             "uiBpcSignificant": bits, "uiSequenceCount": n, "uiTileWidth": w, "uiTileHeight": h,
             "eCompression": 2, "dCompressionParam": 0.0, "ePixelType": 2 if dt.kind == "f" else 1,
             "uiVirtualComponents": c}
    chunks: list = [("ImageAttributesLV!", lv("SLxImageAttributes", attrs))]
    if meta:
        planes = {f"a{k}": {"uiCompCount": 1, "uiSampleIndex": 0, "uiModalityMask": 1,
                            "pFluorescentProbe": {"m_sName": f"ch{k}"}, "uiColor": 0xFF << (8 * (k % 3)),
                            "sDescription": f"ch{k}"} for k in range(c)}
        chunks.append(("ImageMetadataSeqLV|0!", lv("SLxPictureMetadata", {
            "dTimeAbsolute": 2460000.5, "bCalibrated": True, "dCalibration": 0.25,
            "sPicturePlanes": {"uiCount": c, "uiCompCount": c, "sPlaneNew": planes}})))
    if loops:
        tree = None
        for kind, count in reversed(loops):
            tree = loop_level(kind, count, tree)
        chunks.append(("ImageMetadataLV!", lv("SLxExperiment", tree)))
    times = np.arange(n, dtype="<f8") * 10.0
    chunks.append(("CustomData|AcqTimesCache!", times.tobytes()))
    row_bytes = w * c * dt.itemsize
    for k in range(n):
        if k in drop:
            continue
        rows = np.zeros((h, stride), np.uint8)
        rows[:, :row_bytes] = frames[k].astype(dt.newbyteorder("<")).view(np.uint8).reshape(h, row_bytes)
        chunks.append((f"ImageDataSeq|{k}!", struct.pack("<d", float(times[k])) + rows.tobytes(), 8))
    chunks.extend(extra)
    return container.build_file(chunks)


def pyramid_chunk(level_img: np.ndarray, size: int, seq: int) -> tuple[str, bytes]:
    """A ``CustomDataSeq|DownsampledColorData_<size>|seq!`` chunk: raw rows padded to 4
    bytes, no timestamp (``docs/format.md``, section ``downsampled_frame``)."""
    h, w, c = level_img.shape
    stride = -(-(w * c * level_img.itemsize) // 4) * 4
    rows = np.zeros((h, stride), np.uint8)
    rows[:, : w * c * level_img.itemsize] = level_img.astype(level_img.dtype.newbyteorder("<")).view(
        np.uint8).reshape(h, -1)
    return (f"CustomDataSeq|DownsampledColorData_{size}|{seq}!", rows.tobytes())


def numbered_frames(n: int, h: int, w: int, c: int, dtype: str = "uint16") -> np.ndarray:
    """Frames whose every value tells (sequence index, component, row, column)."""
    s, y, x, k = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return (s * 1000 + k * 100 + y * 10 + x).astype(dtype)


# ---------------------------------------------------------------------------
# corpus: every modern file against ND2File
# ---------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("path", LEGACY, ids=ids)
def test_legacy_v1_is_unsupported(path: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        Nd2Reader(path)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_shape_matches_nd2file_sizes(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        s = dict(f.sizes)
        t, m, z, y, x, c = r.imageDataShape
        assert (t, m, z) == (s.get("T", 1), s.get("P", 1), s.get("Z", 1))
        assert (y, x) == (s.get("Y", 1), s.get("X", 1))
        assert c == f.attributes.componentCount == s.get("C", 1) * s.get("S", 1)
        assert r.version == f.version
        assert r.imageAttributes.frameCount == f.attributes.sequenceCount == t * m * z


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_image_attributes_match_nd2file(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        ia, a = r.imageAttributes, f.attributes
        assert (ia.width, ia.height, ia.componentCount) == (a.widthPx, a.heightPx, a.componentCount)
        assert (ia.uiBpcInMemory, ia.uiBpcSignificant) == (a.bitsPerComponentInMemory,
                                                           a.bitsPerComponentSignificant)
        assert ia.widthBytes == a.widthBytes
        assert ia.shape == (a.heightPx, a.widthPx, a.componentCount)
        assert np.dtype(ia.dtype) == f.dtype
        assert ia.strides == (a.widthBytes, a.componentCount * f.dtype.itemsize, f.dtype.itemsize)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_every_frame_matches_nd2file(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        for i in range(r.imageAttributes.frameCount):
            img = r.image(i)
            assert img.shape == r.imageAttributes.shape
            assert img.dtype == f.dtype
            np.testing.assert_array_equal(img, stored_from_nd2file(f, i))


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_every_frame_matches_nd2_directly(path: Path) -> None:
    """nd2 0.12 returns samples in stored order (RGB as B, G, R under R, G, B labels,
    ``docs/format.md`` section ``image_frame``), which is what Nd2Reader.image returns too."""
    nd2 = pytest.importorskip("nd2")
    with Nd2Reader(path) as r, nd2.ND2File(str(path)) as f:
        for i in range(r.imageAttributes.frameCount):
            np.testing.assert_array_equal(r.image(i), stored_from_nd2(np.asarray(f.read_frame(i)),
                                                                      dict(f.sizes)))


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_loop_indexes_and_dimension_sizes_match_nd2file(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        names: list[str] = ["stale"]
        named = r.generateLoopIndexes(named=True, dimnames=names)
        plain = r.generateLoopIndexes()
        sizes = r.dimensionSizes()
        if r.experiment is None:
            assert named == [] and plain == [] and names == [] and sizes == {}
            assert f.loop_indices == ({},) and not f.experiment
            return
        assert [{LOOP_AXIS[k]: v for k, v in d.items()} for d in named] == list(f.loop_indices)
        assert plain == [tuple(d.values()) for d in named]
        assert names == list(sizes)
        expected = [(n.lower().replace("p", "m"), f.sizes[n]) for n in f.sizes if n in "TPZ"]
        assert list(sizes.items()) == expected  # same names, sizes and (nesting) order


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_calibration_matches_voxel_size_and_periods(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        ct, cm, cz, cy, cx, cc = r.imageDataCalibration
        vx, vy, vz = f.voxel_size()
        assert cm == cc == 0
        raw = f._reader.raw("metadata")
        if raw.get("bCalibrated"):
            assert (cx, cy) == pytest.approx((vx, vy))
            assert cx > 0
        else:
            assert (cx, cy) == (0.0, 0.0) and (vx, vy) == (1.0, 1.0)
        if "Z" in f.sizes:
            assert cz == pytest.approx(vz) and cz > 0
        else:
            assert cz == 0.0
        steps = []
        for loop in f.experiment:
            if loop.type == "TimeLoop":
                p = loop.parameters
                steps = [p.periodDiff.avg if p.periodDiff.avg >= 0 else p.periodMs]
            elif loop.type == "NETimeLoop":
                per = {q.periodDiff.avg if q.periodDiff.avg >= 0 else q.periodMs for q in loop.parameters.periods}
                steps = [per.pop() if len(per) == 1 else 0.0]
        assert ct == pytest.approx(steps[0] if steps else 0.0)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_flags_match_attributes(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        a = f.attributes
        assert r.is3d == (f.sizes.get("Z", 1) > 1)
        assert r.isMono == (a.componentCount == 1)
        rgb = a.channelCount == 1 and a.componentCount == 3
        assert r.isRgb == rgb == ("S" in f.sizes and f.sizes.get("C", 1) == 1)
        assert r.is8bitRgb == (rgb and a.bitsPerComponentSignificant == 8)
        assert r.isFloat == (f.dtype.kind == "f") == (a.pixelDataType == "float")
        if path.name == "rgb8.nd2":
            # written by limnd2's writer: one plane that claims one component, while the
            # pixels hold three; limnd2's PictureMetadata.isRgb says False, Nd2Reader.isRgb
            # follows the pixels (deliberate difference)
            assert not r.pictureMetadata.isRgb and r.pictureMetadata.sPicturePlanes.uiCompCount == 1
            assert r.isRgb
        elif rgb:
            assert r.pictureMetadata.isRgb


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_rect_is_a_slice_of_the_full_frame(path: Path) -> None:
    with Nd2Reader(path) as r:
        h, w, _ = r.imageAttributes.shape
        last = r.imageAttributes.frameCount - 1
        full = np.asarray(r.image(last))
        for rect in [(0, 0, w, h), (w // 3, h // 4, max(1, w // 2), max(1, h // 2)),
                     (w - 1, h - 1, 5, 7), (1, 0, w + 10, 1)]:
            x, y, rw, rh = rect
            got = r.image(last, rect=rect)
            np.testing.assert_array_equal(got, full[y : y + rh, x : x + rw])
            assert got.shape == (min(y + rh, h) - y, min(x + rw, w) - x, r.imageAttributes.componentCount)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_downsample_level1_is_a_2x2_box_average(path: Path) -> None:
    with Nd2Reader(path) as r:
        attrs = r.imageAttributes
        full = np.asarray(r.image(0))
        got = r.image(0, downsample_level=1)
        assert got.shape == (attrs.height >> 1, attrs.width >> 1, attrs.componentCount)
        assert got.dtype == full.dtype
        np.testing.assert_array_equal(got, box_mean_once(full))
        if attrs.width >= 4 and attrs.height >= 4:
            np.testing.assert_array_equal(r.image(0, downsample_level=2), box_mean_once(box_mean_once(full)))
            # rect in level-1 pixels
            np.testing.assert_array_equal(r.image(0, rect=(1, 1, 2, 1), downsample_level=1),
                                          box_mean_once(full)[1:2, 1:3])


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_delayed_image_data_is_the_canonical_stack(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        shape = r.imageDataShape
        expected = np.zeros(shape, f.dtype)
        for i, li in enumerate(f.loop_indices):
            expected[li.get("T", 0), li.get("P", 0), li.get("Z", 0)] = stored_from_nd2file(f, i)
        d = r.delayedImageData()
        assert d.shape == shape and d.dtype == f.dtype
        if d.nbytes < (64 << 20):
            assert d.npartitions == 1  # several frames per chunk, not one task per frame
        np.testing.assert_array_equal(d.compute(), expected)
    assert r.closed
    np.testing.assert_array_equal(d.compute(), expected)  # after close
    d2 = pickle.loads(pickle.dumps(d))
    np.testing.assert_array_equal(d2.compute(), expected)  # after a pickle round trip


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids)
def test_metadata_structures(path: Path) -> None:
    with Nd2Reader(path) as r, ND2File(path) as f:
        pm = r.pictureMetadata
        assert pm.valid
        names = [c.channel.name for c in f.metadata.channels]
        assert [p.sDescription for p in pm.channels] == names
        assert len(pm.componentNames) == r.imageAttributes.componentCount or r.isRgb
        if pm.isRgb:
            assert pm.componentNames == ["Blue", "Green", "Red"]
        ti = r.imageTextInfo
        if f._reader.meta_chunk_name("text_info") in f._reader.chunkmap:
            assert ti is not None
            assert ti.sDescription == f.text_info.get("description", "")
            assert ti.to_dict()["description"] == ti.sDescription
        else:
            assert ti is None
        exp = r.experiment
        if exp is not None:
            assert exp.dimnames() == tuple(r.dimensionSizes())
            assert exp.shape() == tuple(r.dimensionSizes().values())


@pytest.mark.corpus
def test_rgb_image_is_stored_bgr() -> None:
    """``docs/format.md`` (``image_frame``): RGB planes are stored B, G, R; image() returns them as stored."""
    paths = [p for p in MODERN if p.name == "ndev-kit__ndevio__ND2_dims_rgb.nd2"]
    if not paths:
        pytest.skip("corpus not present")
    with Nd2Reader(paths[0]) as r, ND2File(paths[0]) as f:
        assert r.isRgb and r.is8bitRgb
        assert r.pictureMetadata.componentNames == ["Blue", "Green", "Red"]
        img = r.image(0)
        rgb = np.asarray(f.read_frame(0))  # R, G, B
        np.testing.assert_array_equal(img[..., ::-1], rgb)
        assert not np.array_equal(img, rgb)


# ---------------------------------------------------------------------------
# loops nested in another order than T -> M -> Z
# ---------------------------------------------------------------------------

ZTM = [("z", 3), ("t", 2), ("m", 2)]


@pytest.fixture()
def ztm_file(tmp_path: Path) -> Path:
    frames = numbered_frames(12, 3, 4, 2)
    p = tmp_path / "ztm.nd2"
    p.write_bytes(build_nd2(frames, ZTM))
    return p


def test_nested_z_t_m_places_frames_by_nesting_order(ztm_file: Path) -> None:
    frames = numbered_frames(12, 3, 4, 2)
    with Nd2Reader(ztm_file) as r, ND2File(ztm_file) as f:
        assert list(f.sizes)[:3] == ["Z", "T", "P"]  # ND2File follows the nesting
        assert r.imageDataShape == (2, 2, 3, 3, 4, 2)
        assert r.dimensionSizes() == {"z": 3, "t": 2, "m": 2}
        names: list[str] = []
        idx = r.generateLoopIndexes(dimnames=names)
        assert names == ["z", "t", "m"]
        assert idx[5] == (1, 0, 1)  # sequence 5 = z*4 + t*2 + m
        d = r.delayedImageData().compute()
        for z in range(3):
            for t in range(2):
                for m in range(2):
                    seq = z * 4 + t * 2 + m
                    np.testing.assert_array_equal(d[t, m, z], frames[seq])
                    np.testing.assert_array_equal(d[t, m, z], stored_from_nd2file(f, seq))
        # limnd2's T -> M -> Z reshape would put other frames there
        naive = np.stack([r.image(i) for i in range(12)]).reshape(r.imageDataShape)
        assert not np.array_equal(naive, d)
        assert r.imageDataCalibration == (250.0, 0.0, 0.5, 0.25, 0.25, 0.0)


def test_nested_z_t_m_agrees_with_nd2(ztm_file: Path) -> None:
    nd2 = pytest.importorskip("nd2")
    with nd2.ND2File(str(ztm_file)) as f, Nd2Reader(ztm_file) as r:
        assert list(f.sizes)[:3] == ["Z", "T", "P"]
        named = r.generateLoopIndexes(named=True)
        assert [{LOOP_AXIS[k]: v for k, v in d.items()} for d in named] == list(f.loop_indices)
        a = f.asarray()  # (Z, T, P, C, Y, X)
        d = r.delayedImageData().compute()  # (T, M, Z, Y, X, C)
        np.testing.assert_array_equal(np.moveaxis(a, 3, -1).transpose(1, 2, 0, 3, 4, 5), d)


def test_nested_m_z_t(tmp_path: Path) -> None:
    frames = numbered_frames(12, 2, 3, 1)
    p = tmp_path / "mzt.nd2"
    p.write_bytes(build_nd2(frames, [("m", 2), ("z", 3), ("t", 2)]))
    with Nd2Reader(p) as r:
        assert r.imageDataShape == (2, 2, 3, 2, 3, 1)
        d = r.delayedImageData().compute()
        for m in range(2):
            for z in range(3):
                for t in range(2):
                    np.testing.assert_array_equal(d[t, m, z], frames[m * 6 + z * 2 + t])


def test_single_plane_z_stack_is_not_3d(tmp_path: Path) -> None:
    p = tmp_path / "z1.nd2"
    p.write_bytes(build_nd2(numbered_frames(2, 2, 3, 1), [("t", 2), ("z", 1)]))
    with Nd2Reader(p) as r, ND2File(p) as f:
        assert "Z" not in f.sizes
        assert r.dimensionSizes() == {"t": 2, "z": 1}
        assert r.imageDataShape[:3] == (2, 1, 1)
        assert not r.is3d


def test_z_step_is_derived_from_the_range_like_limnd2(tmp_path: Path) -> None:
    """limnd2 ignores dZStep and derives the step from the range (a
    documented disagreement with nd2, which uses dZStep): 3 planes over 0..3 µm."""
    tree = _level(4, {"uiCount": 3, "dZLow": 0.0, "dZHigh": 3.0, "dZStep": 1.0, "dZHome": 0.0,
                      "iType": 0, "bZInverted": False}, None)
    p = tmp_path / "zinc.nd2"
    p.write_bytes(build_nd2(numbered_frames(3, 2, 2, 1), extra=[("ImageMetadataLV!", lv("SLxExperiment", tree))]))
    with Nd2Reader(p) as r, ND2File(p) as f:
        assert r.imageDataCalibration[2] == 1.5
        assert f.voxel_size().z == 1.0
        z = r.experiment.findLevel(4).uLoopPars
        assert (z.step, z.homeIndex, z.top, z.bottom) == (1.5, 1, 3.0, 0.0)


@pytest.mark.corpus
def test_z_step_around_home() -> None:
    """The real z-stack: symmetric around home (iType 2), home index from the distance."""
    paths = [p for p in MODERN if p.name.endswith("example-zstack.nd2")]
    if not paths:
        pytest.skip("corpus not present")
    with Nd2Reader(paths[0]) as r:
        z = r.experiment.findLevel(4).uLoopPars
        assert (z.iType, z.homeIndex, z.step) == (2, 5, 6.0)
        assert (z.top, z.bottom) == (30.0, -30.0)


# ---------------------------------------------------------------------------
# stored pyramid levels (``docs/format.md``, section ``downsampled_frame``)
# ---------------------------------------------------------------------------


def test_stored_downsampled_level_is_returned(tmp_path: Path) -> None:
    frames = numbered_frames(2, 6, 8, 2)
    stored = np.full((3, 4, 2), 4242, np.uint16)
    stored[..., 1] = 5151
    stored[2, 3, 0] = 7
    assert pow2_size(4, 3) == 4
    p = tmp_path / "ds.nd2"
    p.write_bytes(build_nd2(frames, [("t", 2)], extra=[pyramid_chunk(stored, 4, 0)]))
    with Nd2Reader(p) as r:
        got = r.image(0, downsample_level=1)
        np.testing.assert_array_equal(got, stored)
        assert not np.array_equal(got, box_mean_once(frames[0]))
        # frame 1 has no stored level: computed from the full frame
        np.testing.assert_array_equal(r.image(1, downsample_level=1), box_mean_once(frames[1]))
        # level 2 of frame 0 is reduced from the stored level 1
        np.testing.assert_array_equal(r.image(0, downsample_level=2), box_mean_once(stored))
        # a rect of level 2 read through the stored level 1
        np.testing.assert_array_equal(r.image(0, rect=(1, 0, 1, 1), downsample_level=2),
                                      box_mean_once(stored)[0:1, 1:2])
        # rect in level pixels, clipped
        np.testing.assert_array_equal(r.image(0, rect=(2, 1, 5, 5), downsample_level=1), stored[1:, 2:])
        # full resolution is unaffected
        np.testing.assert_array_equal(r.image(0), frames[0])
        with pytest.raises(UnexpectedCallError):
            r.chunk("CustomDataSeq|DownsampledColorData_4|0!")


def test_pyramid_chunk_size_is_power_of_two_of_the_level(tmp_path: Path) -> None:
    """1100×8 → level 1 is 550×4 → ``DownsampledColorData_1024``."""
    frames = (np.arange(2 * 8 * 1100) % 251).astype(np.uint8).reshape(2, 8, 1100, 1)
    good = np.full((4, 550, 1), 7, np.uint8)
    wrong = np.full((4, 550, 1), 9, np.uint8)
    p = tmp_path / "wide.nd2"
    p.write_bytes(build_nd2(frames, [("t", 2)],
                           extra=[pyramid_chunk(good, 1024, 0), pyramid_chunk(wrong, 2048, 1)]))
    with Nd2Reader(p) as r:
        assert r.imageAttributes.powSize == 2048 and r.imageAttributes.downsampleLevels == [1]
        np.testing.assert_array_equal(r.image(0, downsample_level=1), good)
        got1 = r.image(1, downsample_level=1)  # the _2048 chunk is not level 1
        np.testing.assert_array_equal(got1, box_mean_once(frames[1]))
        assert got1.shape == (4, 550, 1)


def test_float_levels_are_true_means(tmp_path: Path) -> None:
    frames = np.zeros((1, 2, 4, 1), np.float32)
    frames[0, 1, 1, 0] = 1.0
    frames[0, 0, 2:4, 0] = [0.5, 1.5]
    p = tmp_path / "f.nd2"
    p.write_bytes(build_nd2(frames))
    with Nd2Reader(p) as r:
        assert r.isFloat
        got = r.image(0, downsample_level=1)
        np.testing.assert_array_equal(got[:, :, 0], np.array([[0.25, 0.5]], np.float32))


def test_integer_levels_floor_each_step(tmp_path: Path) -> None:
    frames = np.array([[[1], [2], [2], [2]], [[2], [2], [2], [2]], [[3], [3], [1], [1]], [[3], [3], [1], [1]]],
                      np.uint8)[None]
    p = tmp_path / "i.nd2"
    p.write_bytes(build_nd2(frames))
    with Nd2Reader(p) as r:
        l1 = r.image(0, downsample_level=1)
        np.testing.assert_array_equal(l1[:, :, 0], [[1, 2], [3, 1]])  # 7//4 = 1
        np.testing.assert_array_equal(r.image(0, downsample_level=2)[:, :, 0], [[1]])  # (1+2+3+1)//4


# ---------------------------------------------------------------------------
# other members
# ---------------------------------------------------------------------------


def test_chunk_returns_payloads(tmp_path: Path) -> None:
    p = tmp_path / "c.nd2"
    p.write_bytes(build_nd2(numbered_frames(2, 2, 3, 1), [("t", 2)]))
    with Nd2Reader(p) as r, ND2File(p) as f:
        data = r.chunk(b"CustomData|AcqTimesCache!")
        np.testing.assert_array_equal(np.frombuffer(bytes(data), "<f8"), [0.0, 10.0])
        assert bytes(r.chunk("ImageAttributesLV!")) == bytes(f._reader.chunk_payload("ImageAttributesLV!"))
        assert r.chunk("CustomData|Nothing!") is None
        with pytest.raises(UnexpectedCallError):
            r.chunk("ImageDataSeq|0!")


def test_close_and_context_manager(tmp_path: Path) -> None:
    p = tmp_path / "c.nd2"
    p.write_bytes(build_nd2(numbered_frames(2, 2, 3, 1), [("t", 2)]))
    with Nd2Reader(p) as r:
        assert not r.closed
        shape = r.imageDataShape
        tiled = r.delayedImageData(tiling=(2, 1))
    assert r.closed
    assert r.imageDataShape == shape  # cached metadata stays readable
    with pytest.raises(ValueError):
        r.image(0)
    assert tiled.chunks[3:] == ((1, 1), (2, 1), (1,))
    np.testing.assert_array_equal(tiled.compute()[:, 0, 0], numbered_frames(2, 2, 3, 1))
    r2 = Nd2Reader(p)
    r2.finalize()
    assert r2.closed


def test_bad_arguments(tmp_path: Path) -> None:
    p = tmp_path / "c.nd2"
    p.write_bytes(build_nd2(numbered_frames(2, 2, 3, 1), [("t", 2)]))
    with Nd2Reader(p) as r:
        for bad in (-1, 1.0, True):
            with pytest.raises(ValueError):
                r.image(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            r.image(0, downsample_level=-1)
        with pytest.raises(ValueError):
            r.image(0, rect=(-1, 0, 1, 1))
        with pytest.raises(IndexError):
            r.image(5)
    with pytest.warns(UserWarning, match="ignores"):
        Nd2Reader(p, chunker_kwargs={"with_image_attributes": None}).close()


def test_missing_frame_reads_as_zeros(tmp_path: Path) -> None:
    frames = numbered_frames(3, 2, 3, 1)
    p = tmp_path / "gap.nd2"
    p.write_bytes(build_nd2(frames, [("t", 3)], drop=(1,)))
    with Nd2Reader(p) as r:
        with pytest.warns(UserWarning, match="missing"):
            np.testing.assert_array_equal(r.image(1), np.zeros_like(frames[1]))
        with pytest.warns(UserWarning, match="missing"):
            np.testing.assert_array_equal(r.image(1, rect=(1, 0, 2, 2)), np.zeros((2, 2, 1)))
        np.testing.assert_array_equal(r.image(2), frames[2])
        with pytest.warns(UserWarning, match="missing"):
            d = r.delayedImageData().compute()
        np.testing.assert_array_equal(d[:, 0, 0], [frames[0], np.zeros_like(frames[1]), frames[2]])


def test_file_object_and_bytes_sources(tmp_path: Path) -> None:
    data = build_nd2(numbered_frames(2, 2, 3, 1), [("t", 2)])
    frames = numbered_frames(2, 2, 3, 1)
    r = Nd2Reader(data)
    d = r.delayedImageData()
    r.close()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(d)).compute()[:, 0, 0], frames)
    with Nd2Reader(io.BytesIO(data)) as r:
        np.testing.assert_array_equal(r.image(1), frames[1])
        d = r.delayedImageData()
        np.testing.assert_array_equal(d.compute()[:, 0, 0], frames)
        with pytest.raises(TypeError):
            pickle.dumps(d)


def test_missing_picture_metadata_is_made_up(tmp_path: Path) -> None:
    p = tmp_path / "nometa.nd2"
    p.write_bytes(build_nd2(numbered_frames(1, 2, 3, 3, "uint8"), meta=False))
    with Nd2Reader(p) as r:
        pm = r.pictureMetadata
        assert pm.valid and pm.isRgb and pm.channelNames == ["RGB"]
        assert r.isRgb and r.is8bitRgb
        assert r.imageDataCalibration[3:5] == (0.0, 0.0)
        assert r.experiment is None and r.generateLoopIndexes() == []


def test_wellplate_adds_a_well_index(tmp_path: Path) -> None:
    import json
    import zlib

    info = [{"seqIndex": s, "wellIndex": s // 2, "wellName": "AB"[s // 2] + "1"} for s in range(4)]
    extra = [("CustomData|WellPlateDesc_0!", lv("PlateDesc", {"name": "6 well", "rows": 2, "columns": 3,
                                                              "rowNaming": "A-B", "columnNaming": "1-3"})),
             ("CustomData|WellPlateFrameInfoZJSON!", zlib.compress(json.dumps(info).encode()))]
    p = tmp_path / "wp.nd2"
    p.write_bytes(build_nd2(numbered_frames(4, 2, 2, 1), [("m", 4)], extra=extra))
    with Nd2Reader(p) as r:
        assert r.wellplateDesc.rows == 2 and r.wellplateFrameInfo.nwells == 2
        names: list[str] = []
        assert r.generateLoopIndexes(dimnames=names) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        assert names == ["w", "m"]
        assert r.generateLoopIndexes(named=True)[3] == {"w": 1, "m": 1}
        assert r.dimensionSizes() == {"m": 4}


def test_custom_loop_has_no_canonical_shape(tmp_path: Path) -> None:
    frames = numbered_frames(3, 2, 2, 1)
    tree = _level(7, {"uiCount": 3}, None)
    p = tmp_path / "custom.nd2"
    p.write_bytes(build_nd2(frames, extra=[("ImageMetadataLV!", lv("SLxExperiment", tree))]))
    with Nd2Reader(p) as r:
        assert "custom.nd2" in repr(r)
        with pytest.raises(NotImplementedError):
            _ = r.imageDataShape
        with pytest.raises(NotImplementedError):
            r.delayedImageData()
        np.testing.assert_array_equal(r.image(2), frames[2])
        assert r.dimensionSizes() == {"c": 3}


def test_exported_from_package() -> None:
    assert nd2kit.Nd2Reader is Nd2Reader
