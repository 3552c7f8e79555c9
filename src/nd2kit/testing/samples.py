"""Synthetic ND2 files built with nd2kit's own codecs (demo, tests, benchmarks).

The files follow the writer checklist of the format notes (§8.1/§8.3): Ver3.0,
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

__all__ = ["sample_frames", "sample_file_bytes", "write_sample_file"]

_DTYPES = {np.dtype(np.uint8): (8, 1), np.dtype(np.uint16): (16, 1), np.dtype(np.float32): (32, 2)}


def _rec(t: LvType, name: str, value: object) -> LvRecord:
    return LvRecord(int(t), name, value)


def _level(name: str, children: list[LvRecord]) -> LvRecord:
    return LvRecord(int(LvType.LEVEL), name, children)


def sample_frames(t: int, z: int, channels: int, height: int, width: int, dtype: str) -> np.ndarray:
    """Deterministic test pattern of shape (t*z, height, width, channels)."""
    dt = np.dtype(dtype)
    yy, xx = np.mgrid[0:height, 0:width]
    seq = np.arange(t * z)[:, None, None, None]
    ch = np.arange(channels)[None, None, None, :]
    img = (xx[None, :, :, None] * 3 + yy[None, :, :, None] * 7 + seq * 101 + ch * 1009)
    if dt.kind == "f":
        return (img / 7.0).astype(dt)
    return (img % (np.iinfo(dt).max + 1)).astype(dt)


def _attributes(width: int, height: int, comp: int, bits: int, sig: int, pixtype: int,
                seq: int, stride: int) -> bytes:
    u, i = LvType.UINT32, LvType.INT32
    root = _level("SLxImageAttributes", [
        _rec(u, "uiWidth", width), _rec(u, "uiWidthBytes", stride), _rec(u, "uiHeight", height),
        _rec(u, "uiComp", comp), _rec(i, "uiBpcInMemory", bits), _rec(i, "uiBpcSignificant", sig),
        _rec(u, "uiSequenceCount", seq), _rec(u, "uiTileWidth", width),
        _rec(u, "uiTileHeight", height), _rec(i, "eCompression", 2),
        _rec(LvType.DOUBLE, "dCompressionParam", 0.0), _rec(i, "ePixelType", pixtype),
        _rec(u, "uiVirtualComponents", comp),
    ])
    return encode(root)


def _picture_metadata(channels: int, names: list[str], calibration: float) -> bytes:
    colors = [0x0000FF, 0x00FF00, 0xFF0000, 0xFFFFFF]
    planes = []
    for c in range(channels):
        planes.append(_level(f"a{c}", [
            _rec(LvType.UINT32, "uiCompCount", 1),
            _rec(LvType.UINT32, "uiSampleIndex", 0),
            _rec(LvType.UINT64, "uiModalityMask", 0x1),
            _level("pFluorescentProbe", [_rec(LvType.STRING, "m_sName", names[c])]),
            _rec(LvType.UINT32, "uiColor", colors[c % len(colors)]),
            _rec(LvType.STRING, "sDescription", names[c]),
        ]))
    root = _level("SLxPictureMetadata", [
        _rec(LvType.DOUBLE, "dTimeAbsolute", 2460000.5),
        _rec(LvType.BOOL, "bCalibrated", 1),
        _rec(LvType.DOUBLE, "dCalibration", calibration),
        _rec(LvType.DOUBLE, "dAspect", 1.0),
        _rec(LvType.STRING, "wsObjectiveName", "Plan Apo 20x"),
        _rec(LvType.DOUBLE, "dObjectiveMag", 20.0),
        _rec(LvType.DOUBLE, "dObjectiveNA", 0.75),
        _level("sPicturePlanes", [
            _rec(LvType.UINT32, "uiCount", channels),
            _rec(LvType.UINT32, "uiCompCount", channels),
            _level("sPlaneNew", planes),
        ]),
    ])
    return encode(root)


def _loop(etype: int, count: int, pars: list[LvRecord], children: list[LvRecord]) -> list[LvRecord]:
    return [
        _rec(LvType.UINT32, "eType", etype),
        _level("uLoopPars", [_rec(LvType.UINT32, "uiCount", count), *pars]),
        _rec(LvType.UINT32, "uiNextLevelCount", len(children)),
        _level("ppNextLevelEx", [_level("", c) for c in children] if children else []),
    ]


def _experiment(t: int, z: int, period_ms: float, z_step: float) -> bytes:
    zloop = _loop(4, z, [
        _rec(LvType.DOUBLE, "dZLow", 0.0), _rec(LvType.DOUBLE, "dZHigh", z_step * (z - 1)),
        _rec(LvType.DOUBLE, "dZStep", z_step), _rec(LvType.DOUBLE, "dZHome", 0.0),
        _rec(LvType.BOOL, "bAbsolute", 0), _rec(LvType.INT32, "iType", 0),
        _rec(LvType.BOOL, "bZInverted", 0),
    ], [])
    levels: list[list[LvRecord]] = []
    if t > 1:
        tloop = _loop(1, t, [
            _rec(LvType.DOUBLE, "dStart", 0.0), _rec(LvType.DOUBLE, "dPeriod", period_ms),
            _rec(LvType.DOUBLE, "dDuration", 0.0), _rec(LvType.DOUBLE, "dMinPeriodDiff", 0.0),
            _rec(LvType.DOUBLE, "dMaxPeriodDiff", 0.0), _rec(LvType.DOUBLE, "dAvgPeriodDiff", 0.0),
        ], [zloop] if z > 1 else [])
        levels.append(tloop)
    elif z > 1:
        levels.append(zloop)
    return encode(_level("SLxExperiment", levels[0] if levels else []))


def _text_info(description: str) -> bytes:
    return encode(_level("SLxImageTextInfo", [
        _rec(LvType.STRING, "TextInfoItem_5", description),
        _rec(LvType.STRING, "TextInfoItem_9", "nd2kit sample"),
    ]))


def sample_file_bytes(*, t: int = 3, z: int = 2, channels: int = 2, height: int = 64,
                      width: int = 80, dtype: str = "uint16", significant_bits: int | None = None,
                      period_ms: float = 250.0, z_step: float = 0.5,
                      calibration: float = 0.325) -> bytes:
    """Return the bytes of a complete Ver3.0 sample file.

    Parameters
    ----------
    t, z : int
        Sizes of a TimeLoop and a ZStackLoop nested T→Z (1 = no loop).
    channels, height, width : int
        Image geometry; channels are interleaved components (mono planes).
    dtype : {"uint8", "uint16", "float32"}
        Sample type.
    """
    dt = np.dtype(dtype)
    if dt not in _DTYPES:
        raise ValueError(f"dtype {dtype} is not one a writer should produce (u8, u16, f32)")
    bits, pixtype = _DTYPES[dt]
    sig = significant_bits or (12 if bits == 16 else bits)
    stride = -(-(width * channels * dt.itemsize) // 4) * 4
    seq = t * z
    frames = sample_frames(t, z, channels, height, width, dtype)
    names = ["DAPI", "GFP", "mCherry", "Cy5"] + [f"Ch{k}" for k in range(4, channels)]
    chunks: list[tuple[str, bytes] | tuple[str, bytes, int]] = [
        ("ImageAttributesLV!", _attributes(width, height, channels, bits, sig, pixtype, seq, stride)),
        ("ImageMetadataSeqLV|0!", _picture_metadata(channels, names[:channels], calibration)),
        ("ImageTextInfoLV!", _text_info(f"sample T{t} Z{z} C{channels} {width}x{height} {dtype}")),
    ]
    if seq > 1:
        chunks.append(("ImageMetadataLV!", _experiment(t, z, period_ms, z_step)))
    times = np.arange(seq, dtype="<f8") * (period_ms / max(z, 1))
    chunks.append(("CustomData|AcqTimesCache!", times.tobytes()))
    row_bytes = width * channels * dt.itemsize
    for n in range(seq):
        rows = np.zeros((height, stride), np.uint8)
        rows[:, :row_bytes] = frames[n].astype(dt.newbyteorder("<")).view(np.uint8).reshape(height, row_bytes)
        frame = _frame_payload(timestamp=float(times[n]), pixels=rows.tobytes(), zlib_stream=None,
                               height=height, width_bytes=stride, compressed=False)
        chunks.append((f"ImageDataSeq|{n}!", frame.to_bytes(), 8))
    return container.build_file(chunks)


def write_sample_file(path: str | os.PathLike[str], **kwargs: object) -> Path:
    """Write :func:`sample_file_bytes` to `path` (parent folders are created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(sample_file_bytes(**kwargs))  # type: ignore[arg-type]
    return p
