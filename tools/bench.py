"""nd2kit vs nd2 0.12, side by side in one run: ``python -m tools.bench``.

Writes ``docs/benchmarks.md`` (machine facts, how to reproduce, what each case
measures, medians/IQR/ratios, targets with PASS/FAIL) and prints a summary. The exit
status is 0 whatever the results: targets are checked by reading the file.

Adding a benchmark: write a setup function that returns a :class:`Prepared` (the two
callables doing the *same* work, a check that their outputs are equal, the input
size) and decorate it with :func:`case`. Cases run in registration order. The second
callable is nd2 0.12's unless the case names another ``reference`` (e.g. nd2kit's own
``imread`` for the dask case); :class:`Ref` adds reference timings that are shown but
not judged; ``group`` registers one case per input (the per-corpus-file metadata
cases, selectable together with ``--only open_meta``); ``kind="memory"`` cases return a
:class:`MemoryPrepared` and are judged on peak memory instead of time. Large generated
inputs come from ``tools.bench_data.sample_file`` (written once into a cache folder
outside the repository and reused).

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
  per-round paired ratios as a noise indicator;
* a case whose first run is noisy (bootstrap 95 % interval of its ratio wider than
  ``NOISE_WIDTH`` × the ratio, or containing the target) gets more runs (at most
  ``--max-runs``); it is judged on the median of the runs' ratios;
* ``kind="cold"`` cases (:class:`ColdPrepared`) evict the file from the page cache
  before each call and run each library in a fresh interpreter; they are judged on
  bytes read from storage and time (see ``method_sections``).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as _dt
import functools
import gc
import io
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tools import bench_data

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"


# ----------------------------------------------------------------------------- registry


@dataclass
class Ref:
    """A reference timing shown next to a case, not judged (e.g. nd2's own dask path).

    Timed `runs` times after the case's rounds (``quick_runs`` with ``--quick``;
    0 = skipped there). `vs` names another reference of the same case to show the
    ratio to (e.g. nd2's dask path vs nd2's imread).
    """

    label: str
    fn: Callable[[], Any]
    runs: int = 3
    quick_runs: int | None = None
    vs: str | None = None


@dataclass
class Prepared:
    """What a case's setup returns.

    Attributes
    ----------
    nd2kit, nd2 : callables without arguments
        One unit of the same work done by nd2kit and by the case's reference
        (nd2 0.12 unless the case says otherwise); the return value is ignored
        (and freed after the clock stops).
    check : callable
        Raises ``AssertionError`` (with a message) when the two outputs differ.
    nbytes : int or None
        Input bytes processed per call (for MB/s), if meaningful.
    input : str
        One line describing the input (shown in the table).
    refs : list of Ref
        Extra reference timings (not judged).
    notes : list of str
        Facts shown under the case in the report (generation time, checks done...);
        `check` may append to it.
    profile : callable, optional
        What ``--profile`` runs instead of `nd2kit` (e.g. with a single-threaded
        scheduler, so that cProfile sees the work); `profile_note` says so.
    breakdown : callable, optional
        Returns a text of step timings added to the profile (for calls whose time is
        spent inside one C call, where cProfile has nothing to show).
    """

    nd2kit: Callable[[], Any]
    nd2: Callable[[], Any]
    check: Callable[[], None]
    nbytes: int | None = None
    input: str = ""
    refs: list[Ref] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: Callable[[], Any] | None = None
    profile_note: str = ""
    breakdown: Callable[[], str] | None = None
    #: called when the case is done (closes files the callables keep open)
    cleanup: Callable[[], None] | None = None
    #: decides the result instead of the ratio target: ``(passed, measured text)``
    verdict: Callable[[Result], tuple[bool, str]] | None = None


@dataclass
class ColdPrepared:
    """What the setup of a ``kind="cold"`` case returns.

    `probe(lib)` evicts the file from the page cache and does the request once with
    `lib` ("nd2kit" or "nd2") in a fresh interpreter; it returns the dict of
    :func:`tools.bench_data.cold_probe`. `budget_pages` is
    :func:`tools.bench_data.request_pages` (``meta`` and ``pixels`` page counts).
    """

    probe: Callable[[str], dict[str, Any]]
    check: Callable[[], None]
    budget_pages: dict[str, int]
    input: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def budget_bytes(self) -> int:
        return sum(self.budget_pages.values()) * bench_data.PAGE


@dataclass
class MemoryPrepared:
    """What the setup of a ``kind="memory"`` case returns.

    `measure` returns ``{library: {"rss": probe, "tracemalloc": probe}}`` with the
    dicts of :func:`tools.bench_data.memory_probe`; `nbytes` is the array's size;
    `profile` (optional) returns a text showing where nd2kit allocates.
    """

    measure: Callable[[], dict[str, dict[str, dict[str, Any]]]]
    check: Callable[[], None]
    nbytes: int
    input: str = ""
    notes: list[str] = field(default_factory=list)
    profile: Callable[[], str] | None = None


@dataclass
class Case:
    """A registered benchmark.

    ``target`` applies to the ratio nd2kit / reference (time ratio of medians, or
    for memory cases peak memory / array bytes); ``direction`` ``"<="`` means the
    ratio must be at most the target, ``">="`` at least. ``max_ms`` adds an absolute
    bound on nd2kit's median time. ``reference`` names what the second callable is
    (nd2 0.12 by default). Cases of one ``group`` share their description. ``rounds``
    / ``quick_rounds`` (min, max), ``budget_s`` and ``warmup`` override the run-wide
    settings for costly calls.
    """

    name: str
    title: str
    measures: str
    setup: Callable[[], Any]
    target: float
    direction: str = "<="
    reference: str = "nd2 0.12"
    quantity: str = "time ratio"
    max_ms: float | None = None
    kind: str = "time"
    group: str = ""
    rounds: tuple[int, int] | None = None
    quick_rounds: tuple[int, int] | None = None
    budget_s: float | None = None
    warmup: int | None = None
    #: replaces the generated target text (cases judged by a ``verdict``)
    target_desc: str = ""
    #: cold cases: bytes read from storage must be <= bytes_factor x the request's pages
    bytes_factor: float = 2.0
    #: at most this many runs when noisy (None: the run-wide setting)
    max_runs: int | None = None
    #: False: measured and shown, not judged (status INFO, not counted as a target)
    judged: bool = True
    #: cold cases: where the storage floor is above the target, the time must be at
    #: most this multiple of the floor instead
    floor_factor: float = 1.25

    def target_text(self) -> str:
        if self.target_desc:
            return self.target_desc
        if not self.judged:
            return "not judged (shown for comparison)"
        if self.kind == "cold":
            return (f"bytes read from storage <= {self.bytes_factor:g}× the request's 4 KiB "
                    f"pages, and time ratio {self.direction} {self.target:g} (or, where "
                    f"reading only those pages takes longer than that, ≤ "
                    f"{self.floor_factor:g}× that storage floor)")
        text = f"{self.quantity} {self.direction} {self.target:g}"
        if self.max_ms is not None:
            text += f" and nd2kit median <= {self.max_ms:g} ms"
        return text

    def passes(self, ratio: float, kit_ms: float | None = None) -> bool:
        ok = ratio <= self.target if self.direction == "<=" else ratio >= self.target
        if self.max_ms is not None:
            ok = ok and kit_ms is not None and kit_ms <= self.max_ms
        return ok


CASES: dict[str, Case] = {}


def register(c: Case) -> Case:
    """Add a case to the registry (cases run in registration order)."""
    if c.direction not in ("<=", ">="):
        raise ValueError("direction must be '<=' or '>='")
    if c.kind not in ("time", "memory", "cold"):
        raise ValueError("kind must be 'time', 'memory' or 'cold'")
    if c.name in CASES:
        raise ValueError(f"duplicate benchmark {c.name!r}")
    CASES[c.name] = c
    return c


SetupT = TypeVar("SetupT", bound=Callable[[], Any])


def case(name: str, *, title: str, measures: str, target: float, direction: str = "<=",
         **options: Any) -> Callable[[SetupT], SetupT]:
    """Decorator registering a setup function as benchmark `name` (options: see Case)."""

    def deco(setup: SetupT) -> SetupT:
        register(Case(name, title, " ".join(measures.split()), setup, target, direction,
                      **options))
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
    from nd2kit.codecs import lite_variant
    from tools import bench_data

    payload = bench_data.generated_lite_variant()
    recs = list(lite_variant.iter_records(lite_variant.decode_lossless(payload).root))
    kinds: dict[str, int] = {}
    for _, _, r in recs:
        k = lite_variant.LvType(r.type).name.lower()  # type: ignore[attr-defined,unused-ignore]
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


# ----------------------------------------------------------------------------- reader cases


def _plain(v: Any) -> Any:
    """Dataclasses (``dataclasses.asdict``) and NamedTuples (``_asdict``) as plain dicts."""
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _plain(dataclasses.asdict(v))
    if isinstance(v, tuple) and hasattr(v, "_asdict"):
        return {k: _plain(x) for k, x in v._asdict().items()}
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    return v


def _base_chain(a: Any) -> list[Any]:
    out = []
    while a is not None:
        out.append(a)
        a = getattr(a, "base", None) if hasattr(a, "base") else getattr(a, "obj", None)
    return out


def _sizes_text(sizes: Mapping[str, int]) -> str:
    return " ".join(f"{k}{v}" for k, v in sizes.items())


_META_PARTS = ("metadata", "attributes", "experiment", "text_info", "sizes")

_OPEN_META_MEASURES = """Opening one real corpus file and reading all of its metadata, as in
codspeed's benchmark set: `with ND2File(p) as f: f.metadata; f.attributes; f.experiment;
f.text_info; f.sizes` with `nd2kit.ND2File` vs `nd2.ND2File` (local path; nd2 memory-maps
the file at open and reads metadata with seek/read, nd2kit reads it with `os.pread` and maps
the file only when pixels are read; the file stays in the page cache). One row per file of `/work/shared/corpus/real`.
Before timing, the five values are compared: `dict(sizes)` (keys, order and sizes) and
`dataclasses.asdict` of the structures (`_asdict` for NamedTuples, the dicts as they are)
must be equal and of the same class names, else the case is INVALID."""


def _open_meta_setup(path: Path) -> Prepared:
    import nd2

    import nd2kit

    p = str(path)

    def load(mod: Any) -> tuple[Any, ...]:
        with mod.ND2File(p) as f:
            return f.metadata, f.attributes, f.experiment, f.text_info, f.sizes

    def check() -> None:
        ours, theirs = load(nd2kit), load(nd2)
        for part, a, b in zip(_META_PARTS, ours, theirs):
            ta, tb = type(a).__name__, type(b).__name__
            if part == "sizes":
                a, b, ta, tb = dict(a), dict(b), "dict", "dict"
                assert list(a) == list(b), f"sizes: axis order {list(a)} vs {list(b)}"
            assert ta == tb, f"{part}: class {ta} vs {tb}"
            pa, pb = _plain(a), _plain(b)
            assert pa == pb, f"{part}: {_first_difference(pa, pb)}"

    with nd2kit.ND2File(p) as f:
        sizes = dict(f.sizes)
    text = f"`{path.name.rsplit('__', 1)[-1]}`, {path.stat().st_size:,} bytes, {_sizes_text(sizes)}"
    return Prepared(lambda: load(nd2kit), lambda: load(nd2), check, None, text)


def _missing_corpus() -> Prepared:
    raise RuntimeError(f"no .nd2 files under {bench_data.CORPUS_REAL}")


def _register_open_meta() -> None:
    files = bench_data.corpus_files()
    measures = " ".join(_OPEN_META_MEASURES.split())
    opts: dict[str, Any] = dict(target=0.5, group="open_meta", budget_s=2.5, rounds=(25, 250))
    if not files:
        register(Case("open_meta", "Open + all metadata, real corpus", measures,
                      _missing_corpus, **opts))
    for short, path in files:
        register(Case(f"open_meta:{short}", f"Open + all metadata, {short}", measures,
                      functools.partial(_open_meta_setup, path), **opts))


_register_open_meta()


def _pattern_check(arr: Any, frames: list[int], params: dict[str, Any], what: str) -> None:
    """Frames of `arr` (T, [C,] Y, X) equal ``samples.sample_frames``'s pattern."""
    import numpy as np

    for n in frames:
        want = bench_data.sample_pattern_frame(n, params["height"], params["width"],
                                               params["channels"], params["dtype"])
        got = np.asarray(arr[n]).reshape(want.shape)
        assert np.array_equal(got, want), f"{what}: frame {n} differs from the written pattern"


def _sample_shape_text(params: dict[str, Any]) -> str:
    dims = [params["t"], *([params["channels"]] if params["channels"] > 1 else []),
            params["height"], params["width"]]
    return "×".join(map(str, dims)) + f" {params['dtype']}"


_MEM_NOTE = ("`samples.sample_file_bytes` builds the whole file in memory (the int64 test "
             "pattern of all frames, the frames, the chunk list and the joined file), so "
             "writing it needs several times the file size of RAM; it runs in a subprocess "
             "whose peak RSS is given here")


@case(
    "imread_1gb",
    title="imread of a ~1 GB 2-channel uint16 file",
    measures="""`nd2kit.imread(p)` vs `nd2.imread(p)` on a generated file of 60 frames of
    2048×2048 pixels with 2 interleaved uint16 channels (T60 C2 Y2048 X2048, 1.007 GB of
    pixels; `nd2kit.testing.samples.write_sample_file`, written once into the cache folder and
    reused, see below). Both open the file (memory map), read every frame and return a
    new (60, 2, 2048, 2048) array in the same memory layout (the stored interleaved
    order; checked via equal strides); the file is in the page cache. Before
    timing, the two arrays are compared in full, and frames 0, 30 and 59 against the
    pattern the generator wrote.""",
    target=1.0,
    rounds=(8, 20), quick_rounds=(3, 5), budget_s=6.0, warmup=1,
)
def _imread_1gb() -> Prepared:
    import nd2
    import numpy as np

    import nd2kit

    sf = bench_data.sample_file(**bench_data.BIG_SAMPLE)
    p, params = str(sf.path), sf.params
    notes = [f"Generation: {sf.describe_generation()}. {_MEM_NOTE}."]

    def check() -> None:
        a = nd2kit.imread(p)
        _pattern_check(a, [0, params["t"] // 2, params["t"] - 1], params, "nd2kit")
        b = nd2.imread(p)
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
        # same work: both copy the stored bytes as they lie (nd2 stacks per-frame views,
        # so neither result is C-contiguous); equal strides prove equal layouts
        assert a.strides == b.strides, f"memory layouts differ: {a.strides} vs {b.strides}"
        assert np.array_equal(a, b), "arrays differ"
        notes.append(f"Checked: both arrays {a.shape} {a.dtype}, equal in full "
                     f"({a.nbytes:,} bytes).")

    def breakdown() -> str:
        def ms(fn: Callable[[], Any], n: int = 3) -> str:
            fn()
            return _fmt_ms(statistics.median(_time_once(fn) for _ in range(n)))

        view = nd2kit.imread(p, copy=False)
        touched = np.empty(view.shape, view.dtype)
        touched.fill(0)

        def alloc() -> Any:
            out = np.empty(view.shape, view.dtype)
            out.fill(0)
            return out

        rows = [
            ("nd2kit.imread(p)  (whole call)", ms(lambda: nd2kit.imread(p))),
            ("nd2kit.imread(p, copy=False)  (open + metadata + strided view of the mmap)",
             ms(lambda: nd2kit.imread(p, copy=False))),
            ("np.empty(shape) + fill  (allocating and first-touching 1 GB)", ms(alloc)),
            ("np.copyto(out, view)  (asarray's copy, into an already touched out)",
             ms(lambda: np.copyto(touched, view))),
            ("np.empty + np.copyto(out, view)  (what asarray does after the view)",
             ms(lambda: np.copyto(np.empty(view.shape, view.dtype), view))),
            ("np.stack(list(view))  (per-frame views stacked, as nd2 does, same view)",
             ms(lambda: np.stack(list(view)))),
            ("nd2.imread(p)  (whole call)", ms(lambda: nd2.imread(p))),
        ]
        width = max(len(a) for a, _ in rows)
        lines = [f"Step timings (median of 3 after a warm-up, outside cProfile; view shape "
                 f"{view.shape}, strides {view.strides}):"]
        lines += [f"  {a:<{width}}  {b:>7} ms" for a, b in rows]
        return "\n".join(lines)

    nbytes = int(np.prod([params[k] for k in ("t", "channels", "height", "width")])) * 2
    text = f"{_sample_shape_text(params)}, file {sf.size:,} bytes"
    return Prepared(lambda: nd2kit.imread(p), lambda: nd2.imread(p), check, nbytes, text,
                    notes=notes, breakdown=breakdown)


@case(
    "imread_zero_copy",
    title="imread(copy=False): O(1) zero-copy view",
    measures="""`nd2kit.imread(p, copy=False)` on the ~1 GB file of `imread_1gb` vs the
    same call on a small file with the same layout (3 frames of 64×64, 2 channels,
    uint16): the reference column is nd2kit itself, so the ratio shows whether the call
    depends on the file's size (nd2 has no zero-copy mode). The call opens the file,
    reads the metadata and returns a read-only strided view of the memory map; no pixel
    is touched. Before timing, for both files: the result is read-only
    (`flags.writeable` False, writing raises), does not own its data and has the
    memory map in its `.base` chain, and frames 0, middle and last equal
    `nd2.ND2File.read_frame` and the written pattern. A reference timing on the
    50 000-frame file of `dask_50k` shows what the call does grow with: the number of
    frames (chunk map and frame headers are parsed at open); one on a file with the 1 GB
    file's 60 frames but 64×64 pixels separates frame count from file size.""",
    target=1.5, reference="nd2kit, small file", quantity="time ratio 1 GB / small file",
    max_ms=1.0, budget_s=3.0, rounds=(25, 300),
)
def _imread_zero_copy() -> Prepared:
    import mmap

    import nd2
    import numpy as np

    import nd2kit

    big = bench_data.sample_file(**bench_data.BIG_SAMPLE)
    small = bench_data.sample_file(**bench_data.SMALL_SAMPLE)
    many = bench_data.sample_file(**bench_data.MANY_FRAMES_SAMPLE)
    pb, ps, pm = str(big.path), str(small.path), str(many.path)
    notes: list[str] = []

    def check() -> None:
        for sf in (big, small):
            p, t = str(sf.path), sf.params["t"]
            v = nd2kit.imread(p, copy=False)
            assert not v.flags.writeable, f"{sf.path.name}: view is writeable"
            assert not v.flags.owndata, f"{sf.path.name}: result owns its data (a copy)"
            assert any(isinstance(x, mmap.mmap) for x in _base_chain(v)), (
                f"{sf.path.name}: the memory map is not in the .base chain")
            try:
                v[(0,) * v.ndim] = 1
            except ValueError:
                pass
            else:
                raise AssertionError(f"{sf.path.name}: writing into the view succeeded")
            frames = sorted({0, t // 2, t - 1})
            with nd2.ND2File(p) as f:
                assert tuple(f.shape) == v.shape, f"shape {v.shape} vs nd2 {f.shape}"
                for i in frames:
                    assert np.array_equal(v[i], f.read_frame(i)), f"frame {i} differs from nd2"
            _pattern_check(v, frames, sf.params, sf.path.name)
            notes.append(f"Checked on {_sample_shape_text(sf.params)}: read-only view "
                         f"{v.shape} {v.dtype}, strides {v.strides}, backed by the memory "
                         f"map; frames {frames} equal nd2's and the pattern.")

    s60 = bench_data.sample_file(**bench_data.SMALL_60_SAMPLE)
    p60 = str(s60.path)
    refs = [Ref(f"`nd2kit.imread(p, copy=False)`, {_sample_shape_text(s60.params)} "
                f"({s60.size:,} bytes: the 1 GB file's frame count, tiny frames)",
                lambda: nd2kit.imread(p60, copy=False), runs=50, quick_runs=10),
            Ref("`nd2kit.imread(p, copy=False)`, 50 000 frames of 32×32 (`dask_50k`'s file)",
                lambda: nd2kit.imread(pm, copy=False), runs=10, quick_runs=3)]
    text = (f"{_sample_shape_text(big.params)} ({big.size:,} bytes) vs "
            f"{_sample_shape_text(small.params)} ({small.size:,} bytes)")
    return Prepared(lambda: nd2kit.imread(pb, copy=False), lambda: nd2kit.imread(ps, copy=False),
                    check, None, text, refs=refs, notes=notes)


@case(
    "dask_50k",
    title="imread(dask=True).compute(), 50 000 frames",
    measures="""`nd2kit.imread(p, dask=True).compute()` vs nd2kit's own `nd2kit.imread(p)`
    on a generated file of 50 000 frames of 32×32 uint16, one channel (T50000 Y32 X32,
    102 MB of pixels; each frame chunk is padded to 8 KiB as NIS writes them, hence the
    file size). The dask graph is built inside the timed call; dask's default (threaded)
    scheduler. Reference timing (not judged): `nd2.imread(p)`; nd2's own dask path
    (one frame per chunk, about 18 s here) is shown at 10 000 frames by `dask_many:1e4`
    instead. Before timing, the three arrays (nd2kit dask, nd2kit imread, nd2 imread)
    are compared in full, and frames 0, 25 000 and 49 999 against the written pattern.""",
    target=2.0, reference="nd2kit imread(p)", quantity="time ratio dask / imread",
    rounds=(5, 8), quick_rounds=(2, 3), budget_s=10.0, warmup=1,
)
def _dask_50k() -> Prepared:
    import nd2
    import numpy as np

    import nd2kit

    sf = bench_data.sample_file(**bench_data.MANY_FRAMES_SAMPLE)
    p, params = str(sf.path), sf.params
    gen = f"Generation: {sf.describe_generation()}"
    if sf.gen_seconds > 60:
        gen += " — **more than 60 s**"
    notes = [gen + "."]

    def run_kit() -> Any:
        return nd2kit.imread(p, dask=True).compute()  # type: ignore[no-untyped-call,unused-ignore]

    def check() -> None:
        d = nd2kit.imread(p, dask=True)
        x = d.compute()
        y = nd2kit.imread(p)
        z = nd2.imread(p)
        _pattern_check(x, [0, params["t"] // 2, params["t"] - 1], params, "nd2kit dask")
        assert x.shape == y.shape == z.shape, f"shapes {x.shape} {y.shape} {z.shape}"
        assert np.array_equal(x, y), "nd2kit dask differs from nd2kit imread"
        assert np.array_equal(y, z), "nd2kit imread differs from nd2 imread"
        nd = nd2.imread(p, dask=True)
        notes.append(f"Checked: three arrays {x.shape} {x.dtype} equal. nd2kit's dask array "
                     f"has chunks of {d.chunksize} ({d.npartitions:,} chunks); nd2's "
                     f"{nd.chunksize} ({nd.npartitions:,} chunks).")

    def run_profiled() -> Any:
        import dask

        with dask.config.set(scheduler="synchronous"):
            return run_kit()

    # nd2's own dask path (one task per frame) takes ~18 s here at 50 000 frames; it is
    # shown at 10 000 frames by dask_many:1e4
    refs = [Ref("`nd2.imread(p)`", lambda: nd2.imread(p), runs=3, quick_runs=1)]
    text = f"{_sample_shape_text(params)}, file {sf.size:,} bytes"
    return Prepared(run_kit, lambda: nd2kit.imread(p), check,
                    params["t"] * params["height"] * params["width"] * 2, text, refs=refs,
                    notes=notes, profile=run_profiled,
                    profile_note="dask's synchronous scheduler, so that the work runs in "
                                 "the profiled thread")


@case(
    "asarray_memory_1gb",
    title="asarray peak memory, ~1 GB file",
    measures="""Peak memory of `ND2File(p).asarray()` on the ~1 GB file of `imread_1gb`,
    relative to the returned array's bytes. Each library runs in a fresh interpreter
    (`tools/bench_data.py`, `memory_probe`): the file is opened and its metadata read
    first, then `asarray()` is called once. Two probes per library: (1) `tracemalloc`
    peak during the call — every allocation made through Python's and numpy's
    allocators (numpy reports its data buffers to tracemalloc); (2) RSS: peak RSS
    during the call (`VmHWM`, reset to the current RSS just before the call through
    `/proc/self/clear_refs`; `ru_maxrss` is not used because Linux carries the
    benchmark process's own high-water mark into the child across fork + exec) minus
    RSS before the call; this includes the file's pages
    mapped into the process by the memory map (`RssFile`, page cache shared with the
    kernel, about the file's size for both libraries), so the anonymous peak is
    estimated as peak RSS growth minus mapped-file growth. The judged value for nd2kit
    is the larger of (1) and the anonymous estimate, divided by the array's bytes.""",
    target=1.1, kind="memory", quantity="peak memory / array bytes",
)
def _asarray_memory() -> MemoryPrepared:
    import nd2

    import nd2kit

    sf = bench_data.sample_file(**bench_data.BIG_SAMPLE)
    p = str(sf.path)
    with nd2kit.ND2File(p) as f:
        nbytes, shape, dtype = f.nbytes, f.shape, f.dtype

    def check() -> None:
        with nd2.ND2File(p) as g:
            assert tuple(g.shape) == shape and g.dtype == dtype, (
                f"nd2: {g.shape} {g.dtype}, nd2kit: {shape} {dtype}")

    def measure() -> dict[str, dict[str, dict[str, Any]]]:
        return {lib: {mode: bench_data.memory_probe(lib, sf.path, mode)
                      for mode in ("tracemalloc", "rss")} for lib in ("nd2kit", "nd2")}

    def profile() -> str:
        import tracemalloc

        with nd2kit.ND2File(p) as f:
            f.shape  # noqa: B018
            tracemalloc.start(10)
            a = f.asarray()
            snap = tracemalloc.take_snapshot()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            del a
        lines = [f"tracemalloc peak {peak:,} bytes; largest live allocations by line:"]
        for st in snap.statistics("lineno")[:10]:
            lines.append(f"  {st.size:>15,} B  {st.count:>6} blocks  {st.traceback}")
        return "\n".join(lines)

    text = f"{_sample_shape_text(sf.params)}, array {nbytes:,} bytes"
    return MemoryPrepared(measure, check, nbytes, text, profile=profile)


# ----------------------------------------------------------------------------- per-frame calls

_PER_FRAME_MEASURES = """`f.read_frame(i)` for every frame `i` of one file, in a loop, with the
file already open (`nd2kit.ND2File` vs `nd2.ND2File`, opened once before timing and kept
open): the per-call cost of the frame path. For uncompressed files both libraries return
a view of their memory map (no pixel is copied; nd2kit's is read-only); compressed
frames are decoded by both. On files whose loop lasts less than about 2 ms, one timed
call repeats the loop (the input column gives the count, the same for both libraries).
One row per file of `/work/shared/corpus/real`, and one on
the generated 10 000-frame file of `dask_many:1e4` (16×16 uint16). Before timing,
every frame of both libraries is compared (`np.array_equal`, same shape and dtype; for
RGB files nd2's frame reversed on the S axis, since nd2kit returns R, G, B where nd2
0.12 returns the stored B, G, R)."""


def _per_frame_setup(path: Path | None = None) -> Prepared:
    import nd2
    import numpy as np

    import nd2kit

    notes: list[str] = []
    if path is None:
        sf = bench_data.stream_sample_file(**bench_data.dask_many_sample(10_000))
        path = sf.path
        notes.append(f"Generation: {sf.describe_generation()}.")
    p = str(path)
    fk, fn = nd2kit.ND2File(p), nd2.ND2File(p)
    n = int(fn.attributes.sequenceCount)

    # small corpus files have 1-50 frames (a loop of a few µs): the timed call repeats
    # the loop so that it lasts about 2 ms (same count for both libraries), which keeps
    # the timer, the collector's pass between rounds and cold CPU caches from dominating
    per_loop = float("inf")
    for _ in range(5):  # the first loop pays first-call costs: the fastest of five
        t0 = time.perf_counter()
        for i in range(n):
            fn.read_frame(i)
        per_loop = min(per_loop, time.perf_counter() - t0)
    per_loop = max(per_loop, 1e-7)
    loops = 1 if n >= 1000 else max(1, min(1000, int(2e-3 / per_loop)))
    indices = list(range(n)) * loops

    def loop(f: Any) -> Callable[[], None]:
        read = f.read_frame

        def run() -> None:
            for i in indices:
                read(i)

        return run

    def check() -> None:
        nk = int(fk.attributes.sequenceCount)
        assert nk == n, f"frame count: nd2kit {nk}, nd2 {n}"
        for i in range(n):
            a, b = fk.read_frame(i), fn.read_frame(i)
            if fk.is_rgb:
                b = b[..., ::-1]
            assert a.shape == b.shape and a.dtype == b.dtype, (
                f"frame {i}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
            assert np.array_equal(a, b), f"frame {i} differs"
        a = fk.read_frame(0)
        notes.append(f"`{path.name}`: {n:,} frames of {a.shape} {a.dtype} compared "
                     f"(nd2kit frame 0 {'is a view' if not a.flags.owndata else 'owns its data'}"
                     f", nd2's {'is a view' if not fn.read_frame(0).flags.owndata else 'owns its data'}).")

    def cleanup() -> None:
        fk.close()
        fn.close()

    text = (f"`{path.name.rsplit('__', 1)[-1]}`, {n:,} frames, "
            f"{_sizes_text(dict(fk.sizes))}"
            + (f"; loop ×{loops} per call ({n * loops:,} reads)" if loops > 1 else ""))
    return Prepared(loop(fk), loop(fn), check, None, text, notes=notes, cleanup=cleanup)


def _register_per_frame() -> None:
    measures = " ".join(_PER_FRAME_MEASURES.split())
    opts: dict[str, Any] = dict(target=1.0, group="per_frame", budget_s=2.0, rounds=(15, 100))
    for short, path in bench_data.corpus_files():
        register(Case(f"per_frame:{short}", f"read_frame loop, {short}", measures,
                      functools.partial(_per_frame_setup, path), **opts))
    register(Case("per_frame:generated_10k", "read_frame loop, generated 10 000 frames",
                  measures, _per_frame_setup,
                  **dict(opts, budget_s=4.0, rounds=(5, 40), quick_rounds=(3, 5), warmup=1)))


_register_per_frame()


# ----------------------------------------------------------------------------- dask, many frames

_DASK_MANY_MEASURES = """`with nd2kit.ND2File(p) as f: f.to_dask().compute()` vs nd2kit's own
`nd2kit.imread(p)` (both open the file inside the timed call) on generated files of
10 000, 100 000 and 1 000 000 mono frames of 16×16 uint16 (512 bytes of pixels per frame;
`tools.bench_data.write_stream_sample` with packed chunks: NIS's 4072-byte frame name
field, no padding after the pixels, 4 608 bytes per frame, so the 10⁶-frame file is
4.6 GB instead of 8.2 GB; written once into the cache folder). dask's default threaded
scheduler. Reference timings (not judged): `nd2.imread(p)` and nd2's
`to_dask().compute()` (one frame per chunk; run once at 10⁴ frames only, skipped with
`--quick`: at 10⁵ frames it takes about 40 s here, at 10⁶ its graph alone has a million
tasks); at 10⁶ frames `nd2.imread` is not run (about 10 s here). Before timing: nd2kit's
dask result equals its imread in full; frames 0, middle and last equal the written pattern
and nd2's `read_frame`; up to 10⁵ frames nd2's `imread` is compared in full too."""


def _dask_many_setup(n: int) -> Prepared:
    import nd2
    import numpy as np

    import nd2kit

    sf = bench_data.stream_sample_file(**bench_data.dask_many_sample(n))
    p, params = str(sf.path), dict(sf.params, z=1)
    notes = [f"Generation: {sf.describe_generation()}."]

    def run_kit() -> Any:
        with nd2kit.ND2File(p) as f:
            return f.to_dask().compute()  # type: ignore[no-untyped-call,unused-ignore]

    def nd2_dask() -> Any:
        with nd2.ND2File(p) as f:
            return f.to_dask().compute()  # type: ignore[no-untyped-call,unused-ignore]

    def check() -> None:
        x, y = run_kit(), nd2kit.imread(p)
        assert x.shape == y.shape == (n, 16, 16), f"shapes {x.shape} {y.shape}"
        assert np.array_equal(x, y), "nd2kit dask differs from nd2kit imread"
        frames = [0, n // 2, n - 1]
        _pattern_check(x, frames, params, "nd2kit dask")
        with nd2.ND2File(p) as g:
            for i in frames:
                assert np.array_equal(x[i], g.read_frame(i)), f"frame {i} differs from nd2"
            with nd2kit.ND2File(p) as f:
                d = f.to_dask()
                notes.append(f"nd2kit's dask array: chunks of {d.chunksize} "
                             f"({d.npartitions:,} chunks); nd2's: {g.to_dask().chunksize} "
                             f"({g.to_dask().npartitions:,} chunks).")
        if n <= 100_000:
            assert np.array_equal(y, nd2.imread(p)), "nd2kit imread differs from nd2 imread"

    def run_profiled() -> Any:
        import dask

        with dask.config.set(scheduler="synchronous"):
            return run_kit()

    refs = [Ref("`nd2.imread(p)`", lambda: nd2.imread(p), runs=1, quick_runs=1)
            ] if n <= 100_000 else []
    if n > 100_000:
        notes.append("nd2's `imread` is not run at this size (about 10 s here; the "
                     "case's reference is nd2kit's imread).")
    if n <= 10_000:
        refs.append(Ref("nd2 `to_dask().compute()`", nd2_dask, runs=1, quick_runs=0,
                        vs="`nd2.imread(p)`"))
    else:
        notes.append("nd2's `to_dask().compute()` is not run at this size (one dask "
                     "task per frame).")
    text = f"{_sample_shape_text(params)}, file {sf.size:,} bytes"
    return Prepared(run_kit, lambda: nd2kit.imread(p), check, n * 512, text, refs=refs,
                    notes=notes, profile=run_profiled,
                    profile_note="dask's synchronous scheduler, so that the work runs in "
                                 "the profiled thread")


def _register_dask_many() -> None:
    measures = " ".join(_DASK_MANY_MEASURES.split())
    # the 10^6-frame calls take seconds each: no warm-up call (the first round sizes the
    # run), two rounds, at most two runs
    for label, n, extra in (("1e4", 10_000, {}), ("1e5", 100_000, {}),
                            ("1e6", 1_000_000, dict(rounds=(2, 2), quick_rounds=(1, 1),
                                                    warmup=0, max_runs=2))):
        opts: dict[str, Any] = dict(target=2.0, reference="nd2kit imread(p)",
                                    quantity="time ratio dask / imread", group="dask_many",
                                    budget_s=6.0, rounds=(3, 10), quick_rounds=(2, 3),
                                    warmup=1)
        opts.update(extra)
        register(Case(f"dask_many:{label}",
                      f"to_dask().compute(), {n:,} frames".replace(",", " "), measures,
                      functools.partial(_dask_many_setup, n), **opts))


_register_dask_many()


# ----------------------------------------------------------------------------- inspect


@case(
    "inspect_100k",
    title="`nd2kit inspect` on a 100 000-frame file",
    measures="""`python -m nd2kit inspect p` in a subprocess (wall time of the whole command:
    interpreter start, imports, open, output; stdout captured) on the generated
    100 000-frame file of the cold-cache cases (32×32 uint16, NIS layout, 0.8 GB; in the
    page cache), and the number of lines it prints. The reference column is the same
    command on a file of the same layout with 1 000 frames: the output must not grow
    with the frame count (frames summarised as ranges). nd2 has no such command.""",
    target=1.0, reference="nd2kit inspect, 1 000 frames",
    quantity="time ratio 100 000 / 1 000 frames",
    target_desc="nd2kit median <= 1 s and output lines (100 000 frames) <= output lines "
                "(1 000 frames)",
    rounds=(1, 3), quick_rounds=(1, 1), budget_s=4.0, warmup=0,
)
def _inspect_100k() -> Prepared:
    big = bench_data.stream_sample_file(**bench_data.COLD_MANY)
    small = bench_data.stream_sample_file(**bench_data.INSPECT_SMALL)
    lines: dict[str, int] = {}

    def run(p: Path) -> str:
        r = subprocess.run([sys.executable, "-m", "nd2kit", "inspect", str(p)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"nd2kit inspect {p.name} failed: {r.stderr[-500:]}")
        return r.stdout

    def check() -> None:
        for key, sf in (("big", big), ("small", small)):
            out = run(sf.path)
            assert "ImageAttributesLV!" in out, f"{sf.path.name}: no chunk table in the output"
            lines[key] = out.count("\n")

    def verdict(res: Result) -> tuple[bool, str]:
        ms = res.median("kit") / 1e6
        ok = ms <= 1000 and lines["big"] <= lines["small"]
        return ok, (f"{ms / 1e3:.2f} s; {lines['big']:,} lines (1 000 frames: "
                    f"{lines['small']:,})")

    text = (f"{_sample_shape_text(dict(big.params, z=1))}, {big.size:,} bytes vs "
            f"{small.params['t']:,} frames, {small.size:,} bytes")
    return Prepared(lambda: run(big.path), lambda: run(small.path), check, None, text,
                    notes=[f"Generation: {big.describe_generation()}."], verdict=verdict)


# ----------------------------------------------------------------------------- cold page cache

_COLD_MEASURES = """The file is evicted from the page cache before every call (`os.fsync`, then
`os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`; `mincore(2)` checks that none of its
pages is left), then one fresh interpreter per library (numpy, dask and the library
imported before the clock starts) opens the file and does the request; per library and
round: the request's time (open included) and the bytes the child made the kernel read
from storage (`/proc/self/io` `read_bytes`: page-cache misses of `read`/`pread` and of
memory-map faults, read-ahead included), plus major faults, `rchar` and the file's pages
cached afterwards. Each round also times the *storage floor* in a third fresh
interpreter: `os.preadv` of exactly the request's budget pages (one call per run of
consecutive pages, read-ahead off) and nothing else — no reader can read less. Rounds rotate which of the
three goes first. Requests: `frame` = `np.array(f.read_frame(k))`; `crop` =
`f.to_dask()[k, ..., y:y+256, x:x+256].compute()` (the lazy array, which knows the crop);
`crop_view` = `np.array(f.read_frame(k)[..., y:y+256, x:x+256])` (a copy out of the frame
view, whose pages the kernel faults in by its own read-ahead rules: shown, not judged);
`crop_all` = `f.to_dask()[..., y:y+256, x:x+256].compute()` (all frames). Files
(`tools.bench_data.write_stream_sample`, NIS layout, written once into the cache
folder): 256 frames of 2048×2048 uint16 (2.1 GB) and 100 000 frames of 32×32 uint16
(0.8 GB). Budget = the 4 KiB pages the request needs: the signature page, every page of
the chunk map and of the metadata chunks (all chunks but frames), and the pages of the
requested pixel bytes (only the crop's bytes of each row) with each requested frame's
chunk-header page (`tools.bench_data.request_pages`). Target: bytes read ≤ 2× the budget
and time ≤ 0.5× nd2; where the floor itself is above 0.5× nd2's time (a request whose
bytes nd2 reads too, e.g. a whole 8 MiB frame: the time is the storage's), no reader can
meet that, and the time is judged as ≤ 1.25× the floor instead. Before timing, both
libraries' results are compared in-process (equal arrays, equal to the written pattern),
and in every round the children's shape, dtype and checksum must agree."""

_COLD_CASES = [
    ("big_first", bench_data.COLD_BIG, {"op": "frame", "index": 0},
     "first frame after open"),
    ("big_crop", bench_data.COLD_BIG,
     {"op": "crop", "index": 128, "y": 896, "x": 896, "size": 256},
     "256×256 crop of frame 128"),
    ("big_crop_view", bench_data.COLD_BIG,
     {"op": "crop_view", "index": 128, "y": 896, "x": 896, "size": 256},
     "256×256 crop copied from the view of frame 128"),
    ("big_crop_all", bench_data.COLD_BIG,
     {"op": "crop_all", "y": 896, "x": 896, "size": 256},
     "256×256 crop of all 256 frames (dask)"),
    ("many_first", bench_data.COLD_MANY, {"op": "frame", "index": 0},
     "first frame after open"),
    ("many_middle", bench_data.COLD_MANY, {"op": "frame", "index": 50_000},
     "frame 50 000 after open"),
]


def _cold_setup(params: dict[str, Any], req: dict[str, Any], what: str) -> ColdPrepared:
    import nd2
    import numpy as np

    import nd2kit

    sf = bench_data.stream_sample_file(**params)
    path = sf.path
    pat = dict(params, z=1)
    budget = bench_data.request_pages(path, req)
    notes = [f"Generation: {sf.describe_generation()}."]

    def expected(k: int) -> Any:
        want = bench_data.sample_pattern_frame(k, pat["height"], pat["width"],
                                               pat["channels"], pat["dtype"])[0]
        if req["op"] == "frame":
            return want
        y, x, s = req["y"], req["x"], req["size"]
        return want[y:y + s, x:x + s]

    def check() -> None:
        a = bench_data.cold_request(nd2kit, str(path), req)
        b = bench_data.cold_request(nd2, str(path), req)
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{a.shape} {a.dtype} vs {b.shape} {b.dtype}")
        assert np.array_equal(a, b), "nd2kit and nd2 results differ"
        if req["op"] == "crop_all":
            for k in (0, len(a) - 1):
                assert np.array_equal(a[k], expected(k)), f"frame {k}: not the pattern"
        else:
            assert np.array_equal(a, expected(req["index"])), "not the written pattern"
        del a, b
        gc.collect()
        bench_data.drop_file_pages(path)
        left, total = bench_data.resident_pages(path)
        if left:
            raise RuntimeError(f"eviction does not work here: {left:,} of {total:,} pages "
                               "still cached after POSIX_FADV_DONTNEED")
        notes.append(f"Checked: equal results, the pattern; eviction leaves 0 of the "
                     f"file's {total:,} pages cached.")

    text = (f"{what}; {_sample_shape_text(pat)}, {sf.size / 1e9:.2f} GB; budget "
            f"{budget['pixels']:,} pixel + {budget['meta']:,} metadata pages")
    return ColdPrepared(lambda lib: bench_data.cold_probe(lib, path, req), check, budget,
                        text, notes)


def _register_cold() -> None:
    measures = " ".join(_COLD_MEASURES.split())
    for key, params, req, what in _COLD_CASES:
        opts: dict[str, Any] = (dict(rounds=(2, 2), quick_rounds=(1, 1), max_runs=1)
                                if req["op"] == "crop_all" else
                                dict(rounds=(3, 3), quick_rounds=(2, 2), max_runs=2))
        if req["op"] == "crop_view":
            opts["judged"] = False
        register(Case(f"cold:{key}", f"Cold page cache, {what}", measures,
                      functools.partial(_cold_setup, params, req, what), target=0.5,
                      kind="cold", group="cold",
                      **opts))


_register_cold()


# ----------------------------------------------------------------------------- timing


@dataclass
class Result:
    case: Case
    status: str  # "PASS", "FAIL", "INVALID", "ERROR"
    message: str = ""
    prepared: Any = None  # Prepared or MemoryPrepared
    kit_ns: list[int] = field(default_factory=list)
    nd2_ns: list[int] = field(default_factory=list)
    warmup: int = 0
    seconds: float = 0.0
    #: reference timings: (ref, times in ns; empty when skipped)
    refs: list[tuple[Ref, list[int]]] = field(default_factory=list)
    #: memory cases: per library, the probes' numbers (bytes)
    mem: dict[str, dict[str, float]] = field(default_factory=dict)
    #: memory cases: the judged value (peak / array bytes)
    measured: float | None = None
    #: every run's rounds, (nd2kit ns, reference ns); kit_ns / nd2_ns pool them
    runs: list[tuple[list[int], list[int]]] = field(default_factory=list)
    #: why the case was repeated (empty: one run was enough)
    noise: list[str] = field(default_factory=list)
    #: cold cases: per library, one probe dict per round
    cold: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: cases with a verdict: the measured text
    verdict_text: str = ""

    @property
    def timed(self) -> bool:
        return bool(self.kit_ns)

    @property
    def has_value(self) -> bool:
        return self.timed or self.measured is not None

    def median(self, which: str) -> float:
        return statistics.median(self.kit_ns if which == "kit" else self.nd2_ns)

    def iqr(self, which: str) -> tuple[float, float]:
        return _quartiles(self.kit_ns if which == "kit" else self.nd2_ns)

    @property
    def run_ratios(self) -> list[float]:
        """Ratio of medians of each run."""
        return [statistics.median(k) / statistics.median(n) for k, n in self.runs if k and n]

    @property
    def ratio(self) -> float:
        """The judged ratio: of the medians, or the median of the runs' ratios."""
        if self.measured is not None:
            return self.measured
        rr = self.run_ratios
        if len(rr) > 1:
            return statistics.median(rr)
        return self.median("kit") / self.median("nd2")

    def cold_median(self, lib: str, key: str) -> float:
        return float(statistics.median(p[key] for p in self.cold.get(lib, [])))

    @property
    def paired(self) -> list[float]:
        return [a / b for a, b in zip(self.kit_ns, self.nd2_ns)]


def _quartiles(xs: Sequence[float]) -> tuple[float, float]:
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
    quick: bool = False
    max_runs: int = 3  # runs of a noisy case (1 = never repeat)

    def for_case(self, c: Case) -> tuple[int, float, int, int]:
        """(warm-up calls, budget s, min rounds, max rounds) for case `c`."""
        budget = self.budget_s if c.budget_s is None else c.budget_s
        warmup = self.warmup if c.warmup is None else c.warmup
        lo, hi = self.min_reps, self.max_reps
        if self.quick:
            budget = min(budget, self.budget_s)
            warmup = min(warmup, self.warmup)
            if c.quick_rounds:
                lo, hi = c.quick_rounds
            elif c.rounds:
                lo, hi = min(c.rounds[0], lo), min(c.rounds[1], hi)
        elif c.rounds:
            lo, hi = c.rounds
        return warmup, budget, lo, hi


FULL = Settings(warmup=3, budget_s=6.0, min_reps=25, max_reps=250, max_runs=3)
QUICK = Settings(warmup=1, budget_s=2.0, min_reps=5, max_reps=25, quick=True, max_runs=2)

#: a run is noisy when the confidence interval of its ratio of medians is wider than
#: this fraction of the ratio (0.25 = about ±12.5 %)
NOISE_WIDTH = 0.25
#: bootstrap resamples for that interval
BOOTSTRAP = 2000


def ratio_ci(kit: list[int], ref: list[int], level: float = 0.95) -> tuple[float, float]:
    """Bootstrap confidence interval of median(kit) / median(ref).

    The resampled unit is a block of two consecutive rounds (one with nd2kit first,
    one with the reference first, so that the order effect stays balanced; both
    libraries' times of a round stay together, as they shared the machine's state);
    :data:`BOOTSTRAP` resamples with a fixed seed, percentile interval. With fewer
    than 4 rounds single rounds are resampled (about the range of the per-round
    ratios).
    """
    import numpy as np

    n = min(len(kit), len(ref))
    if n < 2:
        x = kit[0] / ref[0] if n else float("nan")
        return x, x
    block = 2 if n >= 4 else 1
    m = n // block
    k = np.asarray(kit[: m * block], float).reshape(m, block)
    r = np.asarray(ref[: m * block], float).reshape(m, block)
    idx = np.random.default_rng(12345).integers(0, m, (BOOTSTRAP, m))
    ratios = (np.median(k[idx].reshape(BOOTSTRAP, -1), axis=1)
              / np.median(r[idx].reshape(BOOTSTRAP, -1), axis=1))
    a = (1 - level) / 2
    lo, hi = np.quantile(ratios, [a, 1 - a])
    return float(lo), float(hi)


def noise_reasons(c: Case, kit: list[int], ref: list[int], judged: bool = True) -> list[str]:
    """Why a run's comparison is too noisy to judge from (empty: it is not).

    From the ~95 % bootstrap confidence interval of the run's ratio of medians
    (:func:`ratio_ci`): (1) the interval is wider than :data:`NOISE_WIDTH` × the ratio;
    (2) when `judged` (a ratio target applies), the interval contains the target.
    """
    if not kit or not ref:
        return []
    ratio = statistics.median(kit) / statistics.median(ref)
    lo, hi = ratio_ci(kit, ref)
    out = []
    if ratio > 0 and (hi - lo) / ratio > NOISE_WIDTH:
        out.append(f"ratio {ratio:.3f}, 95% CI [{lo:.3f}–{hi:.3f}] = {(hi - lo) / ratio:.0%} "
                   f"of it")
    if judged and lo <= c.target <= hi:
        out.append(f"ratio {ratio:.3f}, 95% CI [{lo:.3f}–{hi:.3f}] contains the target "
                   f"{c.target:g}")
    return out


#: a full collection every this many rounds; young-generation collections in between
FULL_GC_EVERY = 25


def _collect(i: int) -> None:
    """The collector's pass after round `i`.

    With the collector disabled while timing, everything a round allocated is still in
    the youngest generation, so ``gc.collect(0)`` frees the round's cyclic garbage
    without walking the whole heap (a full pass costs tens of milliseconds in this
    process once nd2, dask and xarray are imported, more than many calls it follows);
    a full pass every :data:`FULL_GC_EVERY` rounds catches what was promoted.
    """
    if i % FULL_GC_EVERY == FULL_GC_EVERY - 1:
        gc.collect()
    else:
        gc.collect(0)


#: calls whose result is at least this large get their memory warmed first
WARM_MIN = 32 << 20
WARM_MAX = 4 << 30


def warm_bytes(nbytes: int | None) -> int:
    """Bytes of memory to touch before each timed call of a case whose result has
    `nbytes` bytes: twice the result (capped), 0 for small results."""
    if not nbytes or nbytes < WARM_MIN:
        return 0
    return min(WARM_MAX, 2 * nbytes)


def _warm(n: int) -> None:
    """Touch and free `n` bytes of fresh memory (see the Method section: on this VM,
    memory the kernel has handed back to the host costs ~15 ms/MB on first touch)."""
    if n > 0:
        import numpy as np

        a = np.ones(n, np.uint8)
        del a


def _time_once(fn: Callable[[], Any], warm: int = 0) -> int:
    _warm(warm)
    t0 = time.perf_counter_ns()
    r = fn()
    t1 = time.perf_counter_ns()
    del r
    return t1 - t0


def _prepare(c: Case) -> tuple[Any, Result | None]:
    try:
        prep = c.setup()
    except Exception as e:  # noqa: BLE001 - report and go on with the other cases
        return None, Result(c, "ERROR", f"setup failed: {type(e).__name__}: {e}")
    try:
        prep.check()
    except AssertionError as e:
        return prep, Result(c, "INVALID", f"outputs differ: {e}", prep)
    except Exception as e:  # noqa: BLE001
        return prep, Result(c, "ERROR", f"check raised {type(e).__name__}: {e}", prep)
    return prep, None


def _time_rounds(prep: Prepared, c: Case, s: Settings, log: Callable[[str], None],
                 run: int) -> tuple[list[int], list[int]]:
    """One run of a time case: warm-up calls, then the rounds (see the module doc)."""
    warmup, budget, lo, hi = s.for_case(c)
    kit: list[int] = []
    ref: list[int] = []
    w = warm_bytes(prep.nbytes)

    def one_round(i: int) -> None:
        if i % 2 == 0:
            kit.append(_time_once(prep.nd2kit, w))
            ref.append(_time_once(prep.nd2, w))
        else:
            ref.append(_time_once(prep.nd2, w))
            kit.append(_time_once(prep.nd2kit, w))
        _collect(i)

    est = []
    for _ in range(warmup):
        est.append(_time_once(prep.nd2kit, w) + _time_once(prep.nd2, w))
        gc.collect()
    start = 0
    if not est:  # no warm-up: the first round sizes the run
        one_round(0)
        est, start = [kit[0] + ref[0]], 1
    per_round = min(est) / 1e9
    reps = s.reps or max(lo, min(hi, int(budget / max(per_round, 1e-9))))
    tag = f" (run {run})" if run > 1 else ""
    log(f"  {c.name}{tag}: {reps} rounds (~{per_round * 1e3:.1f} ms per round)")
    for i in range(start, reps):
        one_round(i)
    return kit, ref


def _repeat_runs(c: Case, s: Settings, log: Callable[[str], None], res: Result,
                 one_run: Callable[[int], tuple[list[int], list[int]]],
                 judged: bool = True) -> None:
    """Run `one_run` once; if that run is noisy, again up to ``s.max_runs`` runs in all."""
    max_runs = s.max_runs if c.max_runs is None else min(s.max_runs, c.max_runs)
    res.runs.append(one_run(1))
    res.noise = noise_reasons(c, *res.runs[0], judged=judged) if max_runs > 1 else []
    if res.noise:
        log(f"  {c.name}: noisy ({'; '.join(res.noise)}), {max_runs} runs in all")
        while len(res.runs) < max_runs:
            res.runs.append(one_run(len(res.runs) + 1))
    res.kit_ns = [t for k, _ in res.runs for t in k]
    res.nd2_ns = [t for _, n in res.runs for t in n]


def run_case(c: Case, s: Settings, log: Callable[[str], None]) -> Result:
    if c.kind == "memory":
        return run_memory_case(c, s, log)
    if c.kind == "cold":
        return run_cold_case(c, s, log)
    t_start = time.perf_counter()
    prep, failed = _prepare(c)
    if failed is not None:
        failed.seconds = time.perf_counter() - t_start
        return failed

    warmup = s.for_case(c)[0]
    res = Result(c, "FAIL", prepared=prep, warmup=warmup)
    gc_was = gc.isenabled()
    gc.collect()
    if not s.keep_gc:
        gc.disable()
    try:
        _repeat_runs(c, s, log, res, lambda run: _time_rounds(prep, c, s, log, run),
                     judged=prep.verdict is None)
    except Exception as e:  # noqa: BLE001
        res.status, res.message = "ERROR", f"timing raised {type(e).__name__}: {e}"
        res.kit_ns.clear()
        res.nd2_ns.clear()
        res.runs.clear()
    try:
        for ref in prep.refs:
            n = ref.runs if not s.quick or ref.quick_runs is None else ref.quick_runs
            if n:
                log(f"  {c.name}: reference {ref.label}, {n} run(s)")
            times = []
            for _ in range(n):
                times.append(_time_once(ref.fn, warm_bytes(prep.nbytes)))
                gc.collect()
            res.refs.append((ref, times))
    except Exception as e:  # noqa: BLE001 - a reference is not judged; note it
        prep.notes.append(f"A reference timing raised {type(e).__name__}: {e}")
    finally:
        if gc_was:
            gc.enable()
    if res.timed:
        if prep.verdict is not None:
            ok, res.verdict_text = prep.verdict(res)
            res.status = "PASS" if ok else "FAIL"
        else:
            res.status = "PASS" if c.passes(res.ratio, res.median("kit") / 1e6) else "FAIL"
    res.seconds = time.perf_counter() - t_start
    return res


def _cold_rounds(prep: ColdPrepared, c: Case, s: Settings, log: Callable[[str], None],
                 res: Result, run: int) -> tuple[list[int], list[int]]:
    """One run of a cold case: rounds of one probe per library, alternating the order."""
    rounds = s.reps or (c.quick_rounds if s.quick and c.quick_rounds else
                        c.rounds or (3, 3))[0]
    tag = f" (run {run})" if run > 1 else ""
    log(f"  {c.name}{tag}: {rounds} cold rounds (one fresh interpreter per library)")
    kit: list[int] = []
    ref: list[int] = []
    libs = ("nd2kit", "nd2", "floor")
    for i in range(rounds):
        k = i % 3
        order = libs[k:] + libs[:k]  # each library first in turn
        if i % 2:
            order = order[::-1]
        got = {lib: prep.probe(lib) for lib in order}
        a, b = got["nd2kit"], got["nd2"]
        same = ("shape", "dtype", "checksum")
        if any(a[k] != b[k] for k in same):
            raise AssertionError("outputs differ in a cold round: " + ", ".join(
                f"{k} {a[k]} vs {b[k]}" for k in same if a[k] != b[k]))
        for lib, p in got.items():
            res.cold.setdefault(lib, []).append(p)
        kit.append(a["ns"])
        ref.append(b["ns"])
    return kit, ref


def run_cold_case(c: Case, s: Settings, log: Callable[[str], None]) -> Result:
    t_start = time.perf_counter()
    prep, failed = _prepare(c)
    if failed is not None:
        failed.seconds = time.perf_counter() - t_start
        return failed
    res = Result(c, "FAIL", prepared=prep)
    try:
        _repeat_runs(c, s, log, res, lambda run: _cold_rounds(prep, c, s, log, res, run))
    except AssertionError as e:
        res.status, res.message = "INVALID", str(e)
    except Exception as e:  # noqa: BLE001
        res.status, res.message = "ERROR", f"cold probe raised {type(e).__name__}: {e}"
    if res.status == "FAIL" and res.timed:
        probes = [p for ps in res.cold.values() for p in ps]
        left = max(p["resident_before"] for p in probes)
        if left:
            prep.notes.append(f"Eviction incomplete: up to {left:,} pages of the file were "
                              "still cached at the start of a round.")
        if not any(p["read_bytes"] for p in probes):
            prep.notes.append("`read_bytes` stayed 0 in every round: the eviction had no "
                              "effect here, so the byte counts say nothing.")
        kit_bytes = res.cold_median("nd2kit", "read_bytes")
        bytes_ok = kit_bytes <= c.bytes_factor * prep.budget_bytes
        time_ok = c.passes(res.ratio)
        res.verdict_text = (f"time {res.ratio:.3f}; read {kit_bytes / prep.budget_bytes:.2f}× "
                            f"the request's pages")
        if "floor" in res.cold:
            floor = res.cold_median("floor", "ns")
            vs_ref = floor / res.cold_median("nd2", "ns")
            vs_floor = res.cold_median("nd2kit", "ns") / floor
            res.verdict_text += f"; storage floor {vs_ref:.2f}× nd2, nd2kit {vs_floor:.2f}× the floor"
            if not time_ok and not c.passes(vs_ref):
                # no reader can meet the target here: reading only the request's pages
                # takes longer than the target allows; judged against that floor
                time_ok = vs_floor <= c.floor_factor
                res.verdict_text += (f" (target below the floor: judged as ≤ "
                                     f"{c.floor_factor:g}× the floor)")
        res.status = "PASS" if bytes_ok and time_ok else "FAIL"
    if not c.judged and res.status in ("PASS", "FAIL"):
        res.status = "INFO"
    res.seconds = time.perf_counter() - t_start
    return res


def _mem_summary(probes: dict[str, dict[str, Any]]) -> dict[str, float]:
    tm, rss = probes["tracemalloc"], probes["rss"]
    anon = rss["peak_growth"] - rss["file_growth"]
    return {"nbytes": rss["nbytes"], "tracemalloc": tm["peak"], "rss_peak": rss["peak_growth"],
            "rss_file": rss["file_growth"], "anon_est": anon,
            "judged": max(tm["peak"], anon)}


def run_memory_case(c: Case, s: Settings, log: Callable[[str], None]) -> Result:
    t_start = time.perf_counter()
    prep, failed = _prepare(c)
    if failed is not None:
        return failed
    res = Result(c, "FAIL", prepared=prep)
    try:
        log(f"  {c.name}: memory probes in subprocesses")
        data = prep.measure()
        res.mem = {lib: _mem_summary(probes) for lib, probes in data.items()}
        for lib, m in res.mem.items():
            if m["nbytes"] != prep.nbytes:
                raise AssertionError(f"{lib} returned {m['nbytes']:,} bytes, "
                                     f"expected {prep.nbytes:,}")
        res.measured = res.mem["nd2kit"]["judged"] / prep.nbytes
        res.status = "PASS" if c.passes(res.measured) else "FAIL"
    except AssertionError as e:
        res.status, res.message = "INVALID", str(e)
    except Exception as e:  # noqa: BLE001
        res.status, res.message = "ERROR", f"measure raised {type(e).__name__}: {e}"
    res.seconds = time.perf_counter() - t_start
    return res


def _pstats_text(pr: cProfile.Profile, sort: str, top: int) -> str:
    out = io.StringIO()
    st = pstats.Stats(pr, stream=out)
    st.strip_dirs().sort_stats(sort).print_stats(top)
    lines = out.getvalue().splitlines()
    k = next((i for i, ln in enumerate(lines) if "function calls" in ln), 0)
    return "\n".join(ln.rstrip() for ln in lines[k:] if ln.strip())


def profile_nd2kit(res: Result, top: int = 15, calls: int | None = None,
                   seconds: float = 1.0) -> str:
    """cProfile of the nd2kit side of a case: top entries by own time and cumulative.

    The number of calls profiled defaults to about `seconds` of work (1 to 500).
    Memory cases give their own text (largest allocations) instead.
    """
    prep = res.prepared
    if prep is None:
        return ""
    if isinstance(prep, MemoryPrepared):
        return prep.profile() if prep.profile else ""
    if isinstance(prep, ColdPrepared):
        return ""
    fn = prep.profile or prep.nd2kit
    if calls is None:
        per = res.median("kit") / 1e9 if res.timed else 0.1
        calls = max(1, min(500, int(seconds / max(per, 1e-6))))
    fn()  # warm-up, not profiled (page cache, lazy imports)
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        fn()
    pr.disable()
    head = f"{calls} call(s) after one warm-up call" + (
        f"; {prep.profile_note}" if prep.profile_note else "")
    text = (f"{head}\n\nBy own time (tottime):\n{_pstats_text(pr, 'tottime', top)}\n\n"
            f"By cumulative time:\n{_pstats_text(pr, 'cumulative', top)}")
    if prep.breakdown is not None:
        text += "\n\n" + prep.breakdown()
    return text


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


def _fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.3f} GB" if abs(n) >= 1e8 else f"{n / 1e6:.2f} MB"


def _runs_text(r: Result) -> str:
    """"3 runs: 0.52–0.56" for a repeated case, "" otherwise."""
    rr = r.run_ratios
    if len(rr) < 2:
        return ""
    return f"{len(rr)} runs: {min(rr):.3f}–{max(rr):.3f}"


def _measured_text(r: Result) -> str:
    if not r.has_value:
        return "—"
    runs = _runs_text(r)
    if r.verdict_text:
        return r.verdict_text + (f" ({runs})" if runs else "")
    text = f"{r.ratio:.3f}" + (f" (median of {runs})" if runs else "")
    if r.case.max_ms is not None and r.timed:
        text += f"; nd2kit {_fmt_ms(r.median('kit'))} ms"
    return text


def method_sections() -> list[str]:
    """The report's "How to reproduce" and "Method" sections (no results in them)."""
    L: list[str] = []
    add = L.append
    add("## How to reproduce")
    add("")
    add("```sh")
    add(".venv/bin/python -m tools.bench            # all cases, writes docs/benchmarks.md")
    add(".venv/bin/python -m tools.bench --quick    # fewer rounds (smoke run, noisier)")
    add(".venv/bin/python -m tools.bench --only lv_corpus --only chunk_map_100k")
    add(".venv/bin/python -m tools.bench --only open_meta   # a group: one case per corpus file")
    add(".venv/bin/python -m tools.bench --only cold        # the cold page cache cases")
    add(".venv/bin/python -m tools.bench --only cold:big_crop --no-write   # one case, print only")
    add(".venv/bin/python -m tools.bench --list     # registered cases")
    add(".venv/bin/python -m tools.bench --profile  # + cProfile of nd2kit for failing cases")
    add(".venv/bin/python -m tools.bench --method-only   # rewrite only these two sections")
    add("```")
    add("")
    add("Groups: `open_meta`, `per_frame` (one case per corpus file, plus a generated "
        "file), `dask_many` (10⁴, 10⁵, 10⁶ frames), `cold` (cold page cache). "
        "Other options: `--reps N` (fixed number of rounds per run), `--max-runs N` "
        f"(runs of a noisy case; default {FULL.max_runs}, `--quick` {QUICK.max_runs}, "
        "1 = never repeat), `--gc` (leave the garbage "
        "collector on while timing), `--out PATH`, `--no-write`. "
        "The exit status is always 0; the targets are judged from the table below. "
        "The corpus location can be changed with `ND2KIT_BENCH_CORPUS`. Generated sample "
        "files (about 9.5 GB, 4.7 GB of it the 10⁶-frame file of `dask_many:1e6`) are "
        "written once into `$ND2KIT_BENCH_CACHE` (default "
        "`$TMPDIR/nd2kit-bench`, i.e. `/tmp/nd2kit-bench`), never into the repository, "
        "and reused by later runs; on the 2-core machine the first run spends about "
        "four minutes writing them (the 2.1 GB and 4.7 GB files about a minute and a half "
        "each). A file is written again when what its generator writes changes (the cache "
        "key hashes the bytes `nd2kit.testing.samples` writes for a small file, and the "
        "streaming writer's source), not on edits that leave its output as it was.")
    add("")
    add("## Method")
    add("")
    add("* Inputs are built first and the two sides' outputs are compared; a case "
        "whose outputs differ is reported INVALID (counts as a failure) and is not timed.")
    add("* Warm-up calls of both sides, then *rounds*: each round times one nd2kit "
        "call and one reference call (nd2 0.12 unless the table says otherwise) with "
        "`time.perf_counter_ns`, alternating which goes first, so both see the same "
        "machine noise. A case's warm-up calls and rounds make one *run*.")
    add("* Rounds per run: as many as fit a time budget (full run: "
        f"{FULL.budget_s:g} s, {FULL.min_reps}–{FULL.max_reps} rounds; `--quick`: "
        f"{QUICK.budget_s:g} s, {QUICK.min_reps}–{QUICK.max_reps} rounds), except where a "
        "case sets its own (the per-file metadata cases: 2.5 s, 25–250 rounds; the "
        "costly reader calls: fewer rounds, see the rounds column). Calls far below a "
        "millisecond are batched: a `per_frame` call on a corpus file repeats its "
        "read_frame loop to last about 2 ms, the same count for both libraries.")
    add("* **Memory is warmed before large calls.** This machine is a virtual machine whose "
        "balloon driver hands freed memory back to the host (free page reporting, about "
        "two seconds after it is freed); the first touch of such memory then costs about "
        "15 ms per MB (measured: 8.9 s to fill a fresh 512 MB array, 70 ms once its pages "
        "are backed again; the time is the kernel zeroing pages, `clear_page_erms` in "
        "`perf`), some 60× a workstation's page zeroing. Which call gets such memory is "
        "chance, so before every timed call (both libraries, warm-up, rounds and "
        "references alike) whose result has at least "
        f"{WARM_MIN >> 20} MiB, the runner fills and frees twice the result's bytes "
        f"(at most {WARM_MAX >> 30} GiB), outside the clock: the call then gets memory "
        "the host backs, and the times compare the libraries instead of the host. A "
        "library's own footprint still counts: memory beyond twice the result is not "
        "warmed (the memory cases judge footprints).")
    add("* **Noisy cases are repeated.** After a case's first run, a 95 % confidence "
        "interval of its time ratio (ratio of the medians) is estimated by bootstrap: "
        f"{BOOTSTRAP} resamples (fixed seed) of blocks of two consecutive rounds — one "
        "with nd2kit first, one with the reference first, each round's two times kept "
        "together — with the percentile interval (with fewer than 4 rounds single rounds "
        "are resampled, which gives about the range of the per-round ratios). The run is "
        f"*noisy* when that interval is wider than {NOISE_WIDTH:g} × the ratio (about "
        f"±{NOISE_WIDTH * 50:g} %) or contains the case's target. A noisy case gets more "
        f"runs, each with its own warm-up, up to {FULL.max_runs} runs in all "
        f"({QUICK.max_runs} with `--quick`; the cold cases and `dask_many:1e6` at most "
        "2; `--max-runs`); its judged ratio is then the **median of the runs' ratios**, "
        "reported with their range (\"3 runs: lo–hi\"), and the medians and quartiles "
        "of the times pool all runs' rounds. The reason for repeating is printed. "
        "Memory cases are not repeated.")
    add("* The garbage collector is off while timing (as in `timeit`; `--gc` leaves it on) "
        "and runs between rounds: a young-generation pass (`gc.collect(0)`, which holds "
        "everything the round allocated, since no automatic pass ran) after every round "
        f"and a full pass every {FULL_GC_EVERY} rounds — a full pass costs about 50 ms in "
        "this process once nd2, dask and xarray are imported, more than most calls it "
        "would follow. Each call's result is freed after the clock stops. "
        "With it on, both libraries' absolute times grow (the decoders allocate many "
        "objects) but the comparison is the same work either way.")
    add("* Reported: median and interquartile range (IQR, q1–q3) of each side's "
        "times; **time ratio** = median(nd2kit) / median(reference), the quantity the "
        "targets apply to (below 1 = nd2kit faster; 0.5 = twice the reference's "
        "throughput); the median and IQR of the per-round ratios show how stable the "
        "comparison was.")
    add("* Reference timings (not judged) are timed a few times after a case's rounds.")
    add("* Cases run one after the other in one process; a finished case's inputs and "
        "callables are freed (and the collector run, open files closed) before the next "
        "one starts, so that no case is timed in a heap left large by an earlier one (a "
        "1 MB LiteVariant tree, a 100 000-entry map...). The full collector pass every "
        f"{FULL_GC_EVERY} rounds also leaves the CPU caches cold for whichever library "
        "runs next: both are timed that way.")
    add("* **Cold page cache** cases (`cold:*`): before every call the file is evicted "
        "from the page cache (`os.fsync`, then `posix_fadvise(POSIX_FADV_DONTNEED)` on "
        "the whole file; `mincore(2)` through a read-only map confirms that none of its "
        "pages is left — eviction works in this container, and a case reports it if "
        "not), and each library does the request in its own fresh interpreter (numpy, "
        "dask and the library imported before the clock starts), so that counts are "
        "clean. Measured per call: time of the request (open included) and "
        "`read_bytes` of `/proc/self/io` — bytes the kernel read from storage for the "
        "process: page-cache misses of `read`/`pread` and of memory-map page faults, "
        "read-ahead included — plus major page faults (`getrusage`), `rchar` (bytes "
        "returned by read calls, cached or not) and the file's pages cached after the "
        "call (`mincore`). The budget is the 4 KiB pages the request needs (metadata "
        "chunks, chunk map, signature page, the requested pixel bytes and their chunk "
        "header pages); the target is nd2kit's median `read_bytes` ≤ 2 × the budget "
        "**and** time ratio ≤ 0.5. Three rounds per run (two with `--quick`), "
        "alternating which library goes first; `cold:big_crop_all` (2.1 GB read per "
        "probe) two rounds and one run (one round with `--quick`).")
    add("* `inspect_100k` times the `nd2kit inspect` command in a subprocess (wall "
        "time, interpreter start included) and is judged by a verdict instead of a "
        "ratio: median ≤ 1 s and no more output lines than for a 1 000-frame file.")
    add("* Memory cases run each library once in a fresh interpreter and report peak "
        "memory relative to the returned array's bytes (see the case description).")
    add("")
    return L


def update_method(path: Path) -> None:
    """Replace the "How to reproduce" and "Method" sections of an existing report.

    The results, machine facts and case descriptions of `path` stay as they are
    (for method changes that should not come with a new, possibly noisy, run).
    """
    text = path.read_text(encoding="utf-8")
    start = text.index("## How to reproduce")
    end = text.index("## Machine")
    path.write_text(text[:start] + "\n".join(method_sections()) + "\n" + text[end:],
                    encoding="utf-8")


def render(results: list[Result], facts: dict[str, str], argv: list[str], mode: str,
           total_s: float, profiles: dict[str, str]) -> str:
    L: list[str] = []
    add = L.append
    add("# Benchmarks: nd2kit vs nd2 0.12")
    add("")
    add("<!-- Generated by `python -m tools.bench`; edit tools/bench.py, not this file. -->")
    add("")
    add("nd2kit's codecs and reader and the corresponding nd2 0.12 functions timed side by "
        "side, in one process and one run, on the same inputs; plus a few nd2kit-only "
        "properties (zero-copy, dask overhead, peak memory) measured the same way.")
    add("")
    L += method_sections()
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
    add("Times in milliseconds per call: median [q1–q3]. MB/s = 10⁶ input bytes per second. "
        "The reference is nd2 0.12 unless the column says otherwise.")
    add("")
    add("| case | input | rounds | nd2kit ms | reference | reference ms | "
        "time ratio nd2kit/reference | per-round ratio [q1–q3] | nd2kit MB/s | "
        "reference MB/s |")
    add("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        if r.case.kind != "time":
            continue
        inp = r.prepared.input if r.prepared else "—"
        ref = r.case.reference
        if not r.timed:
            add(f"| `{r.case.name}` | {inp} | — | — | {ref} | — | {r.status} | — | — | — |")
            continue
        kq, nq = r.iqr("kit"), r.iqr("nd2")
        pq = _quartiles(r.paired)
        nb = r.prepared.nbytes if r.prepared else None
        runs = _runs_text(r)
        rounds = f"{len(r.kit_ns)}" + (f" in {len(r.runs)} runs" if len(r.runs) > 1 else "")
        add(f"| `{r.case.name}` | {inp} | {rounds} | "
            f"{_fmt_ms(r.median('kit'))} [{_fmt_ms(kq[0])}–{_fmt_ms(kq[1])}] | {ref} | "
            f"{_fmt_ms(r.median('nd2'))} [{_fmt_ms(nq[0])}–{_fmt_ms(nq[1])}] | "
            f"**{r.ratio:.3f}** ({1 / r.ratio:.2f}× the reference's speed"
            f"{'; median of ' + runs if runs else ''}) | "
            f"{statistics.median(r.paired):.3f} [{pq[0]:.3f}–{pq[1]:.3f}] | "
            f"{_mbps(nb, r.median('kit'))} | {_mbps(nb, r.median('nd2'))} |")
    ref_rows = [(r, ref, times) for r in results for ref, times in r.refs]
    if ref_rows:
        add("")
        add("### Reference timings (not judged)")
        add("")
        add("| case | call | runs | median ms [min–max] | × nd2kit's median | note |")
        add("| --- | --- | ---: | ---: | ---: | --- |")
        for r, rf0, times in ref_rows:
            if not times:
                add(f"| `{r.case.name}` | {rf0.label} | 0 | — | — | skipped with `--quick` |")
                continue
            med = statistics.median(times)
            vs_kit = f"{med / r.median('kit'):.2f}×" if r.timed else "—"
            note = ""
            if rf0.vs:
                other = next((t for rf, t in r.refs if rf.label == rf0.vs and t), None)
                if other:
                    note = f"{med / statistics.median(other):.1f}× {rf0.vs}"
            add(f"| `{r.case.name}` | {rf0.label} | {len(times)} | {_fmt_ms(med)} "
                f"[{_fmt_ms(min(times))}–{_fmt_ms(max(times))}] | {vs_kit} | {note} |")
    cold_rows = [r for r in results if r.case.kind == "cold"]
    if cold_rows:
        add("")
        add("### Cold page cache")
        add("")
        add("One fresh interpreter per library and round, the file evicted from the page "
            "cache just before. Medians over the rounds. *Read from storage*: "
            "`/proc/self/io` `read_bytes` of the child during the request (page-cache "
            "misses of reads and of memory-map faults, read-ahead included); *budget*: "
            "the request's 4 KiB pages (pixels + metadata, see the case description); "
            "*read() bytes*: `rchar` (bytes returned by read calls, cached or not); "
            "*cached after*: the file's pages in the page cache after the request "
            "(`mincore`).")
        add("")
        add("| case | input | library | rounds | ms [q1–q3] | time ratio | "
            "read from storage | × budget | budget | major faults | read() bytes | "
            "cached after |")
        add("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in cold_rows:
            prep = r.prepared
            inp = prep.input if prep else "—"
            if not r.cold:
                add(f"| `{r.case.name}` | {inp} | — | — | — | {r.status} | — | — | — | — | "
                    "— | — |")
                continue
            budget = prep.budget_bytes
            for lib in ("nd2kit", "nd2", "floor"):
                if lib not in r.cold:
                    continue
                ps = r.cold[lib]
                ns = [p["ns"] for p in ps]
                q = _quartiles(ns)
                rb = r.cold_median(lib, "read_bytes")
                ratio = (f"**{r.ratio:.3f}**" + (f" ({_runs_text(r)})" if _runs_text(r) else "")
                         if lib == "nd2kit" else "")
                add(f"| `{r.case.name}` | {inp} | {lib} | {len(ps)} | "
                    f"{_fmt_ms(statistics.median(ns))} [{_fmt_ms(q[0])}–{_fmt_ms(q[1])}] | "
                    f"{ratio} | {_fmt_bytes(rb)} | "
                    f"{'**' if lib == 'nd2kit' else ''}{rb / budget:.2f}×"
                    f"{'**' if lib == 'nd2kit' else ''} | {_fmt_bytes(budget)} | "
                    f"{r.cold_median(lib, 'majflt'):,.0f} | "
                    f"{_fmt_bytes(r.cold_median(lib, 'rchar'))} | "
                    f"{_fmt_bytes(r.cold_median(lib, 'resident_after') * bench_data.PAGE)} |")
    mem_rows = [r for r in results if r.case.kind == "memory"]
    if mem_rows:
        add("")
        add("### Memory")
        add("")
        add("Bytes during one `asarray()` call, and as a multiple of the array's bytes. "
            "Peak RSS growth includes the file's pages mapped by the memory map "
            "(page cache); the anonymous estimate subtracts them.")
        add("")
        add("| case | input | library | tracemalloc peak | peak RSS growth | "
            "of which mapped file pages | anonymous estimate (RSS − file) | "
            "judged: max(tracemalloc, anonymous) / array |")
        add("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for r in mem_rows:
            inp = r.prepared.input if r.prepared else "—"
            if not r.mem:
                add(f"| `{r.case.name}` | {inp} | — | — | — | — | — | {r.status} |")
                continue
            for lib, m in r.mem.items():
                nb = m["nbytes"]

                def cell(key: str) -> str:
                    return f"{_fmt_bytes(m[key])} ({m[key] / nb:.3f}×)"  # noqa: B023

                judged = f"**{m['judged'] / nb:.3f}**" if lib == "nd2kit" else f"{m['judged'] / nb:.3f}"
                add(f"| `{r.case.name}` | {inp} | {lib} | {cell('tracemalloc')} | "
                    f"{cell('rss_peak')} | {cell('rss_file')} | {cell('anon_est')} | "
                    f"{judged} |")
    add("")
    add("## Targets")
    add("")
    add("| case | target | measured | result |")
    add("| --- | --- | ---: | --- |")
    for r in results:
        note = f" — {r.message}" if r.message else ""
        add(f"| `{r.case.name}` | {r.case.target_text()} | {_measured_text(r)} | "
            f"**{r.status}**{note} |")
    n_pass = sum(r.status == "PASS" for r in results)
    n_judged = sum(r.status != "INFO" for r in results)
    add("")
    add(f"{n_pass} of {n_judged} targets met"
        + (f" ({len(results) - n_judged} cases shown, not judged)." if n_judged < len(results) else "."))
    add("")
    add("## Cases")
    add("")
    done_groups: set[str] = set()
    for r in results:
        c = r.case
        if c.group:
            if c.group in done_groups:
                continue
            done_groups.add(c.group)
            members = [x for x in results if x.case.group == c.group]
            add(f"### `{c.group}:*` — {c.title.split(',')[0]}, one case per file")
            add("")
            add(c.measures)
            add("")
            add("Files: " + "; ".join(
                f"`{x.case.name}`" + (f" = `{_group_file(x)}`" if _group_file(x) else "")
                for x in members) + ".")
            add("")
        else:
            add(f"### `{c.name}` — {c.title}")
            add("")
            add(c.measures)
            add("")
        notes = [n for x in results if (x.case is c or (c.group and x.case.group == c.group))
                 for n in (getattr(x.prepared, "notes", None) or [])]
        for n in notes:
            add(f"* {n}")
        if notes:
            add("")
        what = ("" if c.kind == "memory" or c.target_desc
                else f" (nd2kit time / {c.reference} time, ratio of medians)")
        add(f"Target: {c.target_text()}{what}.")
        add("")
    if profiles:
        add("## Profiles of failing cases (nd2kit side, cProfile)")
        add("")
        for name, text in profiles.items():
            add(f"### `{name}`")
            add("")
            add("```")
            add(text)
            add("```")
            add("")
    return "\n".join(L).rstrip() + "\n"


def _group_file(r: Result) -> str:
    setup = r.case.setup
    if isinstance(setup, functools.partial) and setup.args and isinstance(setup.args[0], Path):
        return setup.args[0].name
    return ""



# ----------------------------------------------------------------------------- main


def _release(prep: Any) -> None:
    """Drop what a finished case's callables hold; keep what the report shows."""
    if isinstance(prep, Prepared):
        if prep.cleanup is not None:
            prep.cleanup()
        prep.nd2kit = prep.nd2 = prep.check = _released
        prep.profile = prep.breakdown = prep.cleanup = prep.verdict = None
        for ref in prep.refs:
            ref.fn = _released
    elif isinstance(prep, ColdPrepared):
        prep.probe = _released_probe
        prep.check = _released
    elif isinstance(prep, MemoryPrepared):
        prep.measure = prep.check = _released
        prep.profile = None


def _released_probe(lib: str) -> dict[str, Any]:
    raise RuntimeError("this case's inputs were released after it ran")


def _released() -> Any:
    raise RuntimeError("this case's inputs were released after it ran")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="run only this case or group of cases (repeatable, or "
                         "comma-separated; e.g. open_meta = every open_meta:* case)")
    ap.add_argument("--reps", type=int, help="fixed number of rounds per case")
    ap.add_argument("--max-runs", type=int, metavar="N",
                    help="runs of a noisy case, first included (default 3, --quick 2; "
                         "1 = never repeat)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="report path (default docs/benchmarks.md)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the report")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile nd2kit's side of failing cases (printed and in the report)")
    ap.add_argument("--gc", action="store_true",
                    help="keep the garbage collector on while timing (default off, as timeit)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--method-only", action="store_true",
                    help="rewrite only the how-to and method sections of the report (--out) "
                         "and exit; its results stay")
    args = ap.parse_args(argv)

    if args.method_only:
        update_method(args.out)
        print(f"updated the method sections of {args.out}")
        return 0

    if args.list:
        for c in CASES.values():
            print(f"{c.name:36s} {c.target_text():50s} {c.title}")
        return 0
    names = list(CASES)
    if args.only:
        wanted = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        groups = {c.group for c in CASES.values() if c.group}
        unknown = [n for n in wanted if n not in CASES and n not in groups]
        if unknown:
            print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}; "
                  f"groups: {', '.join(sorted(groups))}")
            return 0
        names = [n for n in names if n in wanted or CASES[n].group in wanted]
    s = QUICK if args.quick else FULL
    s = Settings(s.warmup, s.budget_s, s.min_reps, s.max_reps,
                 reps=max(1, args.reps) if args.reps else None, keep_gc=args.gc,
                 quick=args.quick,
                 max_runs=max(1, args.max_runs) if args.max_runs else s.max_runs)
    mode = ("quick" if args.quick else "full") + (f", only {', '.join(wanted)}" if args.only else "")
    if args.reps:
        mode += f", {args.reps} rounds"
    if args.gc:
        mode += ", GC on while timing"
    if args.max_runs:
        mode += f", at most {s.max_runs} runs"

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    facts = machine_facts()
    log(f"tools.bench ({mode}) on {facts['CPU']}, {facts['cores']}")
    t0 = time.perf_counter()
    results: list[Result] = []
    profiles: dict[str, str] = {}
    for n in names:
        log(f"- {n}: preparing inputs and comparing outputs")
        t_case = time.perf_counter()
        r = run_case(CASES[n], s, log)
        log(f"  {n}: {r.status}, {time.perf_counter() - t_case:.0f} s")
        if args.profile and r.status == "FAIL":
            log(f"- profiling nd2kit side of {r.case.name}")
            profiles[r.case.name] = profile_nd2kit(r)
        # each case runs in a clean process state: its inputs and callables (trees,
        # maps, arrays) are freed before the next case, not kept for the report
        _release(r.prepared)
        gc.collect()
        results.append(r)
    total = time.perf_counter() - t0

    print()
    print(f"{'case':36s} {'nd2kit ms':>10s} {'ref ms':>10s} {'ratio':>7s}  target      result")
    for r in results:
        tgt = f"{r.case.direction} {r.case.target:<8g}" + ("+ms" if r.case.max_ms else "   ")
        if r.case.target_desc:
            tgt = "(verdict)" + " " * 5
        elif r.case.kind == "cold":
            tgt += "+B "
        if r.timed:
            print(f"{r.case.name:36s} {_fmt_ms(r.median('kit')):>10s} "
                  f"{_fmt_ms(r.median('nd2')):>10s} {r.ratio:7.3f}  {tgt} {r.status}"
                  + (f"  [{_runs_text(r)}]" if _runs_text(r) else "")
                  + (f"  {r.verdict_text}" if r.verdict_text else ""))
        elif r.measured is not None:
            print(f"{r.case.name:36s} {'(memory)':>10s} {'':>10s} {r.ratio:7.3f}  "
                  f"{tgt} {r.status}")
        else:
            print(f"{r.case.name:36s} {'—':>10s} {'—':>10s} {'—':>7s}  "
                  f"{tgt} {r.status}: {r.message}")
        for ref, times in r.refs:
            med = f"{_fmt_ms(statistics.median(times))} ms" if times else "skipped"
            print(f"    reference {ref.label}: {med}")
        if r.noise:
            print(f"    repeated: {'; '.join(r.noise)}")
        for lib in r.cold:
            print(f"    {lib}: read from storage {_fmt_bytes(r.cold_median(lib, 'read_bytes'))} "
                  f"(budget {_fmt_bytes(r.prepared.budget_bytes)}), "
                  f"{r.cold_median(lib, 'majflt'):.0f} major faults, "
                  f"{_fmt_ms(r.cold_median(lib, 'ns'))} ms")
        for lib, m in r.mem.items():
            print(f"    {lib}: tracemalloc {m['tracemalloc'] / m['nbytes']:.3f}×, peak RSS "
                  f"growth {m['rss_peak'] / m['nbytes']:.3f}× (mapped file "
                  f"{m['rss_file'] / m['nbytes']:.3f}×)")
    n_pass = sum(r.status == "PASS" for r in results)
    n_judged = sum(r.status != "INFO" for r in results)
    print(f"\n{n_pass}/{n_judged} targets met "
          f"({'all PASS' if n_pass == n_judged else 'SOME FAIL'}); {total:.0f} s")
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
