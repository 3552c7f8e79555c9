"""nd2kit vs nd2 0.12, side by side in one run: ``python -m tools.bench``.

Writes ``docs/benchmarks.md`` (machine facts, how to reproduce, what each case
measures, medians/IQR/ratios, targets with PASS/FAIL) and prints a summary. The exit
status is 0 whatever the results: targets are checked by reading the file.

Adding a benchmark: write a setup function that returns a :class:`Prepared` (the two
callables doing the *same* work, a check that their outputs are equal, the input
size) and decorate it with :func:`case`. Cases run in registration order.

Methodology (also written into the report):

* inputs are built and both outputs compared before anything is timed; a case whose
  outputs differ is reported INVALID (a FAIL) and not timed;
* warm-up calls of both callables, then rounds; each round times one nd2kit call and
  one nd2 call with ``time.perf_counter_ns``, alternating which goes first, so the two
  libraries share the machine's noise;
* the number of rounds adapts to the call cost (a time budget per case, between a
  minimum and a maximum number of rounds);
* the garbage collector is disabled while timing (as ``timeit`` does; ``--gc`` keeps
  it on) and run between rounds; results are freed after the clock stops;
* reported: median and interquartile range per library, ratio of the medians
  (nd2kit / nd2 time; the target applies to it), and the median and IQR of the
  per-round paired ratios as a noise indicator.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as _dt
import gc
import io
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"


# ----------------------------------------------------------------------------- registry


@dataclass
class Prepared:
    """What a case's setup returns.

    Attributes
    ----------
    nd2kit, nd2 : callables without arguments
        One unit of the same work done by each library; the return value is ignored
        (and freed after the clock stops).
    check : callable
        Raises ``AssertionError`` (with a message) when the two outputs differ.
    nbytes : int or None
        Input bytes processed per call (for MB/s), if meaningful.
    input : str
        One line describing the input (shown in the table).
    """

    nd2kit: Callable[[], Any]
    nd2: Callable[[], Any]
    check: Callable[[], None]
    nbytes: int | None = None
    input: str = ""


@dataclass
class Case:
    """A registered benchmark.

    ``target`` applies to the time ratio nd2kit / nd2 (ratio of medians);
    ``direction`` ``"<="`` means the ratio must be at most the target (nd2kit
    faster), ``">="`` at least.
    """

    name: str
    title: str
    measures: str
    setup: Callable[[], Prepared]
    target: float
    direction: str = "<="

    def target_text(self) -> str:
        return f"time ratio {self.direction} {self.target:g}"

    def passes(self, ratio: float) -> bool:
        return ratio <= self.target if self.direction == "<=" else ratio >= self.target


CASES: dict[str, Case] = {}


def case(name: str, *, title: str, measures: str, target: float, direction: str = "<="):
    """Decorator registering a setup function as benchmark `name`."""
    if direction not in ("<=", ">="):
        raise ValueError("direction must be '<=' or '>='")

    def deco(setup: Callable[[], Prepared]) -> Callable[[], Prepared]:
        if name in CASES:
            raise ValueError(f"duplicate benchmark {name!r}")
        CASES[name] = Case(name, title, " ".join(measures.split()), setup, target, direction)
        return setup

    return deco


# ----------------------------------------------------------------------------- cases


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Short description of where two decoded trees first differ."""
    if type(a) is not type(b):
        return f"{path or '/'}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if set(a) != set(b):
            only = [k for k in a if k not in b][:3] + [k for k in b if k not in a][:3]
            return f"{path or '/'}: keys differ (e.g. {only})"
        for k in a:
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}/{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path or '/'}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or '/'}: {a!r:.80} vs {b!r:.80}"


def _lv_prepared(payloads: list[bytes], labels: list[str], input_text: str) -> Prepared:
    from nd2._parse._clx_lite import json_from_clx_lite_variant

    from nd2kit.codecs import lite_variant

    decode = lite_variant.decode

    def run_nd2kit() -> list[Any]:
        return [decode(p) for p in payloads]

    def run_nd2() -> list[Any]:
        return [json_from_clx_lite_variant(p, strip_prefix=False) for p in payloads]

    def check() -> None:
        for label, p in zip(labels, payloads):
            a = decode(p)
            b = json_from_clx_lite_variant(p, strip_prefix=False)
            assert a == b, f"{label}: outputs differ at {_first_difference(a, b)}"

    return Prepared(run_nd2kit, run_nd2, check, sum(map(len, payloads)), input_text)


@case(
    "lv_corpus",
    title="LiteVariant decode, real corpus",
    measures="""Decoding every LiteVariant chunk payload (first byte 11 = LEVEL or
    76 = compressed) of every file in `/work/shared/corpus/real`, all together as one
    timed batch. Payloads are taken out of the files with nd2kit's container reader
    beforehand (not timed). nd2kit: `nd2kit.codecs.lite_variant.decode(b)`; nd2:
    `nd2._parse._clx_lite.json_from_clx_lite_variant(b, strip_prefix=False)`. The two
    outputs are compared chunk by chunk before timing.""",
    target=0.5,
)
def _lv_corpus() -> Prepared:
    from tools import bench_data

    items = bench_data.corpus_lite_variant_payloads()
    if not items:
        raise RuntimeError(f"no LiteVariant chunks found under {bench_data.CORPUS_REAL}")
    files = {label.split(":", 1)[0] for label, _ in items}
    total = sum(len(p) for _, p in items)
    n_comp = sum(1 for _, p in items if p[0] == 76)
    text = (f"{len(items)} chunks ({n_comp} compressed) from {len(files)} files, "
            f"{total:,} bytes")
    return _lv_prepared([p for _, p in items], [label for label, _ in items], text)


@case(
    "lv_generated_1mb",
    title="LiteVariant decode, generated ~1 MB tree",
    measures="""Decoding one generated LiteVariant payload of about 1 MB, built with
    `lite_variant.from_python` + `encode` (`tools/bench_data.py`,
    `generated_lite_variant`): a NIS-like `SLxExperiment` with an XY `Points` list
    (420 points, each with its autofocus struct), 60 `pPeriod` items, 300
    recorded-data keys, four picture planes with filter spectra, a `pItemValid`
    byte array and an `RLxExperimentRecord`-style `pEvents` list of 2 200 events;
    doubles, UINT32/UINT64/INT32, strings and bools (the input column gives the
    record count and nesting depth). Same two
    functions as `lv_corpus`; outputs compared before timing.""",
    target=0.5,
)
def _lv_generated() -> Prepared:
    from tools import bench_data

    from nd2kit.codecs import lite_variant

    payload = bench_data.generated_lite_variant()
    recs = list(lite_variant.iter_records(lite_variant.decode_lossless(payload).root))
    kinds = {}
    for _, _, r in recs:
        k = lite_variant.LvType(r.type).name.lower()
        kinds[k] = kinds.get(k, 0) + 1
    mix = ", ".join(f"{n:,} {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:5])
    depth = max(d for d, _, _ in recs) + 1
    text = f"{len(payload):,} bytes, {len(recs):,} records ({mix}, …), {depth} levels deep"
    return _lv_prepared([payload], ["generated"], text)


@case(
    "chunk_map_100k",
    title="Chunk map parse + one lookup, 100 000 entries",
    measures="""Locating and parsing the chunk map of a file whose map has 100 028
    entries (100 000 `ImageDataSeq|N!` frames of 512×512 uint16 laid out as NIS
    writes them, then 28 metadata chunks; offsets on 4 KiB boundaries up to ~53 GB,
    so some offset fields contain the byte 0x21 `!`; two entries use the
    size == offset quirk; reverse lexicographic order as in NIS files), followed by
    one lookup of `ImageDataSeq|99999!`. The file (`bench_data.generated_chunk_map_file`)
    holds a signature page and the map chunk at 0x1000 with its trailer; the chunks
    the map points at are not present (neither reader touches them). nd2kit:
    `container.read_chunk_map(buf)` then `cm["ImageDataSeq|99999!"]`, on `bytes`;
    nd2: `nd2._parse._chunk_decode.get_chunkmap(io.BytesIO(buf))` then the same
    lookup. Before timing, both maps are compared entry by entry
    (name → offset, size).""",
    target=0.25,
)
def _chunk_map_100k() -> Prepared:
    from nd2._parse._chunk_decode import get_chunkmap

    from nd2kit.codecs import container
    from tools import bench_data

    buf, n_entries = bench_data.generated_chunk_map_file(100_000)
    names, offsets, sizes = bench_data.generated_chunk_map_entries(100_000)
    n_bang = bench_data.count_bang_in_fields(offsets, sizes)
    key, bkey = "ImageDataSeq|99999!", b"ImageDataSeq|99999!"
    read_chunk_map = container.read_chunk_map

    def run_nd2kit() -> Any:
        _, cm = read_chunk_map(buf)
        return cm[key]

    def run_nd2() -> Any:
        cm = get_chunkmap(io.BytesIO(buf))
        return cm[bkey]

    def check() -> None:
        _, cm = read_chunk_map(buf)
        theirs = get_chunkmap(io.BytesIO(buf))
        assert len(cm) == len(theirs) == n_entries, (
            f"entry counts: nd2kit {len(cm)}, nd2 {len(theirs)}, expected {n_entries}")
        ours = {n.encode("latin-1"): tuple(cm[n]) for n in cm}
        if ours != theirs:
            bad = [k for k in theirs if ours.get(k) != theirs[k]][:3]
            raise AssertionError(f"maps differ, e.g. {[(k, ours.get(k), theirs[k]) for k in bad]}")
        assert tuple(run_nd2kit()) == run_nd2(), "lookup results differ"
        expect = dict(zip(names, zip(offsets, sizes)))
        assert tuple(cm[key]) == expect[key], "lookup differs from the generated entry"

    map_len = len(buf) - 4096
    text = (f"{n_entries:,} entries, file {len(buf):,} bytes (map chunk {map_len:,}), "
            f"{n_bang:,} entries with 0x21 in their u64 fields")
    return Prepared(run_nd2kit, run_nd2, check, None, text)


# ----------------------------------------------------------------------------- timing


@dataclass
class Result:
    case: Case
    status: str  # "PASS", "FAIL", "INVALID", "ERROR"
    message: str = ""
    prepared: Prepared | None = None
    kit_ns: list[int] = field(default_factory=list)
    nd2_ns: list[int] = field(default_factory=list)
    warmup: int = 0
    seconds: float = 0.0

    @property
    def timed(self) -> bool:
        return bool(self.kit_ns)

    def median(self, which: str) -> float:
        return statistics.median(self.kit_ns if which == "kit" else self.nd2_ns)

    def iqr(self, which: str) -> tuple[float, float]:
        return _quartiles(self.kit_ns if which == "kit" else self.nd2_ns)

    @property
    def ratio(self) -> float:
        return self.median("kit") / self.median("nd2")

    @property
    def paired(self) -> list[float]:
        return [a / b for a, b in zip(self.kit_ns, self.nd2_ns)]


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (float("nan"), float("nan"))
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


@dataclass
class Settings:
    warmup: int
    budget_s: float
    min_reps: int
    max_reps: int
    reps: int | None = None  # fixed number of rounds, overrides the budget
    keep_gc: bool = False  # leave the garbage collector on while timing


FULL = Settings(warmup=3, budget_s=14.0, min_reps=25, max_reps=250)
QUICK = Settings(warmup=1, budget_s=2.0, min_reps=5, max_reps=25)


def _time_once(fn: Callable[[], Any]) -> int:
    t0 = time.perf_counter_ns()
    r = fn()
    t1 = time.perf_counter_ns()
    del r
    return t1 - t0


def run_case(c: Case, s: Settings, log: Callable[[str], None]) -> Result:
    t_start = time.perf_counter()
    try:
        prep = c.setup()
    except Exception as e:  # noqa: BLE001 - report and go on with the other cases
        return Result(c, "ERROR", f"setup failed: {type(e).__name__}: {e}")
    try:
        prep.check()
    except AssertionError as e:
        return Result(c, "INVALID", f"outputs differ: {e}", prep)
    except Exception as e:  # noqa: BLE001
        return Result(c, "ERROR", f"check raised {type(e).__name__}: {e}", prep)

    res = Result(c, "FAIL", prepared=prep, warmup=s.warmup)
    gc_was = gc.isenabled()
    gc.collect()
    if not s.keep_gc:
        gc.disable()
    try:
        est = []
        for _ in range(max(1, s.warmup)):
            est.append(_time_once(prep.nd2kit) + _time_once(prep.nd2))
            gc.collect()
        per_round = min(est) / 1e9
        reps = s.reps or max(s.min_reps, min(s.max_reps, int(s.budget_s / max(per_round, 1e-9))))
        log(f"  {c.name}: {reps} rounds (~{per_round * 1e3:.1f} ms per round)")
        for i in range(reps):
            if i % 2 == 0:
                res.kit_ns.append(_time_once(prep.nd2kit))
                res.nd2_ns.append(_time_once(prep.nd2))
            else:
                res.nd2_ns.append(_time_once(prep.nd2))
                res.kit_ns.append(_time_once(prep.nd2kit))
            gc.collect()
    except Exception as e:  # noqa: BLE001
        res.status, res.message = "ERROR", f"timing raised {type(e).__name__}: {e}"
        res.kit_ns.clear()
        res.nd2_ns.clear()
    finally:
        if gc_was:
            gc.enable()
    if res.timed:
        res.status = "PASS" if c.passes(res.ratio) else "FAIL"
    res.seconds = time.perf_counter() - t_start
    return res


def profile_nd2kit(res: Result, top: int = 15, calls: int = 5) -> str:
    """cProfile of the nd2kit side of a case (top entries by own time)."""
    prep = res.prepared
    if prep is None:
        return ""
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        prep.nd2kit()
    pr.disable()
    out = io.StringIO()
    st = pstats.Stats(pr, stream=out)
    st.strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    lines = text.splitlines()
    k = next((i for i, ln in enumerate(lines) if "function calls" in ln), 0)
    return "\n".join(ln.rstrip() for ln in lines[k:] if ln.strip())


# ----------------------------------------------------------------------------- facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_facts() -> dict[str, str]:
    import numpy

    try:
        from importlib.metadata import version

        nd2_version = version("nd2")
        kit_version = version("nd2kit")
    except Exception:  # noqa: BLE001
        import nd2

        nd2_version, kit_version = nd2.__version__, "?"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy": numpy.__version__,
        "nd2": nd2_version,
        "nd2kit": kit_version + (f" (git {head}{', uncommitted changes' if dirty else ''})"
                                 if head else ""),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load average at start": " / ".join(f"{x:.2f}" for x in load) + " (1 / 5 / 15 min)",
    }


# ----------------------------------------------------------------------------- report


def _fmt_ms(ns: float) -> str:
    ms = ns / 1e6
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def _mbps(nbytes: int | None, ns: float) -> str:
    return "—" if not nbytes else f"{nbytes / (ns / 1e9) / 1e6:.1f}"


def render(results: list[Result], facts: dict[str, str], argv: list[str], mode: str,
           total_s: float, profiles: dict[str, str]) -> str:
    L: list[str] = []
    add = L.append
    add("# Benchmarks: nd2kit vs nd2 0.12")
    add("")
    add("<!-- Generated by `python -m tools.bench`; edit tools/bench.py, not this file. -->")
    add("")
    add("nd2kit's codecs and the corresponding nd2 0.12 functions timed side by side, in "
        "one process and one run, on the same inputs.")
    add("")
    add("## How to reproduce")
    add("")
    add("```sh")
    add(".venv/bin/python -m tools.bench            # all cases, writes docs/benchmarks.md")
    add(".venv/bin/python -m tools.bench --quick    # fewer rounds (smoke run, noisier)")
    add(".venv/bin/python -m tools.bench --only lv_corpus --only chunk_map_100k")
    add(".venv/bin/python -m tools.bench --list     # registered cases")
    add(".venv/bin/python -m tools.bench --profile  # + cProfile of nd2kit for failing cases")
    add("```")
    add("")
    add("Other options: `--reps N` (fixed number of rounds), `--gc` (leave the garbage "
        "collector on while timing), `--out PATH`, `--no-write`. "
        "The exit status is always 0; the targets are judged from the table below. "
        "The corpus location can be changed with `ND2KIT_BENCH_CORPUS`.")
    add("")
    add("## Method")
    add("")
    add("* Inputs are built first and the two libraries' outputs are compared; a case "
        "whose outputs differ is reported INVALID (counts as a failure) and is not timed.")
    add("* Warm-up calls of both libraries, then *rounds*: each round times one nd2kit "
        "call and one nd2 call with `time.perf_counter_ns`, alternating which library "
        "goes first, so both see the same machine noise.")
    add("* Rounds per case: as many as fit a time budget (full run: "
        f"{FULL.budget_s:g} s, {FULL.min_reps}–{FULL.max_reps} rounds; `--quick`: "
        f"{QUICK.budget_s:g} s, {QUICK.min_reps}–{QUICK.max_reps} rounds).")
    add("* The garbage collector is off while timing (as in `timeit`; `--gc` leaves it on) "
        "and runs between rounds; each call's result is freed after the clock stops. "
        "With it on, both libraries' absolute times grow (the decoders allocate many "
        "objects) but the comparison is the same work either way.")
    add("* Reported: median and interquartile range (IQR, q1–q3) of each library's "
        "times; **time ratio** = median(nd2kit) / median(nd2), the quantity the targets "
        "apply to (below 1 = nd2kit faster; 0.5 = twice nd2's throughput); the median "
        "and IQR of the per-round ratios show how stable the comparison was.")
    add("")
    add("## Machine")
    add("")
    add("| fact | value |")
    add("| --- | --- |")
    for k, v in facts.items():
        add(f"| {k} | {v} |")
    cmd = " ".join(["python -m tools.bench", *argv])
    add(f"| run | `{cmd}` — mode: {mode}, total {total_s:.0f} s |")
    add("")
    add("## Results")
    add("")
    add("Times in milliseconds per call: median [q1–q3]. MB/s = 10⁶ input bytes per second.")
    add("")
    add("| case | input | rounds | nd2kit ms | nd2 ms | time ratio nd2kit/nd2 | "
        "per-round ratio [q1–q3] | nd2kit MB/s | nd2 MB/s |")
    add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        inp = r.prepared.input if r.prepared else "—"
        if not r.timed:
            add(f"| `{r.case.name}` | {inp} | — | — | — | {r.status} | — | — | — |")
            continue
        kq, nq = r.iqr("kit"), r.iqr("nd2")
        pq = _quartiles(r.paired)
        nb = r.prepared.nbytes if r.prepared else None
        add(f"| `{r.case.name}` | {inp} | {len(r.kit_ns)} | "
            f"{_fmt_ms(r.median('kit'))} [{_fmt_ms(kq[0])}–{_fmt_ms(kq[1])}] | "
            f"{_fmt_ms(r.median('nd2'))} [{_fmt_ms(nq[0])}–{_fmt_ms(nq[1])}] | "
            f"**{r.ratio:.3f}** ({1 / r.ratio:.2f}× nd2's speed) | "
            f"{statistics.median(r.paired):.3f} [{pq[0]:.3f}–{pq[1]:.3f}] | "
            f"{_mbps(nb, r.median('kit'))} | {_mbps(nb, r.median('nd2'))} |")
    add("")
    add("## Targets")
    add("")
    add("| case | target | measured time ratio | result |")
    add("| --- | --- | ---: | --- |")
    for r in results:
        meas = f"{r.ratio:.3f}" if r.timed else "—"
        note = f" — {r.message}" if r.message else ""
        add(f"| `{r.case.name}` | {r.case.target_text()} | {meas} | **{r.status}**{note} |")
    n_pass = sum(r.status == "PASS" for r in results)
    add("")
    add(f"{n_pass} of {len(results)} targets met.")
    add("")
    add("## Cases")
    add("")
    for r in results:
        c = r.case
        add(f"### `{c.name}` — {c.title}")
        add("")
        add(c.measures)
        add("")
        add(f"Target: {c.target_text()} (nd2kit time / nd2 time, ratio of medians).")
        add("")
    if profiles:
        add("## Profiles of failing cases (nd2kit side, cProfile, by own time)")
        add("")
        for name, text in profiles.items():
            add(f"### `{name}`")
            add("")
            add("```")
            add(text)
            add("```")
            add("")
    return "\n".join(L).rstrip() + "\n"


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this case (repeatable, or comma-separated)")
    ap.add_argument("--reps", type=int, help="fixed number of rounds per case")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="report path (default docs/benchmarks.md)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the report")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile nd2kit's side of failing cases (printed and in the report)")
    ap.add_argument("--gc", action="store_true",
                    help="keep the garbage collector on while timing (default off, as timeit)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)

    if args.list:
        for c in CASES.values():
            print(f"{c.name:20s} {c.target_text():22s} {c.title}")
        return 0
    names = list(CASES)
    if args.only:
        wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in CASES]
        if unknown:
            print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}")
            return 0
        names = [n for n in names if n in wanted]
    s = QUICK if args.quick else FULL
    s = Settings(s.warmup, s.budget_s, s.min_reps, s.max_reps,
                 reps=max(1, args.reps) if args.reps else None, keep_gc=args.gc)
    mode = ("quick" if args.quick else "full") + (f", only {', '.join(names)}" if args.only else "")
    if args.reps:
        mode += f", {args.reps} rounds"
    if args.gc:
        mode += ", GC on while timing"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    facts = machine_facts()
    log(f"tools.bench ({mode}) on {facts['CPU']}, {facts['cores']}")
    t0 = time.perf_counter()
    results: list[Result] = []
    for n in names:
        log(f"- {n}: preparing inputs and comparing outputs")
        results.append(run_case(CASES[n], s, log))
    profiles: dict[str, str] = {}
    if args.profile:
        for r in results:
            if r.status == "FAIL":
                log(f"- profiling nd2kit side of {r.case.name}")
                profiles[r.case.name] = profile_nd2kit(r)
    total = time.perf_counter() - t0

    print()
    print(f"{'case':20s} {'nd2kit ms':>10s} {'nd2 ms':>10s} {'ratio':>7s}  target        result")
    for r in results:
        if r.timed:
            print(f"{r.case.name:20s} {_fmt_ms(r.median('kit')):>10s} "
                  f"{_fmt_ms(r.median('nd2')):>10s} {r.ratio:7.3f}  "
                  f"{r.case.direction} {r.case.target:<10g} {r.status}")
        else:
            print(f"{r.case.name:20s} {'—':>10s} {'—':>10s} {'—':>7s}  "
                  f"{r.case.direction} {r.case.target:<10g} {r.status}: {r.message}")
    n_pass = sum(r.status == "PASS" for r in results)
    print(f"\n{n_pass}/{len(results)} targets met "
          f"({'all PASS' if n_pass == len(results) else 'SOME FAIL'}); {total:.0f} s")
    for name, text in profiles.items():
        print(f"\nprofile of nd2kit, {name}:\n{text}")
    if not args.no_write:
        text = render(results, facts, argv, mode, total, profiles)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        try:
            shown = args.out.resolve().relative_to(ROOT)
        except ValueError:
            shown = args.out
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
