"""``nd2kit inspect``: the summary printed first, and numbered chunk series folded into runs.

Oracles: nd2 0.12 (every value of the summary, on every corpus file it reads and on
generated sample files) and the parameters the samples were generated with.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_files

from nd2kit.check.inspection import ChunkRow, ChunkRun, chunk_runs, inspect_file
from nd2kit.check.summary import FileSummary, summarize
from nd2kit.codecs import container
from nd2kit.testing.samples import sample_file_bytes

ND2KIT = Path(sys.executable).with_name("nd2kit")
ALL = corpus_files("*")
MODERN = [p for p in ALL if p.read_bytes()[:4] == b"\xda\xce\xbe\x0a"]
LEGACY = [p for p in ALL if p.read_bytes()[:4] == b"\x00\x00\x00\x0c"]


def ids(paths: list[Path]) -> list[str]:
    return [p.name[-40:] for p in paths]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ND2KIT), *map(str, args)], capture_output=True, text=True, timeout=300
    )


def nd2_summary(path: Path) -> dict[str, Any]:
    """The summary's values as nd2 0.12 reports them."""
    import nd2

    with nd2.ND2File(path) as f:
        a = f.attributes
        loops = []
        for lp in f.experiment:
            d: dict[str, Any] = {"type": lp.type, "count": lp.count}
            if lp.type == "TimeLoop":
                d["period_ms"] = lp.parameters.periodMs
            elif lp.type == "NETimeLoop":
                d["period_ms"] = [p.periodMs for p in lp.parameters.periods]
            elif lp.type == "ZStackLoop":
                d["z_step_um"] = lp.parameters.stepUm
            elif lp.type == "XYPosLoop":
                d["points"] = len(lp.parameters.points)
            loops.append(d)
        app = f.custom_data.get("AppInfo_V1_0") or {}
        chans = [
            {
                "name": c.channel.name,
                "color": f"#{c.channel.color.r:02X}{c.channel.color.g:02X}{c.channel.color.b:02X}",
            }
            for c in (f.metadata.channels or [])
        ]
        return {
            "format_version": ".".join(map(str, f.version)),
            "writer_app": app.get("SWNameString"),
            "writer_version": app.get("VersionString"),
            "sizes": dict(f.sizes),
            "dtype": str(f.dtype),
            "bits_in_memory": a.bitsPerComponentInMemory,
            "significant_bits": a.bitsPerComponentSignificant,
            "channels": chans,
            "loops": loops,
            "voxel_size_um": list(f.voxel_size()),
            "frames": a.sequenceCount,
            "compression": a.compressionType or "none",
        }


def mine(sm: FileSummary) -> dict[str, Any]:
    w = sm.writer or {}
    comp = sm.compression.split(" (")[0] if sm.compression else None
    return {
        "format_version": sm.format_version,
        "writer_app": w.get("application"),
        "writer_version": w.get("version"),
        "sizes": sm.sizes,
        "dtype": sm.dtype,
        "bits_in_memory": sm.bits_in_memory,
        "significant_bits": sm.significant_bits,
        "channels": sm.channels,
        "loops": sm.loops,
        "voxel_size_um": sm.voxel_size_um,
        "frames": sm.frames,
        "compression": comp,
    }


# ----------------------------------------------------------------------------- summary


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids(MODERN))
def test_summary_equals_nd2(path: Path) -> None:
    expected = nd2_summary(path)
    res = inspect_file(path)
    assert res.summary is not None and res.summary.problems == []
    assert mine(res.summary) == expected
    # the JSON carries the same summary as an object
    p = run("inspect", "--json", path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["summary"] == json.loads(json.dumps(res.summary.to_dict()))
    # the text starts with it, before the chunk table
    t = run("inspect", path)
    assert t.returncode == 0, t.stderr
    head = t.stdout.split("\n  name")[0]
    sizes = ", ".join(f"{k}={v}" for k, v in expected["sizes"].items())
    assert f"sizes: {sizes}" in head
    assert f"dtype: {expected['dtype']}" in head and f"frames: {expected['frames']}" in head
    for c in expected["channels"]:
        assert f"{c['name']} {c['color']}" in head
    if expected["writer_app"]:
        assert f"writer: {expected['writer_app']}" in head


@pytest.mark.corpus
def test_real_files_name_their_writer() -> None:
    real = corpus_files("real")
    if not real:
        pytest.skip("corpus not available")
    for p in real:
        sm = summarize(p)
        assert sm.writer and sm.writer["application"] in ("NIS-Elements AR", "LUCIA G"), p.name


@pytest.mark.corpus
@pytest.mark.parametrize("path", LEGACY, ids=ids(LEGACY))
def test_legacy_summary_degrades(path: Path) -> None:
    # the reader does not open legacy files yet: the summary says so, the box list stays
    res = inspect_file(path)
    assert res.summary is not None
    assert res.summary.format_version == "1.0" and res.summary.sizes is None
    assert res.summary.problems and "legacy" in res.summary.problems[0]
    t = run("inspect", path)
    assert t.returncode == 0 and "Traceback" not in t.stderr
    assert "summary incomplete:" in t.stdout and "VCAL" in t.stdout


SAMPLES = [
    {"t": 3, "z": 2, "channels": 2, "dtype": "uint16", "significant_bits": 12},
    {"t": 1, "z": 4, "channels": 1, "dtype": "uint8", "z_step": 0.75},
    {"t": 5, "z": 1, "channels": 3, "dtype": "float32", "period_ms": 40.0},
    {"t": 1, "z": 1, "channels": 1, "dtype": "uint16", "calibration": 0.1},
]


@pytest.mark.parametrize("kw", SAMPLES, ids=[str(i) for i in range(len(SAMPLES))])
def test_summary_of_generated_samples(tmp_path: Path, kw: dict[str, Any]) -> None:
    p = tmp_path / "sample.nd2"
    p.write_bytes(sample_file_bytes(height=8, width=10, **kw))
    got = mine(summarize(p))
    assert got == nd2_summary(p)
    # and against what was asked for
    t, z = kw["t"], kw["z"]
    assert got["frames"] == t * z and got["dtype"] == kw["dtype"]
    want_sizes = {k: v for k, v in (("T", t), ("Z", z), ("C", kw["channels"])) if v > 1}
    assert got["sizes"] == {**want_sizes, "Y": 8, "X": 10}
    if "significant_bits" in kw:
        assert got["significant_bits"] == kw["significant_bits"]
    assert [c["name"] for c in got["channels"]] == ["DAPI", "GFP", "mCherry"][: kw["channels"]]
    assert got["voxel_size_um"][0] == kw.get("calibration", 0.325)
    loops = {lp["type"]: lp for lp in got["loops"]}
    if z > 1:
        assert loops["ZStackLoop"]["count"] == z
        assert loops["ZStackLoop"]["z_step_um"] == kw.get("z_step", 0.5)
    if t > 1:
        assert loops["TimeLoop"]["count"] == t
        assert loops["TimeLoop"]["period_ms"] == kw.get("period_ms", 250.0)
    # bytes work too
    assert mine(summarize(p.read_bytes())) == got


@pytest.mark.corpus
def test_broken_file_summary_degrades_and_table_prints(tmp_path: Path) -> None:
    src = [p for p in MODERN if p.name == "spec_v3.nd2"]
    if not src:
        pytest.skip("corpus not available")
    b = src[0].read_bytes()
    cm = container.read_chunk_map(b)[1]
    attrs = container.read_chunk(b, cm["ImageAttributesLV!"].offset)
    # attributes payload overwritten: the reader cannot decode it
    bad = bytearray(b)
    bad[attrs.data_offset : attrs.data_offset + 16] = b"\xff" * 16
    p = tmp_path / "bad_attrs.nd2"
    p.write_bytes(bytes(bad))
    t = run("inspect", p)
    assert t.returncode == 0 and "Traceback" not in t.stderr + t.stdout, t.stderr
    assert "summary incomplete:" in t.stdout
    assert "ImageAttributesLV!" in t.stdout and "ImageTextInfoLV!" in t.stdout
    doc = json.loads(run("inspect", "--json", p).stdout)
    assert doc["summary"]["problems"] and doc["chunks"]
    # truncated: no map, scanned chunks, summary says why it is empty
    cut = tmp_path / "cut.nd2"
    cut.write_bytes(b[: len(b) // 2])
    t = run("inspect", cut)
    assert t.returncode == 0 and "Traceback" not in t.stderr + t.stdout
    assert "summary incomplete:" in t.stdout and "(scan)" in t.stdout


# ----------------------------------------------------------------------------- runs


def test_many_frames_fold_into_one_row(tmp_path: Path) -> None:
    n = 3000
    p = tmp_path / "many.nd2"
    p.write_bytes(sample_file_bytes(t=n, z=1, channels=1, height=2, width=2, dtype="uint8"))
    res = inspect_file(p)
    frames = [r for r in res.chunks if r.name.startswith("ImageDataSeq|")]
    assert len(frames) == n and res.summary is not None and res.summary.frames == n
    runs = chunk_runs(res.chunks)
    folded = [r for r in runs if isinstance(r, ChunkRun)]
    assert len(folded) == 1
    fr = folded[0]
    assert (fr.prefix, fr.first, fr.last, fr.count, fr.kind) == ("ImageDataSeq|", 0, n - 1, n, "frame")
    assert fr.first_offset == min(r.offset for r in frames)
    assert fr.last_offset == max(r.offset for r in frames)
    assert fr.data_len == frames[0].data_len == 8 + 2 * 4  # timestamp + 2 rows of 4 bytes
    t = run("inspect", p)
    assert t.returncode == 0
    lines = t.stdout.splitlines()
    assert len(lines) < 40
    assert sum("ImageDataSeq|" in ln for ln in lines) == 1
    row = next(ln for ln in lines if "ImageDataSeq|" in ln)
    assert f"ImageDataSeq|0..{n - 1}!" in row and f"{n} chunks" in row
    assert f"0x{fr.first_offset:08X}..0x{fr.last_offset:08X}" in row
    t_all = run("inspect", "--all", p)
    assert sum("ImageDataSeq|" in ln for ln in t_all.stdout.splitlines()) == n


def _rows(names: list[str], problem_at: int | None = None) -> list[ChunkRow]:
    return [
        ChunkRow(
            name=nm,
            offset=4096 * (i + 1),
            kind="frame" if nm.startswith("ImageDataSeq") else "lite-variant",
            source="map",
            index=i,
            data_len=100 + (i == 2),
            problem="bad" if i == problem_at else None,
        )
        for i, nm in enumerate(names)
    ]


def test_runs_interleaved_gaps_and_problems() -> None:
    names = []
    for k in range(4):
        names += [f"ImageDataSeq|{k}!", f"ImageMetadataSeqLV|{k}!"]
    names += ["ImageDataSeq|7!", "ImageDataSeq|8!", "ImageAttributesLV!", "ImageDataSeq|9!"]
    out = chunk_runs(_rows(names))
    shown = [r.name for r in out]
    assert shown == [
        "ImageDataSeq|0..3!",
        "ImageMetadataSeqLV|0..3!",
        "ImageDataSeq|7..9!",
        "ImageAttributesLV!",
    ]
    first = out[0]
    assert isinstance(first, ChunkRun)
    assert (first.min_data_len, first.max_data_len, first.data_len) == (100, 101, 100)
    # a member with a problem is shown on its own row and splits the run
    out = chunk_runs(_rows([f"ImageDataSeq|{k}!" for k in range(5)], problem_at=2))
    assert [r.name for r in out] == ["ImageDataSeq|0..1!", "ImageDataSeq|2!", "ImageDataSeq|3..4!"]
    # a single member stays a plain row
    assert chunk_runs(_rows(["ImageDataSeq|0!"]))[0].name == "ImageDataSeq|0!"


def test_runs_are_linear_time() -> None:
    def cost(n: int) -> float:
        rows = _rows([f"ImageDataSeq|{k}!" for k in range(n)])
        t0 = time.perf_counter()
        out = chunk_runs(rows)
        dt = time.perf_counter() - t0
        assert len(out) == 1 and isinstance(out[0], ChunkRun) and out[0].count == n
        return dt

    cost(1000)
    small, big = min(cost(25_000) for _ in range(3)), min(cost(100_000) for _ in range(3))
    assert big < 12 * small, (small, big)  # 4x the rows: ~4x the time, far from 16x
