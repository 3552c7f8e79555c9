"""``nd2kit demo``: write a generated sample file into an output folder and inspect it."""

from __future__ import annotations

from pathlib import Path

from .samples import write_sample_file

__all__ = ["run_demo"]


def run_demo(out: str | Path = "out") -> Path:
    """Write ``<out>/sample.nd2`` (T3 x Z2 x C2, 80x64 uint16) and return its path.

    Nothing is written outside `out`.
    """
    return write_sample_file(Path(out) / "sample.nd2")
