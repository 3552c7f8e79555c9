"""Which byte ranges the reader asks the memory map to read in (``will_need`` hints):
a single frame's pixels on its first read (large frames), only the row band of a
row-range read, and frames found by name without building the frame table."""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nd2kit
from nd2kit.codecs import frame as fcodec
from nd2kit.reader import open_reader
from nd2kit.storage import MmapStore
from nd2kit.testing.samples import sample_file_bytes

# 1024 x 512 uint16, one channel: 1 MiB per frame (the size that gets a hint)
BIG = dict(t=4, z=1, channels=1, height=1024, width=512)


class _Recorder:
    """Stands in for the store's map: records madvise calls."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        self.calls: list[tuple[int, int, int]] = []

    def madvise(self, option: int, start: int = 0, length: int = 0) -> None:
        self.calls.append((option, start, length))

    def __len__(self) -> int:
        return len(self.mm)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mm, name)


def _recording(store: MmapStore) -> _Recorder:
    rec = _Recorder(store.buffer)
    store._mm = rec  # type: ignore[assignment]
    return rec


def _store(tmp_path: Path, data: bytes) -> MmapStore:
    p = tmp_path / "f.nd2"
    p.write_bytes(data)
    s = MmapStore(p)
    s.buffer  # noqa: B018 - make the map
    return s


def test_will_need_without_read_ahead(tmp_path: Path) -> None:
    s = _store(tmp_path, bytes(5 * mmap.PAGESIZE))
    rec = _recording(s)
    s.will_need(mmap.PAGESIZE + 10, 100, sequential=False)
    assert rec.calls == [(mmap.MADV_WILLNEED, mmap.PAGESIZE, 110)]
    rec.calls.clear()
    s.will_need(0, 100)
    assert [c[0] for c in rec.calls] == [mmap.MADV_SEQUENTIAL, mmap.MADV_WILLNEED]


def test_will_need_ranges_merges_shared_pages(tmp_path: Path) -> None:
    page = mmap.PAGESIZE
    s = _store(tmp_path, bytes(10 * page))
    rec = _recording(s)
    s.will_need_ranges([10, 200, 3 * page + 5, 9 * page], 100)
    assert rec.calls == [(mmap.MADV_WILLNEED, 0, 300), (mmap.MADV_WILLNEED, 3 * page, 105),
                         (mmap.MADV_WILLNEED, 9 * page, 100)]
    rec.calls.clear()
    s.will_need_ranges([5 * page, page], 10)  # out of order: each its own hint
    assert sorted(rec.calls) == [(mmap.MADV_WILLNEED, page, 10), (mmap.MADV_WILLNEED, 5 * page, 10)]


def _hints(store: MmapStore) -> list[tuple[Any, ...]]:
    """Record the store's hints (and still give them)."""
    calls: list[tuple[Any, ...]] = []
    will, many = store.will_need, store.will_need_ranges

    def rec_will(offset: int, n: int, *, sequential: bool = True) -> None:
        calls.append(("will", offset, n, sequential))
        will(offset, n, sequential=sequential)

    def rec_many(offsets: Any, n: int) -> None:
        calls.append(("ranges", list(offsets), n))
        many(offsets, n)

    store.will_need = rec_will  # type: ignore[method-assign]
    store.will_need_ranges = rec_many  # type: ignore[method-assign]
    return calls


def test_first_read_of_a_large_frame_hints_its_pixels_once(tmp_path: Path) -> None:
    s = _store(tmp_path, sample_file_bytes(**BIG))  # type: ignore[arg-type]
    r = open_reader(s)
    calls = _hints(s)
    lay = r.frame_layout()
    a = r.read_frame(2)
    assert r._frame_numbers is None  # type: ignore[attr-defined]  # by name, no frame table
    start = a.__array_interface__["data"][0] - np.frombuffer(s.buffer, np.uint8).ctypes.data
    # one hint, given before the header check: the chunk (header page + payload, from the
    # map), which holds the pixels; no read-ahead past it
    chunk = r.chunkmap["ImageDataSeq|2!"].offset
    assert len(calls) == 1
    kind, off, n, seq = calls[0]
    assert (kind, off, seq) == ("will", chunk, False)
    assert off <= start and start + lay.nbytes <= off + n <= start + lay.nbytes + 2 * mmap.PAGESIZE
    r.read_frame(2)
    get = r.frame_getter()
    assert get is not None
    get(2)
    assert len(calls) == 1  # not again
    b = get(3)
    assert b is not None
    start3 = b.__array_interface__["data"][0] - np.frombuffer(s.buffer, np.uint8).ctypes.data
    assert len(calls) == 2
    kind, off, n, seq = calls[1]
    assert (kind, off, seq) == ("will", r.chunkmap["ImageDataSeq|3!"].offset, False)
    assert off <= start3 and start3 + lay.nbytes <= off + n
    r.frame_numbers()  # once the table is built, frames read before are not hinted again
    get(3)
    r.read_frame(2)
    assert len(calls) == 2


def test_row_band_of_all_frames_hints_only_the_bands(tmp_path: Path) -> None:
    p = tmp_path / "f.nd2"
    p.write_bytes(sample_file_bytes(**BIG))  # type: ignore[arg-type]
    with nd2kit.ND2File(p) as f:
        r = f._reader
        s = r.store
        assert isinstance(s, MmapStore)
        calls = _hints(s)
        lay = r.frame_layout()
        got = np.asarray(f.to_dask()[:, 100:164, :].compute(scheduler="sync"))
        band = [c for c in calls if c[0] == "ranges"]
        assert band and not [c for c in calls if c[0] == "will" and c[3]]  # no read-ahead
        starts = [o for c in band for o in c[1]]
        assert sorted(starts) == sorted(fcodec.pixel_offset(int(r.frame_data_offsets()[i])) + 100 * lay.stride
                                        for i in range(4))
        assert all(c[2] == 64 * lay.stride for c in band)
        want = np.stack([np.array(f.read_frame(i))[100:164] for i in range(4)])
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("index", [0, 3])
def test_frames_by_name_then_table_agree(tmp_path: Path, index: int) -> None:
    s = _store(tmp_path, sample_file_bytes(**BIG))  # type: ignore[arg-type]
    r = open_reader(s)
    a = np.array(r.read_frame(index))
    assert r._frame_numbers is None  # type: ignore[attr-defined]
    offs = r.frame_data_offsets()
    b = np.array(r.read_frames([index]))[0]
    np.testing.assert_array_equal(a, b)
    assert int(offs[index]) == r._direct[index][1]  # type: ignore[attr-defined]


def test_nd2file_first_read_hints_the_frame_before_parsing_metadata(tmp_path: Path) -> None:
    """ND2File's first read_frame hints the frame's chunk from the map alone, before the
    attributes are decoded (so a cold disk reads the frame while metadata is parsed)."""
    p = tmp_path / "big.nd2"
    p.write_bytes(sample_file_bytes(**BIG))  # type: ignore[arg-type]
    f = nd2kit.ND2File(p)
    r = f._reader
    s = r.store
    order: list[str] = []
    calls = _hints(s)
    raw = r.raw

    def rec_raw(kind: str, *a: Any, **k: Any) -> Any:
        order.append(f"raw:{kind}")
        return raw(kind, *a, **k)

    r.raw = rec_raw  # type: ignore[method-assign]
    will = s.will_need

    def rec_will(offset: int, n: int, *, sequential: bool = True) -> None:
        order.append("hint")
        will(offset, n, sequential=sequential)

    s.will_need = rec_will  # type: ignore[method-assign]
    a = f.read_frame(1)
    assert order and order[0] == "hint"
    assert len(calls) == 1  # the chunk hint covers the pixels: no second hint
    chunk = r.chunkmap["ImageDataSeq|1!"].offset
    assert calls[0][1] == chunk
    np.testing.assert_array_equal(a, nd2kit.ND2File(sample_file_bytes(**BIG)).read_frame(1))  # type: ignore[arg-type]
    f.read_frame(2)
    assert len(calls) == 2  # later first reads hint through the frame getter
    f.close()


@pytest.mark.parametrize("index", [-1, 99, 2**70])
def test_prefetch_frame_of_a_frame_not_in_the_map_does_nothing(tmp_path: Path, index: int) -> None:
    s = _store(tmp_path, sample_file_bytes(**BIG))  # type: ignore[arg-type]
    r = open_reader(s)
    calls = _hints(s)
    r.prefetch_frame(index)
    assert calls == []
