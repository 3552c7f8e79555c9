"""Coercion of decoded values into the types the model promises: one place per rule.

A decoded metadata tree holds whatever the file holds: a number may arrive as a
string, a bool or a nested dict, a count may be negative or absurd. Every typed
builder in ``nd2kit.model`` (and the limnd2-compatible structures above it) turns raw
values into model values through these functions, so that a value is interpreted the
same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["MAP_TYPES", "as_count", "as_float", "as_int", "as_mapping", "as_number", "as_str"]

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
