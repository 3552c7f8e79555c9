"""One conformance suite for every store (``nd2kit.storage.protocol``).

Every implementation — local (memory map + pread), bytes in memory, file objects,
fsspec ``memory://`` — must return the same bytes, check ranges, coalesce
``read_ranges``, survive 8 reading threads, raise ``StoreError`` (an ``OSError``)
carrying the offset for every failing read, and refuse reads once closed. The
writable stores (local file, memory) must also agree on writes.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nd2kit.errors import CorruptChunkError, StoreError
from nd2kit.storage import (
    BytesStore,
    FileStore,
    LocalWritableStore,
    MemoryStore,
    MmapStore,
    RangePolicy,
    RemoteStore,
    Store,
    WritableStore,
    open_store,
)
from nd2kit.storage._base import plan_ranges

fsspec = pytest.importorskip("fsspec")

DATA = bytes((i * 7 + i // 251) % 256 for i in range(300_000))
KINDS = ["local", "bytes", "fileobj", "fsspec-memory"]


def _make(kind: str, tmp: Path, data: bytes = DATA) -> Store:
    if kind == "local":
        p = tmp / f"{uuid.uuid4().hex}.bin"
        p.write_bytes(data)
        return MmapStore(p)
    if kind == "bytes":
        return BytesStore(data)
    if kind == "fileobj":
        return FileStore(io.BytesIO(data))
    url = f"memory://nd2kit-conf/{uuid.uuid4().hex}.bin"
    with fsspec.open(url, "wb") as fh:
        fh.write(data)
    return RemoteStore(url)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = _make(request.param, tmp_path)
    yield s
    s.close()


def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.size == len(DATA) and not store.closed


def test_reads_match(store: Store) -> None:
    n = len(DATA)
    for off, k in [(0, 16), (4090, 20), (n - 40, 40), (n - 1, 1), (123, 0), (0, n)]:
        assert bytes(store.read(off, k)) == DATA[off : off + k]
        got = store.read_into_bytes(off, k)
        assert isinstance(got, bytes) and got == DATA[off : off + k]


@pytest.mark.parametrize("off,n", [(-1, 2), (len(DATA) - 3, 4), (0, len(DATA) + 1), (5, -1),
                                   (len(DATA) + 10, 1)])
def test_out_of_range_is_store_error(store: Store, off: int, n: int) -> None:
    for call in (lambda: store.read(off, n), lambda: store.read_into_bytes(off, n),
                 lambda: store.read_ranges([(0, 4), (off, n)])):
        with pytest.raises(StoreError) as ei:
            call()
        assert isinstance(ei.value, OSError) and not isinstance(ei.value, CorruptChunkError)
        assert ei.value.offset == off


def test_view(store: Store) -> None:
    v = store.view(100, 50)
    if store.buffer is None:
        assert v is None
    else:
        assert isinstance(v, memoryview) and v.readonly and bytes(v) == DATA[100:150]


RANGES = [(0, 10), (20, 5), (100_000, 64), (100_070, 10), (5, 3), (299_000, 1000), (150_000, 0)]


def test_read_ranges_values_and_order(store: Store) -> None:
    got = store.read_ranges(RANGES)
    assert [bytes(g) for g in got] == [DATA[o : o + n] for o, n in RANGES]
    assert store.read_ranges([]) == []


def _count(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    real = store._span_read  # type: ignore[attr-defined]
    lock = threading.Lock()

    def spy(off: int, n: int) -> Any:
        with lock:
            calls.append((off, n))
        return real(off, n)

    monkeypatch.setattr(store, "_span_read", spy)
    return calls


def test_read_ranges_coalesces(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count(store, monkeypatch)
    pol = RangePolicy(max_gap=100, max_merged=1 << 20, workers=4)
    got = store.read_ranges(RANGES, pol)
    assert [bytes(g) for g in got] == [DATA[o : o + n] for o, n in RANGES]
    if isinstance(store, BytesStore):  # bytes in memory: views, no read at all
        assert calls == []
        return
    # (0,10)+(5,3)+(20,5) | (100000,64)+(100070,10) | (150000,0) | (299000,1000)
    assert sorted(calls) == [(0, 25), (100_000, 80), (150_000, 0), (299_000, 1000)]
    if isinstance(store, MmapStore):  # once the file is mapped: views of the map
        store.view(0, 1)
        calls.clear()
        assert [bytes(g) for g in store.read_ranges(RANGES, pol)] == [DATA[o : o + n] for o, n in RANGES]
        assert calls == []


def test_read_ranges_merge_limits() -> None:
    rs = [(0, 10), (10, 10), (20, 10), (1000, 5)]
    assert [(s, e) for s, e, _ in plan_ranges(rs, RangePolicy(max_gap=0, max_merged=25))] == \
        [(0, 20), (20, 30), (1000, 1005)]
    assert [(s, e) for s, e, _ in plan_ranges(rs, RangePolicy(max_gap=2000, max_merged=1 << 20))] == \
        [(0, 1005)]
    assert [sorted(m) for _, _, m in plan_ranges(rs[::-1], RangePolicy(max_gap=0))] == [[1, 2, 3], [0]]


def test_eight_threads(store: Store) -> None:
    errors: list[Any] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        try:
            for r in range(200):
                off = (k * 7919 + r * 104729) % (len(DATA) - 5000)
                n = 1 + (r * 31 + k) % 5000
                if bytes(store.read(off, n)) != DATA[off : off + n]:
                    errors.append((k, off, n))
                if r % 20 == 0:
                    got = store.read_ranges([(off, n), (off + 10, 100)])
                    if [bytes(g) for g in got] != [DATA[off : off + n], DATA[off + 10 : off + 110]]:
                        errors.append((k, "ranges", off))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_closed_store(store: Store) -> None:
    store.close()
    assert store.closed
    store.close()  # closing twice is fine
    if isinstance(store, BytesStore):
        return  # bytes in memory have nothing to release
    for call in (lambda: store.read(10, 5), lambda: store.read_into_bytes(10, 5),
                 lambda: store.read_ranges([(10, 5)])):
        with pytest.raises(StoreError, match="closed") as ei:
            call()
        assert ei.value.offset == 10


def test_reopen(store: Store) -> None:
    if isinstance(store, FileStore):
        with pytest.raises(StoreError):
            store.reopen()
        return
    s2 = store.reopen()
    assert s2 is not store and s2.size == store.size and bytes(s2.read(7, 9)) == DATA[7:16]
    s2.close()


class _Failing(io.BytesIO):
    """A file object whose reads fail past some offset (a flaky network file)."""

    def read(self, n: int | None = -1) -> bytes:
        if self.tell() >= 1000:
            raise OSError(5, "Input/output error")
        return super().read(n)


def test_failing_file_object_raises_store_error() -> None:
    s = FileStore(_Failing(DATA))
    assert bytes(s.read(0, 10)) == DATA[:10]
    for call in (lambda: s.read(200_000, 10), lambda: s.read_ranges([(0, 4), (200_000, 10)])):
        with pytest.raises(StoreError, match="Input/output") as ei:
            call()
        assert ei.value.offset == 200_000 and isinstance(ei.value, OSError)


def test_short_read_raises_store_error() -> None:
    class Short(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            return super().read(n)[:-1] if n else b""

    s = FileStore(Short(DATA))
    with pytest.raises(StoreError, match="short read") as ei:
        s.read(40, 10)
    assert ei.value.offset == 40


def test_open_store_dispatch(tmp_path: Path) -> None:
    p = tmp_path / "x.bin"
    p.write_bytes(DATA)
    assert isinstance(open_store(p), MmapStore)
    assert isinstance(open_store(DATA), BytesStore)
    assert isinstance(open_store(io.BytesIO(DATA)), FileStore)
    s = MemoryStore(DATA)
    assert open_store(s) is s
    with pytest.raises(FileNotFoundError):  # opening keeps the OS error (as nd2 does)
        open_store(tmp_path / "missing.bin")


# ----------------------------------------------------------------------------- writable

WKINDS = ["local", "memory"]


def _writable(kind: str, tmp: Path) -> tuple[WritableStore, Callable[[], bytes]]:
    if kind == "local":
        p = tmp / f"{uuid.uuid4().hex}.bin"
        ls = LocalWritableStore(p, create=True)
        return ls, p.read_bytes
    ms = MemoryStore()
    return ms, ms.getvalue


@pytest.mark.parametrize("kind", WKINDS)
def test_writable_store(kind: str, tmp_path: Path) -> None:
    s, content = _writable(kind, tmp_path)
    assert isinstance(s, WritableStore) and s.size == 0
    assert s.append(b"hello") == 0
    assert s.append(b" world") == 5
    s.write(0, b"J")
    s.write(20, b"!")  # past the end: zero-filled gap
    s.flush()
    assert s.size == 21
    assert content() == b"Jello world" + bytes(9) + b"!"
    assert bytes(s.read(1, 4)) == b"ello"
    assert [bytes(b) for b in s.read_ranges([(6, 5), (0, 1)])] == [b"world", b"J"]
    s.truncate(5)
    s.flush(fsync=False)
    assert s.size == 5 and content() == b"Jello"
    with pytest.raises(StoreError):
        s.read(3, 5)
    with pytest.raises(StoreError):
        s.write(-1, b"x")
    s.close()
    assert s.closed
    with pytest.raises(StoreError):
        s.write(0, b"x")


@pytest.mark.parametrize("kind", WKINDS)
def test_writable_threads(kind: str, tmp_path: Path) -> None:
    s, content = _writable(kind, tmp_path)
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        barrier.wait()
        for r in range(50):
            s.write((k * 50 + r) * 4, bytes([k, r, k, r]))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s.flush()
    got = content()
    assert len(got) == 8 * 50 * 4
    assert all(got[(k * 50 + r) * 4 : (k * 50 + r) * 4 + 4] == bytes([k, r, k, r])
               for k in range(8) for r in range(50))
    s.close()
