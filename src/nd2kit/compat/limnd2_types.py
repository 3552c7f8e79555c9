"""Lightweight structures of the limnd2-compatible layer (:class:`nd2kit.Nd2Reader`).

limnd2 (Laboratory Imaging's reader, 0.3) returns its own frozen dataclasses from
``Nd2Reader``. The classes here carry the same attribute names (camelCase, as in
the ``SLx...`` records of the file) and the derived properties code written for
limnd2 relies on, so that such code keeps working with nd2kit. They are built from
the raw decoded chunks (the reader protocol's ``raw``) by the ``from_raw``
constructors, which, unlike limnd2's strict dataclasses, never raise on unknown or
missing keys: unknown keys are ignored and missing ones take limnd2's defaults.

Only the structures the reader core needs are modelled in depth; deeply nested
descriptive records (filter paths, spectra, sample settings, sub-loops) are kept as
the raw decoded mappings.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import numpy as np

from ..codecs.custom_data import decode_zipped_json
from ..model._coerce import as_float as _num
from ..model._coerce import as_int as _int
from ..model._coerce import as_mapping as _mapping
from ..model._coerce import as_str as _str
from ..model.attributes import attribute_ints
from ..model.experiment import home_index, validity_flags
from ..model.metadata import modality_mask
from ..model.pixels import pixel_dtype, row_stride

__all__ = [
    "ImageAttributes",
    "ImageAttributesCompression",
    "ImageAttributesPixelType",
    "ImageTextInfo",
    "PictureMetadata",
    "PictureMetadataPicturePlanes",
    "PicturePlaneDesc",
    "FluorescentProbe",
    "ExperimentLoopType",
    "ExperimentLoop",
    "ExperimentTimeLoop",
    "ExperimentNETimeLoop",
    "ExperimentXYPosLoop",
    "ExperimentXYPosLoopPoint",
    "ExperimentZStackLoop",
    "ExperimentSpectralLoop",
    "ExperimentLevel",
    "WellplateDesc",
    "WellplateFrameInfo",
    "WellplateFrameInfoItem",
    "UnexpectedCallError",
    "MIN_DOWNSAMPLED_SIZE",
    "pow2_size",
]

#: Pyramid levels are stored while the power-of-two size of a level exceeds this.
MIN_DOWNSAMPLED_SIZE = 512

_LIST_ITEM = re.compile(r"i\d{10}\Z")
_TRAILING_NUMBER = re.compile(r"\D*(\d+)\Z")


class UnexpectedCallError(ValueError):
    """A method was asked for something it does not serve (e.g. ``chunk()`` for a
    frame chunk, which ``image()`` reads)."""


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------










def _items(value: Any) -> list[Any]:
    """Values of a decoded list (``i0000000000`` keys, ``a0`` / ``_00`` keys or a list)
    in item order (by trailing number, so ``a10`` follows ``a9``)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, Mapping) or not value:
        return []
    keys = list(value)
    nums = [_TRAILING_NUMBER.match(str(k)) for k in keys]
    if all(nums):
        key = [(int(m.group(1)), str(k)) for m, k in zip(nums, keys)]  # type: ignore[union-attr]
        order = sorted(range(len(keys)), key=key.__getitem__)
        return [value[keys[i]] for i in order]
    return [value[k] for k in keys]


def _unwrap_pars(value: Any) -> Mapping[str, Any]:
    """``uLoopPars`` of version 2 files is wrapped in a one-item list."""
    levels = _mapping(value)
    if len(levels) == 1:
        (key,) = levels
        if _LIST_ITEM.match(str(key)) and isinstance(levels[key], Mapping):
            return cast("Mapping[str, Any]", levels[key])
    return levels


def _flags_bytes(value: Any) -> bytes | None:
    flags = validity_flags(value)
    return None if flags is None else bytes(int(f) for f in flags)


def pow2_size(*dims: int) -> int:
    """Smallest power of two that is >= the largest of `dims` (1 for sizes <= 1).

    This is the ``<S>`` in the chunk name ``CustomDataSeq|DownsampledColorData_<S>|N!``
    of a pyramid level (docs/format.md, custom_data).
    """
    target = max(dims) if dims else 0
    if target <= 1:
        return 1
    return 1 << (int(target) - 1).bit_length()


# ---------------------------------------------------------------------------
# image attributes
# ---------------------------------------------------------------------------


class ImageAttributesCompression(enum.IntEnum):
    """``eCompression``: 0 lossless (zlib), 1 lossy (unknown codec), 2 none."""

    ictLossLess = 0
    ictLossy = 1
    ictNone = 2


class ImageAttributesPixelType(enum.IntEnum):
    """``ePixelType``: 0 signed, 1 unsigned, 2 floating point."""

    pxtSigned = 0
    pxtUnsigned = 1
    pxtReal = 2


def _enum(cls: type[enum.IntEnum], value: Any, default: enum.IntEnum) -> Any:
    try:
        return cls(int(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return default if value is None else _int(value, int(default))


@dataclass(frozen=True, kw_only=True)
class ImageAttributes:
    """``SLxImageAttributes``: frame geometry, sample type, compression, frame count.

    Attributes
    ----------
    uiWidth, uiHeight : int
        Frame size in pixels.
    uiWidthBytes : int
        Bytes per stored row (rows are padded, usually to 4 bytes).
    uiComp : int
        Interleaved components per pixel (all channels, RGB counted as 3).
    uiBpcInMemory, uiBpcSignificant : int
        Bits per component in memory (8, 16, 32) and significant bits.
    uiSequenceCount : int
        Number of frames (``ImageDataSeq|N!`` chunks).
    uiTileWidth, uiTileHeight : int
        Tile size (equal to the frame size in practice).
    eCompression : ImageAttributesCompression
    dCompressionParam : float
    ePixelType : ImageAttributesPixelType
        When the file has no ``ePixelType``, :meth:`from_raw` derives it the way
        both readers agree on (32 bits -> float, else unsigned).
    uiVirtualComponents : int
    """

    uiWidth: int = 0
    uiWidthBytes: int = 0
    uiHeight: int = 0
    uiComp: int = 0
    uiBpcInMemory: int = 0
    uiBpcSignificant: int = 0
    uiSequenceCount: int = 0
    uiTileWidth: int = 0
    uiTileHeight: int = 0
    eCompression: ImageAttributesCompression = ImageAttributesCompression.ictNone
    dCompressionParam: float = 0.0
    ePixelType: ImageAttributesPixelType = ImageAttributesPixelType.pxtUnsigned
    uiVirtualComponents: int = 0

    MinDownsampledSize: ClassVar[int] = MIN_DOWNSAMPLED_SIZE

    def __post_init__(self) -> None:
        object.__setattr__(self, "eCompression",
                           _enum(ImageAttributesCompression, self.eCompression,
                                 ImageAttributesCompression.ictNone))
        object.__setattr__(self, "ePixelType",
                           _enum(ImageAttributesPixelType, self.ePixelType,
                                 ImageAttributesPixelType.pxtUnsigned))

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], *, chunk: str | None = None,
                 offset: int | None = None) -> ImageAttributes:
        """Build from a decoded ``SLxImageAttributes`` mapping (unknown keys ignored).

        Integer values are checked for type and range
        (:func:`nd2kit.model.attributes.attribute_ints`): a bad one raises
        :class:`~nd2kit.errors.CorruptChunkError` naming `chunk`, the field and `offset`.
        """
        raw = _mapping(raw)
        ints = ("uiWidth", "uiWidthBytes", "uiHeight", "uiComp", "uiBpcInMemory",
                "uiBpcSignificant", "uiSequenceCount", "uiTileWidth", "uiTileHeight",
                "uiVirtualComponents")
        checked = attribute_ints(raw, chunk=chunk, offset=offset)
        kw: dict[str, Any] = {k: checked.get(k, 0) for k in ints if k in raw}
        if "eCompression" in checked:
            kw["eCompression"] = checked["eCompression"]
        kw["dCompressionParam"] = _num(raw.get("dCompressionParam", 0.0), 0.0)
        if "ePixelType" in checked:
            kw["ePixelType"] = checked["ePixelType"]
        else:
            kw["ePixelType"] = 2 if kw.get("uiBpcInMemory") == 32 else 1
        return cls(**kw)

    @staticmethod
    def calcWidthBytes(width: int, bits: int, comps: int) -> int:
        """Row stride limnd2 (and NIS) write: bytes of a row rounded up to 4."""
        return row_stride(width, comps, (bits + 7) // 8)

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self.uiWidth

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self.uiHeight

    @property
    def componentCount(self) -> int:
        """Components per pixel (``uiComp``)."""
        return self.uiComp

    @property
    def widthBytes(self) -> int:
        """Bytes per stored row."""
        return self.uiWidthBytes

    @property
    def imageBytes(self) -> int:
        """Bytes of one stored frame (rows with their padding)."""
        return self.uiWidthBytes * self.uiHeight

    @property
    def componentBytes(self) -> int:
        """Bytes per component."""
        return self.uiBpcInMemory // 8

    @property
    def pixelBytes(self) -> int:
        """Bytes per pixel (all components)."""
        return self.componentBytes * self.uiComp

    @property
    def dtype(self) -> type:
        """numpy scalar type of one component (e.g. ``numpy.uint16``)."""
        return pixel_dtype(self.uiBpcInMemory, int(self.ePixelType)).type

    @property
    def safe_dtype(self) -> type:
        """A type wide enough for sums of a few components (int32 / float32)."""
        return np.float32 if self.ePixelType == ImageAttributesPixelType.pxtReal else np.int32

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(height, width, components)`` of one frame."""
        return (self.uiHeight, self.uiWidth, self.uiComp)

    @property
    def strides(self) -> tuple[int, int, int]:
        """numpy strides of a stored frame: row stride, pixel size, component size."""
        return (self.widthBytes, self.pixelBytes, self.componentBytes)

    @property
    def frameCount(self) -> int:
        """Number of frames (``uiSequenceCount``)."""
        return self.uiSequenceCount

    @property
    def powSize(self) -> int:
        """Smallest power of two >= max(width, height)."""
        return pow2_size(self.uiWidth, self.uiHeight)

    @property
    def powSizeBase(self) -> int:
        """Exponent of :attr:`powSize`."""
        return self.powSize.bit_length() - 1

    @property
    def downsampleLevels(self) -> list[int]:
        """Pyramid levels a writer stores for this size (levels while size/2^L > 512)."""
        out, level, p = [], 1, self.powSize // 2
        while p > MIN_DOWNSAMPLED_SIZE:
            out.append(level)
            p //= 2
            level += 1
        return out

    def makeDownsampled(self, downsample_level: int = 1) -> ImageAttributes:
        """Attributes of pyramid level `downsample_level` (size ``w >> L, h >> L``,
        same components and sample type, rows rounded to 4 bytes)."""
        if downsample_level < 0:
            raise ValueError(f"downsample_level must be >= 0, got {downsample_level}")
        if downsample_level == 0:
            return self
        w = self.uiWidth >> downsample_level
        h = self.uiHeight >> downsample_level
        wb = row_stride(w, self.uiComp, self.componentBytes)
        return ImageAttributes(uiWidth=w, uiWidthBytes=wb, uiHeight=h, uiComp=self.uiComp,
                               uiBpcInMemory=self.uiBpcInMemory,
                               uiBpcSignificant=self.uiBpcSignificant,
                               uiSequenceCount=self.uiSequenceCount, ePixelType=self.ePixelType)


# ---------------------------------------------------------------------------
# picture metadata
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FluorescentProbe:
    """``pFluorescentProbe`` of a plane (spectra kept as raw mappings)."""

    m_sName: str = ""
    m_uiColor: int = 0xFFFFFF
    m_ExcitationSpectrum: Mapping[str, Any] = field(default_factory=dict)
    m_EmissionSpectrum: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: Any) -> FluorescentProbe:
        raw = _mapping(raw)
        return cls(m_sName=_str(raw.get("m_sName")),
                   m_uiColor=_int(raw.get("m_uiColor", 0xFFFFFF), 0xFFFFFF),
                   m_ExcitationSpectrum=_mapping(raw.get("m_ExcitationSpectrum")),
                   m_EmissionSpectrum=_mapping(raw.get("m_EmissionSpectrum")))


@dataclass(frozen=True, kw_only=True)
class PicturePlaneDesc:
    """One plane (channel) of ``sPicturePlanes``.

    ``uiColor`` is ``0x00BBGGRR`` (red in the low byte). For version 2 files the
    ``eModality`` enum is converted to ``uiModalityMask``.
    """

    uiCompCount: int = 1
    uiSampleIndex: int = 0
    dObjCalibration1to1: float = 0.0
    uiModalityMask: int = 0x1
    pFluorescentProbe: FluorescentProbe = field(default_factory=FluorescentProbe)
    pFilterPath: Mapping[str, Any] = field(default_factory=dict)
    dLampVoltage: float = 0.0
    dFadingCorr: float = 0.0
    uiColor: int = 0xFF6A02
    sDescription: str = ""
    dAcqTime: float = 0.0
    dPinholeDiameter: float = -1.0
    iChannelSeriesIndex: int = -1
    iCapturedPlaneIndex: int = -1
    sizeObjFullChip_cx: int = 0
    sizeObjFullChip_cy: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> PicturePlaneDesc:
        raw = _mapping(raw)
        return cls(
            uiCompCount=_int(raw.get("uiCompCount", 1), 1),
            uiSampleIndex=_int(raw.get("uiSampleIndex", 0), 0),
            dObjCalibration1to1=_num(raw.get("dObjCalibration1to1", 0.0), 0.0),
            uiModalityMask=modality_mask(raw),
            pFluorescentProbe=FluorescentProbe.from_raw(raw.get("pFluorescentProbe")),
            pFilterPath=_mapping(raw.get("pFilterPath")),
            dLampVoltage=_num(raw.get("dLampVoltage", 0.0), 0.0),
            dFadingCorr=_num(raw.get("dFadingCorr", 0.0), 0.0),
            uiColor=_int(raw.get("uiColor", 0xFF6A02), 0xFF6A02),
            sDescription=_str(raw.get("sDescription")),
            dAcqTime=_num(raw.get("dAcqTime", 0.0), 0.0),
            dPinholeDiameter=_num(raw.get("dPinholeDiameter", -1.0), -1.0),
            iChannelSeriesIndex=_int(raw.get("iChannelSeriesIndex", -1), -1),
            iCapturedPlaneIndex=_int(raw.get("iCapturedPlaneIndex", -1), -1),
            sizeObjFullChip_cx=_int(raw.get("sizeObjFullChip.cx", 0), 0),
            sizeObjFullChip_cy=_int(raw.get("sizeObjFullChip.cy", 0), 0),
        )

    @property
    def colorAsTuple(self) -> tuple[int, int, int]:
        """Display colour as ``(r, g, b)`` in 0..255."""
        c = self.uiColor
        return (c & 0xFF, (c >> 8) & 0xFF, (c >> 16) & 0xFF)

    @property
    def colorAsClampedTuple(self) -> tuple[float, float, float]:
        """Display colour as ``(r, g, b)`` in 0..1."""
        r, g, b = self.colorAsTuple
        return (r / 255.0, g / 255.0, b / 255.0)

    @property
    def colorAsHtmlString(self) -> str:
        """Display colour as ``#rrggbb``."""
        r, g, b = self.colorAsTuple
        return f"#{r:02x}{g:02x}{b:02x}"


@dataclass(frozen=True, kw_only=True)
class PictureMetadataPicturePlanes:
    """``sPicturePlanes``: the planes (channels) and their sample settings."""

    uiCount: int = 0
    uiCompCount: int = 0
    sPlaneNew: list[PicturePlaneDesc] = field(default_factory=list)
    uiSampleCount: int = 0
    sSampleSetting: list[Mapping[str, Any]] = field(default_factory=list)
    sDescription: str = ""
    eRepresentation: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> PictureMetadataPicturePlanes:
        raw = _mapping(raw)
        planes = raw.get("sPlaneNew")
        if not planes:
            planes = raw.get("sPlane")  # version 2 (XML) files
        return cls(
            uiCount=_int(raw.get("uiCount", 0), 0),
            uiCompCount=_int(raw.get("uiCompCount", 0), 0),
            sPlaneNew=[PicturePlaneDesc.from_raw(p) for p in _items(planes)],
            uiSampleCount=_int(raw.get("uiSampleCount", 0), 0),
            sSampleSetting=[_mapping(s) for s in _items(raw.get("sSampleSetting"))],
            sDescription=_str(raw.get("sDescription")),
            eRepresentation=_int(raw.get("eRepresentation", 0), 0),
        )

    @property
    def valid(self) -> bool:
        """At least one plane, no more planes than components, count matching the list."""
        return 0 < self.uiCount <= self.uiCompCount and self.uiCount == len(self.sPlaneNew)

    @classmethod
    def made_valid(cls, comps: int) -> PictureMetadataPicturePlanes:
        """Planes made up from a component count, as limnd2 does for a file without
        usable planes: one "Mono" plane (1), one "RGB" plane (3), else one plane per
        component named ``Channel_<n>``."""
        if comps in (1, 3):
            planes = [PicturePlaneDesc(uiCompCount=comps, uiModalityMask=0x2 if comps == 3 else 0x1,
                                       sDescription="RGB" if comps == 3 else "Mono")]
        else:
            planes = [PicturePlaneDesc(uiCompCount=1, uiModalityMask=0x1,
                                       sDescription=f"Channel_{i + 1}") for i in range(comps)]
        return cls(uiCount=len(planes), uiCompCount=comps, sPlaneNew=planes, uiSampleCount=1,
                   sSampleSetting=[{}])


@dataclass(frozen=True, kw_only=True)
class PictureMetadata:
    """``SLxPictureMetadata``: calibration, optics and the planes (channels).

    Attributes
    ----------
    bCalibrated : bool
        Whether ``dCalibration`` is valid.
    dCalibration : float
        µm per pixel in X and Y.
    sPicturePlanes : PictureMetadataPicturePlanes
    dTimeAbsolute : float
        Acquisition start as a Julian day number.
    """

    dTimeAbsolute: float = 0.0
    dTimeMSec: float = 0.0
    eTimeSource: int = 0
    dXPos: float = 0.0
    dYPos: float = 0.0
    uiRow: int = 0
    uiCol: int = 0
    dZPos: float = 0.0
    bZPosAbsolute: bool = False
    dAngle: float = 0.0
    sPicturePlanes: PictureMetadataPicturePlanes = field(
        default_factory=PictureMetadataPicturePlanes)
    dTemperK: float = 293.0
    dCalibration: float = -1.0
    dAspect: float = -1.0
    dCalibPrecision: float = -1.0
    bCalibrated: bool = False
    wsObjectiveName: str = ""
    dObjectiveMag: float = -1.0
    dObjectiveNA: float = -1.0
    dRefractIndex1: float = -1.0
    dRefractIndex2: float = -1.0
    dZoom: float = -1.0
    wsCustomData: str = ""
    ePictureXAxis: int = 0
    ePictureYAxis: int = 1
    dTimeAxisCalibration: float = -1.0
    dZAxisCalibration: float = -1.0
    dStgLgCT11: float = 1.0
    dStgLgCT21: float = 0.0
    dStgLgCT12: float = 0.0
    dStgLgCT22: float = 1.0

    _FLOATS: ClassVar[tuple[str, ...]] = (
        "dTimeAbsolute", "dTimeMSec", "dXPos", "dYPos", "dZPos", "dAngle", "dTemperK",
        "dCalibration", "dAspect", "dCalibPrecision", "dObjectiveMag", "dObjectiveNA",
        "dRefractIndex1", "dRefractIndex2", "dZoom", "dTimeAxisCalibration",
        "dZAxisCalibration", "dStgLgCT11", "dStgLgCT21", "dStgLgCT12", "dStgLgCT22")
    _INTS: ClassVar[tuple[str, ...]] = (
        "eTimeSource", "uiRow", "uiCol", "ePictureXAxis", "ePictureYAxis")

    @classmethod
    def from_raw(cls, raw: Any, component_count: int) -> PictureMetadata:
        """Build from a decoded ``SLxPictureMetadata`` mapping.

        When the planes are unusable (none, or counts that do not add up) they are
        made up from `component_count` (see :meth:`PictureMetadataPicturePlanes.made_valid`).
        """
        raw = _mapping(raw)
        kw: dict[str, Any] = {}
        for k in cls._FLOATS:
            if k in raw:
                kw[k] = _num(raw[k], getattr(cls, k))
        for k in cls._INTS:
            if k in raw:
                kw[k] = _int(raw[k], 0)
        for k in ("bZPosAbsolute", "bCalibrated"):
            if k in raw:
                kw[k] = bool(raw[k])
        for k in ("wsObjectiveName", "wsCustomData"):
            if k in raw:
                kw[k] = _str(raw[k])
        planes = PictureMetadataPicturePlanes.from_raw(raw.get("sPicturePlanes"))
        if not planes.valid:
            planes = PictureMetadataPicturePlanes.made_valid(max(int(component_count), 1))
        kw["sPicturePlanes"] = planes
        return cls(**kw)

    @property
    def valid(self) -> bool:
        """Whether the planes are consistent."""
        return self.sPicturePlanes.valid

    @property
    def isRgb(self) -> bool:
        """One plane with three components."""
        return self.sPicturePlanes.uiCount == 1 and self.sPicturePlanes.uiCompCount == 3

    @property
    def channels(self) -> list[PicturePlaneDesc]:
        """The planes (channels)."""
        return self.sPicturePlanes.sPlaneNew

    @property
    def channelNames(self) -> list[str]:
        """Plane names ("RGB" for three-component planes)."""
        return ["RGB" if p.uiCompCount == 3 else p.sDescription for p in self.channels]

    @property
    def componentNames(self) -> list[str]:
        """One name per stored component: an RGB plane gives Blue, Green, Red (stored order)."""
        out: list[str] = []
        for p in self.channels:
            out.extend(["Blue", "Green", "Red"] if p.uiCompCount == 3 else [p.sDescription])
        return out

    @property
    def componentColors(self) -> list[tuple[float, float, float]]:
        """One ``(r, g, b)`` colour in 0..1 per stored component."""
        out: list[tuple[float, float, float]] = []
        for p in self.channels:
            if p.uiCompCount == 3:
                out.extend([(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)])
            else:
                out.append(p.colorAsClampedTuple)
        return out


# ---------------------------------------------------------------------------
# text info
# ---------------------------------------------------------------------------

_TEXT_FIELDS = ("sImageID", "sType", "sGroup", "sSampleID", "sAuthor", "sDescription",
                "sCapturing", "sSampling", "sLocation", "sDate", "sConclusion", "sInfo1",
                "sInfo2", "sOptics")
_TEXT_KEYS = ("imageId", "type", "group", "sampleId", "author", "description", "capturing",
              "sampling", "location", "date", "conclusion", "info1", "info2", "optics")


@dataclass(frozen=True, kw_only=True)
class ImageTextInfo:
    """``SLxImageTextInfo``: the 14 descriptive texts (``TextInfoItem_0`` … ``_13``)."""

    sImageID: str = ""
    sType: str = ""
    sGroup: str = ""
    sSampleID: str = ""
    sAuthor: str = ""
    sDescription: str = ""
    sCapturing: str = ""
    sSampling: str = ""
    sLocation: str = ""
    sDate: str = ""
    sConclusion: str = ""
    sInfo1: str = ""
    sInfo2: str = ""
    sOptics: str = ""

    @classmethod
    def from_raw(cls, raw: Any) -> ImageTextInfo:
        raw = _mapping(raw)
        return cls(**{name: _str(raw.get(f"TextInfoItem_{i}"))
                      for i, name in enumerate(_TEXT_FIELDS)})

    def to_dict(self) -> dict[str, str]:
        """The texts under short names (``imageId``, ``description``, …)."""
        return {key: getattr(self, name) for key, name in zip(_TEXT_KEYS, _TEXT_FIELDS)}


# ---------------------------------------------------------------------------
# experiment
# ---------------------------------------------------------------------------


class ExperimentLoopType(enum.IntEnum):
    """``eType`` of an experiment level."""

    eEtUnknown = 0
    eEtTimeLoop = 1
    eEtXYPosLoop = 2
    eEtXYDiscrLoop = 3
    eEtZStackLoop = 4
    eEtPolarLoop = 5
    eEtSpectLoop = 6
    eEtCustomLoop = 7
    eEtNETimeLoop = 8
    eEtManTimeLoop = 9
    eEtZStackLoopAccurate = 10

    @staticmethod
    def toName(eType: int) -> str:
        """One-letter dimension name: t (time, NE-time), m (XY), z, s (spectral), c (custom)."""
        return "?tmmz!sct!!"[eType] if 0 <= int(eType) <= 10 else "?"

    @staticmethod
    def toLongName(eType: int) -> str:
        names = ("Unknown", "Time", "Multipoint", "Multipoint", "Z-Stack", "Polar", "Spectral",
                 "Custom", "Time", "Time", "Z-Stack")
        return names[eType] if 0 <= int(eType) <= 10 else "Unknown"

    @staticmethod
    def toShortName(eType: int) -> str:
        names = ("?", "T", "XY", "XY", "Z", "P", "λ", "C", "T", "T", "Z")
        return names[eType] if 0 <= int(eType) <= 10 else "?"


@dataclass(frozen=True, kw_only=True)
class ExperimentLoop:
    """Parameters of a loop type this layer does not model (count only)."""

    uiCount: int = 0

    @property
    def step(self) -> float | None:
        """Distance between items (None when not meaningful)."""
        return None

    @property
    def stepUnit(self) -> str | None:
        return None


@dataclass(frozen=True, kw_only=True)
class ExperimentTimeLoop(ExperimentLoop):
    """TimeLoop parameters (times in ms)."""

    dStart: float = 0.0
    dPeriod: float = 0.0
    dDuration: float = 0.0
    dMinPeriodDiff: float = 0.0
    dMaxPeriodDiff: float = 0.0
    dAvgPeriodDiff: float = 0.0
    wsPhaseName: str = ""
    uiLoopType: int = 0
    uiGroup: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> ExperimentTimeLoop:
        raw = _mapping(raw)
        kw: dict[str, Any] = {k: _num(raw[k], 0.0) for k in
                              ("dStart", "dPeriod", "dDuration", "dMinPeriodDiff",
                               "dMaxPeriodDiff", "dAvgPeriodDiff") if k in raw}
        return cls(uiCount=_int(raw.get("uiCount", 0), 0), wsPhaseName=_str(raw.get("wsPhaseName")),
                   uiLoopType=_int(raw.get("uiLoopType", 0), 0),
                   uiGroup=_int(raw.get("uiGroup", 0), 0), **kw)

    @property
    def step(self) -> float:
        """Time step in ms: the measured ``dAvgPeriodDiff`` when >= 0, else ``dPeriod``."""
        return self.dAvgPeriodDiff if self.dAvgPeriodDiff >= 0 else self.dPeriod

    @property
    def stepUnit(self) -> str:
        return "ms"


@dataclass(frozen=True, kw_only=True)
class ExperimentNETimeLoop(ExperimentLoop):
    """Non-equidistant time loop: a list of periods (``pPeriod``)."""

    uiPeriodCount: int = 0
    pPeriod: list[ExperimentTimeLoop] = field(default_factory=list)
    pPeriodValid: bytes | None = None
    pSubLoops: Mapping[str, Any] | None = None

    @classmethod
    def from_raw(cls, raw: Any) -> ExperimentNETimeLoop:
        raw = _mapping(raw)
        sub = raw.get("pSubLoops")
        return cls(uiCount=_int(raw.get("uiCount", 0), 0),
                   uiPeriodCount=_int(raw.get("uiPeriodCount", 0), 0),
                   pPeriod=[ExperimentTimeLoop.from_raw(p) for p in _items(raw.get("pPeriod"))],
                   pPeriodValid=_flags_bytes(raw.get("pPeriodValid")),
                   pSubLoops=sub if isinstance(sub, Mapping) else None)

    @property
    def validPeriods(self) -> list[ExperimentTimeLoop]:
        """Periods whose ``pPeriodValid`` flag is set (all when there are no flags)."""
        if self.pPeriodValid is None:
            return list(self.pPeriod)
        return [p for p, ok in zip(self.pPeriod, self.pPeriodValid) if ok]

    @property
    def step(self) -> float:
        """The time step shared by all valid periods, or 0.0 when they differ."""
        steps = {p.step for p in self.validPeriods}
        return steps.pop() if len(steps) == 1 else 0.0

    @property
    def stepUnit(self) -> str:
        return "ms"


@dataclass(frozen=True, kw_only=True)
class ExperimentXYPosLoopPoint:
    """One stage position of a multipoint loop (µm)."""

    dPosX: float = 0.0
    dPosY: float = 0.0
    dPosZ: float = 0.0
    dPFSOffset: float = 0.0
    dPosName: str = ""


@dataclass(frozen=True, kw_only=True)
class ExperimentXYPosLoop(ExperimentLoop):
    """Multipoint (XY) loop parameters."""

    bUseZ: bool = False
    bRelativeXY: bool = True
    dReferenceX: float = 0.0
    dReferenceY: float = 0.0
    Points: list[ExperimentXYPosLoopPoint] = field(default_factory=list)

    @classmethod
    def from_raw(cls, raw: Any) -> ExperimentXYPosLoop:
        raw = _mapping(raw)
        points: list[ExperimentXYPosLoopPoint] = []
        if "Points" in raw:
            for p in _items(raw.get("Points")):
                p = _mapping(p)
                points.append(ExperimentXYPosLoopPoint(
                    dPosX=_num(p.get("dPosX", 0.0), 0.0), dPosY=_num(p.get("dPosY", 0.0), 0.0),
                    dPosZ=_num(p.get("dPosZ", 0.0), 0.0),
                    dPFSOffset=_num(p.get("dPFSOffset", 0.0), 0.0),
                    dPosName=_str(p.get("dPosName") or p.get("pPosName"))))
        elif isinstance(raw.get("dPosX"), Mapping):  # older XML: parallel maps per item
            keys = ("dPosX", "dPosY", "dPosZ", "dPFSOffset", "pPosName")
            maps = {k: _mapping(raw.get(k)) for k in keys}
            for key in maps["dPosX"]:
                points.append(ExperimentXYPosLoopPoint(
                    dPosX=_num(maps["dPosX"].get(key, 0.0), 0.0),
                    dPosY=_num(maps["dPosY"].get(key, 0.0), 0.0),
                    dPosZ=_num(maps["dPosZ"].get(key, 0.0), 0.0),
                    dPFSOffset=_num(maps["dPFSOffset"].get(key, 0.0), 0.0),
                    dPosName=_str(maps["pPosName"].get(key))))
        return cls(uiCount=_int(raw.get("uiCount", 0), 0), bUseZ=bool(raw.get("bUseZ", False)),
                   bRelativeXY=bool(raw.get("bRelativeXY", True)),
                   dReferenceX=_num(raw.get("dReferenceX", 0.0), 0.0),
                   dReferenceY=_num(raw.get("dReferenceY", 0.0), 0.0), Points=points)


_AROUND_HOME = (2, 3, 6, 7)


@dataclass(frozen=True, kw_only=True)
class ExperimentZStackLoop(ExperimentLoop):
    """Z-stack parameters (µm). ``iType``: 0-3 bottom to top, 4-7 top to bottom;
    2, 3, 6, 7 are ranges around the home position."""

    dZLow: float = 0.0
    dZLowPFSOffset: float = 0.0
    dZHigh: float = 0.0
    dZHighPFSOffset: float = 0.0
    dZHome: float = 0.0
    dZStep: float = 0.0
    dReferencePosition: float = 0.0
    iType: int = 0
    bAbsolute: bool = False
    bZInverted: bool = False
    wsZDevice: str = ""

    @classmethod
    def from_raw(cls, raw: Any) -> ExperimentZStackLoop:
        raw = _mapping(raw)
        kw: dict[str, Any] = {k: _num(raw[k], 0.0) for k in
                              ("dZLow", "dZLowPFSOffset", "dZHigh", "dZHighPFSOffset", "dZHome",
                               "dZStep", "dReferencePosition") if k in raw}
        return cls(uiCount=_int(raw.get("uiCount", 0), 0), iType=_int(raw.get("iType", 0), 0),
                   bAbsolute=bool(raw.get("bAbsolute", False)),
                   bZInverted=bool(raw.get("bZInverted", False)),
                   wsZDevice=_str(raw.get("wsZDevice") or raw.get("sZDevice")), **kw)

    @property
    def homeIndex(self) -> int:
        """Index of the plane at the home position (docs/format.md, "Experiment loops")."""
        return home_index(self.bZInverted, self.uiCount, self.iType, self.dZHome, self.dZLow,
                          self.dZHigh, self.dZStep)

    @property
    def step(self) -> float:
        """Plane distance in µm, derived from the range as limnd2 does (``dZStep`` is
        not used): ``|home - low| / homeIndex`` for stacks around home, else
        ``|high - low| / (count - 1)``."""
        if self.iType in _AROUND_HOME:
            home = self.homeIndex
            return abs(self.dZHome - self.dZLow) / home if home > 0 else 0.0
        return abs(self.dZHigh - self.dZLow) / (max(self.uiCount, 2) - 1)

    @property
    def stepUnit(self) -> str:
        return "µm"

    @property
    def top(self) -> float:
        """Highest position (relative to home for stacks around home)."""
        if self.iType in _AROUND_HOME:
            return self.dZHigh - self.dZHome
        return (-self.dZLow if self.bZInverted else self.dZHigh) + self.dReferencePosition

    @property
    def bottom(self) -> float:
        """Lowest position (relative to home for stacks around home)."""
        if self.iType in _AROUND_HOME:
            return self.dZLow - self.dZHome
        return (-self.dZHigh if self.bZInverted else self.dZLow) + self.dReferencePosition


@dataclass(frozen=True, kw_only=True)
class ExperimentSpectralLoop(ExperimentLoop):
    """Spectral (λ) loop: its planes live inside each frame, so it adds no axis."""

    pPlanes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_raw(cls, raw: Any) -> ExperimentSpectralLoop:
        raw = _mapping(raw)
        planes = _mapping(raw.get("pPlanes"))
        return cls(uiCount=_int(raw.get("uiCount", planes.get("uiCount", 0)), 0), pPlanes=planes)


_LOOP_CLASSES: dict[int, Any] = {
    ExperimentLoopType.eEtTimeLoop: ExperimentTimeLoop,
    ExperimentLoopType.eEtNETimeLoop: ExperimentNETimeLoop,
    ExperimentLoopType.eEtXYPosLoop: ExperimentXYPosLoop,
    ExperimentLoopType.eEtZStackLoop: ExperimentZStackLoop,
    ExperimentLoopType.eEtSpectLoop: ExperimentSpectralLoop,
}


@dataclass(frozen=True, kw_only=True)
class ExperimentLevel:
    """One level of the experiment tree (``SLxExperiment``) and its sub-levels.

    Iterating yields this level and the first-child chain below it (the levels that
    define the file's dimensions), outermost first.

    Attributes
    ----------
    eType : ExperimentLoopType
    uLoopPars : ExperimentLoop
        Type-specific parameters (:class:`ExperimentTimeLoop`, ...).
    pItemValid : bytes or None
        One flag per item; only flagged items are acquired (None: all).
    uiNextLevelCount : int
    ppNextLevelEx : list of ExperimentLevel
    uiRepeatCount : int
    wsApplicationDesc, wsUserDesc, wsCameraName : str
    """

    eType: ExperimentLoopType = ExperimentLoopType.eEtUnknown
    uLoopPars: ExperimentLoop = field(default_factory=ExperimentLoop)
    pItemValid: bytes | None = None
    uiNextLevelCount: int = 0
    ppNextLevelEx: list[ExperimentLevel] = field(default_factory=list)
    uiRepeatCount: int = 1
    wsApplicationDesc: str = ""
    wsUserDesc: str = ""
    wsCameraName: str = ""

    @classmethod
    def from_raw(cls, raw: Any, _depth: int = 0) -> ExperimentLevel | None:
        """Build the tree from a decoded ``SLxExperiment`` (None for an empty mapping)."""
        raw = _mapping(raw)
        if not raw or _depth > 256:
            return None
        etype = _enum(ExperimentLoopType, raw.get("eType", 0), ExperimentLoopType.eEtUnknown)
        pars = _unwrap_pars(raw.get("uLoopPars"))
        loop_cls = _LOOP_CLASSES.get(int(etype))
        if loop_cls is not None:
            loop = loop_cls.from_raw(pars)
        else:
            loop = ExperimentLoop(uiCount=_int(pars.get("uiCount", 0), 0))
        children = []
        for child in _items(raw.get("ppNextLevelEx")):
            child = _mapping(child)
            if len(child) == 1 and "SLxExperiment" in child:
                child = _mapping(child["SLxExperiment"])
            level = cls.from_raw(child, _depth + 1)
            if level is not None:
                children.append(level)
        return cls(eType=etype, uLoopPars=loop, pItemValid=_flags_bytes(raw.get("pItemValid")),
                   uiNextLevelCount=_int(raw.get("uiNextLevelCount", len(children)), len(children)),
                   ppNextLevelEx=children, uiRepeatCount=_int(raw.get("uiRepeatCount", 1), 1),
                   wsApplicationDesc=_str(raw.get("wsApplicationDesc")),
                   wsUserDesc=_str(raw.get("wsUserDesc")),
                   wsCameraName=_str(raw.get("wsCameraName")))

    def _next(self) -> ExperimentLevel | None:
        n = min(self.uiNextLevelCount, len(self.ppNextLevelEx)) if self.uiNextLevelCount else 0
        return self.ppNextLevelEx[0] if n else None

    def _chain(self) -> list[ExperimentLevel]:
        out: list[ExperimentLevel] = []
        level: ExperimentLevel | None = self
        while level is not None and len(out) < 256:
            out.append(level)
            level = level._next()
        return out

    def __iter__(self) -> Iterator[ExperimentLevel]:
        return iter(self._chain())

    @property
    def isLambda(self) -> bool:
        """True for a spectral loop."""
        return self.eType == ExperimentLoopType.eEtSpectLoop

    @property
    def count(self) -> int:
        """Items of this loop: the valid ones when ``pItemValid`` is set, else ``uiCount``."""
        if self.pItemValid:
            return sum(1 for v in self.pItemValid if v)
        return self.uLoopPars.uiCount

    @property
    def name(self) -> str:
        return ExperimentLoopType.toLongName(self.eType)

    @property
    def shortName(self) -> str:
        return ExperimentLoopType.toShortName(self.eType)

    @property
    def typeName(self) -> str:
        return ExperimentLoopType.toName(self.eType)

    @property
    def dims(self) -> dict[str, int]:
        """``{typeName: count}`` of every level of the chain."""
        return {lv.typeName: lv.count for lv in self}

    @property
    def valid(self) -> bool:
        """Known type, positive count, and all sub-levels valid."""
        return (self.eType != ExperimentLoopType.eEtUnknown and self.uLoopPars.uiCount > 0
                and all(c.valid for c in self.ppNextLevelEx))

    def _levels(self, skipSpectralLoop: bool) -> list[ExperimentLevel]:
        return [lv for lv in self if not (skipSpectralLoop and lv.isLambda)]

    def loopTypes(self, *, skipSpectralLoop: bool = True) -> tuple[ExperimentLoopType, ...]:
        """Loop types of the chain, outermost first."""
        return tuple(lv.eType for lv in self._levels(skipSpectralLoop))

    def findLevel(self, loopType: int) -> ExperimentLevel | None:
        """First level of the chain with the given type, or None."""
        return next((lv for lv in self if lv.eType == loopType), None)

    def ndim(self, skipSpectralLoop: bool = True) -> int:
        return len(self._levels(skipSpectralLoop))

    def shape(self, *, skipSpectralLoop: bool = True) -> tuple[int, ...]:
        """Item counts of the chain, outermost first."""
        return tuple(lv.count for lv in self._levels(skipSpectralLoop))

    def dimnames(self, *, skipSpectralLoop: bool = True) -> tuple[str, ...]:
        """One-letter names of the chain (``t``, ``m``, ``z``, ``s``, ``c``)."""
        return tuple(lv.typeName for lv in self._levels(skipSpectralLoop))

    def generateLoopIndexes(self, *, named: bool = False) -> list[Any]:
        """Loop coordinates of every frame in sequence order (tuples, or dicts by name)."""
        idx = itertools.product(*(range(n) for n in self.shape()))
        if named:
            names = self.dimnames()
            return [dict(zip(names, i)) for i in idx]
        return list(idx)


# ---------------------------------------------------------------------------
# well plates
# ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WellplateDesc:
    """``CustomData|WellPlateDesc_0!`` (``PlateDesc``)."""

    name: str = ""
    rows: int = 0
    columns: int = 0
    rowNaming: str = ""
    columnNaming: str = ""

    @classmethod
    def from_raw(cls, raw: Any) -> WellplateDesc:
        raw = _mapping(_mapping(raw).get("PlateDesc", raw))
        return cls(name=_str(raw.get("name")), rows=_int(raw.get("rows", 0), 0),
                   columns=_int(raw.get("columns", 0), 0), rowNaming=_str(raw.get("rowNaming")),
                   columnNaming=_str(raw.get("columnNaming")))


@dataclass(frozen=True, kw_only=True)
class WellplateFrameInfoItem:
    """Well of one frame (from ``CustomData|WellPlateFrameInfoZJSON!``)."""

    plateIndex: int = 0
    plateUuid: str = ""
    seqIndex: int = 0
    wellIndex: int = 0
    wellName: str = ""
    wellColIndex: int = 0
    wellRowIndex: int = 0

    @classmethod
    def from_raw(cls, raw: Any) -> WellplateFrameInfoItem:
        raw = _mapping(raw)
        return cls(plateIndex=_int(raw.get("plateIndex", 0), 0),
                   plateUuid=_str(raw.get("plateUuid")),
                   seqIndex=_int(raw.get("seqIndex", 0), 0),
                   wellIndex=_int(raw.get("wellIndex", 0), 0),
                   wellName=_str(raw.get("wellName")) or _str(raw.get("wellCompactName")),
                   wellColIndex=_int(raw.get("wellColIndex", 0), 0),
                   wellRowIndex=_int(raw.get("wellRowIndex", 0), 0))


class WellplateFrameInfo(list["WellplateFrameInfoItem"]):
    """List of :class:`WellplateFrameInfoItem`, one per frame."""

    @property
    def nwells(self) -> int:
        """Number of distinct wells."""
        return len({item.wellIndex for item in self})

    @classmethod
    def from_json(cls, data: bytes | memoryview) -> WellplateFrameInfo:
        """Decode the zlib-compressed JSON list of the chunk payload."""
        items = decode_zipped_json(data)
        items = items if isinstance(items, list) else []
        return cls(WellplateFrameInfoItem.from_raw(i) for i in items)
