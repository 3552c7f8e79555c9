"""Campaign reports (JSON summary + markdown) and the reproducer store."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import FINDINGS, OUTCOMES, Finding, normalise_message
from .recipe import Recipe
from .runner import Case, CaseResult, UniqueFinding
from .seeds import Seed

__all__ = ["Tally", "repro_name", "repro_to_json", "save_repro", "write_report"]


@dataclass
class Tally:
    """Counts over a campaign."""

    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    per_seed: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    per_step: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    mutators: Counter[str] = field(default_factory=Counter)
    no_place: Counter[str] = field(default_factory=Counter)
    nd2errors: int = 0

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        self.outcomes[result.outcome] += 1
        self.per_seed[result.seed][result.outcome] += 1
        self.mutators.update(result.mutators)
        for f in result.findings:
            self.per_step[f.step][f.outcome] += 1
            if f.outcome.startswith("nd2error"):
                self.nd2errors += 1
            if f.outcome == "nd2error-no-place":
                self.no_place[f"{f.exc_type}: {normalise_message(f.message)}"] += 1


def repro_name(key: str) -> str:
    """A file name for the reproducer of `key` (readable slug + short hash)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:80]
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.json"


def repro_to_json(u: UniqueFinding, campaign_seed: int) -> dict[str, Any]:
    seed: Seed = u.case.info.seed
    recipe: Recipe = u.minimized or u.case.recipe
    f: Finding = u.finding
    return {
        # open: the bug is not fixed yet (tests/test_fuzz_repros.py expects the finding);
        # set it to false with the fix, and the test then requires a clean replay
        "open": True,
        "key": u.key, "outcome": f.outcome, "step": f.step, "exc_type": f.exc_type, "top": f.top,
        "message": f.message, "traceback_tail": f.tb_tail,
        "seed": {"name": seed.name, "sha256": seed.sha256, "size": len(seed.data), **seed.source},
        "recipe": recipe.to_json(),
        "found": {"campaign_seed": campaign_seed, "case": u.case.index, "count": u.count},
    }


def save_repro(store: Path, u: UniqueFinding, campaign_seed: int) -> Path:
    store.mkdir(parents=True, exist_ok=True)
    p = store / repro_name(u.key)
    p.write_text(json.dumps(repro_to_json(u, campaign_seed), indent=1) + "\n")
    return p


def _one_line(u: UniqueFinding) -> str:
    r = u.minimized or u.case.recipe
    edits = "; ".join(e.what or f"@{e.offset}" for e in r.edits)[:200]
    return f"{u.case.info.seed.name}: {edits}"


def summary(tally: Tally, unique: dict[str, UniqueFinding], campaign_seed: int,
            seeds: list[Seed], settings: dict[str, Any],
            repros: dict[str, str] | None = None,
            finding_cases: dict[str, list[int]] | None = None) -> dict[str, Any]:
    repros = repros or {}
    return {
        "settings": settings,
        "campaign_seed": campaign_seed,
        "cases": tally.cases,
        "seconds": round(tally.seconds, 2),
        "cases_per_second": round(tally.cases / tally.seconds, 2) if tally.seconds else None,
        "outcomes": {o: tally.outcomes.get(o, 0) for o in OUTCOMES},
        "findings_total": sum(tally.outcomes.get(o, 0) for o in FINDINGS),
        "per_seed": {s.name: {"size": len(s.data), "sha256": s.sha256,
                              **dict(tally.per_seed.get(s.name, {}))} for s in seeds},
        "per_step": {k: dict(v) for k, v in sorted(tally.per_step.items())},
        "mutators": dict(sorted(tally.mutators.items())),
        "nd2errors": tally.nd2errors,
        "nd2errors_without_place": sum(tally.no_place.values()),
        "nd2errors_without_place_by_message": dict(tally.no_place.most_common()),
        "unique_findings": [
            {"key": u.key, "outcome": u.finding.outcome, "step": u.finding.step,
             "exc_type": u.finding.exc_type, "top": u.finding.top, "count": u.count,
             "seeds": sorted(u.seeds), "first_case": u.case.index, "message": u.finding.message,
             "repro": _one_line(u), "edits": len((u.minimized or u.case.recipe).edits),
             "recipe": (u.minimized or u.case.recipe).to_json(),
             "traceback_tail": u.finding.tb_tail, "repro_file": repros.get(u.key)}
            for u in sorted(unique.values(), key=lambda x: (-x.count, x.key))],
        # every case with a finding, by key (re-run them with --only-cases after a fix)
        "finding_cases": dict(sorted((finding_cases or {}).items())),
    }


def markdown(s: dict[str, Any]) -> str:
    out = [f"# nd2kit fuzz report (seed {s['campaign_seed']})", "",
           f"{s['cases']} cases in {s['seconds']} s ({s['cases_per_second']} cases/s); "
           f"settings: `{json.dumps(s['settings'])}`", "", "## Outcomes (worst step per case)", "",
           "| outcome | cases |", "| --- | ---: |"]
    out += [f"| {k} | {v} |" for k, v in s["outcomes"].items()]
    out += ["", f"Nd2Errors raised: {s['nd2errors']}, of which without chunk and offset: "
            f"{s['nd2errors_without_place']}", ""]
    if s["nd2errors_without_place_by_message"]:
        out += ["| Nd2Error without place (message, numbers as N) | count |", "| --- | ---: |"]
        out += [f"| `{m}` | {c} |" for m, c in s["nd2errors_without_place_by_message"].items()]
        out.append("")
    out += ["## Unique findings", ""]
    if not s["unique_findings"]:
        out.append("None.")
    for u in s["unique_findings"]:
        out += [f"### `{u['key']}` ({u['count']} cases)", "",
                f"- step `{u['step']}`, seeds: {', '.join(u['seeds'])}",
                f"- message: {u['message']}", f"- minimized repro ({u['edits']} edits): {u['repro']}"]
        if u["repro_file"]:
            out.append(f"- reproducer: `{u['repro_file']}`")
        if u["traceback_tail"]:
            out += ["", "```", u["traceback_tail"], "```"]
        out.append("")
    out += ["## Per seed", "", "| seed | size | " + " | ".join(OUTCOMES) + " |",
            "| --- | ---: |" + " ---: |" * len(OUTCOMES)]
    for name, d in s["per_seed"].items():
        out.append(f"| {name} | {d['size']} | " + " | ".join(str(d.get(o, 0)) for o in OUTCOMES) + " |")
    out += ["", "## Per step", "", "| step | " + " | ".join(OUTCOMES) + " |",
            "| --- |" + " ---: |" * len(OUTCOMES)]
    for name, d in s["per_step"].items():
        out.append(f"| {name} | " + " | ".join(str(d.get(o, 0)) for o in OUTCOMES) + " |")
    out += ["", "## Mutators used", "", ", ".join(f"{k} {v}" for k, v in s["mutators"].items()), ""]
    return "\n".join(out)


def write_report(out: Path, s: dict[str, Any]) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / "summary.json", out / "report.md"
    j.write_text(json.dumps(s, indent=1) + "\n")
    m.write_text(markdown(s))
    return j, m


def case_line(case: Case, result: CaseResult) -> str:
    return f"case {case.index} {case.info.seed.name} {result.outcome} {'+'.join(result.mutators)}"
