"""``ND2File.frame_metadata``: nd2 0.12 is the oracle on every corpus file it reads; where
a file has no acquisition times nd2 raises IndexError and nd2kit returns NaN times with
a warning (it does not make times up)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import Any

import nd2
import numpy as np
import pytest
from conftest import corpus_files

import nd2kit
from nd2kit.testing.samples import write_sample_file


def _plain(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, {k: _plain(getattr(x, k)) for k in x.__dataclass_fields__})
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (type(x).__name__, [_plain(v) for v in x])
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return x


def _modern() -> list[Path]:
    return [p for p in corpus_files() if nd2kit.ND2File.is_supported_file(p) and not nd2kit.is_legacy(p)]


@pytest.mark.corpus
@pytest.mark.parametrize("path", _modern(), ids=lambda p: p.name)
def test_frame_metadata_equals_nd2(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nd2kit.ND2File(path) as a, nd2.ND2File(path) as b:
            n = len(a.loop_indices) if a.experiment else 1
            frames = sorted({0, n // 2, n - 1})
            try:
                want = [b.frame_metadata(i) for i in frames]
            except IndexError:  # nd2: no acquisition times in the file
                assert "CustomData|AcqTimesCache!" not in a._reader.chunkmap
                got = a.frame_metadata(0)
                assert math.isnan(got.channels[0].time.relativeTimeMs)
                return
            for i, w in zip(frames, want):
                assert _plain(a.frame_metadata(i)) == _plain(w), f"frame {i}"
            if a.experiment:  # loop coordinates address the same frame (nd2's tuple form too)
                coords = tuple(a.loop_indices[-1][k] for k in a.sizes if k not in "CYXS")
                assert _plain(a.frame_metadata(coords)) == _plain(want[-1])


def test_frame_metadata_of_a_generated_file(tmp_path: Path) -> None:
    """A file with a T x multi-point x Z loop (the corpus has no multi-point file): every
    frame equals nd2 0.12's (positions from the points, Z minus the stack's home offset,
    times from the cache); an index outside the file is an IndexError."""
    p = write_sample_file(tmp_path / "s.nd2", t=3, z=2, m=2, channels=2)
    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as ref:
        n = len(f.loop_indices)
        assert n == 12
        for i in range(n):
            assert _plain(f.frame_metadata(i)) == _plain(ref.frame_metadata(i)), f"frame {i}"
        assert len({f.frame_metadata(i).channels[0].position.name for i in range(n)}) == 2
        times = f._frame_times
        assert times is not None and len(times) >= n
        for i in (0, n - 1):
            fm = f.frame_metadata(i)
            assert len(fm.channels) == 2
            assert fm.channels[0].time.relativeTimeMs == pytest.approx(float(times[i]))
            assert fm.channels[0].time == fm.channels[1].time
        assert f.frame_metadata(-1) == f.frame_metadata(n - 1)
        for bad in (n, -n - 1):
            with pytest.raises(IndexError):
                f.frame_metadata(bad)
        with pytest.raises(IndexError):
            f.frame_metadata(tuple(99 for _ in f.loop_indices[0]))


def test_frame_metadata_without_acquisition_times_is_nan_with_a_warning(tmp_path: Path) -> None:
    from nd2kit.testing.samples import sample_file_bytes

    data = bytearray(sample_file_bytes(t=2, z=1, channels=1))
    key = b"CustomData|AcqTimesCache!"
    k = data.rfind(key)
    assert k > 0
    data[k : k + len(key)] = b"CustomData|AcqTimesXache!"  # the map no longer names it
    with nd2kit.ND2File(bytes(data)) as f:
        with pytest.warns(UserWarning, match="no acquisition time recorded for frame 0"):
            fm = f.frame_metadata(0)
        assert np.isnan(fm.channels[0].time.relativeTimeMs)
        assert np.isnan(fm.channels[0].time.absoluteJulianDayNumber)
