"""A whole campaign (seeds -> cases -> dedup -> minimize -> report) and reproducer replay."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import FINDINGS, STEPS, Finding, Target, preload
from .recipe import Recipe, apply_edits
from .report import Tally, save_repro, summary, write_report
from .runner import Limits, UniqueFinding, dedup, make_case, minimize_all, run_cases, run_one
from .seeds import Seed, analyse, load_seeds, seed_bytes

__all__ = ["Campaign", "ReplayResult", "replay", "run_campaign"]


@dataclass
class Campaign:
    """What :func:`run_campaign` found."""

    tally: Tally
    unique: dict[str, UniqueFinding]
    summary: dict[str, Any]
    outcomes: list[tuple[int, str, list[str]]] = field(default_factory=list)  # (case, outcome, keys)


def run_campaign(cases: int, campaign_seed: int = 0, *, seeds: list[Seed] | None = None,
                 seeds_from: str = "all", steps: list[Target] | None = None,
                 limits: Limits | None = None, jobs: int = 1, minimize_budget: int = 48,
                 out: Path | None = None, repro_store: Path | None = None,
                 log: Callable[[str], None] | None = None,
                 only: list[int] | None = None) -> Campaign:
    """Run `cases` mutants round-robin over the seeds and report.

    Parameters
    ----------
    cases, campaign_seed : int
        How many cases, and the seed that makes them (case ``i`` is the same for a
        given seed everywhere).
    seeds : list of Seed, optional
        Seeds to use (default :func:`load_seeds` of `seeds_from`).
    steps : list of Target, optional
        Harness steps (default :data:`harness.STEPS`; tests pass fake targets).
    minimize_budget : int
        Runs allowed per unique finding for minimization (0: keep recipes as found).
    only : list of int, optional
        Run only these case indices (each the same mutant as in the full campaign;
        `cases` is then ignored), e.g. the ``finding_cases`` of an earlier run.
    out, repro_store : Path, optional
        Write ``summary.json`` + ``report.md`` there / save one reproducer per finding.
    """
    steps = steps or STEPS
    lim = limits or Limits()
    preload()
    seed_list = seeds if seeds is not None else load_seeds(seeds_from)
    if not seed_list:
        raise ValueError("no seeds")
    infos = [analyse(s) for s in seed_list]
    tally = Tally()
    unique: dict[str, UniqueFinding] = {}
    camp = Campaign(tally, unique, {})
    t0 = time.monotonic()
    indices = sorted(set(only)) if only is not None else range(cases)
    gen = (make_case(infos, campaign_seed, i) for i in indices)
    for case, res in run_cases(gen, steps, lim, jobs):
        tally.add(res)
        camp.outcomes.append((case.index, res.outcome,
                              sorted(f.key for f in res.findings if f.outcome in FINDINGS)))
        for u in dedup(unique, case, res):
            if log:
                log(f"case {case.index} ({case.info.seed.name}): new finding {u.key}: {u.finding.message}")
        if log and tally.cases % 500 == 0:
            log(f"{tally.cases} cases, {tally.cases / (time.monotonic() - t0):.1f}/s, "
                f"{len(unique)} unique findings")
    tally.seconds = time.monotonic() - t0
    camp.outcomes.sort()
    if minimize_budget > 0:
        minimize_all(unique, steps, lim, minimize_budget, log)
    repros: dict[str, str] = {}
    if repro_store is not None:
        for u in unique.values():
            repros[u.key] = str(save_repro(repro_store, u, campaign_seed))
    settings = {"cases": cases, "jobs": jobs, "timeout": lim.timeout,
                "address_space": f"{lim.mem_factor} x size + {lim.mem_base / 2**30:g} GiB",
                "steps": [t.name for t in steps]}
    settings["cases"] = len(indices)
    if only is not None:
        settings["only_cases"] = list(indices)
    by_key: dict[str, list[int]] = {}
    for index, _, keys in camp.outcomes:
        for k in keys:
            by_key.setdefault(k, []).append(index)
    camp.summary = summary(tally, unique, campaign_seed, seed_list, settings, repros, by_key)
    if out is not None:
        write_report(out, camp.summary)
    return camp


@dataclass
class ReplayResult:
    """What replaying a reproducer gave: the findings, and whether its key came back."""

    key: str
    findings: list[Finding]

    @property
    def reproduced(self) -> bool:
        return any(f.key == self.key for f in self.findings)

    @property
    def clean(self) -> bool:
        """Only ok / Nd2Error outcomes (what a fixed bug gives)."""
        return not any(f.outcome in FINDINGS for f in self.findings)


def load_repro(path: Path) -> tuple[dict[str, Any], bytes]:
    """A reproducer's JSON and its mutant.

    Raises
    ------
    FileNotFoundError
        The seed is a corpus file and the corpus is absent.
    ValueError
        The seed's bytes are not the ones the reproducer was made from.
    """
    rep = json.loads(Path(path).read_text())
    seed = seed_bytes(rep["seed"]["name"])
    if hashlib.sha256(seed).hexdigest() != rep["seed"]["sha256"]:
        raise ValueError(f"seed {rep['seed']['name']} changed since the reproducer was saved")
    return rep, apply_edits(seed, Recipe.from_json(rep["recipe"]).edits)


def replay(path: Path, *, limits: Limits | None = None, steps: list[Target] | None = None) -> ReplayResult:
    """Run a saved reproducer through every harness step (in a child, with limits)."""
    preload()
    rep, mutant = load_repro(path)
    return ReplayResult(rep["key"], run_one(mutant, steps or STEPS, limits))
