"""``validate`` and ``inspect`` never crash (issue #8, item 3).

* nesting: LiteVariant records nested 500 … 10 000 levels deep are findings (or
  plain output), never a RecursionError or an internal error;
* a second ``ImageAttributesLV!`` map entry pointing at another chunk (a frame) is a
  finding, not an IndexError;
* zlib bombs: every stream is inflated at most once per run and never beyond the
  cap (counted by wrapping ``zlib`` itself);
* huge maps: time grows linearly with the number of map entries;
* an exception of nd2kit itself exits 3 with one message naming the file, an
  :class:`~nd2kit.errors.Nd2Error` escaping a check is a finding (exit 1).
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from robust_files import (
    add_entries,
    compressed_lv,
    many_frames,
    nested_lv,
    payload_of,
    replace_payload,
    split,
    zlib_bomb,
)

from nd2kit import cli
from nd2kit.check import inflation, modern
from nd2kit.check.inspection import PARTIAL_MAX_DEPTH, inspect_chunk, inspect_file
from nd2kit.check.validate import validate_file
from nd2kit.codecs import container
from nd2kit.codecs import lite_variant as lv
from nd2kit.errors import CorruptChunkError
from nd2kit.model.limits import metadata_inflate_limit
from nd2kit.testing.samples import sample_file_bytes

CAP = inflation.inflation_cap()


@pytest.fixture(scope="module")
def sample() -> bytes:
    return sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8")


def _write(tmp_path: Path, data: bytes, name: str = "f.nd2") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _no_crash(capsys: pytest.CaptureFixture[str], *argv: str, codes: tuple[int, ...]) -> str:
    """Run the CLI in-process; the exit code is one of `codes`, stderr has no
    traceback and no internal error. Returns stdout."""
    rc = cli.main(list(argv))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "internal error" not in cap.err, cap.err
    assert rc in codes, (rc, cap.err[-2000:])
    return cap.out


# ----------------------------------------------------------------------------- nesting


def test_nested_lv_builder_is_consistent() -> None:
    data = nested_lv(5)
    assert lv.check(data) == []
    tree = lv.decode_lossless(data)
    assert lv.encode(tree) == data
    assert lv.decode(data) == {"SLxImageTextInfo": {"a": {"a": {"a": {"a": {"v": 7}}}}}}


@pytest.mark.parametrize("depth", [500, 990, 2000, 10_000])
def test_deep_nesting_never_crashes(depth: int, sample: bytes, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    deep = nested_lv(depth)
    data = replace_payload(sample, "ImageTextInfoLV!", deep)
    data = replace_payload(data, "ImageMetadataSeqLV|0!", nested_lv(depth, "SLxPictureMetadata"))
    for roundtrip in (False, True):
        rep = validate_file(data, roundtrip=roundtrip)
        assert rep.exit_code in (0, 1)
        # whatever is reported about the deep chunk names it and an offset inside it
        _, cm = container.read_chunk_map(data)
        ci = container.read_chunk(data, int(cm.offsets[cm.names.index("ImageTextInfoLV!")]))
        for f in rep.findings:
            if f.chunk == "ImageTextInfoLV!":
                assert f.offset is not None and ci.offset <= f.offset < ci.end, str(f)
    p = _write(tmp_path, data)
    _no_crash(capsys, "validate", str(p), codes=(0, 1))
    _no_crash(capsys, "validate", "--roundtrip", "--json", str(p), codes=(0, 1))
    out = _no_crash(capsys, "inspect", str(p), codes=(0,))
    assert "ImageTextInfoLV!" in out
    _no_crash(capsys, "inspect", "--json", str(p), codes=(0,))
    for args in (["--chunk", "ImageTextInfoLV!"], ["--chunk", "ImageTextInfoLV!", "--json"],
                 ["--chunk", "ImageMetadataSeqLV|0!"]):
        out = _no_crash(capsys, "inspect", *args, str(p), codes=(0,))
        # output stays linear in the depth: no path or indentation grows with it
        assert len(out) < 2000 * (depth + 10), len(out)
    det = inspect_chunk(data, "ImageTextInfoLV!")
    assert det is not None and det.records is not None
    if depth <= PARTIAL_MAX_DEPTH:
        assert len(det.records) == depth + 1  # every record listed, to the leaf
        assert det.records[-1]["name"] == "v" and det.records[-1]["depth"] == depth
    else:  # listed to the depth bound, and the bound is said
        assert len(det.records) == PARTIAL_MAX_DEPTH + 1
        assert any(f"deeper than {PARTIAL_MAX_DEPTH}" in p.message for p in det.problems)


def test_deep_trees_compare_iteratively() -> None:
    # the Kaitai parser cannot build a tree this deep; compare the lossless tree with
    # itself through a view that looks like a Kaitai tree (same fields)
    from nd2kit.check.lv_walk import compare_trees, iter_tree

    data = nested_lv(3000)
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        tree = lv.decode_lossless(data)
    finally:
        sys.setrecursionlimit(old)
    recs = list(iter_tree(tree.root))
    assert len(recs) == 3001 and recs[-1][0] == 3000
    # paths are whole to depth 1000, then shortened: memory stays linear in the depth
    assert max(len(p) for _, p, _ in recs) <= len("SLxImageTextInfo") + 2 * 1001
    assert len(recs[-1][1]) < 600
    assert [p for _, p, _ in recs[:3]] == ["SLxImageTextInfo", "SLxImageTextInfo/a",
                                           "SLxImageTextInfo/a/a"]

    class K:  # the Kaitai record shape compare_trees reads
        def __init__(self, r: Any) -> None:
            self.type, self.name = r.type, r.name + "\0"
            if r.type == lv.LvType.LEVEL:
                body = type("B", (), {"children": [K(c) for c in r.value], "gap": r.gap})
                self.value = type("V", (), {"body": body, "offsets": list(r.offsets or ())})
            else:
                self.value = r.value

    leaf = tree.root
    chain = []
    while leaf.type == lv.LvType.LEVEL:
        chain.append(leaf)
        leaf = leaf.value[0]
    # build the Kaitai-shaped view bottom-up (no recursion)
    view: Any = K(leaf)
    for r in reversed(chain):
        k = K.__new__(K)
        k.type, k.name = r.type, r.name + "\0"
        body = type("B", (), {"children": [view], "gap": r.gap})
        k.value = type("V", (), {"body": body, "offsets": list(r.offsets or ())})
        view = k
    assert compare_trees(view, tree.root) is None
    leaf.value = 8
    diff = compare_trees(view, tree.root)
    assert diff is not None and diff.endswith("value 7 vs 8")


def test_iter_tree_matches_iter_records() -> None:
    data = lv.encode(lv.from_python("Root", {"a": 1, "b": {"i0000000000": 2, "i0000000001": {"c": "x"}},
                                             "d": [1.5, b"\x00"]}))
    tree = lv.decode_lossless(data)
    from nd2kit.check.lv_walk import iter_tree

    ours = [(d, p, r.pos) for d, p, r in iter_tree(tree.root)]
    theirs = [(d, p, r.pos) for d, p, r in lv.iter_records(tree.root)]
    assert ours == theirs
    packed = lv.LvChunk(lv.LvRecord(lv.LvType.COMPRESS, "", tree.root, gap=b""))
    assert [(d, p) for d, p, _ in iter_tree(packed.root)] == [
        (d, p) for d, p, _ in lv.iter_records(packed.root)]


# ----------------------------------------------------------------------------- entries


def test_second_attributes_entry_pointing_at_a_frame(sample: bytes, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _, entries = split(sample)
    frame = next(e for e in entries if e[0] == "ImageDataSeq|0!")
    text = next(e for e in entries if e[0] == "ImageTextInfoLV!")
    for target in (frame, text):
        data = add_entries(sample, [("ImageAttributesLV!", target[1], target[2])])
        rep = validate_file(data)
        assert rep.exit_code == 1
        msgs = [f.message for f in rep.errors if f.chunk == "ImageAttributesLV!"]
        assert any("duplicate map entry" in m for m in msgs), msgs
        assert any(f"named {target[0]!r}" in m for m in msgs), msgs
        assert validate_file(data, roundtrip=True).exit_code == 1
        p = _write(tmp_path, data)
        _no_crash(capsys, "validate", str(p), codes=(1,))
        _no_crash(capsys, "inspect", str(p), codes=(0,))
        _no_crash(capsys, "inspect", "--all", "--json", str(p), codes=(0,))
        _no_crash(capsys, "inspect", "--chunk", "ImageAttributesLV!", str(p), codes=(0,))


def test_many_entries_for_one_chunk_check_it_once(sample: bytes,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, entries = split(sample)
    text = next(e for e in entries if e[0] == "ImageTextInfoLV!")
    data = add_entries(sample, [(f"CustomData|Copy{i}LV!", text[1], text[2]) for i in range(300)])
    calls: list[str] = []
    orig = modern.ModernCheck.lite_variant

    def counting(self: Any, index: int, name: str, ci: Any) -> None:
        calls.append(name)
        orig(self, index, name, ci)

    monkeypatch.setattr(modern.ModernCheck, "lite_variant", counting)
    rep = validate_file(data)
    assert rep.exit_code == 1  # the entries name another chunk
    assert calls.count("ImageTextInfoLV!") + sum(c.startswith("CustomData|Copy") for c in calls) == 1


# ----------------------------------------------------------------------------- zlib bombs


class _Inflations:
    """Every zlib inflation of the process while installed: (stream, limit, output size)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, int, int]] = []
        real_obj, real_dec = zlib.decompressobj, zlib.decompress
        calls = self.calls

        class Obj:
            def __init__(self, *a: Any, **k: Any) -> None:
                self._d = real_obj(*a, **k)

            def decompress(self, data: Any, max_length: int = 0) -> bytes:
                out = self._d.decompress(data, max_length)
                calls.append((hash(bytes(data)), max_length, len(out)))
                return out

            def __getattr__(self, name: str) -> Any:
                return getattr(self._d, name)

        def dec(data: Any, *a: Any, **k: Any) -> bytes:
            out = real_dec(data, *a, **k)
            calls.append((hash(bytes(data)), 0, len(out)))
            return out

        monkeypatch.setattr(zlib, "decompressobj", Obj)
        monkeypatch.setattr(zlib, "decompress", dec)

    def per_stream(self) -> Counter[int]:
        return Counter(h for h, _, _ in self.calls)

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zlib_bomb(CAP + (1 << 20))  # inflates past the cap (a 4 GB bomb is capped alike)


@pytest.mark.parametrize("chunk", ["ImageTextInfoLV!", "ImageAttributesLV!"])
def test_metadata_zlib_bomb_inflated_once_within_the_cap(
    chunk: str, bomb: bytes, sample: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = replace_payload(sample, chunk, compressed_lv(bomb))
    # two more entries listing the same chunk: still one inflation
    _, entries = split(data)
    at = next(e for e in entries if e[0] == chunk)
    data = add_entries(data, [(f"CustomData|Bomb{i}LV!", at[1], at[2]) for i in range(2)])
    p = _write(tmp_path, data)
    inf = _Inflations(monkeypatch)
    runs: list[tuple[str, ...]] = [
        ("validate", str(p)),
        ("validate", "--roundtrip", "--json", str(p)),
        ("inspect", str(p)),
        ("inspect", "--chunk", chunk, str(p)),
        ("inspect", "--chunk", chunk, "--json", str(p)),
    ]
    for argv in runs:
        inf.clear()
        _no_crash(capsys, *argv, codes=(0, 1))
        worst = max(inf.per_stream().values(), default=0)
        assert worst <= 1, (argv, inf.calls)
        assert all(n <= CAP for _, _, n in inf.calls), (argv, inf.calls)
        assert all(0 < lim <= CAP for _, lim, _ in inf.calls), (argv, inf.calls)
    inf.clear()
    rep = validate_file(data)
    ci = container.read_chunk(data, at[1])
    hits = [f for f in rep.errors if f.chunk == chunk and f.offset == ci.data_offset + 12]
    assert hits and hits[0].spec == "lite_variant.ksy:compressed.inflated", [str(f) for f in rep.findings]
    # the tools hold a metadata stream to the reader's limit for this file's size
    # (model.limits.metadata_inflate_limit), far below the codecs' last-resort CAP
    want = metadata_inflate_limit(len(data))
    assert want < CAP
    assert f"more than {want} bytes" in hits[0].message
    assert max(inf.per_stream().values()) == 1
    assert inf.calls and all(lim == want for _, lim, _ in inf.calls), inf.calls


def test_sound_compressed_metadata_inflated_once(sample: bytes, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = payload_of(sample, "ImageTextInfoLV!")
    packed = compressed_lv(zlib.compress(text))
    data = replace_payload(sample, "ImageTextInfoLV!", packed)
    assert lv.decode(packed) == lv.decode(text)
    p = _write(tmp_path, data)
    inf = _Inflations(monkeypatch)
    rep = validate_file(data, roundtrip=True)
    assert [str(f) for f in rep.errors] == []
    assert len(inf.calls) == 1  # three readers, one inflation
    for argv in (("validate", str(p)), ("inspect", str(p)),
                 ("inspect", "--chunk", "ImageTextInfoLV!", str(p))):
        inf.clear()
        _no_crash(capsys, *argv, codes=(0,))
        assert max(inf.per_stream().values(), default=0) <= 1, (argv, inf.calls)


def test_frame_zlib_bomb_inflated_once_within_the_frame_size(
    bomb: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8", compression=6)
    frame = payload_of(base, "ImageDataSeq|1!")
    data = replace_payload(base, "ImageDataSeq|1!", frame[:8] + bomb)
    _, entries = split(data)
    f1 = next(e for e in entries if e[0] == "ImageDataSeq|1!")
    data = add_entries(data, [("ImageDataSeq|1!", f1[1], f1[2])])  # listed twice
    p = _write(tmp_path, data)
    inf = _Inflations(monkeypatch)
    rep = validate_file(data)
    assert any(f.chunk == "ImageDataSeq|1!" and "inflates to more than 16" in f.message
               for f in rep.errors), [str(f) for f in rep.findings]
    assert max(inf.per_stream().values()) == 1
    assert all(n <= CAP for _, _, n in inf.calls)
    for argv in (("validate", str(p)), ("inspect", str(p)),
                 ("inspect", "--chunk", "ImageDataSeq|1!", str(p))):
        inf.clear()
        _no_crash(capsys, *argv, codes=(0, 1))
        assert max(inf.per_stream().values(), default=0) <= 1, (argv, inf.calls)
        assert all(n <= CAP for _, _, n in inf.calls)


def test_frame_size_beyond_any_buffer(sample: bytes) -> None:
    base = sample_file_bytes(t=1, z=1, channels=1, height=4, width=4, dtype="uint8", compression=6)
    tree = lv.decode_lossless(payload_of(base, "ImageAttributesLV!"))
    for r in tree.root.value:
        if r.name in ("uiHeight", "uiWidthBytes"):
            r.type, r.value = lv.LvType.UINT32, 2**32 - 1
    data = replace_payload(base, "ImageAttributesLV!", lv.encode(tree))
    rep = validate_file(data)
    assert rep.exit_code == 1
    assert any("cannot exist" in f.message for f in rep.errors), [str(f) for f in rep.findings]


# ----------------------------------------------------------------------------- huge maps


def _best_of(n: int, *fns: Any) -> list[float]:
    """Best CPU time (``process_time``: time spent waiting for a core on a shared machine
    does not count) of each of `fns` over `n` rounds, the functions taking turns so that
    every one of them meets the same load."""
    best = [float("inf")] * len(fns)
    for _ in range(n):
        for k, fn in enumerate(fns):
            t0 = time.process_time()
            fn()
            best[k] = min(best[k], time.process_time() - t0)
    return best


def test_huge_maps_take_linear_time() -> None:
    # 4x the entries may take at most 8x the time (quadratic growth would be 16x)
    small, big = many_frames(100_000), many_frames(400_000)
    rep = validate_file(small)
    assert rep.checked["map_entries"] == 100_002 and rep.checked["frames"] == 100_000
    assert [f for f in rep.errors] == []
    assert validate_file(big).ok
    t_small, t_big = _best_of(2, lambda: validate_file(small), lambda: validate_file(big))
    assert t_small < 6.0, t_small
    assert t_big < 8 * t_small, (t_small, t_big)
    i_small, i_big = _best_of(3, lambda: inspect_file(small), lambda: inspect_file(big))
    assert i_small < 3.0, i_small
    assert i_big < 8 * max(i_small, 0.05), (i_small, i_big)


# ----------------------------------------------------------------------------- internal errors


def _boom(*_a: object, **_k: object) -> None:
    raise RuntimeError("simulated internal failure")


def test_internal_error_in_one_file_still_reports_the_others(
    sample: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = _write(tmp_path, sample, "good.nd2")
    legacy_like = _write(tmp_path, b"junk", "junk.nd2")
    monkeypatch.setattr(modern.ModernCheck, "contents", _boom)
    rc = cli.main(["validate", str(good), str(legacy_like)])
    cap = capsys.readouterr()
    assert rc == 3
    assert "Traceback" not in cap.err
    assert f"nd2kit validate: internal error while processing {good}: RuntimeError" in cap.err
    assert f"{legacy_like}: UNREADABLE" in cap.out  # the other file is still reported
    import json

    rc = cli.main(["validate", "--json", str(good), str(legacy_like)])
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert rc == 3 and doc["exit_code"] == 3 and doc["ok"] is False
    assert [f["path"] for f in doc["files"]] == [str(legacy_like)]
    assert doc["internal_errors"][0]["path"] == str(good)


def test_library_exception_is_an_internal_error(sample: bytes, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    p = _write(tmp_path, sample)

    def bad_decode(*_a: object, **_k: object) -> None:
        raise KeyError("not an Nd2Error")

    monkeypatch.setattr(lv, "decode_lossless", bad_decode)
    for argv in (["validate", str(p)], ["inspect", "--chunk", "ImageAttributesLV!", str(p)]):
        assert cli.main(argv) == 3
        err = capsys.readouterr().err
        assert "internal error" in err and str(p) in err and "KeyError" in err
        assert "Traceback" not in err


def test_nd2error_escaping_a_check_is_a_finding(sample: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(*_a: object, **_k: object) -> None:
        raise CorruptChunkError("bytes the check did not expect", chunk="ImageDataSeq|0!",
                                offset=1234, field="SLxImageAttributes.uiHeight")

    monkeypatch.setattr(modern.ModernCheck, "frames", stop)
    rep = validate_file(sample)
    assert rep.exit_code == 1
    hit = [f for f in rep.errors if f.chunk == "ImageDataSeq|0!" and f.offset == 1234]
    assert hit and "frames check stopped" in hit[0].message
    assert "SLxImageAttributes.uiHeight" in hit[0].message


def test_main_fallback_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from nd2kit.cli import validate_cmd

    p = _write(tmp_path, b"x")
    monkeypatch.setattr(validate_cmd, "format_report", _boom)
    assert cli.main(["validate", str(p)]) == 3
    err = capsys.readouterr().err
    assert f"internal error while processing {p}" in err and "Traceback" not in err
