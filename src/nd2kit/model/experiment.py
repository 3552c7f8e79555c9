"""Experiment loops (``SLxExperiment``, docs/format.md, "Experiment loops").

:func:`load_experiment` walks the loop tree of ``ImageMetadata[LV]!`` and
returns the loops that define axes, in nesting order, exactly as nd2 0.12
does for well-formed trees.  It accepts both encodings:

* v3 LiteVariant trees (``uLoopPars`` is the parameter struct, ``pItemValid`` /
  ``pPeriodValid`` are lists of ints);
* v2 XML trees (``uLoopPars`` wrapped in a one-element list, validity flags as
  mappings or base64 ``CLxByteArray`` text, XY points as parallel
  ``dPosX``/``dPosY``/… maps).

Malformed or unknown content never raises: unsupported loop types end the
chain like a level without parameters, missing numbers default to 0.
:func:`unknown_keys` lists what the structures do not represent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from itertools import product
from typing import Any, cast

from ._coerce import MAP_TYPES as _MAP
from ._coerce import as_count as _count
from ._coerce import as_mapping as _mapping
from ._coerce import as_number as _num
from .attributes import byte_array, collect_unknown
from .structures import (
    CustomLoop,
    ExpLoop,
    LoopType,
    NETimeLoop,
    NETimeLoopParams,
    Period,
    PeriodDiff,
    Position,
    SpectLoop,
    StagePosition,
    TimeLoop,
    TimeLoopParams,
    XYPosLoop,
    XYPosLoopParams,
    ZStackLoop,
    ZStackLoopParams,
)

__all__ = [
    "AXIS_OF_LOOP",
    "axis_names",
    "home_index",
    "load_experiment",
    "loop_indices",
    "seq_count",
    "unknown_keys",
    "validity_flags",
]

#: Axis letter of each loop type (nd2's convention, docs/format.md, "Experiment loops").
AXIS_OF_LOOP: dict[str, str] = {
    "Unknown": "U",
    "TimeLoop": "T",
    "XYPosLoop": "P",
    "ZStackLoop": "Z",
    "NETimeLoop": "T",
    "CustomLoop": "U",
}

_ITEM_KEY = re.compile(r"i(\d{10})\Z")
_NUMBERED_KEY = re.compile(r"\D*(\d+)\Z")
_FIRST = "i0000000000"
#: largest number of missing list items restored by :func:`_ordered_values`
_MAX_GAP = 65536


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------









def _text(value: Any) -> str | None:
    """A name from the tree: a string, else None (a damaged file may store a number or
    bytes where NIS writes a string; names become coordinates and labels)."""
    return value if isinstance(value, str) else None

def _unwrap_list(params: Any) -> Mapping[str, Any]:
    """``uLoopPars`` of v2 files is a one-element list ``{"i0000000000": {...}}``."""
    pars = _mapping(params)
    if len(pars) == 1 and _FIRST in pars and isinstance(pars[_FIRST], _MAP):
        return cast("Mapping[str, Any]", pars[_FIRST])
    return pars


_INDEX_KEYS: list[str] = []


def _index_keys(n: int) -> list[str]:
    """``["i0000000000", ..., "i%010d" % (n - 1)]`` (cached)."""
    if len(_INDEX_KEYS) < n:
        _INDEX_KEYS.extend(f"i{i:010d}" for i in range(len(_INDEX_KEYS), n))
    return _INDEX_KEYS[:n]


def _ordered_values(mapping: Mapping[str, Any]) -> list[Any]:
    """Values of a list-like mapping in item order, with gaps restored.

    The XML decoder drops falsy list items (``no_name`` entries whose value is
    ``false``/``0``), so ``{"i0000000000": True, "i0000000002": True}`` stands
    for ``[True, False, True]``; the gap is refilled with ``False``.  Other keys
    (``_00``, ``Point1``…) are ordered by their trailing number, anything else
    by key.
    """
    if not mapping:
        return []
    keys = list(mapping)
    if keys == _index_keys(len(keys)):  # the usual i0000000000, i0000000001, ... in order
        return list(mapping.values())
    indices = [_ITEM_KEY.match(str(k)) for k in keys]
    if all(indices):
        pos = [int(m.group(1)) for m in indices]  # type: ignore[union-attr]
        size = max(pos) + 1
        if size - len(keys) > _MAX_GAP:  # not a plausible list: keep the order only
            return [mapping[k] for _, k in sorted(zip(pos, keys))]
        out: list[Any] = [False] * size
        for i, k in zip(pos, keys):
            out[i] = mapping[k]
        return out
    numbered = [_NUMBERED_KEY.match(str(k)) for k in keys]
    if all(numbered):
        nums = [int(m.group(1)) for m in numbered]  # type: ignore[union-attr]
        order = sorted(range(len(keys)), key=lambda i: (nums[i], str(keys[i])))
        return [mapping[keys[i]] for i in order]
    return [mapping[k] for k in sorted(keys, key=str)]


def validity_flags(value: Any) -> list[bool] | None:
    """Decode ``pItemValid`` / ``pPeriodValid``.

    Parameters
    ----------
    value : Any
        A list of ints (LiteVariant BYTEARRAY), base64 text bytes (XML
        ``CLxByteArray``), or a mapping of flags (XML list / ``_00`` map).

    Returns
    -------
    list of bool or None
        One flag per item, or None when the value is absent or empty, which
        means "all items valid".
    """
    if value is None:
        return None
    if isinstance(value, _MAP):
        flags = _ordered_values(value)
    elif isinstance(value, (bytes, bytearray, memoryview, list, tuple)):
        data = byte_array(value)
        flags = list(data) if data is not None else [bool(v) for v in value]
    else:
        return None
    if not flags:
        return None
    return [bool(f) for f in flags]


def _keep_valid(items: list[Any], flags: list[bool] | None) -> list[Any]:
    # like nd2: items beyond the end of the flag array are dropped
    if flags is None:
        return items
    return [item for item, ok in zip(items, flags) if ok]


# ---------------------------------------------------------------------------
# single loops
# ---------------------------------------------------------------------------


def _time_fields(pars: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """Frame count and the ``TimeLoopParams`` fields of a time loop or NE phase."""
    count = _count(pars.get("uiCount", 0))
    if not count:
        return None
    return count, {
        "startMs": _num(pars.get("dStart", 0.0)),
        "periodMs": _num(pars.get("dPeriod", 0.0)),
        "durationMs": _num(pars.get("dDuration", 0.0)),
        "periodDiff": PeriodDiff(
            avg=_num(pars.get("dAvgPeriodDiff", 0), 0),
            max=_num(pars.get("dMaxPeriodDiff", 0), 0),
            min=_num(pars.get("dMinPeriodDiff", 0), 0),
        ),
    }


def _time_loop(pars: Mapping[str, Any]) -> TimeLoop | None:
    parsed = _time_fields(pars)
    if parsed is None:
        return None
    count, fields = parsed
    return TimeLoop(count=count, nestingLevel=0, parameters=TimeLoopParams(**fields))


def _ne_time_loop(pars: Mapping[str, Any]) -> NETimeLoop:
    raw_periods = pars.get("pPeriod")
    periods_in = _ordered_values(raw_periods) if isinstance(raw_periods, _MAP) else []
    # keep positions aligned with the validity flags (gaps become empty periods)
    periods_in = [p if isinstance(p, _MAP) else {} for p in periods_in]
    flags = validity_flags(pars.get("pPeriodValid"))
    periods: list[Period] = []
    for raw in _keep_valid(periods_in, flags):
        parsed = _time_fields(raw)
        if parsed is not None:
            periods.append(Period(**parsed[1], count=parsed[0]))
    total = sum(p.count for p in periods)
    return NETimeLoop(count=total, nestingLevel=0, parameters=NETimeLoopParams(periods=periods))


_LEGACY_XY_MAPS = ("dPosX", "dPosY", "dPosZ", "dPFSOffset", "pPosName")


def _legacy_points(pars: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Points of old XML files: parallel maps ``dPosX``, ``dPosY``, … by item."""
    maps = {k: pars[k] for k in _LEGACY_XY_MAPS if isinstance(pars.get(k), _MAP)}
    if "dPosX" not in maps:
        return []
    xkeys = list(maps["dPosX"])
    if all(_ITEM_KEY.match(str(k)) for m in maps.values() for k in m):
        # list items: zeros/empty names were dropped by the XML decoder
        n_keys = max(len(m) for m in maps.values())
        size = max((int(str(k)[1:]) + 1 for m in maps.values() for k in m), default=0)
        # trailing points whose values were all zero are only known from uiCount
        size = min(max(size, _count(pars.get("uiCount", 0))), n_keys + 1024)
        keys = [f"i{i:010d}" for i in range(size)]
    else:
        keys = xkeys
    points = []
    for key in keys:
        point = {name: maps.get(name, {}).get(key, 0.0) for name in ("dPosX", "dPosY", "dPosZ")}
        if "dPFSOffset" in maps and key in maps["dPFSOffset"]:
            point["dPFSOffset"] = maps["dPFSOffset"][key]
        if "pPosName" in maps and key in maps["pPosName"]:
            point["pPosName"] = maps["pPosName"][key]
        points.append(point)
    return points


def _xy_loop(pars: Mapping[str, Any], valid: Any) -> XYPosLoop:
    use_z = pars.get("bUseZ", False)
    relative = pars.get("bRelativeXY", False)
    ref_x = _num(pars.get("dReferenceX", 0), 0) if relative else 0
    ref_y = _num(pars.get("dReferenceY", 0), 0) if relative else 0

    if "Points" in pars:
        raw_points = _ordered_values(_mapping(pars["Points"]))
    else:
        raw_points = _legacy_points(pars)

    points: list[Position] = []
    for raw in raw_points:
        raw = _mapping(raw)
        pfs = _num(raw.get("dPFSOffset", 0), 0)
        points.append(
            Position(
                stagePositionUm=StagePosition(
                    ref_x + _num(raw.get("dPosX", 0.0)),
                    ref_y + _num(raw.get("dPosY", 0.0)),
                    _num(raw.get("dPosZ", 0.0)) if use_z else 0.0,
                ),
                pfsOffset=pfs if pfs >= 0 else None,
                name=_text(raw.get("dPosName")) or _text(raw.get("pPosName")),
            )
        )
    points = _keep_valid(points, validity_flags(valid))
    return XYPosLoop(
        count=len(points),
        nestingLevel=0,
        parameters=XYPosLoopParams(isSettingZ=use_z, points=points),
    )


def home_index(
    inverted: bool,
    count: int,
    z_type: int,
    home_um: float,
    low_um: float,
    high_um: float,
    step_um: float,
    tol: float = 0.05,
) -> int:
    """Index of the Z plane at the home position (docs/format.md, "Experiment loops").

    Parameters
    ----------
    inverted : bool
        ``bZInverted``.
    count : int
        Number of planes.
    z_type : int
        ``iType``: 2/3 and 6/7 are "around home" stacks, others use the middle.
    home_um, low_um, high_um : float
        ``dZHome``, ``dZLow``, ``dZHigh``.
    step_um : float
        Step between planes (already derived from the range when 0).
    tol : float, optional
        Fraction of a step tolerated when rounding up.

    Returns
    -------
    int
        A value in ``[0, count - 1]`` (0 for one plane or unusable numbers).
    """
    if count <= 1:
        return 0
    from_low = abs(low_um - home_um)
    from_high = abs(high_um - home_um)
    if z_type in (2, 3):
        distance = from_high if inverted else from_low
    elif z_type in (6, 7):
        distance = from_low if inverted else from_high
    else:
        return (count - 1) // 2
    try:
        if step_um <= 0:
            span = abs(high_um - low_um)
            if not span:
                return 0
            return min(int((count - 1) * distance / span), count - 1)
        return min(int(abs(math.ceil((distance - tol * step_um) / step_um))), count - 1)
    except (ValueError, OverflowError, ZeroDivisionError):  # NaN / inf in the file
        return 0


def _z_loop(pars: Mapping[str, Any]) -> ZStackLoop:
    count = _count(pars.get("uiCount", 0))
    low = _num(pars.get("dZLow", 0.0))
    high = _num(pars.get("dZHigh", 0.0))
    step = _num(pars.get("dZStep", 0.0))
    home = _num(pars.get("dZHome", 0.0))
    inverted = pars.get("bZInverted", False)
    z_type = _num(pars.get("iType", 0), 0)
    if step == 0 and count > 1:
        step = abs(high - low) / (count - 1)
    params = ZStackLoopParams(
        homeIndex=home_index(inverted, count, z_type, home, low, high, step),
        stepUm=step,
        bottomToTop=bool(z_type < 4),
        deviceName=pars.get("wsZDevice"),
    )
    return ZStackLoop(count=count, nestingLevel=0, parameters=params)


def _loop_type(level: Mapping[str, Any]) -> int | None:
    try:
        return int(level.get("eType", 0))
    except (TypeError, ValueError, OverflowError):
        return None


def _single_loop(level: Mapping[str, Any]) -> ExpLoop | SpectLoop | None:
    """The loop of one experiment level, or None when it ends the chain."""
    kind = _loop_type(level)
    raw_pars = level.get("uLoopPars")
    if not raw_pars or not isinstance(raw_pars, _MAP) or kind is None:
        return None
    pars = _unwrap_list(raw_pars)
    if kind == LoopType.TimeLoop:
        return _time_loop(pars)
    if kind == LoopType.XYPosLoop:
        return _xy_loop(pars, level.get("pItemValid"))
    if kind == LoopType.ZStackLoop:
        return _z_loop(pars)
    if kind == LoopType.NETimeLoop:
        return _ne_time_loop(pars)
    if kind == LoopType.SpectLoop:
        count = _count(_mapping(pars.get("pPlanes")).get("uiCount", pars.get("uiCount", 0)))
        return SpectLoop(count=count)
    if kind == LoopType.CustomLoop:
        return CustomLoop(count=_count(pars.get("uiCount", 0)))
    # 0 unknown, 3 XYDiscr, 5 Polar, 9 ManTime, 10 ZAccurate, anything else:
    # nothing is known about their frames; nd2 raises NotImplementedError here.
    return None


# ---------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------


def _sub_experiment(pars: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The nested experiment of an ND time loop's ``pSubLoops`` (nd2 issue #190)."""
    sub = _mapping(pars.get("pSubLoops")).get(_FIRST)
    nxt = _mapping(_mapping(sub).get("ppNextLevelEx")).get(_FIRST)
    if not isinstance(nxt, _MAP):
        return None
    exp = nxt.get("SLxExperiment", nxt)
    return exp if isinstance(exp, _MAP) else None


def _walk(level: Mapping[str, Any], depth: int, out: list[ExpLoop], guard: int) -> None:
    if guard > 512:  # absurdly deep (or cyclic) trees
        return
    loop = _single_loop(level)
    if loop is None or loop.count == 0:
        return

    if isinstance(loop, SpectLoop):
        # spectral planes live inside the frame: its children take its depth
        depth -= 1
    elif not out or out[-1].nestingLevel < depth:
        loop.nestingLevel = depth
        out.append(loop)
    else:
        # a sibling at the same depth replaces the previous loop only when it
        # has the same type and more items; anything else is ignored
        last = out[-1]
        if last.nestingLevel == depth and last.type == loop.type:
            loop.nestingLevel = depth
            if last.count < loop.count:
                out[-1] = loop

    pars = _unwrap_list(level.get("uLoopPars"))
    if "pSubLoops" in pars:
        sub = _sub_experiment(pars)
        if sub is not None:
            nested: list[ExpLoop] = []
            _walk(sub, 0, nested, guard + 1)
            out.extend(nested)

    children = level.get("ppNextLevelEx")
    if isinstance(children, _MAP):
        for child in children.values():
            if isinstance(child, _MAP):
                _walk(child, depth + 1, out, guard + 1)


def load_experiment(raw_exp: Mapping[str, Any] | None) -> list[ExpLoop]:
    """Build the list of experiment loops from ``SLxExperiment``.

    Parameters
    ----------
    raw_exp : Mapping or None
        Decoded ``ImageMetadata[LV]!`` (root unwrapped); None or ``{}`` for a
        file without experiment.

    Returns
    -------
    list of ExpLoop
        Loops in nesting order, outermost first.  Spectral loops are omitted
        (they add no axis); the walk follows nd2 0.12 (first chain of
        ``ppNextLevelEx``, same-type siblings replace a loop only when longer,
        a level without parameters or with count 0 ends the chain).
    """
    out: list[ExpLoop] = []
    if isinstance(raw_exp, _MAP):
        _walk(raw_exp, 0, out, 0)
    return out


# ---------------------------------------------------------------------------
# axes and frame addressing
# ---------------------------------------------------------------------------


def axis_names(exp: Iterable[ExpLoop]) -> list[str]:
    """Axis letter of each loop (``T``, ``P``, ``Z``, ``U``).

    Parameters
    ----------
    exp : iterable of ExpLoop

    Returns
    -------
    list of str
    """
    return [AXIS_OF_LOOP.get(loop.type, "U") for loop in exp]


def seq_count(exp: Iterable[ExpLoop]) -> int:
    """Number of frames addressed by the loops (product of counts; 1 if none).

    Parameters
    ----------
    exp : iterable of ExpLoop

    Returns
    -------
    int
    """
    return math.prod(loop.count for loop in exp)


def loop_indices(exp: list[ExpLoop]) -> tuple[dict[str, int], ...]:
    """Loop coordinates of every frame, in sequence (C) order.

    Parameters
    ----------
    exp : list of ExpLoop

    Returns
    -------
    tuple of dict
        ``{axis letter: index}`` per frame; equal to nd2's ``loop_indices``
        (two loops with the same letter keep the inner one's index).
    """
    axes = axis_names(exp)
    return tuple(dict(zip(axes, idx)) for idx in product(*(range(lp.count) for lp in exp)))


# ---------------------------------------------------------------------------
# unknown keys
# ---------------------------------------------------------------------------

_TIME_SCHEMA = {
    "uiCount": None,
    "dStart": None,
    "dPeriod": None,
    "dDuration": None,
    "dAvgPeriodDiff": None,
    "dMaxPeriodDiff": None,
    "dMinPeriodDiff": None,
}
_POINT_SCHEMA = {k: None for k in ("dPosX", "dPosY", "dPosZ", "dPFSOffset", "dPosName", "pPosName")}
_XY_SCHEMA = {
    "uiCount": None,
    "bUseZ": None,
    "bRelativeXY": None,
    "dReferenceX": None,
    "dReferenceY": None,
    "Points": {"*": _POINT_SCHEMA},
    **{k: None for k in _LEGACY_XY_MAPS},
}
_Z_SCHEMA = {
    k: None
    for k in ("uiCount", "dZLow", "dZHigh", "dZStep", "dZHome", "bZInverted", "iType", "wsZDevice")
}
_NE_SCHEMA = {
    "uiCount": None,
    "uiPeriodCount": None,
    "pPeriod": {"*": _TIME_SCHEMA},
    "pPeriodValid": None,
    "pSubLoops": None,  # walked separately
}
_SPECT_SCHEMA = {"uiCount": None, "pPlanes": {"uiCount": None}}
_CUSTOM_SCHEMA = {"uiCount": None}
_PARAM_SCHEMAS: dict[int, dict[str, Any]] = {
    LoopType.TimeLoop: _TIME_SCHEMA,
    LoopType.XYPosLoop: _XY_SCHEMA,
    LoopType.ZStackLoop: _Z_SCHEMA,
    LoopType.NETimeLoop: _NE_SCHEMA,
    LoopType.SpectLoop: _SPECT_SCHEMA,
    LoopType.CustomLoop: _CUSTOM_SCHEMA,
}
_LEVEL_KEYS = {"eType", "uLoopPars", "pItemValid", "ppNextLevelEx", "uiNextLevelCount"}


def _union(*schemas: Mapping[str, Any]) -> dict[str, Any]:
    """Union of schemas (a key read whole anywhere is read whole)."""
    out: dict[str, Any] = {}
    for sch in schemas:
        for k, v in sch.items():
            if k not in out:
                out[k] = v
            elif out[k] is None or v is None:
                out[k] = None
            else:
                out[k] = _union(out[k], v)
    return out


def _read_schema() -> dict[str, Any]:
    level: dict[str, Any] = {}
    pars = _union(*_PARAM_SCHEMAS.values())
    # pSubLoops: {item: {ppNextLevelEx: {item: level or {SLxExperiment: level}}}}
    nested = dict(level)  # filled below (same object graph as `level`)
    pars["pSubLoops"] = {"*": {"ppNextLevelEx": {"*": nested}}}
    pars_or_wrapped = dict(pars)
    pars_or_wrapped[_FIRST] = pars  # trees that wrap uLoopPars in a one-item list
    level.update({"eType": None, "uLoopPars": pars_or_wrapped, "pItemValid": None,
                  "uiNextLevelCount": None, "ppNextLevelEx": {"*": level}})
    nested.update(level)
    nested["SLxExperiment"] = level
    return level


#: Every key of an ``SLxExperiment`` tree that :func:`load_experiment` may read, for
#: any loop type (a recursive schema: readers may decode only these keys with
#: ``nd2kit.codecs.lite_variant.decode(..., schema=READ_SCHEMA)``).
READ_SCHEMA: dict[str, Any] = _read_schema()


def _unknown_level(level: Any, path: str, out: dict[str, Any], guard: int) -> None:
    if not isinstance(level, _MAP) or guard > 512:
        return

    def join(*parts: str) -> str:
        return "/".join((path, *parts)) if path else "/".join(parts)

    kind = _loop_type(level)
    out.update(collect_unknown(level, {k: None for k in _LEVEL_KEYS}, path))

    raw_pars = level.get("uLoopPars")
    if isinstance(raw_pars, _MAP):
        pars = _unwrap_list(raw_pars)
        segs = ["uLoopPars", _FIRST] if pars is not raw_pars else ["uLoopPars"]
        par_schema = _PARAM_SCHEMAS.get(kind) if kind is not None else None
        if par_schema is None:
            if pars:
                out[join(*segs)] = pars
        else:
            out.update(collect_unknown(pars, par_schema, join(*segs)))
        if par_schema is _NE_SCHEMA and "pSubLoops" in pars:
            sub = pars["pSubLoops"]
            if _sub_experiment(pars) is None:
                out[join(*segs, "pSubLoops")] = sub
            else:
                segs = [*segs, "pSubLoops", _FIRST]
                out.update(collect_unknown(sub, {_FIRST: None}, join(*segs[:-1])))
                item = sub[_FIRST]
                out.update(collect_unknown(item, {"ppNextLevelEx": None}, join(*segs)))
                segs = [*segs, "ppNextLevelEx"]
                nxt_map = item["ppNextLevelEx"]
                out.update(collect_unknown(nxt_map, {_FIRST: None}, join(*segs)))
                nxt = nxt_map[_FIRST]
                segs = [*segs, _FIRST]
                if "SLxExperiment" in nxt:
                    out.update(collect_unknown(nxt, {"SLxExperiment": None}, join(*segs)))
                    nxt, segs = nxt["SLxExperiment"], [*segs, "SLxExperiment"]
                _unknown_level(nxt, join(*segs), out, guard + 1)

    children = level.get("ppNextLevelEx")
    if isinstance(children, _MAP):
        for key, child in children.items():
            if isinstance(child, _MAP):
                _unknown_level(child, join("ppNextLevelEx", str(key)), out, guard + 1)
            else:
                out[join("ppNextLevelEx", str(key))] = child


def unknown_keys(raw_exp: Mapping[str, Any] | None) -> dict[str, Any]:
    """Entries of an experiment tree that the loop structures do not represent.

    Parameters
    ----------
    raw_exp : Mapping or None
        The same tree given to :func:`load_experiment`.

    Returns
    -------
    dict
        ``"ppNextLevelEx/i0000000000/uLoopPars/wsPhaseName" -> value`` etc.,
        for every key outside the fields :func:`load_experiment` reads
        (descriptive texts, autofocus and command settings, parameters of
        unsupported loop types, …).  Nothing in the tree is lost: the typed
        loops plus this mapping cover all of it.
    """
    out: dict[str, Any] = {}
    _unknown_level(raw_exp, "", out, 0)
    return out
