"""Chunk names of modern ND2 files: the one grammar and registry.

Every chunk of a 2.x/3.x file is found by name through the chunk map. This module
is the single place that knows those names: how frame chunks are numbered, which
chunk holds each metadata kind in each format version (LiteVariant ``...LV!`` in
3.x, XML in 2.x) and the root struct name readers unwrap, and the families of
auxiliary chunks (``CustomData|X!``, ``CustomDataVar|X!``, ``CustomDataSeq|X|N!``,
pyramid levels, binary layers). See ``docs/format.md#nd2_container``.

Grammar (every name ends with its only ``!``; ``N`` is a decimal sequence index)::

    ImageDataSeq|N!                 frame N
    ImageAttributesLV!  ...         metadata (3.x, LiteVariant), see META_CHUNKS
    ImageAttributes!    ...         metadata (2.x, XML)
    ImageMetadataSeqLV|N!           per-frame picture metadata (3.x; 2.x: ImageMetadataSeq|N!)
    CustomData|<tag>!               binary / LiteVariant payload
    CustomDataVar|<tag>!            variant (XML or LiteVariant) payload
    CustomDataSeq|<tag>|N!          per-frame data; tags RleZipBinarySequence... (RLE
                                    masks), DownsampledColorData_<S> (pyramid levels),
                                    TiledRasterBinaryData_... (raster binary layers)
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Literal, NamedTuple

__all__ = [
    "ACQ_FRAMES_CACHE",
    "ACQ_TIMES2_CACHE",
    "ACQ_TIMES_CACHE",
    "PFS_STATUS",
    "CUSTOM_DATA_PREFIX",
    "CUSTOM_DATA_SEQ_PREFIX",
    "CUSTOM_DATA_VAR_PREFIX",
    "DOWNSAMPLED_PREFIX",
    "DOWNSAMPLED_TILED_RASTER_PREFIX",
    "FILEMAP_NAME",
    "FRAME_PREFIX",
    "LV_CUSTOM_NAMES",
    "MAP_SIGNATURE",
    "META_CHUNKS",
    "META_KINDS",
    "PIXEL_PREFIXES",
    "RLE_MASK_PREFIX",
    "SIGNATURE_NAME",
    "TILED_RASTER_PREFIX",
    "WELLPLATE_DESC",
    "WELLPLATE_FRAME_INFO",
    "ChunkKind",
    "MetaChunk",
    "MetaKind",
    "ParsedName",
    "classify",
    "custom_data_name",
    "custom_data_seq_name",
    "custom_data_var_name",
    "downsampled_name",
    "expects_lite_variant",
    "expects_xml",
    "frame_metadata_name",
    "frame_name",
    "is_canonical_frame_name",
    "is_lite_variant_name",
    "meta_chunk",
    "meta_kind",
    "parse",
    "parse_frame_index",
    "parse_sequence_index",
    "root_name",
    "split_sequence",
]

# ----------------------------------------------------------------------------- fixed names

# The three fixed names are the ``-nd2kit: constants`` of spec/nd2_container.ksy
# (file_signature, map_signature, filemap_name); tests check them against the spec.
#: the file signature chunk at offset 0 (spec: signature_chunk.name)
SIGNATURE_NAME = "ND2 FILE SIGNATURE CHUNK NAME01!"
#: the chunk map's end marker and trailer signature (spec: map_trailer.signature)
MAP_SIGNATURE = "ND2 CHUNK MAP SIGNATURE 0000001!"
#: the chunk map chunk (spec constant filemap_name)
FILEMAP_NAME = "ND2 FILEMAP SIGNATURE NAME 0001!"

FRAME_PREFIX = "ImageDataSeq|"
CUSTOM_DATA_PREFIX = "CustomData|"
CUSTOM_DATA_VAR_PREFIX = "CustomDataVar|"
CUSTOM_DATA_SEQ_PREFIX = "CustomDataSeq|"
#: ``CustomDataSeq|RleZipBinarySequence<...>|N!`` RLE binary-layer masks
RLE_MASK_PREFIX = CUSTOM_DATA_SEQ_PREFIX + "RleZipBinarySequence"
#: ``CustomDataSeq|DownsampledColorData_<S>|N!`` stored pyramid levels
DOWNSAMPLED_PREFIX = CUSTOM_DATA_SEQ_PREFIX + "DownsampledColorData_"
#: ``CustomDataSeq|TiledRasterBinaryData_<id>[_<ty>_<tx>]|N!`` raster binary-layer tiles
TILED_RASTER_PREFIX = CUSTOM_DATA_SEQ_PREFIX + "TiledRasterBinaryData_"
#: ``CustomDataSeq|DownsampledTiledRasterBinaryData_<id>_<S>_<ty>_<tx>|N!``
DOWNSAMPLED_TILED_RASTER_PREFIX = CUSTOM_DATA_SEQ_PREFIX + "DownsampledTiledRasterBinaryData_"
#: chunks whose payload is pixels (frames, pyramid levels, raster tiles)
PIXEL_PREFIXES = (FRAME_PREFIX, DOWNSAMPLED_PREFIX, TILED_RASTER_PREFIX,
                  DOWNSAMPLED_TILED_RASTER_PREFIX)

ACQ_TIMES_CACHE = "CustomData|AcqTimesCache!"
ACQ_TIMES2_CACHE = "CustomData|AcqTimes2Cache!"
ACQ_FRAMES_CACHE = "CustomData|AcqFramesCache!"
#: Perfect Focus status per frame (i32)
PFS_STATUS = "CustomData|PFS_STATUS!"
WELLPLATE_DESC = "CustomData|WellPlateDesc_0!"
WELLPLATE_FRAME_INFO = "CustomData|WellPlateFrameInfoZJSON!"

#: ``CustomData|...!`` chunks that hold LiteVariant although their names lack "LV"
LV_CUSTOM_NAMES = frozenset({
    "CustomData|ExperimentEventsV1_0!",
    "CustomData|RoiMetadata_v1!",
    WELLPLATE_DESC,
    "CustomData|CustomDescriptionV1_0!",
    "CustomData|JobDefinitionDescV1_0!",
    "CustomData|JobDefinitionV1_0!",
})

# ----------------------------------------------------------------------------- metadata

MetaKind = Literal["attributes", "metadata", "experiment", "text_info", "events", "calibration"]


class MetaChunk(NamedTuple):
    """Where one metadata kind lives: chunk names per version and the root struct.

    Attributes
    ----------
    lite_variant : str
        3.x (LiteVariant) chunk name.
    xml : str
        2.x (XML variant) chunk name.
    root : str or None
        Name of the root struct readers unwrap (None: not checked).
    """

    lite_variant: str
    xml: str
    root: str | None


#: metadata chunks by kind (the per-frame picture metadata is the ``|0`` entry)
META_CHUNKS: dict[str, MetaChunk] = {
    "attributes": MetaChunk("ImageAttributesLV!", "ImageAttributes!", "SLxImageAttributes"),
    "metadata": MetaChunk("ImageMetadataSeqLV|0!", "ImageMetadataSeq|0!", "SLxPictureMetadata"),
    "experiment": MetaChunk("ImageMetadataLV!", "ImageMetadata!", "SLxExperiment"),
    "text_info": MetaChunk("ImageTextInfoLV!", "ImageTextInfo!", "SLxImageTextInfo"),
    "events": MetaChunk("ImageEventsLV!", "ImageEvents!", "RLxExperimentRecord"),
    "calibration": MetaChunk("ImageCalibrationLV|0!", "ImageCalibration|0!", None),
}
#: the four kinds every reader decodes
META_KINDS: tuple[str, ...] = ("attributes", "metadata", "experiment", "text_info")

#: root struct names of LiteVariant chunks outside META_CHUNKS
_CUSTOM_ROOTS: dict[str, str] = {
    "CustomData|ExperimentEventsV1_0!": "RLxExperimentRecord",
    "CustomData|RoiMetadata_v1!": "RoiMetadata_v1",
    WELLPLATE_DESC: "PlateDesc",
    "CustomData|CustomDescriptionV1_0!": "CLxCustomDescription",
}

_SEQ_META_LV = "ImageMetadataSeqLV|"
_SEQ_META_XML = "ImageMetadataSeq|"
_SEQ_CAL_LV = "ImageCalibrationLV|"
_SEQ_CAL_XML = "ImageCalibration|"

_BY_NAME: dict[str, tuple[str, bool]] = {}
for _k, _m in META_CHUNKS.items():
    _BY_NAME[_m.lite_variant] = (_k, True)
    _BY_NAME[_m.xml] = (_k, False)


def _major(version: int | tuple[int, ...]) -> int:
    return version if isinstance(version, int) else int(version[0])


def meta_chunk(kind: str, version: int | tuple[int, ...]) -> str:
    """Name of the chunk holding metadata `kind` in a file of format `version`.

    Parameters
    ----------
    kind : str
        One of :data:`META_CHUNKS` (``attributes``, ``metadata``, ``experiment``,
        ``text_info``, ``events``, ``calibration``).
    version : int or tuple
        Major version, or ``(major, minor)``; 3 and later use LiteVariant names.

    Raises
    ------
    KeyError
        Unknown `kind`.
    """
    m = META_CHUNKS[kind]
    return m.lite_variant if _major(version) >= 3 else m.xml


def frame_metadata_name(index: int, version: int | tuple[int, ...]) -> str:
    """``ImageMetadataSeqLV|N!`` (3.x) or ``ImageMetadataSeq|N!`` (2.x)."""
    return f"{_SEQ_META_LV if _major(version) >= 3 else _SEQ_META_XML}{int(index)}!"


def meta_kind(name: str) -> tuple[str, bool] | None:
    """``(kind, is_lite_variant)`` of a metadata chunk name, or None.

    Per-frame names (``ImageMetadataSeqLV|N!``, ``ImageCalibration|N!``) of any N map
    to ``metadata`` / ``calibration``.
    """
    hit = _BY_NAME.get(name)
    if hit is not None:
        return hit
    for pre, kind, lv in ((_SEQ_META_LV, "metadata", True), (_SEQ_META_XML, "metadata", False),
                          (_SEQ_CAL_LV, "calibration", True), (_SEQ_CAL_XML, "calibration", False)):
        if name.startswith(pre) and parse_sequence_index(name, pre) is not None:
            return kind, lv
    return None


def root_name(chunk: str) -> str | None:
    """Name of the root struct of a LiteVariant/XML chunk readers look up, or None.

    Examples: ``ImageAttributesLV!`` -> ``SLxImageAttributes``,
    ``ImageMetadataSeqLV|3!`` -> ``SLxPictureMetadata``,
    ``CustomData|WellPlateDesc_0!`` -> ``PlateDesc``.
    """
    hit = _CUSTOM_ROOTS.get(chunk)
    if hit is not None:
        return hit
    mk = meta_kind(chunk)
    return META_CHUNKS[mk[0]].root if mk is not None else None


_XML_RE = re.compile(
    r"(ImageAttributes|ImageMetadata|ImageTextInfo|ImageEvents)!\Z"
    r"|(ImageMetadataSeq|ImageCalibration)\|\d+!\Z"
)
_LV_RE = re.compile(r"LV(\|\d+)?!\Z")


def expects_xml(name: str) -> bool:
    """True for the 2.x metadata names whose payload must be XML variant."""
    return _XML_RE.match(name) is not None


def is_lite_variant_name(name: str) -> bool:
    """True when the name itself says LiteVariant (ends ``LV!`` or ``LV|N!``)."""
    return _LV_RE.search(name) is not None


def expects_lite_variant(name: str) -> bool:
    """True for names whose payload is LiteVariant: ``...LV!``/``...LV|N!`` and
    :data:`LV_CUSTOM_NAMES`."""
    return name in LV_CUSTOM_NAMES or is_lite_variant_name(name)


# ----------------------------------------------------------------------------- sequences


def frame_name(index: int) -> str:
    """``ImageDataSeq|N!`` for frame `index`."""
    return f"{FRAME_PREFIX}{int(index)}!"


def parse_sequence_index(name: str, prefix: str) -> int | None:
    """N of a name ``<prefix>N!`` (N = 1..18 decimal digits), else None.

    Leading zeros are accepted (as :meth:`ChunkMap.sequence` accepts them); use
    :func:`is_canonical_frame_name` to reject them.
    """
    if not name.startswith(prefix) or not name.endswith("!"):
        return None
    digits = name[len(prefix) : -1]
    if not 1 <= len(digits) <= 18 or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def split_sequence(name: str) -> tuple[str, int] | None:
    """``(prefix, N)`` of any numbered name ``<prefix>N!`` whose prefix ends with ``|``
    (``ImageDataSeq|12!`` -> ``("ImageDataSeq|", 12)``,
    ``CustomDataSeq|RleZipBinarySequence_1_v1|0!`` -> ``("CustomDataSeq|RleZipBinarySequence_1_v1|", 0)``),
    else None. N follows :func:`parse_sequence_index`."""
    bar = name.rfind("|")
    if bar < 0:
        return None
    prefix = name[: bar + 1]
    n = parse_sequence_index(name, prefix)
    return None if n is None else (prefix, n)


def parse_frame_index(name: str) -> int | None:
    """N of ``ImageDataSeq|N!``, or None for any other name."""
    return parse_sequence_index(name, FRAME_PREFIX)


def is_canonical_frame_name(name: str) -> bool:
    """True for ``ImageDataSeq|N!`` with N written without leading zeros."""
    n = parse_frame_index(name)
    return n is not None and frame_name(n) == name


def custom_data_name(tag: str) -> str:
    """``CustomData|<tag>!``."""
    return f"{CUSTOM_DATA_PREFIX}{tag}!"


def custom_data_var_name(tag: str) -> str:
    """``CustomDataVar|<tag>!``."""
    return f"{CUSTOM_DATA_VAR_PREFIX}{tag}!"


def custom_data_seq_name(tag: str, index: int) -> str:
    """``CustomDataSeq|<tag>|N!`` (per-frame data of frame `index`)."""
    return f"{CUSTOM_DATA_SEQ_PREFIX}{tag}|{int(index)}!"


def downsampled_name(size: int, index: int) -> str:
    """``CustomDataSeq|DownsampledColorData_<size>|N!``: the stored pyramid level whose
    larger side rounds up to the power of two `size`, of frame `index`."""
    return f"{DOWNSAMPLED_PREFIX}{int(size)}|{int(index)}!"


# ----------------------------------------------------------------------------- classify


class ChunkKind(str, Enum):
    """What a chunk name says about its chunk (the name alone; see :func:`classify`)."""

    SIGNATURE = "signature"
    FILEMAP = "map"
    FRAME = "frame"
    METADATA = "metadata"              #: a META_CHUNKS entry (any version)
    FRAME_METADATA = "frame-metadata"  #: ImageMetadataSeq[LV]|N! / ImageCalibration[LV]|N!, N > 0
    RLE_MASK = "rle-mask"
    DOWNSAMPLED = "downsampled"
    TILED_RASTER = "tiled-raster"
    DOWNSAMPLED_TILED_RASTER = "downsampled-tiled-raster"
    CUSTOM_DATA = "custom-data"
    CUSTOM_DATA_VAR = "custom-data-var"
    CUSTOM_DATA_SEQ = "custom-data-seq"
    OTHER = "other"


class ParsedName(NamedTuple):
    """A chunk name taken apart.

    Attributes
    ----------
    kind : ChunkKind
    tag : str or None
        The family-specific part: the metadata kind for METADATA/FRAME_METADATA,
        ``<tag>`` of ``CustomData|<tag>!`` / ``CustomDataVar|<tag>!`` /
        ``CustomDataSeq|<tag>|N!`` (for pyramid levels and raster tiles, the part
        after the family prefix, e.g. ``"1024"``), else None.
    number : int or None
        N of sequence names (frames, ``...|N!``), else None.
    """

    kind: ChunkKind
    tag: str | None
    number: int | None


_SEQ_FAMILIES = (
    (RLE_MASK_PREFIX, ChunkKind.RLE_MASK, len(CUSTOM_DATA_SEQ_PREFIX)),
    (DOWNSAMPLED_TILED_RASTER_PREFIX, ChunkKind.DOWNSAMPLED_TILED_RASTER,
     len(DOWNSAMPLED_TILED_RASTER_PREFIX)),
    (DOWNSAMPLED_PREFIX, ChunkKind.DOWNSAMPLED, len(DOWNSAMPLED_PREFIX)),
    (TILED_RASTER_PREFIX, ChunkKind.TILED_RASTER, len(TILED_RASTER_PREFIX)),
)


def parse(name: str) -> ParsedName:
    """Take a chunk name apart (kind, tag, sequence index); never raises."""
    if name == SIGNATURE_NAME:
        return ParsedName(ChunkKind.SIGNATURE, None, None)
    if name == FILEMAP_NAME:
        return ParsedName(ChunkKind.FILEMAP, None, None)
    n = parse_frame_index(name)
    if n is not None:
        return ParsedName(ChunkKind.FRAME, None, n)
    mk = _BY_NAME.get(name)
    if mk is not None:
        return ParsedName(ChunkKind.METADATA, mk[0], None)
    mk = meta_kind(name)
    if mk is not None:
        return ParsedName(ChunkKind.FRAME_METADATA, mk[0], int(name[name.rindex("|") + 1 : -1]))
    if name.startswith(CUSTOM_DATA_SEQ_PREFIX) and name.endswith("!"):
        bar = name.rfind("|")
        idx = parse_sequence_index(name, name[: bar + 1]) if bar >= len(CUSTOM_DATA_SEQ_PREFIX) else None
        if idx is not None:
            for pre, kind, cut in _SEQ_FAMILIES:
                if name.startswith(pre):
                    return ParsedName(kind, name[cut:bar], idx)
            return ParsedName(ChunkKind.CUSTOM_DATA_SEQ, name[len(CUSTOM_DATA_SEQ_PREFIX) : bar], idx)
    if name.startswith(CUSTOM_DATA_VAR_PREFIX) and name.endswith("!"):
        return ParsedName(ChunkKind.CUSTOM_DATA_VAR, name[len(CUSTOM_DATA_VAR_PREFIX) : -1], None)
    if name.startswith(CUSTOM_DATA_PREFIX) and name.endswith("!"):
        return ParsedName(ChunkKind.CUSTOM_DATA, name[len(CUSTOM_DATA_PREFIX) : -1], None)
    return ParsedName(ChunkKind.OTHER, None, None)


def classify(name: str) -> ChunkKind:
    """The :class:`ChunkKind` of a chunk name (``parse(name).kind``)."""
    return parse(name).kind
