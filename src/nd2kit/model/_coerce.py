"""Coercion of decoded values into the types the model promises: one place per rule.

A decoded metadata tree holds whatever the file holds: a number may arrive as a
string, a bool or a nested dict, a count may be negative or absurd. Every typed
builder in ``nd2kit.model`` (and the limnd2-compatible structures above it) turns raw
values into model values through these functions, so that a value is interpreted the
same way everywhere.

Values the reader, the lazy arrays and the compat layers compute with (frame
geometry, sample size, loop counts) go through :func:`checked_int` instead: a value
of the wrong type or outside its range raises
:class:`~nd2kit.errors.CorruptChunkError` naming the chunk, the field path and the
chunk's offset, so that nothing absurd reaches ``int()``, numpy shapes or
allocations.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import CorruptChunkError

__all__ = ["MAP_TYPES", "as_count", "as_float", "as_int", "as_mapping", "as_number", "as_str",
           "checked_int", "describe"]

#: the types a decoded level may have (plain dicts first: the common case is decided fastest)
MAP_TYPES = (dict, Mapping)
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def as_number(value: Any, default: Any = 0.0) -> Any:
    """An ``int`` or ``float`` from the tree, kept as it is; bools become ints; numeric
    strings are parsed as floats; anything else gives `default`."""
    t = type(value)
    if t is float or t is int:  # the usual case, decided without isinstance
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if value is None:
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float = 0.0) -> float:
    """:func:`as_number` as a ``float``."""
    return float(as_number(value, default))


def as_int(value: Any, default: int = 0) -> int:
    """An ``int`` (``int(value)``), or `default` when the value has none."""
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def as_count(value: Any) -> int:
    """A non-negative count (negative and unusable values count as 0)."""
    return max(as_int(value, 0), 0)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A decoded level, or an empty mapping when `value` is not one."""
    return value if isinstance(value, MAP_TYPES) else _EMPTY


def as_str(value: Any, default: str = "") -> str:
    """A string from the tree, or `default`."""
    return value if isinstance(value, str) else default


def describe(value: Any) -> str:
    """A short description of a decoded value for error messages (type and a bounded repr)."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def checked_int(value: Any, *, chunk: str | None, field: str, lo: int, hi: int,
                offset: int | None = None) -> int:
    """An integer model value: the one type-and-range check of the model boundary.

    Parameters
    ----------
    value : Any
        The decoded value: an ``int`` (bools and numpy integers count), or a float
        holding an integer (XML files may spell integers so).
    chunk : str or None
        Chunk the value comes from (e.g. ``"ImageAttributesLV!"``).
    field : str
        Path of the value in the chunk (e.g. ``"SLxImageAttributes.uiHeight"``).
    lo, hi : int
        Allowed range, both included.
    offset : int, optional
        Byte offset of the chunk (or the value) in the file.

    Returns
    -------
    int

    Raises
    ------
    CorruptChunkError
        The value is not an integer, or lies outside ``lo .. hi``.
    """
    if type(value) is int:  # the usual case, decided without isinstance
        v = value
    elif isinstance(value, (int, np.integer)):
        v = int(value)
    elif isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        raise CorruptChunkError(f"{field.rsplit('.', 1)[-1]} is {describe(value)}, expected an integer",
                                chunk=chunk, field=field, offset=offset)
    if not lo <= v <= hi:
        raise CorruptChunkError(f"{field.rsplit('.', 1)[-1]} = {v} is outside {lo} .. {hi}",
                                chunk=chunk, field=field, offset=offset)
    return v
