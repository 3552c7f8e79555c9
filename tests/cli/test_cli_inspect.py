"""``nd2kit inspect`` (CLI and :mod:`nd2kit.check.inspection`) and the CLI registry.

Oracles: nd2 0.12's chunk map (``ND2File._rdr.chunkmap``) and its LiteVariant decoder
(``_rdr._decode_chunk``), and the raw file bytes (every reported record offset must
point at the record's type byte / the ``<`` of its XML start tag).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import corpus_files

from nd2kit import cli
from nd2kit.check.inspection import chunk_kind, inspect_chunk, inspect_file
from nd2kit.codecs import container
from nd2kit.codecs import lite_variant as lv

ND2KIT = Path(sys.executable).with_name("nd2kit")
REAL = corpus_files("real")
SYNTH = corpus_files("synthetic")
ALL = REAL + SYNTH
MODERN = [p for p in ALL if p.read_bytes()[:4] == b"\xda\xce\xbe\x0a"]
LEGACY = [p for p in ALL if p.read_bytes()[:4] == b"\x00\x00\x00\x0c"]
LV_FILES = [p for p in MODERN if b"ImageAttributesLV!" in p.read_bytes()[-65536:]]

TOP_KEYS = {
    "path",
    "size",
    "format",
    "version",
    "version_string",
    "map_offset",
    "map_entries",
    "chunks",
    "boxes",
    "problems",
    "complete",
    "summary",
}
ROW_KEYS = {
    "name",
    "offset",
    "kind",
    "source",
    "index",
    "size",
    "name_len",
    "data_offset",
    "data_len",
    "problem",
}
DETAIL_KEYS = {
    "name",
    "kind",
    "offset",
    "name_len",
    "data_offset",
    "data_len",
    "info",
    "records",
    "hexdump",
    "truncated",
    "problems",
    "complete",
}
RECORD_KEYS = {
    "depth",
    "path",
    "name",
    "type",
    "type_code",
    "value",
    "text",
    "offset",
    "inflated_offset",
}


def ids(paths: list[Path]) -> list[str]:
    return [p.name[-40:] for p in paths]


def run(*args: str | Path) -> subprocess.CompletedProcess:
    assert ND2KIT.exists(), f"console script missing at {ND2KIT}"
    return subprocess.run(
        [str(ND2KIT), *map(str, args)], capture_output=True, text=True, timeout=300
    )


def patch(b: bytes, off: int, new: bytes) -> bytes:
    out = bytearray(b)
    out[off : off + len(new)] = new
    return bytes(out)


def nd2_chunkmap(path: Path) -> dict:
    import nd2

    with nd2.ND2File(path) as f:
        return dict(f._rdr.chunkmap)


def spec_v3() -> Path:
    p = [f for f in SYNTH if f.name == "spec_v3.nd2"]
    if not p:
        pytest.skip("corpus not available")
    return p[0]


# ----------------------------------------------------------------------------- chunk table


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids(MODERN))
def test_chunk_table_equals_nd2_chunkmap(path: Path) -> None:
    expected = nd2_chunkmap(path)
    res = inspect_file(path)
    assert res.format == "modern" and res.complete
    mine = {r.name.encode("latin-1"): (r.offset, r.size) for r in res.chunks if r.source == "map"}
    assert mine == expected
    assert len([r for r in res.chunks if r.source == "map"]) == res.map_entries == len(expected)
    # header fields agree with the raw bytes
    b = path.read_bytes()
    for r in res.chunks:
        nl, dl = struct.unpack_from("<IQ", b, r.offset + 4)
        assert (r.name_len, r.data_len, r.data_offset) == (nl, dl, r.offset + 16 + nl)
        assert b[r.offset + 16 : r.offset + 16 + len(r.name)] == r.name.encode("latin-1")
        assert r.problem is None
    assert res.version == (int(chr(b[0x33])), int(chr(b[0x35])))
    # same table through the CLI's JSON
    p = run("inspect", "--json", path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) == TOP_KEYS
    assert all(set(row) == ROW_KEYS for row in doc["chunks"])
    assert {
        r["name"].encode("latin-1"): (r["offset"], r["size"])
        for r in doc["chunks"]
        if r["source"] == "map"
    } == expected
    assert doc["version"] == list(res.version)


@pytest.mark.corpus
@pytest.mark.parametrize("path", LEGACY, ids=ids(LEGACY))
def test_legacy_box_list_equals_nd2_chunkmap(path: Path) -> None:
    expected = nd2_chunkmap(path)
    res = inspect_file(path)
    assert res.format == "legacy" and res.version == (1, 0) and res.complete
    mine: dict[bytes, list[int]] = {}
    for b in res.boxes:
        key = b.box_type if b.box_type in ("jP  ", "ftyp", "jp2h") else b.tag
        mine.setdefault(key.encode("latin-1"), []).append(b.offset)
    assert {k: sorted(v) for k, v in mine.items()} == {k: sorted(v) for k, v in expected.items()}
    raw = path.read_bytes()
    for b in res.boxes:  # lengths from the big-endian box headers
        assert b.length == struct.unpack_from(">I", raw, b.offset)[0]
        assert raw[b.offset + 4 : b.offset + 8] == b.box_type.encode("latin-1")
    p = run("inspect", path)
    assert p.returncode == 0 and "legacy JPEG 2000" in p.stdout and "VCAL" in p.stdout
    p = run("inspect", "--json", "--chunk", "VIMD#1", path)
    det = json.loads(p.stdout)
    vimd = [b.offset for b in res.boxes if b.tag == "VIMD"][1]
    assert det["offset"] == vimd and det["kind"] == "xml" and det["records"]
    for r in det["records"]:
        assert raw[r["offset"] : r["offset"] + 1 + len(r["name"])] == b"<" + r["name"].encode()


@pytest.mark.corpus
@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_json_parses_and_text_lists_every_chunk(path: Path) -> None:
    p = run("inspect", "--json", path)
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    assert doc["size"] == path.stat().st_size and doc["complete"] is True
    t = run("inspect", "--all", path)
    assert t.returncode == 0
    for r in doc["chunks"]:
        assert r["name"] in t.stdout and f"0x{r['offset']:08X}" in t.stdout
    # default: numbered series fold into runs; every other chunk keeps its own row
    d = run("inspect", path)
    assert d.returncode == 0
    for r in doc["chunks"]:
        m = re.match(r"(.*\|)(\d+)!\Z", r["name"])
        if m is None:
            assert r["name"] in d.stdout and f"0x{r['offset']:08X}" in d.stdout
        else:
            assert r["name"] in d.stdout or re.search(
                re.escape(m.group(1)) + r"\d+\.\.\d+!", d.stdout
            ), r["name"]


# ----------------------------------------------------------------------------- one chunk


@pytest.mark.corpus
@pytest.mark.parametrize("path", LV_FILES, ids=ids(LV_FILES))
def test_chunk_records_point_at_type_bytes(path: Path) -> None:
    import nd2

    raw = path.read_bytes()
    p = run("inspect", "--json", "--chunk", "ImageAttributesLV!", path)
    assert p.returncode == 0, p.stderr
    det = json.loads(p.stdout)
    assert set(det) == DETAIL_KEYS and det["kind"] == "lite-variant" and det["complete"]
    recs = det["records"]
    assert recs and all(set(r) >= RECORD_KEYS for r in recs)
    # the payload starts where the raw header says, with the root record
    off = nd2_chunkmap(path)[b"ImageAttributesLV!"][0]
    nl = struct.unpack_from("<I", raw, off + 4)[0]
    assert det["data_offset"] == off + 16 + nl == recs[0]["offset"]
    for r in recs:
        assert raw[r["offset"]] == r["type_code"]
        if r["name"]:
            n = r["name"]
            at = r["offset"] + 2
            assert raw[r["offset"] + 1] == len(n) + 1
            assert raw[at : at + 2 * len(n)] == n.encode("utf-16-le")
    # values agree with nd2's own decoder
    with nd2.ND2File(path) as f:
        ref = f._rdr._decode_chunk(b"ImageAttributesLV!", strip_prefix=False)
    ((root_name, fields),) = ref.items()
    assert recs[0]["name"] == root_name and recs[0]["depth"] == 0
    leaves = {r["name"]: r["value"] for r in recs if r["depth"] == 1}
    assert leaves == fields


@pytest.mark.corpus
def test_chunk_detail_compressed_and_xml() -> None:
    p = [f for f in SYNTH if f.name == "spec_v3_lossless.nd2"]
    if not p:
        pytest.skip("corpus not available")
    raw = p[0].read_bytes()
    det = inspect_chunk(p[0], "ImageTextInfoLV!")
    assert det is not None and det.kind == "lite-variant" and not det.problems
    assert det.records[0]["type"] == "COMPRESS" and raw[det.records[0]["offset"]] == 76
    inner = det.records[1:]
    assert inner and all(r["offset"] is None and r["inflated_offset"] is not None for r in inner)
    tree = lv.decode_lossless(raw[det.data_offset : det.data_offset + det.data_len])
    assert [r["name"] for r in inner] == [r.name for _d, _p, r in lv.iter_records(tree.root.value)]
    v2 = [f for f in SYNTH if f.name == "spec_v2.nd2"][0]
    raw = v2.read_bytes()
    det = inspect_chunk(v2, "ImageAttributes!")
    assert det.kind == "xml" and det.records
    names = [r["name"] for r in det.records]
    assert names[:2] == ["variant", "no_name"] and "uiSequenceCount" in names
    for r in det.records:
        assert raw[r["offset"] : r["offset"] + 1 + len(r["name"])] == b"<" + r["name"].encode()
    seq = next(r for r in det.records if r["name"] == "uiSequenceCount")
    assert seq["value"] == "4" and seq["type"] == "lx_uint32"


@pytest.mark.corpus
def test_chunk_hexdump_for_raw_chunks() -> None:
    path = spec_v3()
    raw = path.read_bytes()
    for name in (
        "ImageDataSeq|1!",
        "CustomData|AcqTimesCache!",
        "CustomDataSeq|RleZipBinarySequence_1_v1|0!",
    ):
        p = run("inspect", "--json", "--chunk", name, "--bytes", "20", path)
        assert p.returncode == 0, p.stderr
        det = json.loads(p.stdout)
        start = det["data_offset"]
        dumped = bytes.fromhex("".join(row["hex"].replace(" ", "") for row in det["hexdump"]))
        assert dumped == raw[start : start + 20]
        assert det["truncated"] is (det["data_len"] > 20)
        assert [row["offset"] for row in det["hexdump"]] == [start, start + 16]
    frame = inspect_chunk(path, "ImageDataSeq|1!", max_bytes=None)
    assert frame.kind == "frame" and frame.info["index"] == 1
    assert frame.info["timestamp"] == struct.unpack_from("<d", raw, frame.data_offset)[0]
    assert frame.info["pixels_offset"] == frame.offset + 4096
    assert len(frame.hexdump) == -(-frame.data_len // 16) and not frame.truncated
    det = inspect_chunk(path, "CustomDataSeq|RleZipBinarySequence_1_v1|0!")
    import nd2
    import numpy as np

    with nd2.ND2File(path) as f:  # oracle: nd2's decoding of the same mask
        ref = np.asarray(f.binary_data[0].data[0])
    assert det.kind == "rle-mask"
    assert (det.info["mask"]["height"], det.info["mask"]["width"]) == ref.shape
    assert det.info["mask"]["object_ids"] == sorted(set(ref.ravel().tolist()) - {0})
    t = run("inspect", "--chunk", "ImageDataSeq|1!", path)
    assert "timestamp" in t.stdout and f"0x{frame.offset + 4088:08X}" in t.stdout
    t = run("inspect", "--chunk", "NoSuchChunk!", path)
    assert t.returncode == 1 and "no chunk named" in t.stderr


def test_kinds() -> None:
    assert chunk_kind("ND2 FILE SIGNATURE CHUNK NAME01!") == "signature"
    assert chunk_kind("ND2 FILEMAP SIGNATURE NAME 0001!") == "map"
    assert chunk_kind("ImageDataSeq|12!") == "frame"
    assert chunk_kind("ImageMetadataSeqLV|0!", b"garbage") == "lite-variant"  # by name
    assert chunk_kind("CustomDataSeq|RleZipBinarySequence_1_v1|3!") == "rle-mask"
    assert chunk_kind("CustomDataVar|AppInfo_V1_0!", b'<?xml version="1.0"?>') == "xml"
    assert chunk_kind("CustomData|AuthenticationV01!", "<CLx".encode("utf-16-le")) == "binary"
    lvb = lv.encode(lv.from_python("GUID", {"a": 1}))
    assert chunk_kind("CustomData|GUIDStore!", lvb, len(lvb)) == "lite-variant"
    # a damaged LEVEL header is still recognised by its name text ...
    assert chunk_kind("CustomData|GUIDStore!", lvb[:14] + b"\xff" * 12, len(lvb)) == "lite-variant"
    # ... but binary data starting with 0x0B is not
    assert (
        chunk_kind("CustomData|X!", bytes([11, 3]) + struct.pack("<3d", 1.0, 2.0, 3.0)) == "binary"
    )
    assert (
        chunk_kind("CustomData|RoiMetadata_v1!", b"\xff\xff", 2) == "lite-variant"
    )  # named in the chunk catalogue (docs/format.md#nd2_container.chunk_map_entry)
    z = b"\x4c" + bytes(11)
    assert chunk_kind("CustomData|Y!", z + b"\x78\x9c" + bytes(8)) == "lite-variant"
    assert chunk_kind("CustomData|Y!", z + b"\x78\x00" + bytes(8)) == "binary"
    assert chunk_kind("CustomData|AcqTimesCache!", struct.pack("<d", 1.5)) == "binary"


# ----------------------------------------------------------------------------- damaged files


@pytest.mark.corpus
def test_damaged_trailer_says_where_it_stopped(tmp_path: Path) -> None:
    b = spec_v3().read_bytes()
    p = tmp_path / "trailer.nd2"
    p.write_bytes(patch(b, len(b) - 40, b"garbage!"))
    at = len(b) - 40
    t = run("inspect", p)
    assert t.returncode == 0
    assert "version 3.0" in t.stdout and "ND2 FILE SIGNATURE CHUNK NAME01!" in t.stdout
    assert "chunk map could not be read" in t.stdout and f"0x{at:08X}" in t.stdout
    doc = json.loads(run("inspect", "--json", p).stdout)
    assert doc["complete"] is False and doc["version"] == [3, 0] and doc["map_offset"] is None
    assert doc["problems"][0]["offset"] == at
    # the chunks are still listed (found by scanning) at the offsets the intact map gives
    good = {r.name: r.offset for r in inspect_file(spec_v3()).chunks}
    scanned = {r["name"]: r["offset"] for r in doc["chunks"]}
    assert scanned == good
    assert {r["source"] for r in doc["chunks"]} == {"signature", "scan"}


@pytest.mark.corpus
def test_truncated_file_says_where_it_stopped(tmp_path: Path) -> None:
    b = spec_v3().read_bytes()
    mo, cm = container.read_chunk_map(b)
    info = container.read_chunk(b, cm["ImageTextInfoLV!"].offset)
    cut = info.data_offset + 100
    p = tmp_path / "cut.nd2"
    p.write_bytes(b[:cut])
    res = inspect_file(p)
    assert not res.complete
    stop = [x for x in res.problems if x.chunk == "ImageTextInfoLV!"]
    assert stop and stop[0].offset == cut and "truncated" in stop[0].message
    rows = {r.name: r for r in res.chunks}
    assert rows["ImageTextInfoLV!"].problem and "past the end" in rows["ImageTextInfoLV!"].problem
    assert "CustomData|AcqTimesCache!" not in rows  # after the cut
    assert rows["ImageMetadataSeqLV|0!"].problem is None
    # decoding the cut chunk shows what could be read and where it stopped
    det = inspect_chunk(p, "ImageTextInfoLV!")
    assert det.records and det.records[0]["name"] == "SLxImageTextInfo"
    assert any(x.offset == cut for x in det.problems)
    raw = p.read_bytes()
    for r in det.records:
        assert raw[r["offset"]] == r["type_code"]
    t = run("inspect", "--chunk", "ImageTextInfoLV!", p)
    assert t.returncode == 0 and "decoding stopped" in t.stdout


@pytest.mark.corpus
def test_map_entry_outside_file_is_listed_and_flagged(tmp_path: Path) -> None:
    b = spec_v3().read_bytes()
    mo, cm = container.read_chunk_map(b)
    i = cm.names.index("ImageMetadataLV!")
    field = int(cm.entry_positions()[i]) + len("ImageMetadataLV!")
    p = tmp_path / "oor.nd2"
    p.write_bytes(patch(b, field, struct.pack("<Q", len(b) + 4096)))
    doc = json.loads(run("inspect", "--json", p).stdout)
    row = [r for r in doc["chunks"] if r["name"] == "ImageMetadataLV!"][0]
    assert row["offset"] == len(b) + 4096 and "outside the file" in row["problem"]
    assert row["data_len"] is None
    assert any(x["offset"] == field for x in doc["problems"])
    others = [r for r in doc["chunks"] if r["name"] != "ImageMetadataLV!"]
    assert all(r["problem"] is None for r in others)


def test_not_an_nd2_file(tmp_path: Path) -> None:
    p = tmp_path / "x.nd2"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    t = run("inspect", p)
    assert t.returncode == 2 and "not an ND2 file" in t.stdout
    assert run("inspect", tmp_path / "missing.nd2").returncode == 2
    assert inspect_file(b"").format == "unknown"


# ----------------------------------------------------------------------------- registry


def test_subcommand_registry() -> None:
    assert {"inspect", "validate"} <= set(cli.subcommands())
    seen: list[argparse.Namespace] = []

    def configure(p: argparse.ArgumentParser) -> None:
        p.add_argument("--answer", type=int, default=0)

    def run_it(args: argparse.Namespace) -> int:
        seen.append(args)
        return args.answer

    try:
        cli.add_subcommand("zz-test", "a test subcommand", configure, run_it)
        with pytest.raises(ValueError):
            cli.add_subcommand("zz-test", "again", configure, lambda a: 0)
        assert cli.main(["zz-test", "--answer", "7"]) == 7
        assert seen and seen[0].answer == 7
    finally:
        cli._REGISTRY.pop("zz-test", None)
    assert "zz-test" not in cli.subcommands()
    assert cli.main([]) == 2  # no subcommand: usage


def test_cli_help_lists_builtins() -> None:
    t = run("--help")
    assert t.returncode == 0 and "inspect" in t.stdout and "validate" in t.stdout


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=ids(MODERN))
def test_every_metadata_chunk_record_offset(path: Path) -> None:
    """Every LiteVariant record points at its type byte, every XML record at its tag."""
    raw = path.read_bytes()
    res = inspect_file(path)
    n_lv = n_xml = 0
    for row in res.chunks:
        if row.kind not in ("lite-variant", "xml"):
            continue
        det = inspect_chunk(path, row.name)
        assert det is not None and not det.problems, (row.name, det.problems)
        payload = raw[det.data_offset : det.data_offset + det.data_len]
        if row.kind == "lite-variant":
            n_lv += 1
            tree = lv.decode_lossless(payload)
            assert len(det.records) == sum(1 for _ in lv.iter_records(tree.root))
            for r in det.records:
                if r["offset"] is not None:
                    assert raw[r["offset"]] == r["type_code"], (row.name, r)
                else:  # inside a compressed block
                    assert r["inflated_offset"] is not None
        else:
            n_xml += 1
            for r in det.records:
                tag = b"<" + r["name"].encode()
                assert raw[r["offset"] : r["offset"] + len(tag)] == tag, (row.name, r)
    assert n_lv + n_xml > 0
