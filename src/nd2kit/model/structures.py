"""Typed metadata structures of an ND2 file.

The classes mirror the public structures of ``nd2`` 0.12 (``nd2.structures``):
same class names, field names, field order, types and defaults, so that
``dataclasses.asdict`` (or ``NamedTuple._asdict``) of an nd2kit value equals the
one of the corresponding ``nd2`` value.  Nothing here depends on ``nd2``.

Builders that fill these structures from decoded chunks live in
:mod:`nd2kit.model`; keys of the raw chunks that the structures do not represent
are available from the ``unknown_keys`` functions of that package.

Only one deliberate extension exists: ``pixelDataType`` /
``componentDataType`` may be ``"signed"`` (``ePixelType == 0``, docs/format.md, "Frame pixels"), a value nd2 never produces.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Literal, NamedTuple, TypedDict

__all__ = [
    "AxisInterpretation",
    "Attributes",
    "Channel",
    "ChannelMeta",
    "Color",
    "CompressionType",
    "Contents",
    "CustomLoop",
    "ExpLoop",
    "FrameChannel",
    "FrameMetadata",
    "LoopIndices",
    "LoopParams",
    "LoopType",
    "LoopTypeString",
    "Metadata",
    "Microscope",
    "ModalityFlags",
    "NETimeLoop",
    "NETimeLoopParams",
    "PeriodDiff",
    "Period",
    "PixelDataType",
    "Position",
    "SpectLoop",
    "StagePosition",
    "TextInfo",
    "TimeLoop",
    "TimeLoopParams",
    "TimeStamp",
    "Volume",
    "XYPosLoop",
    "XYPosLoopParams",
    "ZStackLoop",
    "ZStackLoopParams",
]

AxisInterpretation = Literal["distance", "time"]
CompressionType = Literal["lossless", "lossy", "none"]
PixelDataType = Literal["float", "unsigned", "signed"]
LoopTypeString = Literal[
    "Unknown",
    "TimeLoop",
    "XYPosLoop",
    "XYDiscrLoop",
    "ZStackLoop",
    "PolarLoop",
    "SpectLoop",
    "CustomLoop",
    "NETimeLoop",
    "ManTimeLoop",
    "ZStackLoopAccurate",
]


# ---------------------------------------------------------------------------
# text info
# ---------------------------------------------------------------------------


class TextInfo(TypedDict, total=False):
    """Descriptive texts of an image (chunk ``ImageTextInfo[LV]!``).

    Only non-empty items are present.  Keys map to ``TextInfoItem_0`` …
    ``TextInfoItem_14`` in this order (docs/format.md, "Picture metadata and text info").
    """

    imageId: str
    type: str
    group: str
    sampleId: str
    author: str
    description: str
    capturing: str
    sampling: str
    location: str
    date: str
    conclusion: str
    info1: str
    info2: str
    optics: str
    appVersion: str


# ---------------------------------------------------------------------------
# enums
# ---------------------------------------------------------------------------


class LoopType(IntEnum):
    """Codes of ``eType`` in an experiment level (docs/format.md, "Experiment loops")."""

    Unknown = 0
    TimeLoop = 1
    XYPosLoop = 2
    XYDiscrLoop = 3
    ZStackLoop = 4
    PolarLoop = 5
    SpectLoop = 6
    CustomLoop = 7
    NETimeLoop = 8
    ManTimeLoop = 9
    ZStackLoopAccurate = 10


# ---------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------


class Attributes(NamedTuple):
    """Frame geometry and sample format (chunk ``ImageAttributes[LV]!``).

    Attributes
    ----------
    bitsPerComponentInMemory : int
        Container size of one component in bits (8, 16 or 32).
    bitsPerComponentSignificant : int
        Number of meaningful, right-aligned bits.
    componentCount : int
        Interleaved components per pixel (sum over all picture planes).
    heightPx : int
        Frame height in pixels.
    pixelDataType : {"float", "unsigned", "signed"}
        Sample interpretation.
    sequenceCount : int
        Number of frames stored in the file.
    widthBytes : int, optional
        Row stride in bytes.
    widthPx : int, optional
        Frame width in pixels.
    compressionLevel : float, optional
        Compression parameter; only for lossless/lossy files.
    compressionType : {"lossless", "lossy", "none"}, optional
        Only reported for lossless/lossy files (None when uncompressed).
    tileHeightPx, tileWidthPx : int, optional
        Tile size, only reported when smaller than the frame.
    channelCount : int, optional
        Number of picture planes (channels).
    """

    bitsPerComponentInMemory: int
    bitsPerComponentSignificant: int
    componentCount: int
    heightPx: int
    pixelDataType: PixelDataType
    sequenceCount: int
    widthBytes: int | None = None
    widthPx: int | None = None
    compressionLevel: float | None = None
    compressionType: Literal["lossless", "lossy", "none"] | None = None
    tileHeightPx: int | None = None
    tileWidthPx: int | None = None
    channelCount: int | None = None


# ---------------------------------------------------------------------------
# experiment
# ---------------------------------------------------------------------------


def _coerce(cls: type, value: Any) -> Any:
    """Build ``cls`` from a mapping (as produced by ``asdict``); else return as is."""
    if isinstance(value, dict):
        return cls(**value)
    return value


@dataclass
class _Loop:
    """Common fields of an experiment loop.

    Attributes
    ----------
    count : int
        Number of frames along this loop (valid items only).
    nestingLevel : int
        Depth of the loop in the experiment tree (0 = outermost).
    parameters : object or None
        Loop-specific parameters.
    type : str
        Name of the loop type.
    """

    count: int
    nestingLevel: int
    parameters: LoopParams | None
    type: LoopTypeString


@dataclass
class SpectLoop:
    """A spectral (lambda) loop; it adds no axis, its planes live in each frame.

    Attributes
    ----------
    count : int
        Number of spectral planes.
    type : str
        Always ``"SpectLoop"``.
    """

    count: int
    type: Literal["SpectLoop"] = "SpectLoop"


@dataclass
class CustomLoop(_Loop):
    """A custom loop (``eType`` 7), exposed as axis ``U``.

    Attributes
    ----------
    count : int
        Number of items.
    nestingLevel : int
        Depth in the experiment tree.
    parameters : None
        Custom loops carry no decoded parameters.
    type : str
        Always ``"CustomLoop"``.
    """

    count: int
    nestingLevel: int = 0
    parameters: None = None
    type: Literal["CustomLoop"] = "CustomLoop"


@dataclass
class PeriodDiff:
    """Measured statistics of the interval between frames, in ms.

    Attributes
    ----------
    avg, max, min : float
        Mean, largest and smallest measured interval.
    """

    avg: float = 0
    max: float = 0
    min: float = 0


@dataclass
class TimeLoopParams:
    """Parameters of a time loop.

    Attributes
    ----------
    startMs : float
        Start of the loop, ms.
    periodMs : float
        Requested interval between frames, ms (0 = as fast as possible).
    durationMs : float
        Requested total duration, ms (0 = given by count and period).
    periodDiff : PeriodDiff
        Measured interval statistics.
    """

    startMs: float
    periodMs: float
    durationMs: float
    periodDiff: PeriodDiff

    def __post_init__(self) -> None:
        self.periodDiff = _coerce(PeriodDiff, self.periodDiff)


@dataclass
class TimeLoop(_Loop):
    """A time-lapse loop (``eType`` 1), axis ``T``."""

    parameters: TimeLoopParams
    type: Literal["TimeLoop"] = "TimeLoop"

    def __post_init__(self) -> None:
        if isinstance(self.parameters, dict):
            values = dict(self.parameters)
            values.setdefault("periodDiff", None)
            self.parameters = TimeLoopParams(**values)


@dataclass
class Period(TimeLoopParams):
    """One valid phase of an ND (multi-phase) time loop.

    Attributes
    ----------
    count : int
        Number of frames acquired in this phase.
    """

    count: int


@dataclass
class NETimeLoopParams:
    """Parameters of an ND time loop.

    Attributes
    ----------
    periods : list of Period
        The valid phases, in acquisition order.
    """

    periods: list[Period]

    def __post_init__(self) -> None:
        self.periods = [_coerce(Period, p) for p in self.periods]


@dataclass
class NETimeLoop(_Loop):
    """A multi-phase time loop (``eType`` 8), axis ``T``.

    ``count`` is the sum of the frame counts of the valid phases.
    """

    parameters: NETimeLoopParams
    type: Literal["NETimeLoop"] = "NETimeLoop"

    def __post_init__(self) -> None:
        self.parameters = _coerce(NETimeLoopParams, self.parameters)


class StagePosition(NamedTuple):
    """Stage coordinates in µm.

    Attributes
    ----------
    x, y, z : float
        Stage position along each axis.
    """

    x: float
    y: float
    z: float


@dataclass
class Position:
    """One point of a multi-point (XY) loop.

    Attributes
    ----------
    stagePositionUm : StagePosition
        Absolute stage position in µm (``z`` is 0 unless the loop sets Z).
    pfsOffset : float, optional
        Perfect Focus offset, None when not used (negative in the file).
    name : str, optional
        Name of the point.
    """

    stagePositionUm: StagePosition
    pfsOffset: float | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        pos = self.stagePositionUm
        if isinstance(pos, dict):
            self.stagePositionUm = StagePosition(**pos)
        elif isinstance(pos, (tuple, list)) and not isinstance(pos, StagePosition):
            self.stagePositionUm = StagePosition(*pos)


@dataclass
class XYPosLoopParams:
    """Parameters of a multi-point loop.

    Attributes
    ----------
    isSettingZ : bool
        Whether the loop also moves Z to each point's ``z``.
    points : list of Position
        The valid points, in acquisition order.
    """

    isSettingZ: bool
    points: list[Position]

    def __post_init__(self) -> None:
        self.points = [_coerce(Position, p) for p in self.points]


@dataclass
class XYPosLoop(_Loop):
    """A multi-point loop (``eType`` 2), axis ``P``; counts valid points only."""

    parameters: XYPosLoopParams
    type: Literal["XYPosLoop"] = "XYPosLoop"

    def __post_init__(self) -> None:
        self.parameters = _coerce(XYPosLoopParams, self.parameters)


@dataclass
class ZStackLoopParams:
    """Parameters of a Z-stack loop.

    Attributes
    ----------
    homeIndex : int
        Index of the plane at the home (reference) position.
    stepUm : float
        Distance between planes, µm.
    bottomToTop : bool
        Acquisition direction (``iType < 4``).
    deviceName : str, optional
        Name of the Z drive.
    """

    homeIndex: int
    stepUm: float
    bottomToTop: bool
    deviceName: str | None = None


@dataclass
class ZStackLoop(_Loop):
    """A Z-stack loop (``eType`` 4), axis ``Z``."""

    parameters: ZStackLoopParams
    type: Literal["ZStackLoop"] = "ZStackLoop"

    def __post_init__(self) -> None:
        self.parameters = _coerce(ZStackLoopParams, self.parameters)


ExpLoop = TimeLoop | NETimeLoop | XYPosLoop | ZStackLoop | CustomLoop
"""Any loop that defines an axis; ``load_experiment`` returns a list of these."""

LoopParams = TimeLoopParams | NETimeLoopParams | XYPosLoopParams | ZStackLoopParams
"""Parameters of any loop."""


# ---------------------------------------------------------------------------
# picture metadata
# ---------------------------------------------------------------------------


class Color(NamedTuple):
    """Display colour of a channel.

    Attributes
    ----------
    r, g, b : int
        Colour components, 0–255.
    a : float
        Opacity in (0, 1]; a stored alpha byte of 0 means opaque.
    """

    r: int
    g: int
    b: int
    a: float = 1.0

    def as_hex(self) -> str:
        """Return the colour as ``#rrggbb``."""
        return "#" + "".join(f"{c:02x}" for c in (self.r, self.g, self.b))

    @classmethod
    def from_abgr_u4(cls, val: int) -> Color:
        """Decode the 32-bit NIS colour value ``0xAABBGGRR``.

        Parameters
        ----------
        val : int
            Stored value: red in the low byte, alpha in the high byte.

        Returns
        -------
        Color
        """
        val = int(val)
        alpha = ((val >> 24) & 0xFF) / 255
        return cls(val & 0xFF, (val >> 8) & 0xFF, (val >> 16) & 0xFF, alpha or 1.0)

    def as_abgr_u4(self) -> int:
        """Encode as the 32-bit NIS value (inverse of :meth:`from_abgr_u4`).

        Returns
        -------
        int
            ``0xAABBGGRR``; full opacity is stored as alpha byte 0.
        """
        alpha = 0 if self.a == 1.0 else int(self.a * 255)
        return (alpha << 24) | (self.b << 16) | (self.g << 8) | self.r


@dataclass
class Contents:
    """Counts of a file.

    Attributes
    ----------
    channelCount : int
        Number of channels (picture planes).
    frameCount : int
        Number of stored frames (``uiSequenceCount``).
    """

    channelCount: int
    frameCount: int


@dataclass
class ChannelMeta:
    """Identity of a channel.

    Attributes
    ----------
    name : str
        Channel name (``sDescription``).
    index : int
        Sample index of the plane (``uiSampleIndex``, or the plane position).
    color : Color
        Display colour.
    emissionLambdaNm, excitationLambdaNm : float, optional
        Representative wavelengths in nm; None when unknown.
    """

    name: str
    index: int
    color: Color
    emissionLambdaNm: float | None = None
    excitationLambdaNm: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.color, dict):
            self.color = Color(**self.color)
        elif isinstance(self.color, (tuple, list)) and not isinstance(self.color, Color):
            self.color = Color(*self.color)

    @property
    def colorRGBA(self) -> int:
        """Deprecated: the colour as ``0xAABBGGRR``; use ``color.as_abgr_u4()``."""
        warnings.warn(
            "ChannelMeta.colorRGBA is deprecated; use ChannelMeta.color.as_abgr_u4()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.color.as_abgr_u4()


@dataclass
class LoopIndices:
    """Position of each loop type in the experiment list (None = absent).

    Attributes
    ----------
    NETimeLoop, TimeLoop, XYPosLoop, ZStackLoop : int, optional
        Index into the experiment list.
    CustomLoop : int, optional
        Index of a custom loop (not part of ``repr`` or comparisons).
    """

    NETimeLoop: int | None = None
    TimeLoop: int | None = None
    XYPosLoop: int | None = None
    ZStackLoop: int | None = None
    CustomLoop: int | None = field(default=None, repr=False, compare=False)


ModalityFlags = Literal[
    "aux",
    "brightfield",
    "camera",
    "diContrast",
    "dsdConfocal",
    "fluorescence",
    "gaasp",
    "iSIM",
    "laserScanConfocal",
    "liveSR",
    "multiphoton",
    "nonDescannedDetector",
    "phaseContrast",
    "pmt",
    "RCM",
    "remainder",
    "SIM",
    "sora",
    "spectral",
    "spinningDiskConfocal",
    "sweptFieldConfocalPinhole",
    "sweptFieldConfocalSlit",
    "TIRF",
    "transmitDetector",
    "vaasIF",
    "vaasNF",
    "VCS",
    "virtualFilter",
]
"""Names of the imaging-modality bits reported in ``Microscope.modalityFlags``."""


@dataclass
class Microscope:
    """Optics of a channel.

    Attributes
    ----------
    objectiveMagnification : float, optional
    objectiveName : str, optional
    objectiveNumericalAperture : float, optional
    zoomMagnification : float, optional
    immersionRefractiveIndex : float, optional
    projectiveMagnification : float, optional
    pinholeDiameterUm : float, optional
    modalityFlags : list of str
        Names of the modality bits of the plane.
    """

    objectiveMagnification: float | None = None
    objectiveName: str | None = None
    objectiveNumericalAperture: float | None = None
    zoomMagnification: float | None = None
    immersionRefractiveIndex: float | None = None
    projectiveMagnification: float | None = None
    pinholeDiameterUm: float | None = None
    modalityFlags: list[ModalityFlags] = field(default_factory=list)


@dataclass
class Volume:
    """Geometry and sample format of a channel.

    Attributes
    ----------
    axesCalibrated : tuple of bool
        Whether X, Y, Z carry a physical calibration.
    axesCalibration : tuple of float
        Size of a voxel along X, Y, Z in µm (1.0 when unknown).
    axesInterpretation : tuple of str
        ``"distance"`` or ``"time"`` (line scans) for X, Y, Z.
    bitsPerComponentInMemory, bitsPerComponentSignificant : int
        Sample container size and significant bits.
    cameraTransformationMatrix : tuple of float
        2×2 camera-to-stage matrix ``(m11, m12, m21, m22)``.
    componentCount : int
        Components of this channel (3 for RGB).
    componentDataType : {"unsigned", "float", "signed"}
        Sample interpretation.
    voxelCount : tuple of int
        Width, height and number of Z planes.
    componentMaxima, componentMinima : list of float, optional
        Placeholders (zeros), one per component.
    pixelToStageTransformationMatrix : tuple of float, optional
        2×3 affine matrix from pixel to stage coordinates (µm), row-major.
    """

    axesCalibrated: tuple[bool, bool, bool]
    axesCalibration: tuple[float, float, float]
    axesInterpretation: tuple[AxisInterpretation, AxisInterpretation, AxisInterpretation]
    bitsPerComponentInMemory: int
    bitsPerComponentSignificant: int
    cameraTransformationMatrix: tuple[float, float, float, float]
    componentCount: int
    componentDataType: PixelDataType
    voxelCount: tuple[int, int, int]
    componentMaxima: list[float] | None = None
    componentMinima: list[float] | None = None
    pixelToStageTransformationMatrix: tuple[float, float, float, float, float, float] | None = None


@dataclass
class Channel:
    """Everything known about one channel.

    Attributes
    ----------
    channel : ChannelMeta
    loops : LoopIndices, optional
        None when the file has no experiment loops.
    microscope : Microscope
    volume : Volume
    """

    channel: ChannelMeta
    loops: LoopIndices | None
    microscope: Microscope
    volume: Volume

    def __post_init__(self) -> None:
        self.channel = _coerce(ChannelMeta, self.channel)
        self.loops = _coerce(LoopIndices, self.loops)
        self.microscope = _coerce(Microscope, self.microscope)
        self.volume = _coerce(Volume, self.volume)


@dataclass
class Metadata:
    """Global picture metadata (chunk ``ImageMetadataSeq[LV]|0!``).

    Attributes
    ----------
    contents : Contents, optional
    channels : list of Channel, optional
    """

    contents: Contents | None = None
    channels: list[Channel] | None = None

    def __post_init__(self) -> None:
        self.contents = _coerce(Contents, self.contents)
        if self.channels:
            self.channels = [_coerce(Channel, c) for c in self.channels]


@dataclass
class TimeStamp:
    """Acquisition time of a frame.

    Attributes
    ----------
    absoluteJulianDayNumber : float
        Julian day number (UTC) of the frame.
    relativeTimeMs : float
        Time since the start of the experiment, ms.
    """

    absoluteJulianDayNumber: float
    relativeTimeMs: float


@dataclass
class FrameChannel(Channel):
    """Channel metadata of one frame.

    Attributes
    ----------
    position : Position
        Stage position of the frame.
    time : TimeStamp
        Acquisition time of the frame.
    pfs_status : int, optional
        Perfect Focus status code of the frame, if recorded.
    """

    position: Position
    time: TimeStamp
    pfs_status: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.position = _coerce(Position, self.position)
        self.time = _coerce(TimeStamp, self.time)


@dataclass
class FrameMetadata:
    """Metadata of one frame.

    Attributes
    ----------
    contents : Contents
    channels : list of FrameChannel
    """

    contents: Contents
    channels: list[FrameChannel]

    def __post_init__(self) -> None:
        self.contents = _coerce(Contents, self.contents)
        self.channels = [_coerce(FrameChannel, c) for c in self.channels]

