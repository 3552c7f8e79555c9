"""The fuzzing campaign of tools/fuzz (issue #8) works end to end.

Planted bugs in fake harness targets must come back as findings of the right class
(other-exception with dedup and a minimized reproducer, timeout, memory-limit, crash),
a campaign must be deterministic for its seed, and a short run of the real harness
over the generated seeds must find nothing outside ``nd2kit.Nd2Error``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import corpus_files

from tools.fuzz import mutators
from tools.fuzz.__main__ import main as fuzz_main
from tools.fuzz.campaign import replay, run_campaign
from tools.fuzz.harness import Target
from tools.fuzz.recipe import Edit, Recipe, apply_edits
from tools.fuzz.runner import Limits, make_case, run_one
from tools.fuzz.seeds import GENERATED, analyse, load_seeds

FAST = Limits(timeout=5.0, grace=1.0)


@pytest.fixture(scope="module")
def gen_seeds():  # type: ignore[no-untyped-def]
    return load_seeds("generated")


def test_recipe_apply_and_json() -> None:
    seed = bytes(range(32))
    r = Recipe([Edit(4, 2, b"xy", "a"), Edit(30, 2, b"", "cut"), Edit(10, 0, b"\0" * 1000, "big")],
               ["t"])
    out = apply_edits(seed, r.edits)
    assert out == seed[:4] + b"xy" + seed[6:10] + b"\0" * 1000 + seed[10:30]
    back = Recipe.from_json(json.loads(json.dumps(r.to_json())))
    assert apply_edits(seed, back.edits) == out
    assert "insert_z" in r.to_json()["edits"][2]  # long inserts are stored deflated


def test_cases_are_deterministic_and_every_mutator_applies(gen_seeds) -> None:  # type: ignore[no-untyped-def]
    infos = [analyse(s) for s in gen_seeds]
    a = [make_case(infos, 5, i).recipe.to_json() for i in range(60)]
    b = [make_case(infos, 5, i).recipe.to_json() for i in range(60)]
    assert a == b
    assert a != [make_case(infos, 6, i).recipe.to_json() for i in range(60)]
    # the analysis found what the structure-aware mutators need
    kinds = {c.kind for i in infos for c in i.chunks}
    assert {"lv", "xml", "frame"} <= kinds
    import random
    for name, fn in mutators.MUTATORS.items():
        if name == "jp2_boxes":
            continue  # needs a legacy seed (corpus: synthetic/legacy16.nd2)
        made = [fn(i, random.Random(k)) for i in infos for k in range(8)]
        assert any(made), f"{name} never applied to the generated seeds"


def _planted(path: str) -> None:
    # a planted bug: a shorter file raises TypeError, a longer one KeyError
    n = os.path.getsize(path)
    if n < _PLANT_SIZE[0]:
        raise TypeError("planted: shorter")
    if n > _PLANT_SIZE[0]:
        raise KeyError("planted: longer")


_PLANT_SIZE = [0]


def test_planted_bug_found_deduplicated_minimized_and_replayed(gen_seeds, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed = next(s for s in gen_seeds if s.name == "gen:v3")
    _PLANT_SIZE[0] = len(seed.data)
    steps = [Target("planted", _planted)]
    camp = run_campaign(80, 11, seeds=[seed], steps=steps, limits=FAST, jobs=2,
                        minimize_budget=40, out=tmp_path / "out", repro_store=tmp_path / "repros")
    keys = set(camp.unique)
    assert "other-exception|TypeError|planted" in keys
    assert keys <= {"other-exception|TypeError|planted", "other-exception|KeyError|planted"}
    u = camp.unique["other-exception|TypeError|planted"]
    assert u.count > 1  # deduplicated: many cases, one finding
    assert u.minimized is not None and len(u.minimized.edits) == 1
    cut = u.minimized.edits[0]
    if not cut.insert and cut.offset + cut.delete == len(seed.data):  # a truncation, shrunk
        assert cut.offset == len(seed.data) - 1
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["cases"] == 80 and s["outcomes"]["other-exception"] > 0
    assert any(f["key"] == u.key for f in s["unique_findings"])
    assert "planted" in (tmp_path / "out" / "report.md").read_text()
    repro = sorted((tmp_path / "repros").glob("*TypeError*.json"))
    assert len(repro) == 1
    r = replay(repro[0], steps=steps, limits=FAST)
    assert r.reproduced and not r.clean
    # every case with a finding is listed by key; --only-cases runs exactly those again
    # (the same mutants: the planted bug is found in each of them)
    listed = s["finding_cases"][u.key]
    assert len(listed) == u.count and u.case.index in listed
    again = run_campaign(0, 11, seeds=[seed], steps=steps, limits=FAST, jobs=2, minimize_budget=0,
                         only=listed)
    assert again.summary["cases"] == len(listed)
    assert again.summary["finding_cases"][u.key] == listed


def _sleep(path: str) -> None:
    time.sleep(30)


def _deaf_sleep(path: str) -> None:
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    time.sleep(30)


def _alloc(path: str) -> None:
    bytearray(3 << 30)  # more than 4 x size + 1.5 GiB


def _segfault(path: str) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def test_timeout_memory_limit_and_crash_are_classified() -> None:
    data = b"x" * 1000
    lim = Limits(timeout=0.3, grace=0.5)
    t0 = time.monotonic()
    assert [f.outcome for f in run_one(data, [Target("sleep", _sleep)], lim)] == ["timeout"]
    killed = run_one(data, [Target("deaf", _deaf_sleep)], lim)  # the parent kills it
    assert [(f.outcome, f.key) for f in killed] == [("timeout", "timeout|case")]
    assert time.monotonic() - t0 < 5
    mem = run_one(data, [Target("alloc", _alloc)], lim)
    assert [f.outcome for f in mem] == ["memory-limit"]
    assert [f.outcome for f in run_one(data, [Target("segv", _segfault)], lim)] == ["crash"]


def test_campaign_is_deterministic(gen_seeds) -> None:  # type: ignore[no-untyped-def]
    a = run_campaign(24, 4, seeds=gen_seeds, limits=FAST, jobs=2, minimize_budget=0)
    b = run_campaign(24, 4, seeds=gen_seeds, limits=FAST, jobs=1, minimize_budget=0)
    assert len(a.outcomes) == len(b.outcomes) == 24
    # a slow case may time out in one run and not in the other: compare the rest
    same = [(x, y) for x, y in zip(a.outcomes, b.outcomes) if "timeout" not in (x[1], y[1])]
    assert len(same) >= 20
    assert all(x == y for x, y in same)


def test_cli_writes_a_report(tmp_path: Path) -> None:
    code = fuzz_main(["--cases", "12", "--seed", "2", "--seeds-from", "generated", "--minimize", "0",
                      "--out", str(tmp_path)])
    assert code in (0, 1)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["cases"] == 12 and sum(s["outcomes"].values()) == 12
    assert set(s["per_seed"]) == set(GENERATED)


#: what the short run over the generated seeds finds today (empty = the assertion holds);
#: the lead empties this list once the library's fixes land (strict xfail: a clean run fails)
KNOWN_FINDINGS: list[str] = []
#: the short run allows 30 s per step: at 10 s a type-76 LiteVariant record that inflates
#: to exactly the 256 MiB cap makes `nd2kit inspect` / `validate` time out on some runs and
#: not on others (about 10 s on this machine), which a strict test cannot hold; the long
#: campaign measures the 10 s target
SHORT_RUN = Limits(timeout=30.0)


@pytest.mark.xfail(bool(KNOWN_FINDINGS), strict=True,
                   reason="open robustness findings: " + ", ".join(KNOWN_FINDINGS))
def test_short_run_over_generated_seeds_finds_nothing(gen_seeds) -> None:  # type: ignore[no-untyped-def]
    camp = run_campaign(200, 0, seeds=gen_seeds, limits=SHORT_RUN, jobs=2, minimize_budget=0)
    found = {k: u.finding.message for k, u in camp.unique.items()}
    assert not found, found
    # issue #8 item 4: every Nd2Error raised on a mutant names its chunk or offset
    assert camp.summary["outcomes"]["nd2error"] > 0
    assert camp.summary["nd2errors_without_place"] == 0, camp.summary["nd2errors_without_place_by_message"]


@pytest.mark.corpus
def test_short_run_over_corpus_seeds_reports() -> None:
    files = corpus_files()
    assert files
    seeds = [s for s in load_seeds("corpus")]
    assert len(seeds) == len(files)
    camp = run_campaign(3 * len(seeds), 1, seeds=seeds, limits=SHORT_RUN, jobs=2, minimize_budget=0)
    assert camp.summary["cases"] == 3 * len(seeds)
    assert all(sum(v for k, v in d.items() if k not in ("size", "sha256")) == 3
               for d in camp.summary["per_seed"].values())
    found = {k: u.finding.message for k, u in camp.unique.items()}
    assert not found, found
    assert camp.summary["outcomes"]["nd2error"] > 0
    assert camp.summary["nd2errors_without_place"] == 0, camp.summary["nd2errors_without_place_by_message"]


def test_nd2_oracle_reads_the_unmutated_seeds_and_fails_on_a_damaged_one(gen_seeds) -> None:  # type: ignore[no-untyped-def]
    """``--oracle nd2`` runs nd2 0.12 on the same mutants: it must read every sound
    generated seed (else its failure counts in docs/robustness.md would be noise) and
    its exceptions are counted, not raised."""
    from tools.fuzz.harness import ORACLES

    for s in gen_seeds:
        assert [f.outcome for f in run_one(s.data, ORACLES["nd2"])] == ["ok"], s.name
    data = bytearray(gen_seeds[0].data)
    data[-40:] = bytes(40)  # the map's trailer and signature: nd2 0.12 raises ValueError
    (f,) = run_one(bytes(data), ORACLES["nd2"])
    assert f.outcome == "other-exception" and f.step == "nd2", f
