"""``python -m tools.fuzz``: run a fuzzing campaign against nd2kit, or replay reproducers.

Examples::

    python -m tools.fuzz --cases 2000 --seed 1 -j 2 --out fuzz-out
    python -m tools.fuzz --cases 100000 --seed 7 -j 2 --seeds-from corpus --save-repros
    python -m tools.fuzz --replay tests/fuzz_repros/some-finding.json

Exit code: 0 no findings (only ok / Nd2Error outcomes), 1 findings, 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .campaign import replay, run_campaign
from .harness import ORACLES
from .runner import Limits

DEFAULT_STORE = Path(__file__).resolve().parents[2] / "tests" / "fuzz_repros"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=1000, help="number of mutants (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="children at a time (default 1)")
    p.add_argument("--seeds-from", choices=["corpus", "generated", "all"], default="all")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per case (default 10)")
    p.add_argument("--mem-factor", type=int, default=4,
                   help="address-space limit = F x mutant size + base (default F = 4)")
    p.add_argument("--mem-base-gib", type=float, default=1.5, help="base of that limit (default 1.5)")
    p.add_argument("--minimize", type=int, default=48, metavar="RUNS",
                   help="runs per unique finding for minimization (0 = off; default 48)")
    p.add_argument("--out", type=Path, default=Path("fuzz-out"),
                   help="folder for summary.json and report.md (default fuzz-out)")
    p.add_argument("--save-repros", nargs="?", const=DEFAULT_STORE, type=Path, default=None,
                   metavar="DIR", help=f"save one reproducer per finding (default {DEFAULT_STORE})")
    p.add_argument("--replay", type=Path, nargs="+", metavar="FILE.json",
                   help="replay saved reproducers instead of fuzzing")
    p.add_argument("--only-cases", type=Path, default=None, metavar="SUMMARY.json",
                   help="run only the cases with findings in an earlier run's summary.json "
                        "(the same --seed and --seeds-from give the same mutants)")
    p.add_argument("--oracle", choices=sorted(ORACLES), default=None,
                   help="run another reader (nd2 0.12) on the same mutants instead of nd2kit, for "
                        "comparison: its exceptions are counted by type; nothing is minimized or saved")
    a = p.parse_args(argv)
    limits = Limits(timeout=a.timeout, mem_factor=a.mem_factor, mem_base=int(a.mem_base_gib * 2**30))
    if a.replay:
        bad = 0
        for f in a.replay:
            r = replay(f, limits=limits)
            state = "reproduces" if r.reproduced else ("clean" if r.clean else "other findings")
            print(f"{f}: {state}")
            for x in r.findings:
                print(f"  {x.step}: {x.outcome} {x.exc_type} {x.top} {x.message[:160]}")
            bad += not r.clean
        return 1 if bad else 0
    if a.oracle:
        camp = run_campaign(a.cases, a.seed, seeds_from=a.seeds_from, steps=ORACLES[a.oracle],
                            limits=limits, jobs=a.jobs, minimize_budget=0, out=a.out, log=_log)
        s = camp.summary
        print(f"{a.oracle} on {s['cases']} mutants ({s['cases_per_second']} cases/s): outcomes {s['outcomes']}")
        for u in s["unique_findings"]:
            print(f"  {u['key']} x{u['count']}")
        print(f"report: {a.out / 'report.md'}")
        return 0
    only = None
    if a.only_cases is not None:
        prev = json.loads(a.only_cases.read_text())
        only = sorted({i for v in prev.get("finding_cases", {}).values() for i in v})
    camp = run_campaign(a.cases, a.seed, seeds_from=a.seeds_from, limits=limits, jobs=a.jobs,
                        minimize_budget=a.minimize, out=a.out, repro_store=a.save_repros, log=_log,
                        only=only)
    s = camp.summary
    print(f"{s['cases']} cases, {s['cases_per_second']} cases/s; outcomes {s['outcomes']}")
    print(f"Nd2Errors without place: {s['nd2errors_without_place']}")
    for u in s["unique_findings"]:
        print(f"  {u['key']} x{u['count']}: {u['repro']}")
    print(f"report: {a.out / 'report.md'}")
    return 1 if s["unique_findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
