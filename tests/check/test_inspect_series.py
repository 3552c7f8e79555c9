"""``inspect_file`` checks the ``ImageDataSeq|N!`` series as arrays (``ChunkSeries``).

Oracle: the per-entry checks (``read_chunk`` on every map entry), which
``inspect_file`` still runs for every other entry; with the array path switched
off they must give exactly the same table, JSON and text, on sound files and on
files with damaged frames of every kind the array path screens for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_files

from nd2kit.check import inspection
from nd2kit.check.inspection import ChunkRun, chunk_runs, folded_rows, inspect_file
from nd2kit.cli.inspect_cmd import format_result
from nd2kit.codecs import container

FIELD = container.header_field_offsets()


def _frames(order: list[int], extra: tuple[str, ...] = ()) -> list[tuple[str, bytes, int]]:
    items = [(f"ImageDataSeq|{k}!", bytes(8) + bytes([k % 251]) * (16 + (k == 4)), 8) for k in order]
    items += [(name, b"\x01\x02", 8) for name in extra]
    return items


def _patch(b: bytes, at: int, new: bytes) -> bytes:
    return b[:at] + new + b[at + len(new) :]


def _u(n: int, width: int) -> bytes:
    return n.to_bytes(width, "little")


def _header_at(b: bytes, name: str) -> int:
    _, cm = container.read_chunk_map(b)
    return int(cm[name].offset)


def _map_field(b: bytes, name: str, field: str) -> int:
    _, cm = container.read_chunk_map(b)
    i = cm.names.index(name)
    return int(cm.field_positions(field)[i])


def _sound() -> bytes:
    return container.build_file(_frames(list(range(12))))


def _shuffled() -> bytes:
    # out of number order: several runs, single members, other chunks in between
    return container.build_file(
        _frames([0, 1, 2, 9, 3, 4, 5, 11, 6, 7, 8, 10], extra=("CustomData|X!",))
    )


def _bad_magic() -> bytes:
    b = _sound()
    return _patch(b, _header_at(b, "ImageDataSeq|3!"), b"\0\0\0\0")


def _renamed_header() -> bytes:
    b = _sound()
    at = _header_at(b, "ImageDataSeq|5!") + FIELD["name"]
    return _patch(b, at, b"ImageDataSeq|6!")


def _long_data_len() -> bytes:
    b = _sound()
    at = _header_at(b, "ImageDataSeq|7!") + FIELD["data_len"]
    return _patch(b, at, _u(10**9, 8))


def _short_name_len() -> bytes:
    b = _sound()
    at = _header_at(b, "ImageDataSeq|10!") + FIELD["name_len"]
    return _patch(b, at, _u(4, 4))


def _map_size_mismatch() -> bytes:
    b = _sound()
    return _patch(b, _map_field(b, "ImageDataSeq|2!", "size"), _u(3, 8))


def _map_offset_outside() -> bytes:
    b = _sound()
    return _patch(b, _map_field(b, "ImageDataSeq|8!", "offset"), _u(len(b) + 4096, 8))


def _duplicate_name() -> bytes:
    b = _sound()
    return _patch(b, _map_field(b, "ImageDataSeq|11!", "name"), b"ImageDataSeq|10!")


def _leading_zero() -> bytes:
    return container.build_file(_frames([0, 1, 2]) + [("ImageDataSeq|01!", bytes(8) + b"x" * 16, 8)])


CASES: dict[str, Callable[[], bytes]] = {
    "sound": _sound,
    "shuffled": _shuffled,
    "bad-magic": _bad_magic,
    "renamed-header": _renamed_header,
    "long-data-len": _long_data_len,
    "short-name-len": _short_name_len,
    "map-size-mismatch": _map_size_mismatch,
    "map-offset-outside": _map_offset_outside,
    "duplicate-name": _duplicate_name,
    "leading-zero": _leading_zero,
}


def _per_entry(monkeypatch: pytest.MonkeyPatch, b: bytes) -> Any:
    with monkeypatch.context() as m:
        m.setattr(inspection, "_frame_series", lambda *a: None)
        return inspect_file(b, summary=False)


@pytest.mark.parametrize("case", list(CASES))
def test_array_checks_equal_per_entry_checks(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    b = CASES[case]()
    fast = inspect_file(b, summary=False)
    slow = _per_entry(monkeypatch, b)
    assert not slow.series
    assert fast.chunks == slow.chunks
    assert fast.problems == slow.problems
    assert fast.to_dict() == slow.to_dict()
    assert format_result(fast) == format_result(slow)
    assert format_result(fast, all_rows=True) == format_result(slow, all_rows=True)
    assert folded_rows(fast) == chunk_runs(slow.chunks)
    if case == "sound":
        assert len(fast.series) == 1 and len(fast.series[0]) == 12
        assert [r.source for r in fast.rows] == ["signature", "trailer"]
        (run,) = [r for r in folded_rows(fast) if isinstance(r, ChunkRun)]
        assert (run.first, run.last, run.min_data_len, run.max_data_len, run.data_len) == (
            0, 11, 24, 25, 24)
    else:  # the damaged member is a row of its own, with its problem
        assert len(fast.rows) > 2 or case == "shuffled"


def test_damaged_members_are_named() -> None:
    expect = {
        "bad-magic": "ImageDataSeq|3!",
        "renamed-header": "ImageDataSeq|5!",
        "long-data-len": "ImageDataSeq|7!",
        "short-name-len": "ImageDataSeq|10!",
        "map-size-mismatch": "ImageDataSeq|2!",
        "map-offset-outside": "ImageDataSeq|8!",
        "duplicate-name": "ImageDataSeq|10!",
    }
    for case, name in expect.items():
        res = inspect_file(CASES[case](), summary=False)
        bad = {r.name for r in res.chunks if r.problem}
        assert name in bad, case
        assert all(r.problem is None for r in res.series[0].rows()), case
        assert name not in {r.name for r in res.series[0].rows()}, case


MODERN = [p for p in corpus_files("*") if p.read_bytes()[:4] == b"\xda\xce\xbe\x0a"]


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=[p.name[-40:] for p in MODERN])
def test_corpus_array_checks_equal_per_entry_checks(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = path.read_bytes()
    fast = inspect_file(b, summary=False)
    slow = _per_entry(monkeypatch, b)
    assert fast.chunks == slow.chunks and fast.problems == slow.problems
    assert format_result(fast) == format_result(slow)
    assert folded_rows(fast) == chunk_runs(slow.chunks)


def test_header_names_match_edges() -> None:
    b = _sound()
    _, cm = container.read_chunk_map(b)
    names = ["ImageDataSeq|0!", "ImageDataSeq|1!", "ImageDataSeq|2!", "Imäge€!"]
    offs = [int(cm[n].offset) for n in names[:3]] + [int(cm["ImageDataSeq|3!"].offset)]
    nl, ok = container.header_names_match(b, offs, names)
    assert ok.tolist() == [True, True, True, False]  # a name that is not latin-1 never matches
    assert nl[0] == container.read_chunk(b, offs[0]).name_len
    nl, ok = container.header_names_match(b, [offs[1], len(b) - 8, offs[0]],
                                          ["ImageDataSeq|0!", "ImageDataSeq|0!", "ImageDataSeq|0!"])
    assert ok.tolist() == [False, False, True] and nl[1] == -1  # wrong name; header cut off


def test_many_frames_build_no_rows() -> None:
    n = 20_000
    b = container.build_file(_frames(list(range(n))))
    res = inspect_file(b, summary=False)
    assert len(res.rows) == 2 and len(res.series[0]) == n  # signature and map rows only
    out = folded_rows(res)
    assert [r.name for r in out] == [
        "ND2 FILE SIGNATURE CHUNK NAME01!", f"ImageDataSeq|0..{n - 1}!",
        "ND2 FILEMAP SIGNATURE NAME 0001!"]
    assert len(res.chunks) == n + 2 and res.chunks[1].name == "ImageDataSeq|0!"
