"""Walks over decoded LiteVariant trees for the check tools, without recursion.

* :func:`compare_trees` — the first difference between the Kaitai reference tree of
  a payload and the fast decoder's tree;
* :func:`iter_tree` — every record of a lossless tree with its depth and path (as
  :func:`nd2kit.codecs.lite_variant.iter_records`, with paths bounded in length).

Both use an explicit stack: a tree nested 10 000 levels deep is walked like a flat
one (the Python stack never grows with the nesting). The structural walk that
locates damage is generated from the spec: see
:func:`nd2kit.codecs.lite_variant.check` / :func:`~nd2kit.codecs.lite_variant.walk`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._generated.fast import lite_variant as _glv

__all__ = ["PATH_FULL_DEPTH", "compare_trees", "iter_tree", "short_path"]

#: below this depth record paths are kept whole; deeper, a path longer than
#: :data:`PATH_MAX` keeps its last :data:`PATH_KEEP` characters (as the generated
#: walker does), so that memory stays linear in the depth
PATH_FULL_DEPTH = 1000
PATH_MAX = 512
PATH_KEEP = 256


def short_path(path: str, depth: int) -> str:
    """`path` itself, or ``"…"`` + its last characters for a long path below
    :data:`PATH_FULL_DEPTH` levels."""
    if depth > PATH_FULL_DEPTH and len(path) > PATH_MAX:
        return "\u2026" + path[-PATH_KEEP:]
    return path


def _k_name_bytes(k: Any) -> bytes:
    return bytes(k.name.encode("utf-16-le", "surrogatepass"))


def _l_name_bytes(r: Any) -> bytes:
    if r.name_raw is not None:
        return bytes(r.name_raw)
    return bytes(r.name.encode("utf-16-le", "surrogatepass")) + bytes(_glv._TR_STR_TERM)


def _same_scalar(t: int, a: Any, b: Any) -> bool:
    if t == _glv.T_DOUBLE:  # bit for bit: NaN payloads and the sign of zero count
        bits = np.array([a, b], dtype=np.float64).view(np.uint64)
        return bool(bits[0] == bits[1])
    return bool(a == b)


# work items of compare_trees: compare two records, or the checks after a LEVEL's
# children / a compressed block's inner tree
_NODE, _AFTER_LEVEL, _AFTER_COMPRESS = 0, 1, 2


def compare_trees(k: Any, r: Any, path: str = "") -> str | None:
    """First difference between a Kaitai ``LiteVariant.Record`` and an ``LvRecord``.

    Records are compared depth first in stream order (a LEVEL's gap and offset
    table after its children), on an explicit stack.
    """
    todo: list[tuple[int, Any, Any, str, int]] = [(_NODE, k, r, path, 0)]
    while todo:
        what, k, r, path, depth = todo.pop()
        if what == _AFTER_LEVEL:
            if bytes(k.value.body.gap) != bytes(r.gap):
                return f"{path}: gap bytes differ"
            if [int(x) for x in k.value.offsets] != [int(x) for x in (r.offsets or ())]:
                return f"{path}: offset tables differ"
            continue
        if what == _AFTER_COMPRESS:
            if bytes(k.trailing) != bytes(r.gap):
                return f"{path}: bytes after the inflated root differ"
            continue
        diff = _compare_node(k, r, path, depth, todo)
        if diff is not None:
            return diff
    return None


def _compare_node(
    k: Any, r: Any, path: str, depth: int, todo: list[tuple[int, Any, Any, str, int]]
) -> str | None:
    """Compare one record pair; push what is compared after it onto `todo`."""
    kt = int(k.type)
    if kt != r.type:
        return f"{path or '/'}: type {kt} vs {r.type}"
    if kt == _glv.T_COMPRESS:
        here = short_path(path + "<zlib>", depth)
        # type 76: the byte Kaitai reads as name_len opens the reserved bytes
        reserved = bytes((k.name_len, *bytes(k.value.reserved)))
        if r.reserved is not None and reserved != r.reserved:
            return f"{here}: reserved bytes differ"
        inner = k.value.inflated
        todo.append((_AFTER_COMPRESS, inner, r, here, depth))
        todo.append((_NODE, inner.root, r.value, here, depth + 1))
        return None
    if _k_name_bytes(k) != _l_name_bytes(r):
        return f"{path}: name {k.name!r} vs {r.name!r}"
    here = short_path(f"{path}/{r.name}", depth)
    if kt == _glv.T_LEVEL:
        kids = k.value.body.children
        if len(kids) != len(r.value):
            return f"{here}: {len(kids)} vs {len(r.value)} children"
        todo.append((_AFTER_LEVEL, k, r, here, depth))
        for i in range(len(kids) - 1, -1, -1):
            b = r.value[i]
            todo.append((_NODE, kids[i], b, here if b.name else f"{here}[{i}]", depth + 1))
        return None
    if kt == _glv.T_STRING:
        kv = k.value.value
    elif kt == _glv.T_BYTE_ARRAY:
        kv = bytes(k.value.data)
    else:
        kv = k.value
    rv = bytes(r.value) if kt == _glv.T_BYTE_ARRAY else r.value
    if not _same_scalar(kt, kv, rv):
        return f"{here}: value {kv!r} vs {rv!r}"
    return None


def iter_tree(rec: Any) -> Iterator[tuple[int, str, Any]]:
    """Yield ``(depth, path, record)`` for `rec` (an ``LvRecord``) and every record
    below it, in stream order.

    The same records, depths and paths as
    :func:`nd2kit.codecs.lite_variant.iter_records`, on an explicit stack; paths
    deeper than :data:`PATH_FULL_DEPTH` levels are shortened (:func:`short_path`).
    """
    todo: list[tuple[int, str, Any, bool]] = [(0, "", rec, True)]
    while todo:
        depth, path, r, top = todo.pop()
        # the path of the record itself (as iter_records names it)
        here = path if not top else (r.name or "/")
        yield depth, here, r
        t = r.type
        if t == _glv.T_LEVEL:
            kids = r.value
            for i in range(len(kids) - 1, -1, -1):
                c = kids[i]
                sub = f"{here}/{c.name}" if c.name else f"{here}[{i}]/"
                todo.append((depth + 1, short_path(sub, depth + 1), c, False))
        elif t == _glv.T_COMPRESS:
            inner = r.value
            sub = f"{here}<zlib>/{inner.name}"
            todo.append((depth + 1, short_path(sub, depth + 1), inner, False))
