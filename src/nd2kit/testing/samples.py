"""Synthetic ND2 files built with nd2kit's own codecs (demo, tests, benchmarks).

The files follow the writer rules of docs/format.md ("Alignment and padding"): Ver3.0,
LiteVariant metadata with the type codes limnd2 uses, a T→Z experiment, frames with
nameLen 4072 and 4-byte-rounded rows, and an AcqTimesCache. nd2 0.12 reads them
(checked in tests), which is what makes them useful as fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._generated.fast.nd2_container import ImageFrame as _frame_payload
from ..codecs import container
from ..codecs.lite_variant import LvRecord, LvType, encode
from ..codecs.xml_variant_build import encode_xml_variant
from ..model.pixels import PIXEL_TYPE_FLOAT, PIXEL_TYPE_SIGNED, PIXEL_TYPE_UNSIGNED, row_stride

__all__ = ["sample_frames", "sample_file_bytes", "write_sample_file"]

#: sample type -> (uiBpcInMemory, ePixelType)
_DTYPES = {np.dtype(np.uint8): (8, PIXEL_TYPE_UNSIGNED), np.dtype(np.uint16): (16, PIXEL_TYPE_UNSIGNED),
           np.dtype(np.int16): (16, PIXEL_TYPE_SIGNED), np.dtype(np.float32): (32, PIXEL_TYPE_FLOAT)}


def _rec(t: LvType, name: str, value: object) -> LvRecord:
    return LvRecord(int(t), name, value)


def _level(name: str, children: list[LvRecord]) -> LvRecord:
    return LvRecord(int(LvType.LEVEL), name, children)


def sample_frames(t: int, z: int, channels: int, height: int, width: int, dtype: str) -> np.ndarray:
    """Deterministic test pattern of shape (t*z, height, width, channels): frame ``n`` of a
    sample file holds ``sample_frames(n_frames, 1, components, ...)[n]`` whatever its loops."""
    dt = np.dtype(dtype)
    yy, xx = np.mgrid[0:height, 0:width]
    seq = np.arange(t * z)[:, None, None, None]
    ch = np.arange(channels)[None, None, None, :]
    img: np.ndarray = (xx[None, :, :, None] * 3 + yy[None, :, :, None] * 7 + seq * 101 + ch * 1009)
    if dt.kind == "f":
        out: np.ndarray = (img / 7.0).astype(dt)
        return out
    info = np.iinfo(dt)
    out = (img % (info.max - info.min + 1) + info.min).astype(dt)
    return out


def _attributes(width: int, height: int, comp: int, bits: int, sig: int, pixtype: int,
                seq: int, stride: int) -> LvRecord:
    u, i = LvType.UINT32, LvType.INT32
    return _level("SLxImageAttributes", [
        _rec(u, "uiWidth", width), _rec(u, "uiWidthBytes", stride), _rec(u, "uiHeight", height),
        _rec(u, "uiComp", comp), _rec(i, "uiBpcInMemory", bits), _rec(i, "uiBpcSignificant", sig),
        _rec(u, "uiSequenceCount", seq), _rec(u, "uiTileWidth", width),
        _rec(u, "uiTileHeight", height), _rec(i, "eCompression", 2),
        _rec(LvType.DOUBLE, "dCompressionParam", 0.0), _rec(i, "ePixelType", pixtype),
        _rec(u, "uiVirtualComponents", comp),
    ])


def _picture_metadata(channels: int, per_plane: int, names: list[str], calibration: float) -> LvRecord:
    colors = [0x0000FF, 0x00FF00, 0xFF0000, 0xFFFFFF]
    planes = []
    for c in range(channels):
        planes.append(_level(f"a{c}", [
            _rec(LvType.UINT32, "uiCompCount", per_plane),
            _rec(LvType.UINT32, "uiSampleIndex", 0),
            _rec(LvType.UINT64, "uiModalityMask", 0x2 if per_plane == 3 else 0x1),
            _level("pFluorescentProbe", [_rec(LvType.STRING, "m_sName", names[c])]),
            _rec(LvType.UINT32, "uiColor", 0xFFFFFF if per_plane == 3 else colors[c % len(colors)]),
            _rec(LvType.STRING, "sDescription", names[c]),
        ]))
    return _level("SLxPictureMetadata", [
        _rec(LvType.DOUBLE, "dTimeAbsolute", 2460000.5),
        _rec(LvType.BOOL, "bCalibrated", 1),
        _rec(LvType.DOUBLE, "dCalibration", calibration),
        _rec(LvType.DOUBLE, "dAspect", 1.0),
        _rec(LvType.STRING, "wsObjectiveName", "Plan Apo 20x"),
        _rec(LvType.DOUBLE, "dObjectiveMag", 20.0),
        _rec(LvType.DOUBLE, "dObjectiveNA", 0.75),
        _level("sPicturePlanes", [
            _rec(LvType.UINT32, "uiCount", channels),
            _rec(LvType.UINT32, "uiCompCount", channels * per_plane),
            _level("sPlaneNew", planes),
        ]),
    ])


def _loop(etype: int, count: int, pars: list[LvRecord], children: list[LvRecord],
          extra: list[LvRecord] | None = None) -> list[LvRecord]:
    return [
        _rec(LvType.UINT32, "eType", etype),
        _level("uLoopPars", [_rec(LvType.UINT32, "uiCount", count), *pars]),
        *(extra or []),
        _rec(LvType.UINT32, "uiNextLevelCount", 1 if children else 0),
        _level("ppNextLevelEx", [_level("", children)] if children else []),
    ]


#: ``eType`` of the loops the samples can nest (format reference: experiment loops)
_LOOP_TYPES = {"T": 1, "M": 2, "Z": 4}


def _loop_pars(axis: str, count: int, period_ms: float, z_step: float) -> tuple[list[LvRecord], list[LvRecord]]:
    """(uLoopPars entries after uiCount, records after uLoopPars) of one loop."""
    d, b = LvType.DOUBLE, LvType.BOOL
    if axis == "T":
        return [_rec(d, "dStart", 0.0), _rec(d, "dPeriod", period_ms), _rec(d, "dDuration", 0.0),
                _rec(d, "dMinPeriodDiff", 0.0), _rec(d, "dMaxPeriodDiff", 0.0),
                _rec(d, "dAvgPeriodDiff", period_ms)], []
    if axis == "Z":
        return [_rec(d, "dZLow", 0.0), _rec(d, "dZHigh", z_step * (count - 1)),
                _rec(d, "dZStep", z_step), _rec(d, "dZHome", 0.0), _rec(b, "bAbsolute", 0),
                _rec(LvType.INT32, "iType", 0), _rec(b, "bZInverted", 0)], []
    points = [_level("", [_rec(d, "dPosX", 100.0 * k), _rec(d, "dPosY", -50.0 * k),
                          _rec(d, "dPosZ", 5.0), _rec(d, "dPFSOffset", -1.0),
                          _rec(LvType.STRING, "dPosName", f"pos{k}")]) for k in range(count)]
    return ([_rec(b, "bUseZ", 1), _rec(b, "bRelativeXY", 0), _level("Points", points)],
            [_rec(LvType.BYTE_ARRAY, "pItemValid", bytes([1]) * count)])


def _experiment(loops: list[tuple[str, int]], period_ms: float, z_step: float) -> LvRecord:
    """``SLxExperiment`` nesting `loops` outer → inner."""
    children: list[LvRecord] = []
    for axis, count in reversed(loops):
        pars, extra = _loop_pars(axis, count, period_ms, z_step)
        children = _loop(_LOOP_TYPES[axis], count, pars, children, extra)
    return _level("SLxExperiment", children)


def _text_info(description: str) -> LvRecord:
    return _level("SLxImageTextInfo", [
        _rec(LvType.STRING, "TextInfoItem_5", description),
        _rec(LvType.STRING, "TextInfoItem_9", "nd2kit sample"),
    ])


def _loops_of(order: str, counts: dict[str, int]) -> list[tuple[str, int]]:
    if sorted(order) != sorted(set(order)) or not set(order) <= set(_LOOP_TYPES):
        raise ValueError(f"loops must be an ordering of distinct letters from 'TMZ', got {order!r}")
    missing = [a for a, n in counts.items() if n > 1 and a not in order]
    if missing:
        raise ValueError(f"loops {order!r} does not place axis {missing[0]} (count {counts[missing[0]]})")
    return [(a, counts[a]) for a in order if counts.get(a, 1) > 1]


def sample_file_bytes(*, t: int = 3, z: int = 2, m: int = 1, channels: int = 2, rgb: bool = False,
                      height: int = 64, width: int = 80, dtype: str = "uint16",
                      significant_bits: int | None = None, loops: str = "TMZ",
                      period_ms: float = 250.0, z_step: float = 0.5,
                      calibration: float = 0.325, version: str = "3.0") -> bytes:
    """Return the bytes of a complete sample file.

    Parameters
    ----------
    t, m, z : int
        Sizes of a TimeLoop, an XYPosLoop (`m` named stage positions) and a ZStackLoop
        (1 = no such loop).
    loops : str
        Nesting order of the loops, outer → inner (``"TMZ"`` as NIS nests them by
        default; e.g. ``"ZT"`` puts Z outside T). Frames are stored in this order.
    channels : int
        Interleaved mono planes (channels), or with `rgb` the number of RGB planes (1).
    rgb : bool
        Each channel is 3 interleaved components (an RGB camera's planes).
    height, width : int
        Frame size; rows are padded to 4 bytes as NIS writes them.
    dtype : {"uint8", "uint16", "int16", "float32"}
        Sample type (``int16`` is stored with ``ePixelType`` 0, signed).
    version : {"3.0", "2.0"}
        3.0 writes LiteVariant metadata chunks (``…LV!``); 2.0 the XML variant
        (``ImageAttributes!`` …), as NIS-Elements 3.x wrote them.
    """
    dt = np.dtype(dtype)
    if dt not in _DTYPES:
        raise ValueError(f"dtype {dtype} is not one a writer should produce (u8, u16, i16, f32)")
    if version not in ("3.0", "2.0"):
        raise ValueError(f"version must be '3.0' or '2.0', got {version!r}")
    bits, pixtype = _DTYPES[dt]
    sig = significant_bits or (12 if dt == np.uint16 else bits)
    per_plane = 3 if rgb else 1
    comp = channels * per_plane
    stride = row_stride(width, comp, dt.itemsize)
    levels = _loops_of(loops, {"T": t, "M": m, "Z": z})
    seq = int(np.prod([n for _, n in levels], dtype=np.int64)) if levels else 1
    frames = sample_frames(seq, 1, comp, height, width, dtype)
    names = ["DAPI", "GFP", "mCherry", "Cy5"] + [f"Ch{k}" for k in range(4, channels)]
    if rgb:
        names = ["Brightfield"] + names[1:]
    trees = {
        "attributes": _attributes(width, height, comp, bits, sig, pixtype, seq, stride),
        "metadata": _picture_metadata(channels, per_plane, names[:channels], calibration),
        "text_info": _text_info(f"sample {loops} T{t} M{m} Z{z} C{channels} {width}x{height} {dtype}"),
    }
    if levels:
        trees["experiment"] = _experiment(levels, period_ms, z_step)
    lv = version == "3.0"
    chunk_names = {"attributes": ("ImageAttributesLV!", "ImageAttributes!"),
                   "metadata": ("ImageMetadataSeqLV|0!", "ImageMetadataSeq|0!"),
                   "text_info": ("ImageTextInfoLV!", "ImageTextInfo!"),
                   "experiment": ("ImageMetadataLV!", "ImageMetadata!")}
    chunks: list[tuple[str, bytes] | tuple[str, bytes, int]] = [
        (chunk_names[kind][0 if lv else 1], encode(tree) if lv else encode_xml_variant(tree))
        for kind, tree in trees.items()
    ]
    inner_z = levels[-1][0] == "Z" if levels else False
    times = np.arange(seq, dtype="<f8") * (period_ms / (z if inner_z else 1))
    chunks.append(("CustomData|AcqTimesCache!", times.tobytes()))
    row_bytes = width * comp * dt.itemsize
    for n in range(seq):
        rows = np.zeros((height, stride), np.uint8)
        rows[:, :row_bytes] = frames[n].astype(dt.newbyteorder("<")).view(np.uint8).reshape(height, row_bytes)
        frame = _frame_payload(timestamp=float(times[n]), pixels=rows.tobytes(), zlib_stream=None,
                               height=height, width_bytes=stride, compressed=False)
        chunks.append((f"ImageDataSeq|{n}!", frame.to_bytes(), 8))
    return container.build_file(chunks, version=f"Ver{version}")


def write_sample_file(path: str | os.PathLike[str], **kwargs: object) -> Path:
    """Write :func:`sample_file_bytes` to `path` (parent folders are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(sample_file_bytes(**kwargs))  # type: ignore[arg-type]
    return p
