"""Which findings are warnings and which are notes (``info``): what NIS-Elements writes in
every real file is a note, folded into one line per kind with a count; everything no
known writer produces stays a warning at its exact chunk and offset.

Oracles: the real corpus files (all written by NIS-Elements AR or LUCIA G) and the
lossless LiteVariant decoder of ``nd2kit.codecs`` (a different code path from the
validator's structural walk) for where the nameless records are.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import corpus_files

from nd2kit.check.report import WRITER_QUIRKS, Finding, Sink, ValidationReport
from nd2kit.check.validate import validate_file
from nd2kit.codecs import container
from nd2kit.codecs import lite_variant as lv

ND2KIT = Path(sys.executable).with_name("nd2kit")
REAL = corpus_files("real")


def ids(paths: list[Path]) -> list[str]:
    return [p.name[-40:] for p in paths]


def nameless_records(b: bytes) -> dict[str, list[int]]:
    """Per LiteVariant chunk, file offsets of the name_len byte of records with
    name_len 0 outside compressed blocks (from the lossless decoder)."""
    cm = container.read_chunk_map(b)[1]
    out: dict[str, list[int]] = {}
    for name in cm:
        if "LV" not in name:
            continue
        ci = container.read_chunk(b, cm[name].offset)
        tree = lv.decode_lossless(b[ci.data_offset : ci.end], base=ci.data_offset)
        if tree.root.type == lv.LvType.COMPRESS:
            continue
        hits = [
            ci.data_offset + r.pos + 1
            for _d, _p, r in lv.iter_records(tree.root)
            if r.name_raw is not None and len(r.name_raw) == 0 and r.pos is not None
        ]
        if hits:
            out[name] = hits
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("path", REAL, ids=ids(REAL))
def test_real_file_has_no_warnings(path: Path) -> None:
    rep = validate_file(path, roundtrip=True)
    assert rep.errors == [] and rep.warnings == [], [str(f) for f in rep.findings]
    assert rep.exit_code == 0 and rep.ok
    # what NIS writes is still reported, as notes: one per kind
    specs = [f.spec for f in rep.infos]
    assert len(specs) == len(set(specs))
    assert all(f.severity == "info" for f in rep.findings)
    b = path.read_bytes()
    nameless = nameless_records(b)
    note = [f for f in rep.infos if f.spec == "lite_variant.ksy:record.name_len"]
    if nameless:
        assert len(note) == 1
        m = re.match(r"(\d+) chunks?: name field padding as NIS writes it", note[0].message)
        assert m, note[0].message
        assert int(m.group(1)) >= len(nameless)
        # the note points at the first such record of its chunk: the name_len byte itself
        assert note[0].chunk in nameless and note[0].offset == nameless[note[0].chunk][0]
        assert b[note[0].offset] == 0


@pytest.mark.corpus
def test_real_files_cli_counts() -> None:
    assert corpus_files("real") == REAL  # the files are read by the subprocess below
    if not REAL:
        pytest.skip("corpus not available")
    r = subprocess.run(
        [str(ND2KIT), "validate", "--json", *map(str, REAL)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    doc = json.loads(r.stdout)
    for f in doc["files"]:
        assert (f["errors"], f["warnings"]) == (0, 0), f["findings"]
        assert f["infos"] == len(f["findings"]) >= 1
    t = subprocess.run([str(ND2KIT), "validate", *map(str, REAL)], capture_output=True,
                       text=True, timeout=600)
    assert t.stdout.count("0 errors, 0 warnings") == len(REAL)
    assert "info     " in t.stdout and "warning  " not in t.stdout


def test_sink_folds_quirks_and_keeps_other_warnings() -> None:
    rep = ValidationReport(path=None)
    s = Sink(rep)
    s.warning("A!", 10, "lite_variant.ksy:record.name_len",
              "3 records with name_len 0 (an empty name ...)")
    s.warning("B!", 50, "lite_variant.ksy:record.name_len",
              "1 record with name_len 0 (an empty name ...)")
    s.warning("B!", 70, "lite_variant.ksy:level_body.children",
              "duplicate name 'dZLow' in one LEVEL (nd2 keeps the last, limnd2 renames it)")
    s.warning("C!", 90, "lite_variant.ksy:record.value", "BOOL value 2 is not 0 or 1")
    s.error("C!", 99, "lite_variant.ksy:level.length", "broken")
    s.finish()
    assert [f.severity for f in rep.findings] == ["warning", "error", "info", "info"]
    assert rep.findings[0] == Finding("warning", "C!", 90, "lite_variant.ksy:record.value",
                                      "BOOL value 2 is not 0 or 1")
    pad, dup = rep.findings[2], rep.findings[3]
    assert (pad.chunk, pad.offset, pad.spec) == ("A!", 10, WRITER_QUIRKS[0].spec)
    assert pad.message.startswith("2 chunks: name field padding as NIS writes it")
    assert "4 records in A!, B!" in pad.message
    assert (dup.chunk, dup.offset) == ("B!", 70)
    assert dup.message.startswith("1 chunk: duplicate record names") and "1 duplicate in B!" in dup.message
    assert len(rep.errors) == 1 and len(rep.warnings) == 1 and len(rep.infos) == 2
    assert rep.to_dict()["infos"] == 2


def _built() -> bytes:
    attrs = lv.encode(lv.from_python("SLxImageAttributes", {
        "uiWidth": 2, "uiWidthBytes": 4, "uiHeight": 1, "uiComp": 1, "uiBpcInMemory": 8,
        "uiBpcSignificant": 8, "uiSequenceCount": 1, "eCompression": 2, "ePixelType": 1,
    }))
    meta = lv.encode(lv.from_python("SLxPictureMetadata", {"bCalibrated": True,
                                                            "dCalibration": 1.0}))
    frame = struct.pack("<d", 0.0) + bytes(4)
    return container.build_file([
        ("ImageAttributesLV!", attrs), ("ImageMetadataSeqLV|0!", meta),
        ("ImageDataSeq|0!", frame, 8),
    ])


def test_what_no_writer_produces_stays_a_warning_at_its_offset() -> None:
    b = _built()
    assert validate_file(b).findings == []
    cm = container.read_chunk_map(b)[1]
    ci = container.read_chunk(b, cm["ImageMetadataSeqLV|0!"].offset)
    pat = bytes([12]) + "bCalibrated".encode("utf-16-le") + b"\0\0"
    k = b.find(pat, ci.data_offset)
    assert k > 0
    value_at = k + len(pat)
    assert b[value_at] == 1
    bad = bytearray(b)
    bad[value_at] = 2  # a BOOL that is neither 0 nor 1: no known writer does that
    rep = validate_file(bytes(bad))
    hits = [f for f in rep.warnings if f.offset == value_at]
    assert hits and hits[0].chunk == "ImageMetadataSeqLV|0!", [str(f) for f in rep.findings]
    assert hits[0].spec == "lite_variant.ksy:record.value" and rep.infos == []
