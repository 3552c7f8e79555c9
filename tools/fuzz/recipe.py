"""Mutation recipes: byte edits against a named seed, kept small enough to save as JSON.

A recipe is a list of :class:`Edit` s, each ``(offset, delete, insert)`` in the
coordinates of the *original* seed, plus a human-readable description per edit. Edits
are applied from the highest offset down, so every subset of a recipe is itself a
valid recipe (what the minimizer relies on).
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Edit", "Recipe", "apply_edits", "edit_from_json", "edit_to_json"]

#: inserts longer than this are stored deflated + base64 in JSON
_INLINE_MAX = 256


@dataclass(frozen=True)
class Edit:
    """Replace `delete` bytes at `offset` by `insert` (offsets in the seed)."""

    offset: int
    delete: int
    insert: bytes
    what: str = ""

    @property
    def size(self) -> int:
        """How much the edit changes (for minimization: smaller is simpler)."""
        return self.delete + len(self.insert)


@dataclass
class Recipe:
    """The edits of one mutant; `mutators` names what produced them."""

    edits: list[Edit] = field(default_factory=list)
    mutators: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"mutators": list(self.mutators), "edits": [edit_to_json(e) for e in self.edits]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Recipe:
        return cls([edit_from_json(e) for e in obj["edits"]], list(obj.get("mutators", [])))


def apply_edits(seed: bytes, edits: list[Edit]) -> bytes:
    """The mutant: `edits` applied to `seed`, highest offset first (stable for ties).

    Offsets past the end are clipped to the end (an insert there appends).
    """
    buf = bytearray(seed)
    order = sorted(range(len(edits)), key=lambda i: (-edits[i].offset, -i))
    for i in order:
        e = edits[i]
        at = min(max(e.offset, 0), len(buf))
        end = min(at + max(e.delete, 0), len(buf))
        buf[at:end] = e.insert
    return bytes(buf)


def edit_to_json(e: Edit) -> dict[str, Any]:
    out: dict[str, Any] = {"offset": e.offset, "delete": e.delete, "what": e.what}
    if len(e.insert) <= _INLINE_MAX:
        out["insert"] = e.insert.hex()
    else:
        out["insert_z"] = base64.b64encode(zlib.compress(e.insert, 9)).decode("ascii")
    return out


def edit_from_json(obj: dict[str, Any]) -> Edit:
    if "insert_z" in obj:
        data = zlib.decompress(base64.b64decode(obj["insert_z"]))
    else:
        data = bytes.fromhex(obj.get("insert", ""))
    return Edit(int(obj["offset"]), int(obj["delete"]), data, str(obj.get("what", "")))
