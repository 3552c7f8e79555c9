"""The chunk map of a modern ND2 file (``docs/format.md#nd2_container``) as numpy arrays.

Entries are parsed without a Python loop per entry (the table parser is generated
from ``spec/nd2_container.ksy``); names are materialised as ``str`` only when a
name is looked up or listed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._generated.fast import nd2_container as _g
from .._native import compiled
from ..errors import ChunkNotFoundError, Nd2Error
from .names import FILEMAP_NAME, FRAME_PREFIX

#: the small-map parse in use: the generated one or its compiled copy (tools/native.py)
_rows, _ROWS = compiled("_map", _g)

__all__ = ["ChunkMap", "ChunkRef", "parse_chunk_map", "build_chunk_map_body"]

#: map payloads up to this size are parsed into Python lists (numpy arrays on demand)
_SMALL = 16384


class ChunkRef(NamedTuple):
    """Where a chunk is: the offset of its header and its data_len (-1 = unknown)."""

    offset: int
    size: int


class ChunkMap(Mapping[str, ChunkRef]):
    """Mapping ``chunk name -> ChunkRef`` in map order.

    Duplicate names keep the last entry (as nd2 does); ``duplicates`` lists them.

    Attributes
    ----------
    offsets : ndarray of uint64
        Chunk header offsets, in map order.
    stored_sizes : ndarray of uint64
        The size field exactly as stored.
    sizes : ndarray
        data_len per entry, -1 where the file stores size == offset (unknown);
        int64 (an exact object array in the impossible case of sizes >= 2**63).
    end_value : int
        The u64 after the end marker (limnd2 writes the map's own offset).
    """

    def __init__(self, raw: bytes, name_start: Any, name_end: Any,
                 offsets: Any, stored_sizes: Any, end_value: int, base: int = 0) -> None:
        # small maps arrive as Python lists (no numpy call to open a file); the arrays
        # are made on first use (frame tables, listings)
        self._raw = raw
        self._lists: tuple[list[int], list[int]] | None = (
            (offsets, stored_sizes) if isinstance(offsets, list) else None)
        self._arrays: dict[str, np.ndarray] = {}
        self._init = (name_start, name_end, offsets, stored_sizes)
        self._sizes: np.ndarray | None = None
        self.end_value = end_value
        self.base = base
        self._names: list[str] | None = None
        self._index: dict[str, int] | None = None
        self._probes = 0
        self._count = len(name_start)

    def _array(self, which: int, dtype: Any) -> np.ndarray:
        key = "abcd"[which]
        arr = self._arrays.get(key)
        if arr is None:
            arr = self._arrays[key] = np.asarray(self._init[which], dtype=dtype)
        return arr

    @property
    def _name_start(self) -> np.ndarray:
        return self._array(0, np.int64)

    @property
    def _name_end(self) -> np.ndarray:
        return self._array(1, np.int64)

    @property
    def offsets(self) -> np.ndarray:
        return self._array(2, np.uint64)

    @property
    def stored_sizes(self) -> np.ndarray:
        return self._array(3, np.uint64)

    @property
    def sizes(self) -> np.ndarray:
        if self._sizes is None:
            st, unknown = self.stored_sizes, self.stored_sizes == self.offsets
            if len(st) and int(st.max()) >= 2**63:
                self._sizes = np.array([-1 if u else int(v) for v, u in zip(st.tolist(), unknown.tolist())],
                                       dtype=object)
            else:
                self._sizes = np.where(unknown, -1, st.astype(np.int64))
        return self._sizes

    def _ref(self, i: int) -> ChunkRef:
        if self._lists is not None:
            off, st = self._lists[0][i], self._lists[1][i]
        else:
            off, st = int(self.offsets[i]), int(self.stored_sizes[i])
        return ChunkRef(off, -1 if st == off else st)

    @property
    def names(self) -> list[str]:
        """Entry names (with their ``!``) in map order."""
        if self._names is None:
            text = self._raw.decode("latin-1")  # one decode, then str slices
            starts, ends = self._init[0], self._init[1]
            if not isinstance(starts, list):
                starts, ends = starts.tolist(), ends.tolist()
            self._names = [text[s:e] for s, e in zip(starts, ends)]
        return self._names

    def _idx(self) -> dict[str, int]:
        if self._index is None:
            # a later duplicate overwrites an earlier one: the last entry wins
            self._index = dict(zip(self.names, range(self._count)))
        return self._index

    @property
    def duplicates(self) -> list[str]:
        """Names that occur more than once in the map."""
        if len(self._idx()) == len(self.names):
            return []
        return sorted(n for n, c in Counter(self.names).items() if c > 1)

    def _find(self, name: str) -> int:
        """Index of the last entry called `name`, or -1.

        The first few lookups search the raw map bytes (no per-entry objects);
        after that a name -> index dict is built once.
        """
        if self._index is None and self._probes < 16 and (self._count > 1024 or self._lists):
            self._probes += 1
            try:
                nb = name.encode("latin-1")
            except UnicodeEncodeError:
                return -1
            if not nb:  # every entry name ends with "!"
                return -1
            small = self._lists is not None  # Python lists (bisect) or arrays (searchsorted)
            starts, ends = (self._init[0], self._init[1]) if small else (self._name_start, self._name_end)
            raw, n = self._raw, len(nb)
            limit = int(ends[-1]) if len(ends) else 0
            k = raw.rfind(nb, 0, limit)
            while k >= 0:
                i = bisect_left(starts, k) if small else int(np.searchsorted(starts, k))
                if i < len(starts) and starts[i] == k and ends[i] == k + n:
                    return i
                k = raw.rfind(nb, 0, k + n - 1)
            return -1
        return self._idx().get(name, -1)

    def __getitem__(self, name: str) -> ChunkRef:
        i = self._find(name)
        if i < 0:
            raise ChunkNotFoundError(f"no chunk named {name!r} in the chunk map", chunk=name)
        return self._ref(i)

    def __iter__(self) -> Iterator[str]:
        return iter(self._idx())

    def __len__(self) -> int:
        return len(self._idx())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) >= 0

    def sequence(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """Entries named ``<prefix><N>!`` (e.g. ``ImageDataSeq|N!``), vectorised.

        Returns
        -------
        (numbers, rows)
            ``numbers[k]`` is N of the k-th such entry and ``rows[k]`` its row in
            ``offsets``/``sizes``, sorted by N. Duplicate N keep the last entry.
        """
        if self._lists is not None:
            return self._sequence_small(prefix)
        raw = np.frombuffer(self._raw, dtype=np.uint8)
        pre = np.frombuffer(prefix.encode("latin-1"), dtype=np.uint8)
        starts, ends = self._name_start, self._name_end
        ndig = ends - starts - len(pre) - 1
        ok = (ndig >= 1) & (ndig <= 18)
        rows = np.flatnonzero(ok)
        if len(rows) and len(pre):
            head = raw[starts[rows, None] + np.arange(len(pre))]
            rows = rows[(head == pre).all(axis=1)]
        if not len(rows):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        width = int(ndig[rows].max())
        first = starts[rows] + len(pre)
        pos = first[:, None] + np.arange(width)
        valid = np.arange(width) < ndig[rows, None]
        digits = raw[np.minimum(pos, len(raw) - 1)].astype(np.int64) - 48
        good = np.where(valid, (digits >= 0) & (digits <= 9), True).all(axis=1)
        rows, digits, valid = rows[good], digits[good], valid[good]
        digits = np.where(valid, digits, 0)
        # right-align digits so that place values line up
        shift = width - ndig[rows]
        place = (width - 1 - np.arange(width))[None, :] - shift[:, None]
        numbers = (digits * np.where(valid, 10 ** np.clip(place, 0, 18), 0)).sum(axis=1)
        order = np.lexsort((rows, numbers))
        numbers, rows = numbers[order], rows[order]
        last = np.ones(len(numbers), bool)
        last[:-1] = numbers[1:] != numbers[:-1]
        return numbers[last], rows[last]

    def _sequence_small(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`sequence` for a small map (a few hundred entries at most): one pass
        over the names costs less than the vectorised version's fixed numpy cost (and
        less than a regular expression over the raw bytes, measured)."""
        n_pre = len(prefix)
        found: dict[int, int] = {}
        for i, name in enumerate(self.names):
            if name.startswith(prefix):
                digits = name[n_pre:-1]  # every name ends with "!"
                # ASCII digits only: latin-1 also has superscript digits str.isdigit accepts
                if 1 <= len(digits) <= 18 and digits.isascii() and digits.isdigit():
                    found[int(digits)] = i  # a later duplicate wins
        numbers = sorted(found)
        return (np.array(numbers, dtype=np.int64),
                np.array([found[k] for k in numbers], dtype=np.int64))

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``ImageDataSeq|N!`` entries: :meth:`sequence` of the registry's frame prefix."""
        return self.sequence(FRAME_PREFIX)

    def entry_positions(self) -> np.ndarray:
        """Absolute file offsets of each entry's name (for error reports)."""
        return self._name_start + self.base

    def field_positions(self, field: str) -> np.ndarray:
        """Absolute file offsets of one field of every entry, in map order.

        `field` is ``"name"``, ``"offset"`` or ``"size"`` (spec: chunk_map_entry); the
        fixed fields follow the name at the offsets of the generated record layout.
        """
        if field == "name":
            return self.entry_positions()
        fields = _g._TB_DTYPE.fields
        if fields is None or field not in fields:
            raise ValueError(f"chunk map entries have no field {field!r}")
        return self._name_end + self.base + int(fields[field][1])


def parse_chunk_map(body: Any, *, base: int = 0, chunk: str = FILEMAP_NAME) -> ChunkMap:
    """Parse the payload of the chunk map chunk.

    Parameters
    ----------
    body : bytes-like
        The map chunk's payload (entries, end marker, padding, trailer copy).
    base : int
        File offset of `body`, for error messages and ``entry_positions``.
    """
    raw = body if isinstance(body, bytes) else bytes(body)
    try:
        if len(raw) <= _SMALL:
            rows = _rows.parse_chunk_map_rows(raw, 0, len(raw))
            return ChunkMap(raw, rows.name_start, rows.name_end, [f[0] for f in rows.fields],
                            [f[1] for f in rows.fields], rows.end_fields[0], base)
        tb = _g.parse_chunk_map_table(raw, 0, len(raw))
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    offsets = tb.fields["offset"].astype(np.uint64)
    stored = tb.fields["size"].astype(np.uint64)
    return ChunkMap(raw, tb.name_start, tb.name_end, offsets, stored,
                    int(tb.end_fields["offset"][0]), base)


def build_chunk_map_body(names: list[str], offsets: Any, sizes: Any, end_value: int) -> bytes:
    """Serialize map entries and the end marker (no padding, no trailer).

    `sizes` may hold -1 for "unknown", written as size == offset (the real-file quirk).
    """
    offs = np.asarray(offsets, dtype=np.uint64)
    if isinstance(sizes, np.ndarray) and sizes.dtype == np.uint64:
        stored = sizes
    elif isinstance(sizes, np.ndarray) and sizes.dtype.kind == "i":
        stored = np.where(sizes < 0, offs, sizes.astype(np.uint64))
    else:
        stored = np.array([int(o) if int(s) < 0 else int(s) for o, s in zip(offs.tolist(), list(sizes))],
                          dtype=np.uint64)
    fields = np.empty(len(names), dtype=_g._TB_DTYPE)
    fields["offset"] = offs
    fields["size"] = stored
    end = np.array([(end_value,)], dtype=_g._TB_END_DTYPE)
    for n in names:
        if not n.endswith("!") or n.count("!") != 1:
            raise ValueError(f"chunk name {n!r} must contain exactly one '!', at its end")
    return bytes(_g.build_chunk_map_table([n.encode("latin-1") for n in names], fields, end))
