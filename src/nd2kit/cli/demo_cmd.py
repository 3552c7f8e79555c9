"""``nd2kit demo``: write a generated sample file into an output folder and inspect it."""

from __future__ import annotations

import argparse

from . import add_subcommand


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="out", help="folder for sample.nd2 (default: out)")


def _run(args: argparse.Namespace) -> int:
    from ..testing.demo import run_demo
    from . import main

    path = run_demo(args.out)
    print(f"wrote {path}\n")
    print(f"$ nd2kit inspect {path}")
    return main(["inspect", str(path)])


add_subcommand("demo", "write a generated sample .nd2 into --out and inspect it", _configure, _run)
