"""Cold page cache: a single frame or crop reads only the pages it touches.

The file is evicted from the page cache (``POSIX_FADV_DONTNEED``), one access is
made, and the file's resident pages are counted with ``mincore``. No timing: the
assertion is on pages read, which read-ahead or checking every frame header at the
first pixel access would multiply. Skipped where eviction or mincore is unavailable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import mmap
import os
import time
from pathlib import Path

import numpy as np
import pytest

import nd2kit
from nd2kit.testing.samples import write_sample_file

PAGE = mmap.PAGESIZE


def _libc() -> ctypes.CDLL:
    name = ctypes.util.find_library("c")
    if not name or not hasattr(os, "posix_fadvise"):
        pytest.skip("needs libc mincore and posix_fadvise")
    return ctypes.CDLL(name, use_errno=True)


def _evict(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _resident(libc: ctypes.CDLL, p: Path) -> int:
    size = p.stat().st_size
    with open(p, "rb") as fh:
        mm = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        arr = np.frombuffer(mm, np.uint8)
        vec = (ctypes.c_ubyte * ((size + PAGE - 1) // PAGE))()
        rc = libc.mincore(ctypes.c_void_p(arr.ctypes.data), ctypes.c_size_t(size), vec)
        del arr
        mm.close()
    if rc != 0:
        pytest.skip("mincore failed")
    return sum(v & 1 for v in vec)


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 60 frames of 512 x 512 x 2 B = 512 KiB each (30 MiB of pixels)
    return write_sample_file(tmp_path_factory.mktemp("cold") / "big.nd2", t=30, z=2, channels=1,
                             height=512, width=512)


def _cold(libc: ctypes.CDLL, p: Path) -> None:
    gc.collect()  # earlier files' memory maps go (mapped pages cannot be evicted)
    for k in range(20):  # pages still under writeback are not dropped at once
        _resident(libc, p)
        _evict(p)
        if _resident(libc, p) <= 4:
            return
        time.sleep(0.01 * k)
    if _resident(libc, p) > 4:
        pytest.skip(f"the page cache cannot be emptied here ({_resident(libc, p)} pages stay)")


def test_cold_metadata_single_frame_and_crop(big: Path) -> None:
    libc = _libc()
    _cold(libc, big)
    with nd2kit.ND2File(big) as f:
        _ = f.metadata, f.experiment, f.attributes
    del f
    meta = _resident(libc, big)
    assert meta <= 32  # the tail (map + metadata) and the signature

    _cold(libc, big)
    with nd2kit.ND2File(big) as f:
        frame = np.array(f.read_frame(37))
    del f
    frame_pages = frame.nbytes // PAGE
    assert _resident(libc, big) <= frame_pages + 2 + meta  # its pixels + its header page

    _cold(libc, big)
    with nd2kit.ND2File(big) as f:
        crop = np.array(f.read_frame(41)[100:164, 200:264])  # 64 rows of 1 KiB
    del f
    assert crop.shape == (64, 64)
    assert _resident(libc, big) <= 2 * (64 * 1024 // PAGE) + 2 + meta


def test_cold_whole_file_reads_ahead(big: Path) -> None:
    """Bulk reads turn read-ahead back on (the pages come in, in big requests)."""
    libc = _libc()
    _cold(libc, big)
    arr = nd2kit.imread(big)
    assert arr.shape == (30, 2, 512, 512)
    assert _resident(libc, big) >= 60 * 512 * 1024 // PAGE
