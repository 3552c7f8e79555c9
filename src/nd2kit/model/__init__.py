"""Builders of the typed metadata structures (:mod:`nd2kit.model.structures`).

Pure functions from decoded chunks (nested dicts, as returned by
:func:`nd2kit.codecs.lite_variant.decode` for v3 files and
:func:`nd2kit.codecs.xml_variant.decode_xml_variant` for v2 files, both with
``strip_prefix=False`` and the root record unwrapped with :func:`unwrap_root`)
to structures equal to those of nd2 0.12:

* ``ImageAttributesLV!`` (root ``SLxImageAttributes``) -> :func:`load_attributes`
* ``ImageMetadataLV!`` (root ``SLxExperiment``) -> :func:`load_experiment`
* ``ImageMetadataSeqLV|0!`` (root ``SLxPictureMetadata``) -> :func:`load_metadata`
* ``ImageTextInfoLV!`` (root ``SLxImageTextInfo``) -> :func:`load_text_info`

(v2 chunk names are the same without ``LV``.)  Unknown keys never raise; each
module has an ``unknown_keys`` function listing the raw entries its structure
does not represent, and :func:`unknown_keys` here dispatches on the chunk kind.
"""

from __future__ import annotations

from typing import Any

from . import attributes, experiment, limits, metadata, text_info
from ._coerce import MAP_TYPES as _MAP
from .attributes import load_attributes, numpy_dtype, pixel_data_type
from .experiment import axis_names, load_experiment, loop_indices, seq_count
from .metadata import channel_count, load_metadata, modality_flags, voxel_size, wavelengths
from .structures import Attributes, ExpLoop
from .text_info import load_text_info

__all__ = [
    "ROOT_NAMES",
    "axis_names",
    "channel_count",
    "components_per_channel",
    "load_attributes",
    "load_experiment",
    "load_metadata",
    "limits",
    "load_text_info",
    "loop_indices",
    "modality_flags",
    "numpy_dtype",
    "pixel_data_type",
    "seq_count",
    "sizes_from",
    "unknown_keys",
    "unwrap_root",
    "voxel_size",
    "wavelengths",
]

#: Root record name of each metadata chunk kind.
ROOT_NAMES: dict[str, str] = {
    "attributes": "SLxImageAttributes",
    "metadata": "SLxPictureMetadata",
    "experiment": "SLxExperiment",
    "text_info": "SLxImageTextInfo",
}

_UNKNOWN = {
    "attributes": attributes.unknown_keys,
    "metadata": metadata.unknown_keys,
    "experiment": experiment.unknown_keys,
    "text_info": text_info.unknown_keys,
}


def unwrap_root(decoded: Any, kind: str) -> Any:
    """Remove the root record of a decoded chunk, as nd2 does.

    Parameters
    ----------
    decoded : Any
        Output of the LiteVariant / XML-variant decoder.
    kind : {"attributes", "metadata", "experiment", "text_info"}
        Chunk kind (see :data:`ROOT_NAMES`).

    Returns
    -------
    Any
        ``decoded[root]`` when present, else `decoded` itself (v2 roots are
        already unwrapped by the XML decoder).
    """
    if isinstance(decoded, _MAP):
        return decoded.get(ROOT_NAMES[kind], decoded)
    return decoded


def unknown_keys(kind: str, raw: Any) -> dict[str, Any]:
    """Raw entries of a chunk that the typed structures do not represent.

    Parameters
    ----------
    kind : {"attributes", "metadata", "experiment", "text_info"}
    raw : Mapping
        The unwrapped chunk given to the corresponding builder.

    Returns
    -------
    dict
        ``"path/to/key" -> value``.
    """
    return _UNKNOWN[kind](raw)


def components_per_channel(attrs: Attributes) -> int:
    """Components per channel (3 for RGB), as nd2 computes it.

    Parameters
    ----------
    attrs : Attributes

    Returns
    -------
    int
    """
    return attrs.componentCount // (attrs.channelCount or 1)


def sizes_from(attrs: Attributes, exp: list[ExpLoop]) -> dict[str, int]:
    """Axis names and sizes of the file, in array order (nd2's ``sizes``).

    Loop axes in nesting order (``T``, ``P``, ``Z``, ``U``), then ``C``, ``Y``,
    ``X`` and ``S`` for exactly 3 components per channel; when the components
    per channel are not 3, ``C`` counts all components.  Axes of size 1 are
    omitted.

    Parameters
    ----------
    attrs : Attributes
    exp : list of ExpLoop

    Returns
    -------
    dict
        ``{axis: size}``.
    """
    dims: dict[str, int] = {}
    for name, loop in zip(axis_names(exp), exp):
        dims[name] = loop.count
    dims["C"] = dims.pop("C") if "C" in dims else (attrs.channelCount or 1)
    dims["Y"] = attrs.heightPx
    dims["X"] = attrs.widthPx or -1
    if components_per_channel(attrs) == 3:
        dims["S"] = 3
    else:
        dims["C"] = attrs.componentCount
    return {k: v for k, v in dims.items() if v != 1}
