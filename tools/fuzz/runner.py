"""The campaign runner: one forked child per case, deduplication, minimization.

The parent imports nd2kit (and everything a case touches) once, analyses the seeds,
builds each case's recipe, and forks a child per case. The child applies the recipe,
writes the mutant to a temporary file, limits its address space
(``RLIMIT_AS = mem_factor * len(mutant) + mem_base``) and its time (``SIGALRM``), runs
the harness steps and sends its findings back as JSON through a pipe. The parent kills
a child that outlives ``timeout + grace`` (a timeout) and reports a child that dies of
a signal as a crash.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import math
import os
import random
import resource
import select
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .harness import (
    FINDINGS,
    OUTCOMES,
    STEPS,
    CaseTimeout,
    Finding,
    Target,
    _tmpdir,
    child_setup,
    classify,
    run_steps,
)
from .mutators import mutate
from .recipe import Edit, Recipe, apply_edits
from .seeds import SeedInfo

__all__ = ["Case", "CaseResult", "Limits", "UniqueFinding", "dedup", "make_case", "minimize",
           "run_cases", "run_one"]

GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """Per-case limits: seconds per harness step, and address space
    ``mem_factor * size + mem_base``. The parent kills a child that runs longer than
    ``timeout`` per step plus ``grace`` in all."""

    timeout: float = 10.0
    grace: float = 2.0
    mem_factor: int = 4
    mem_base: int = 3 * GiB // 2

    def address_space(self, size: int) -> int:
        return self.mem_factor * size + self.mem_base


@dataclass
class Case:
    index: int
    info: SeedInfo
    recipe: Recipe


@dataclass
class CaseResult:
    index: int
    seed: str
    mutators: list[str]
    findings: list[Finding]
    seconds: float

    @property
    def outcome(self) -> str:
        """The worst outcome of the case's steps (:data:`harness.OUTCOMES` order)."""
        got = {f.outcome for f in self.findings} or {"ok"}
        return next(o for o in OUTCOMES if o in got)


def case_rng(campaign_seed: int, index: int) -> random.Random:
    """The generator of case `index` (the same for a seed on every machine)."""
    return random.Random(f"nd2kit-fuzz:{campaign_seed}:{index}")


def make_case(infos: list[SeedInfo], campaign_seed: int, index: int) -> Case:
    """Case `index`: seeds in turn, the recipe from :func:`case_rng`."""
    info = infos[index % len(infos)]
    return Case(index, info, mutate(info, case_rng(campaign_seed, index)))


# ------------------------------------------------------------------ the child


def _send(wfd: int, findings: list[Finding]) -> None:
    view = memoryview(json.dumps([f.to_json() for f in findings]).encode())
    while view:
        view = view[os.write(wfd, view):]


def _child(data: bytes, steps: list[Target], limits: Limits, wfd: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    path = os.path.join(_tmpdir(), f"nd2kit-fuzz-{os.getpid()}.nd2")
    findings: list[Finding] = []
    try:
        faulthandler.disable()  # a crash is reported by the parent, not dumped on its terminal
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        child_setup()
        with open(path, "wb") as fh:
            fh.write(data)
        limit = limits.address_space(len(data))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        def on_alarm(signum: int, frame: Any) -> None:
            raise CaseTimeout(f"step still running after {limits.timeout:g} s")

        signal.signal(signal.SIGALRM, on_alarm)
        findings = run_steps(path, steps, limits.timeout)
        signal.setitimer(signal.ITIMER_REAL, 0)
        _send(wfd, findings)
    except BaseException as e:  # noqa: BLE001 - nothing may escape a forked child
        try:  # e.g. the alarm between two steps: what was found so far, and this
            signal.setitimer(signal.ITIMER_REAL, 0)
            _send(wfd, [*findings, classify("case", e)])
        except BaseException:  # noqa: BLE001
            code = 70
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os._exit(code)


@dataclass
class _Job:
    pid: int
    fd: int
    case: Any
    start: float
    chunks: list[bytes] = field(default_factory=list)
    killed: bool = False
    deadline: float = 0.0


def _spawn(data: bytes, steps: list[Target], limits: Limits, case: Any) -> _Job:
    rfd, wfd = os.pipe()
    gc.freeze()  # the child's collector leaves the parent's objects alone (no copy-on-write storm)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(rfd)
        _child(data, steps, limits, wfd)
    os.close(wfd)
    return _Job(pid, rfd, case, time.monotonic(), deadline=limits.timeout * len(steps) + limits.grace)


def _finish(job: _Job, limits: Limits) -> list[Finding]:
    os.close(job.fd)
    _, status = os.waitpid(job.pid, 0)
    if job.killed:
        return [Finding("timeout", "case", "killed", "", f"killed after {job.deadline:g} s")]
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return [Finding("crash", "case", sig, "", f"child died of {sig}")]
    try:
        return [Finding.from_json(d) for d in json.loads(b"".join(job.chunks))]
    except ValueError:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        return [Finding("crash", "case", f"exit-{code}", "", f"child ended (exit {code}) without a result")]


def _run_jobs(items: Iterable[tuple[bytes, Any]], steps: list[Target], limits: Limits,
              jobs: int) -> Iterator[tuple[Any, list[Finding], float]]:
    """Run (mutant, tag) items, `jobs` children at a time; yields (tag, findings, seconds)."""
    it = iter(items)
    running: dict[int, _Job] = {}
    exhausted = False
    while True:
        while not exhausted and len(running) < jobs:
            nxt = next(it, None)
            if nxt is None:
                exhausted = True
                break
            job = _spawn(nxt[0], steps, limits, nxt[1])
            running[job.fd] = job
        if not running:
            return
        ready, _, _ = select.select(list(running), [], [], 0.05)
        done: list[_Job] = []
        for fd in ready:
            job = running[fd]
            data = os.read(fd, 1 << 16)
            if data:
                job.chunks.append(data)
            else:
                done.append(job)
        now = time.monotonic()
        finished = {j.fd for j in done}
        for job in running.values():
            if job.fd not in finished and now - job.start > job.deadline:
                os.kill(job.pid, signal.SIGKILL)
                job.killed = True
                done.append(job)
        for job in done:
            del running[job.fd]
            yield job.case, _finish(job, limits), time.monotonic() - job.start


def run_one(data: bytes, steps: list[Target] | None = None, limits: Limits | None = None) -> list[Finding]:
    """Run one mutant in a child and return its findings."""
    lim = limits or Limits()
    for _, findings, _ in _run_jobs([(data, None)], steps or STEPS, lim, 1):
        return findings
    return []  # pragma: no cover


def run_cases(cases: Iterable[Case], steps: list[Target] | None = None,
              limits: Limits | None = None, jobs: int = 1) -> Iterator[tuple[Case, CaseResult]]:
    """Run `cases` (each in its own child); yields results as they complete."""
    lim = limits or Limits()
    items = ((apply_edits(c.info.seed.data, c.recipe.edits), c) for c in cases)
    for case, findings, secs in _run_jobs(items, steps or STEPS, lim, jobs):
        yield case, CaseResult(case.index, case.info.seed.name, list(case.recipe.mutators),
                               findings, secs)


# ------------------------------------------------------------------ dedup and minimization


@dataclass
class UniqueFinding:
    """The first example of one deduplication key, and how often the key was seen."""

    finding: Finding
    case: Case
    count: int = 0
    seeds: set[str] = field(default_factory=set)
    minimized: Recipe | None = None
    attempts: int = 0

    @property
    def key(self) -> str:
        return self.finding.key


def dedup(unique: dict[str, UniqueFinding], case: Case, result: CaseResult) -> list[UniqueFinding]:
    """Record `result`'s findings in `unique`; returns the keys seen for the first time."""
    new = []
    for f in result.findings:
        if f.outcome not in FINDINGS:
            continue
        u = unique.get(f.key)
        if u is None:
            u = unique[f.key] = UniqueFinding(f, case)
            new.append(u)
        u.count += 1
        u.seeds.add(case.info.seed.name)
    return new


def _step_for(f: Finding, steps: list[Target]) -> list[Target]:
    """Only the step that produced `f` (all steps for whole-case outcomes)."""
    one = [t for t in steps if t.name == f.step]
    return one or steps


def minimize(seed: bytes, recipe: Recipe, key: str, steps: list[Target], limits: Limits,
             budget: int = 48) -> tuple[Recipe, int]:
    """Shrink `recipe` while the mutant still produces a finding with `key`.

    Delta debugging over the edits (drop halves, quarters, ... single edits), then each
    remaining edit is shrunk: a truncation keeps more of the file, an insert gets shorter.
    Returns the smaller recipe and the number of runs used (at most `budget`).
    """
    runs = [0]

    def reproduces(edits: list[Edit]) -> bool:
        if runs[0] >= budget:
            return False
        runs[0] += 1
        found = run_one(apply_edits(seed, edits), steps, limits)
        return any(f.key == key for f in found)

    edits = list(recipe.edits)
    n = 2
    while len(edits) >= 2 and runs[0] < budget:
        size = math.ceil(len(edits) / n)
        for i in range(0, len(edits), size):
            cand = edits[:i] + edits[i + size :]
            if cand and reproduces(cand):
                edits, n = cand, max(n - 1, 2)
                break
        else:
            if size == 1:
                break
            n = min(len(edits), 2 * n)
    for k in range(len(edits)):
        e = edits[k]
        if not e.insert and e.offset + e.delete >= len(seed) and e.delete > 1:  # truncation
            lo, hi = e.offset, len(seed) - 1  # the cut moves right while it reproduces
            while lo < hi and runs[0] < budget:
                mid = (lo + hi + 1) // 2
                cand = [*edits[:k], Edit(mid, len(seed) - mid, b"", f"truncate to {mid}"), *edits[k + 1 :]]
                if reproduces(cand):
                    lo, edits = mid, cand
                else:
                    hi = mid - 1
        elif len(e.insert) > 16:  # long inserts only (integer fields keep their width)
            cur = e
            while len(cur.insert) > 16 and runs[0] < budget:
                half = Edit(cur.offset, min(cur.delete, len(cur.insert) // 2), cur.insert[: len(cur.insert) // 2],
                            cur.what + " (shortened)")
                cand = [*edits[:k], half, *edits[k + 1 :]]
                if not reproduces(cand):
                    break
                cur, edits = half, cand
    kept = Recipe(edits, list(recipe.mutators))
    return kept, runs[0]


def minimize_all(unique: dict[str, UniqueFinding], steps: list[Target], limits: Limits,
                 budget: int = 48, log: Callable[[str], None] | None = None) -> None:
    """Minimize the first example of every unique finding (timeouts get a small budget)."""
    for u in unique.values():
        if u.minimized is not None:
            continue
        b = min(budget, 6) if u.finding.outcome == "timeout" else budget
        u.minimized, u.attempts = minimize(u.case.info.seed.data, u.case.recipe, u.key,
                                           _step_for(u.finding, steps), limits, b)
        if log:
            log(f"minimized {u.key}: {len(u.case.recipe.edits)} -> {len(u.minimized.edits)} edits "
                f"({u.attempts} runs)")
