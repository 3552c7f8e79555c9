"""Comparison of the Kaitai reference tree of a LiteVariant payload with the fast
decoder's tree.

The structural walk that locates damage is generated from the spec: see
:func:`nd2kit.codecs.lite_variant.check` / :func:`~nd2kit.codecs.lite_variant.walk`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._generated.fast import lite_variant as _glv

__all__ = ["compare_trees"]


# ----------------------------------------------------------------------------- reference tree



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


def compare_trees(k: Any, r: Any, path: str = "") -> str | None:
    """First difference between a Kaitai ``LiteVariant.Record`` and an ``LvRecord``."""
    kt = int(k.type)
    if kt != r.type:
        return f"{path or '/'}: type {kt} vs {r.type}"
    if kt == _glv.T_COMPRESS:
        here = path + "<zlib>"
        # type 76: the byte Kaitai reads as name_len opens the reserved bytes
        reserved = bytes((k.name_len, *bytes(k.value.reserved)))
        if r.reserved is not None and reserved != r.reserved:
            return f"{here}: reserved bytes differ"
        inner = k.value.inflated
        d = compare_trees(inner.root, r.value, here)
        if d:
            return d
        if bytes(inner.trailing) != bytes(r.gap):
            return f"{here}: bytes after the inflated root differ"
        return None
    if _k_name_bytes(k) != _l_name_bytes(r):
        return f"{path}: name {k.name!r} vs {r.name!r}"
    here = f"{path}/{r.name}"
    if kt == _glv.T_LEVEL:
        kids = k.value.body.children
        if len(kids) != len(r.value):
            return f"{here}: {len(kids)} vs {len(r.value)} children"
        for i, (a, b) in enumerate(zip(kids, r.value)):
            d = compare_trees(a, b, here if b.name else f"{here}[{i}]")
            if d:
                return d
        if bytes(k.value.body.gap) != bytes(r.gap):
            return f"{here}: gap bytes differ"
        if [int(x) for x in k.value.offsets] != [int(x) for x in (r.offsets or ())]:
            return f"{here}: offset tables differ"
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

