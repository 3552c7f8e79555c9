"""Text info (``SLxImageTextInfo``, docs/format.md, "Picture metadata and text info")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from ._coerce import MAP_TYPES as _MAP
from .attributes import collect_unknown
from .structures import TextInfo

__all__ = ["TEXT_INFO_KEYS", "load_text_info", "unknown_keys"]

#: ``TextInfo`` key -> raw item name, in file order.
TEXT_INFO_KEYS: dict[str, str] = {
    name: f"TextInfoItem_{i}"
    for i, name in enumerate(
        (
            "imageId",
            "type",
            "group",
            "sampleId",
            "author",
            "description",
            "capturing",
            "sampling",
            "location",
            "date",
            "conclusion",
            "info1",
            "info2",
            "optics",
            "appVersion",
        )
    )
}


def load_text_info(raw: Mapping[str, Any] | None) -> TextInfo:
    """Build :class:`~nd2kit.model.structures.TextInfo` from ``SLxImageTextInfo``.

    Parameters
    ----------
    raw : Mapping or None
        Decoded ``ImageTextInfo[LV]!`` (root unwrapped); None when the chunk is
        absent.

    Returns
    -------
    TextInfo
        Only the items with a non-empty value, in item order.
    """
    if not isinstance(raw, _MAP):
        return cast(TextInfo, {})
    out = {key: raw.get(item) for key, item in TEXT_INFO_KEYS.items() if raw.get(item)}
    return cast(TextInfo, out)


def unknown_keys(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Entries of ``SLxImageTextInfo`` that :class:`TextInfo` has no field for.

    Parameters
    ----------
    raw : Mapping or None

    Returns
    -------
    dict
        e.g. ``{"TextInfoItem_15": "..."}``.
    """
    if not isinstance(raw, _MAP):
        return {}
    return collect_unknown(raw, {item: None for item in TEXT_INFO_KEYS.values()})
