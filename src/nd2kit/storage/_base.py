"""Shared machinery of the stores: range checks, coalesced :meth:`read_ranges`."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import StoreError
from .protocol import DEFAULT_POLICY, Buffer, Range, RangePolicy, Store

__all__ = ["BaseStore", "plan_ranges"]


def plan_ranges(ranges: Sequence[Range], policy: RangePolicy) -> list[tuple[int, int, list[int]]]:
    """Group ranges into merged reads.

    Returns
    -------
    list of (start, end, members)
        One item per underlying read: the byte span ``start:end`` and the indices
        (into `ranges`) of the ranges it serves.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    out: list[tuple[int, int, list[int]]] = []
    for i in order:
        off, n = ranges[i]
        end = off + n
        if out:
            s, e, members = out[-1]
            if off - e <= policy.max_gap and max(e, end) - s <= policy.max_merged:
                members.append(i)
                out[-1] = (s, max(e, end), members)
                continue
        out.append((off, end, [i]))
    return out


class BaseStore:
    """Common behaviour; subclasses provide :meth:`_raw_read` (one underlying read)."""

    path: str = ""
    size: int = 0
    #: merged reads of read_ranges run on threads (remote stores)
    _concurrent: bool = False

    @property
    def buffer(self) -> Any:
        return None

    @property
    def closed(self) -> bool:
        return False

    def _check(self, offset: int, n: int) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise StoreError(f"{self._where()}read of {n} bytes at {offset} is outside the "
                             f"file ({self.size} bytes)", offset=offset)

    def _where(self) -> str:
        return f"{self.path}: " if self.path else ""

    def _closed_error(self, offset: int) -> StoreError:
        return StoreError(f"{self._where()}the file is closed", offset=offset)

    def _checked(self, offset: int, n: int, read: Any) -> bytes:
        """Run ``read()`` (n bytes at offset) on an open store: I/O failures and short
        reads become :class:`StoreError` with the offset."""
        if self.closed:
            raise self._closed_error(offset)
        try:
            data = read()
        except (OSError, ValueError) as e:  # ValueError: I/O on a closed file object
            raise StoreError(f"{self._where()}read of {n} bytes failed ({e})", offset=offset) from e
        got = 0 if data is None else len(data)
        if got != n:
            raise StoreError(f"{self._where()}short read: {got} of {n} bytes", offset=offset)
        return data if type(data) is bytes else bytes(data)

    def _seek_read(self, fh: Any, lock: Any, offset: int, n: int) -> bytes:
        """`n` bytes at `offset` of a seekable file object, under `lock`."""
        def read() -> Any:
            with lock:
                fh.seek(offset)
                return fh.read(n)
        return self._checked(offset, n, read)

    def _raw_read(self, offset: int, n: int) -> Buffer:  # pragma: no cover - abstract
        raise NotImplementedError

    def _span_read(self, offset: int, n: int) -> Buffer:
        """One underlying read of a merged span (:meth:`read_ranges`)."""
        return self._raw_read(offset, n)

    def read(self, offset: int, n: int) -> Buffer:
        self._check(offset, n)
        return self._raw_read(offset, n)

    def read_into_bytes(self, offset: int, n: int) -> bytes:
        b = self.read(offset, n)
        return b if isinstance(b, bytes) else bytes(b)

    def view(self, offset: int, n: int) -> memoryview | None:
        return None

    def read_ranges(self, ranges: Sequence[Range], policy: RangePolicy | None = None) -> list[Buffer]:
        pol = policy or DEFAULT_POLICY
        for off, n in ranges:
            self._check(off, n)
        if self.closed:
            raise self._closed_error(ranges[0][0] if ranges else 0)
        plan = plan_ranges(ranges, pol)
        out: list[Buffer] = [b""] * len(ranges)

        def run(item: tuple[int, int, list[int]]) -> None:
            s, e, members = item
            raw = self._span_read(s, e - s)
            if len(members) == 1 and ranges[members[0]] == (s, e - s):
                out[members[0]] = raw
                return
            blob = memoryview(raw)
            for i in members:
                off, n = ranges[i]
                out[i] = blob[off - s : off - s + n]

        if self._concurrent and pol.workers > 1 and len(plan) > 1:
            with ThreadPoolExecutor(min(pol.workers, len(plan))) as ex:
                list(ex.map(run, plan))
        else:
            for item in plan:
                run(item)
        return out

    def reopen(self) -> Store:
        raise StoreError(f"{self._where()}this store cannot be reopened")

    def close(self) -> None:
        pass
