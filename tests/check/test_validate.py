"""``nd2kit validate`` and :func:`nd2kit.check.validate.validate_file`.

Oracles: the corpus (every file must validate clean), nd2 0.12 (frame counts,
pixels of a file whose frame chunk breaks the name_len rule), and byte positions
found in the test by walking the raw bytes independently of nd2kit's codecs. Each
corrupted copy is checked for the chunk name *and* the exact byte offset that was
changed.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_files

from nd2kit.check.validate import Finding, ValidationReport, validate_file
from nd2kit.codecs import container
from nd2kit.codecs import lite_variant as lv


def walk_lite_variant(data: bytes, base: int = 0) -> tuple[list[tuple], list[Finding]]:
    """The LiteVariant checker's records and findings in the validator's shape."""
    found, visits = lv.walk(data, base=base)
    spec = [Finding(f.severity, None, f.offset, f"lite_variant.ksy:{f.field}", f.message) for f in found]
    return [tuple(v) for v in visits], spec

ND2KIT = Path(sys.executable).with_name("nd2kit")
REAL = corpus_files("real")
SYNTH = corpus_files("synthetic")
ALL = REAL + SYNTH
CORPUS_LV = [f.with_name("lv_sample.bin") for f in SYNTH[:1]]


def ids(paths: list[Path]) -> list[str]:
    return [p.name[-40:] for p in paths]


# ----------------------------------------------------------------------------- raw-byte oracles


def raw_map(b: bytes) -> list[tuple[str, int, int, int]]:
    """Chunk map entries ``(name, entry_pos, offset, size)`` by walking the bytes."""
    assert b[-40:-8] == b"ND2 CHUNK MAP SIGNATURE 0000001!"
    mo = struct.unpack_from("<Q", b, len(b) - 8)[0]
    name_len, data_len = struct.unpack_from("<IQ", b, mo + 4)
    p = mo + 16 + name_len
    out = []
    while True:
        bang = b.index(b"!", p)
        name = b[p : bang + 1].decode("ascii")
        if name == "ND2 CHUNK MAP SIGNATURE 0000001!":
            return out
        off, size = struct.unpack_from("<QQ", b, bang + 1)
        out.append((name, p, off, size))
        p = bang + 17


def chunk_pos(b: bytes, name: str) -> tuple[int, int, int]:
    """``(chunk offset, data offset, data_len)`` of `name` from the raw map and header."""
    off = [e[2] for e in raw_map(b) if e[0] == name][-1]
    assert b[off : off + 4] == b"\xda\xce\xbe\x0a"
    nl, dl = struct.unpack_from("<IQ", b, off + 4)
    return off, off + 16 + nl, dl


def lv_record_at(payload: bytes, name: str) -> int:
    """Offset (in `payload`) of the type byte of the LiteVariant record called `name`."""
    pat = bytes([len(name) + 1]) + name.encode("utf-16-le") + b"\0\0"
    k = payload.find(pat)
    assert k > 0 and payload.find(pat, k + 1) < 0, name
    return k - 1


def patch(b: bytes, off: int, new: bytes) -> bytes:
    out = bytearray(b)
    out[off : off + len(new)] = new
    return bytes(out)


def build_v3(
    n: int = 3, w: int = 3, h: int = 2, frame_part1: dict[int, int] | None = None
) -> tuple[bytes, list[np.ndarray]]:
    """A small valid v3 file written with ``container.build_file`` (u8 mono, n frames)."""
    wb = (w + 3) // 4 * 4
    attrs = lv.encode(
        lv.from_python(
            "SLxImageAttributes",
            {
                "uiWidth": w,
                "uiWidthBytes": wb,
                "uiHeight": h,
                "uiComp": 1,
                "uiBpcInMemory": 8,
                "uiBpcSignificant": 8,
                "uiSequenceCount": n,
                "eCompression": 2,
                "ePixelType": 1,
            },
        )
    )
    meta = lv.encode(
        lv.from_python(
            "SLxPictureMetadata",
            {
                "bCalibrated": False,
                "dCalibration": 1.0,
                "sPicturePlanes": {
                    "uiCount": 1,
                    "uiCompCount": 1,
                    "sPlaneNew": {
                        "a0": {
                            "uiCompCount": 1,
                            "sDescription": "Mono",
                            "uiColor": 16777215,
                            "pFluorescentProbe": {"m_sName": "probe"},
                        }
                    },
                },
            },
        )
    )
    text = lv.encode(
        lv.from_python(
            "SLxImageTextInfo",
            {"TextInfoItem_5": "built by the tests", "TextInfoItem_13": "objective"},
        )
    )
    chunks: list = [
        ("ImageAttributesLV!", attrs),
        ("ImageMetadataSeqLV|0!", meta),
        ("ImageTextInfoLV!", text),
    ]
    pix = []
    for i in range(n):
        img = (np.arange(h * w, dtype=np.uint8).reshape(h, w) + 10 * i).astype(np.uint8)
        rows = np.zeros((h, wb), np.uint8)
        rows[:, :w] = img
        pix.append(img)
        part1 = (frame_part1 or {}).get(i, 8)
        chunks.append((f"ImageDataSeq|{i}!", struct.pack("<d", float(i)) + rows.tobytes(), part1))
    chunks.append(("CustomData|AcqTimesCache!", np.arange(n, dtype="<f8").tobytes()))
    return container.build_file(chunks), pix


def errors_at(rep: ValidationReport, chunk: str | None, offset: int | None) -> list[Finding]:
    return [f for f in rep.errors if f.chunk == chunk and f.offset == offset]


def assert_error(
    rep: ValidationReport, chunk: str | None, offset: int | None, spec: str | None = None
) -> Finding:
    assert rep.exit_code == 1, [str(f) for f in rep.findings]
    hits = errors_at(rep, chunk, offset)
    assert hits, f"no error for {chunk!r} at {offset}: " + "; ".join(str(f) for f in rep.findings)
    if spec is not None:
        assert any(f.spec == spec for f in hits), [str(f) for f in hits]
    return hits[0]


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    assert ND2KIT.exists(), f"console script missing at {ND2KIT}"
    return subprocess.run(
        [str(ND2KIT), *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def spec_v3() -> bytes:
    p = [f for f in SYNTH if f.name == "spec_v3.nd2"]
    if not p:
        pytest.skip("corpus not available")
    return p[0].read_bytes()


@pytest.fixture(scope="module")
def real_file() -> Path:
    if not REAL:
        pytest.skip("corpus not available")
    return REAL[0]


# ----------------------------------------------------------------------------- clean corpus


@pytest.mark.corpus
@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_corpus_file_validates_clean(path: Path) -> None:
    import nd2

    rep = validate_file(path, roundtrip=True)
    assert rep.readable and rep.exit_code == 0, [str(f) for f in rep.errors]
    assert rep.errors == []
    assert rep.ok
    # the report really looked at the file: compare what it counted with nd2 0.12
    with nd2.ND2File(path) as f:
        seq = f.attributes.sequenceCount
        cmap = f._rdr.chunkmap
    assert rep.checked["frames"] == seq
    if rep.format == "modern":
        assert rep.version and rep.version[0] in (2, 3)
        assert rep.checked["map_entries"] == len(cmap)
        # every LiteVariant chunk and the map were re-encoded
        assert rep.checked["roundtrip_chunks"] == rep.checked.get("kind:lite-variant", 0) + 1
        assert rep.checked.get("kind:lite-variant", 0) >= (2 if rep.version[0] >= 3 else 0)
    else:
        assert rep.version == (1, 0)
        assert rep.checked["map_entries"] == sum(len(v) for v in cmap.values())


@pytest.mark.corpus
@pytest.mark.parametrize("kind", ["real", "synthetic"])
def test_corpus_validates_clean_via_cli(kind: str) -> None:
    files = corpus_files(kind)
    if not files:
        pytest.skip("corpus not available")
    r = cli("validate", "--roundtrip", "--json", *files)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["exit_code"] == 0
    assert [Path(f["path"]).name for f in doc["files"]] == [p.name for p in files]
    for f in doc["files"]:
        assert f["exit_code"] == 0 and f["errors"] == 0
        assert all(x["severity"] in ("warning", "info") for x in f["findings"])
        if kind == "real":  # what NIS writes in every file is a note, never a warning
            assert f["warnings"] == 0 and all(x["severity"] == "info" for x in f["findings"])
        assert f["roundtrip"] is True
    # text mode too
    r = cli("validate", "--roundtrip", *files)
    assert r.returncode == 0, r.stdout[-3000:]
    assert r.stdout.count(": OK (") == len(files)


def test_built_file_is_valid_and_readable_by_nd2(tmp_path: Path) -> None:
    import nd2

    b, pix = build_v3()
    rep = validate_file(b, roundtrip=True)
    assert rep.exit_code == 0, [str(f) for f in rep.findings]
    assert rep.findings == []
    p = tmp_path / "built.nd2"
    p.write_bytes(b)
    with nd2.ND2File(p) as f:
        assert f.attributes.sequenceCount == 3
        for i, img in enumerate(pix):
            assert np.array_equal(np.asarray(f.read_frame(i)).squeeze(), img)


# ----------------------------------------------------------------------------- corruptions


def _sources(spec_v3: bytes) -> dict[str, bytes]:
    return {"corpus": spec_v3, "built": build_v3()[0]}


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built", "real"])
def test_bad_chunk_magic_in_metadata_chunk(src: str, spec_v3: bytes, real_file: Path) -> None:
    b = real_file.read_bytes() if src == "real" else _sources(spec_v3)[src]
    off, _, _ = chunk_pos(b, "ImageAttributesLV!")
    rep = validate_file(patch(b, off + 1, b"\x00"))
    assert_error(rep, "ImageAttributesLV!", off, "nd2_container.ksy:chunk_header.magic")


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built"])
def test_map_entry_offset_out_of_range(src: str, spec_v3: bytes) -> None:
    b = _sources(spec_v3)[src]
    name, entry, _off, _ = [e for e in raw_map(b) if e[0] == "ImageMetadataSeqLV|0!"][0]
    field = entry + len(name)
    rep = validate_file(patch(b, field, struct.pack("<Q", len(b) + 8192)))
    f = assert_error(rep, name, field, "nd2_container.ksy:chunk_map_entry.offset")
    assert "outside the file" in f.message


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built"])
def test_truncated_file(src: str, spec_v3: bytes, tmp_path: Path) -> None:
    b = _sources(spec_v3)[src]
    _, data, dl = chunk_pos(b, "ImageMetadataSeqLV|0!")
    cut = data + dl // 2
    rep = validate_file(b[:cut])
    assert_error(rep, "ImageMetadataSeqLV|0!", cut, "nd2_container.ksy:chunk.data")
    assert_error(rep, "<trailer>", cut - 40, "nd2_container.ksy:map_trailer.signature")
    p = tmp_path / "cut.nd2"
    p.write_bytes(b[:cut])
    r = cli("validate", "--json", p)
    assert r.returncode == 1
    found = json.loads(r.stdout)["files"][0]["findings"]
    assert any(x["chunk"] == "ImageMetadataSeqLV|0!" and x["offset"] == cut for x in found)


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built"])
def test_garbage_trailer(src: str, spec_v3: bytes) -> None:
    b = _sources(spec_v3)[src]
    at = len(b) - 40
    rep = validate_file(patch(b, at, b"GARBAGE!"))
    assert_error(rep, "<trailer>", at, "nd2_container.ksy:map_trailer.signature")
    # the map chunk itself is intact: the scan finds it and says so
    assert errors_at(
        rep, "ND2 FILEMAP SIGNATURE NAME 0001!", struct.unpack_from("<Q", b, len(b) - 8)[0]
    )


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built", "real"])
@pytest.mark.parametrize("delta", [+1, -1])
def test_level_length_off_by_one(src: str, delta: int, spec_v3: bytes, real_file: Path) -> None:
    b = real_file.read_bytes() if src == "real" else _sources(spec_v3)[src]
    _, data, _ = chunk_pos(b, "ImageAttributesLV!")
    nl = b[data + 1]
    assert b[data] == 11
    length_at = data + 2 + 2 * nl + 4  # type, name_len, name, item_count
    length = struct.unpack_from("<Q", b, length_at)[0]
    rep = validate_file(patch(b, length_at, struct.pack("<Q", length + delta)))
    f = assert_error(rep, "ImageAttributesLV!", length_at, "lite_variant.ksy:level.length")
    assert f"should be {length}" in f.message


@pytest.mark.corpus
def test_nested_level_length_off_by_one(spec_v3: bytes) -> None:
    _, data, dl = chunk_pos(spec_v3, "ImageMetadataSeqLV|0!")
    payload = spec_v3[data : data + dl]
    rec = lv_record_at(payload, "sPicturePlanes")
    assert payload[rec] == 11
    length_at = data + rec + 2 + 2 * payload[rec + 1] + 4
    length = struct.unpack_from("<Q", spec_v3, length_at)[0]
    rep = validate_file(patch(spec_v3, length_at, struct.pack("<Q", length + 1)))
    assert_error(rep, "ImageMetadataSeqLV|0!", length_at, "lite_variant.ksy:level.length")
    # the walker resynchronised: nothing else in that chunk is blamed (the walker's findings
    # name a field; the two parsers' rejections name only the spec file)
    assert {f.offset for f in rep.errors if f.spec.startswith("lite_variant.ksy:")} == {length_at}


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built", "real"])
@pytest.mark.parametrize("code", [0, 7, 10, 99])
def test_wrong_type_code(src: str, code: int, spec_v3: bytes, real_file: Path) -> None:
    b = real_file.read_bytes() if src == "real" else _sources(spec_v3)[src]
    _, data, dl = chunk_pos(b, "ImageAttributesLV!")
    at = data + lv_record_at(b[data : data + dl], "uiComp")
    rep = validate_file(patch(b, at, bytes([code])))
    f = assert_error(rep, "ImageAttributesLV!", at, "lite_variant.ksy:record.type")
    assert str(code) in f.message
    # the frames check still saw the other attributes (the walker isolated the record)
    assert not [x for x in rep.errors if x.spec.startswith("docs/format.md#nd2_container.image_frame")]


@pytest.mark.corpus
@pytest.mark.parametrize(
    "src,chunk,field",
    [
        ("corpus", "ImageTextInfoLV!", "TextInfoItem_5"),  # middle of a LEVEL
        ("corpus", "ImageTextInfoLV!", "TextInfoItem_13"),  # last child
        ("corpus", "ImageMetadataSeqLV|0!", "sDescription"),  # nested (first plane)
        ("built", "ImageTextInfoLV!", "TextInfoItem_5"),
        ("real", "ImageTextInfoLV!", "TextInfoItem_6"),
    ],
)
def test_string_without_terminator(src: str, chunk: str, field: str, spec_v3: bytes) -> None:
    if src == "real":
        b = next(p for p in REAL if "dims_rgb" in p.name).read_bytes()
    else:
        b = _sources(spec_v3)[src]
    _, data, dl = chunk_pos(b, chunk)
    payload = b[data : data + dl]
    pat = bytes([len(field) + 1]) + field.encode("utf-16-le") + b"\0\0"
    rec = payload.find(pat) - 1
    assert payload[rec] == 8
    q = rec + 2 + 2 * payload[rec + 1]
    k = q
    while payload[k : k + 2] != b"\0\0":
        k += 2
    assert k > q  # a non-empty string
    term = data + k
    rep = validate_file(patch(b, term, "Z".encode("utf-16-le")))
    f = assert_error(rep, chunk, term, "lite_variant.ksy:string_value.value")
    assert "terminator" in f.message


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built"])
def test_duplicate_map_name(src: str, spec_v3: bytes) -> None:
    b = _sources(spec_v3)[src]
    entries = raw_map(b)
    name, entry, _, _ = [e for e in entries if e[0] == "ImageDataSeq|1!"][0]
    other = [e for e in entries if e[0] == "ImageDataSeq|0!"][0]
    rep = validate_file(patch(b, entry, b"ImageDataSeq|0!"))
    assert_error(rep, "ImageDataSeq|0!", entry, "nd2_container.ksy:chunk_map_entry.name")
    assert_error(rep, "ImageDataSeq|0!", other[1], "nd2_container.ksy:chunk_map_entry.name")


@pytest.mark.corpus
@pytest.mark.parametrize("src", ["corpus", "built"])
@pytest.mark.parametrize("delta", [+1, -1])
def test_sequence_count_mismatch(src: str, delta: int, spec_v3: bytes) -> None:
    b = _sources(spec_v3)[src]
    _, data, dl = chunk_pos(b, "ImageAttributesLV!")
    payload = b[data : data + dl]
    rec = lv_record_at(payload, "uiSequenceCount")
    value_at = data + rec + 2 + 2 * payload[rec + 1]
    (n,) = struct.unpack_from("<I", b, value_at)
    assert n == sum(1 for e in raw_map(b) if e[0].startswith("ImageDataSeq|"))
    rep = validate_file(patch(b, value_at, struct.pack("<I", n + delta)))
    f = assert_error(rep, "ImageAttributesLV!", value_at, "docs/format.md#nd2_container.image_frame")
    assert f"uiSequenceCount is {n + delta}" in f.message


@pytest.mark.corpus
def test_sequence_count_mismatch_xml_v2() -> None:
    p = [f for f in SYNTH if f.name == "spec_v2.nd2"]
    if not p:
        pytest.skip("corpus not available")
    b = p[0].read_bytes()
    _, data, dl = chunk_pos(b, "ImageAttributes!")
    payload = b[data : data + dl]
    el = payload.index(b"<uiSequenceCount ")
    val = payload.index(b'value="4"', el) + len(b'value="')
    rep = validate_file(patch(b, data + val, b"7"))
    assert_error(rep, "ImageAttributes!", data + el, "docs/format.md#nd2_container.image_frame")
    # and a broken XML document is located where the parser stopped
    rep = validate_file(patch(b, data + el + 1, b"<"))
    assert_error(rep, "ImageAttributes!", data + el + 1, "docs/format.md#xml_variant")


def test_frame_name_len_not_4072(tmp_path: Path) -> None:
    import nd2

    b, pix = build_v3(frame_part1={1: 0})  # no padding before the timestamp
    off, _, _ = chunk_pos(b, "ImageDataSeq|1!")
    assert struct.unpack_from("<I", b, off + 4)[0] == len("ImageDataSeq|1!")
    rep = validate_file(b)
    f = assert_error(rep, "ImageDataSeq|1!", off + 4, "nd2_container.ksy:chunk_header.name_len")
    assert "4072" in f.message
    assert len(rep.errors) == 1
    # oracle: nd2 0.12 really misreads that frame (and only that one)
    p = tmp_path / "nl.nd2"
    p.write_bytes(b)
    with nd2.ND2File(p) as nf:
        same = [np.array_equal(np.asarray(nf.read_frame(i)).squeeze(), pix[i]) for i in range(3)]
    assert same == [True, False, True]


@pytest.mark.corpus
def test_frame_name_len_in_rebuilt_corpus_file(spec_v3: bytes) -> None:
    entries = sorted(raw_map(spec_v3), key=lambda e: e[2])
    chunks: list = []
    for name, _, _off, _ in entries:
        _, data, dl = chunk_pos(spec_v3, name)
        payload = spec_v3[data : data + dl]
        if name.startswith("ImageDataSeq|"):
            chunks.append((name, payload, 0 if name == "ImageDataSeq|2!" else 8))
        else:
            chunks.append((name, payload))
    b = container.build_file(chunks)
    off, _, _ = chunk_pos(b, "ImageDataSeq|2!")
    rep = validate_file(b)
    assert_error(rep, "ImageDataSeq|2!", off + 4, "nd2_container.ksy:chunk_header.name_len")
    assert [f.chunk for f in rep.errors] == ["ImageDataSeq|2!"]


def test_row_stride_and_frame_size() -> None:
    b, _ = build_v3(w=6)  # stride 8
    _, data, dl = chunk_pos(b, "ImageAttributesLV!")
    payload = b[data : data + dl]
    rec = lv_record_at(payload, "uiWidthBytes")
    value_at = data + rec + 2 + 2 * payload[rec + 1]
    assert struct.unpack_from("<i", b, value_at)[0] == 8
    rep = validate_file(patch(b, value_at, struct.pack("<i", 4)))
    f = assert_error(rep, "ImageAttributesLV!", value_at, "docs/format.md#nd2_container.image_frame.pixels")
    assert "uiWidthBytes 4" in f.message
    # and every frame's data_len (8 + 2 x 8) no longer matches 8 + 2 x 4
    for i in range(3):
        off, _, _ = chunk_pos(b, f"ImageDataSeq|{i}!")
        assert_error(rep, f"ImageDataSeq|{i}!", off + 8, "nd2_container.ksy:chunk_header.data_len")


def test_map_size_and_name_mismatch() -> None:
    b, _ = build_v3()
    name, entry, off, size = [e for e in raw_map(b) if e[0] == "ImageTextInfoLV!"][0]
    size_field = entry + len(name) + 8
    rep = validate_file(patch(b, size_field, struct.pack("<Q", size + 1)))
    assert_error(rep, name, size_field, "nd2_container.ksy:chunk_map_entry.size")
    rep = validate_file(patch(b, off + 16, b"X"))
    assert_error(rep, name, off + 16, "nd2_container.ksy:chunk.name")


def test_not_an_nd2_file(tmp_path: Path) -> None:
    rep = validate_file(b"PK\x03\x04 this is a zip file" * 10)
    assert not rep.readable and rep.exit_code == 2
    assert rep.findings[0].offset == 0
    assert validate_file(b"").exit_code == 2
    assert validate_file(tmp_path / "missing.nd2").exit_code == 2
    txt = tmp_path / "notes.nd2"
    txt.write_text("hello world\n")
    r = cli("validate", txt)
    assert r.returncode == 2 and "UNREADABLE" in r.stdout
    r = cli("validate", "--json", tmp_path / "missing.nd2")
    assert r.returncode == 2 and json.loads(r.stdout)["files"][0]["readable"] is False
    # the worst exit code wins over several files
    good = tmp_path / "good.nd2"
    good.write_bytes(build_v3()[0])
    bad = tmp_path / "bad.nd2"
    bad.write_bytes(build_v3()[0][:-40])
    assert cli("validate", good).returncode == 0
    assert cli("validate", good, bad).returncode == 1
    assert cli("validate", good, bad, txt).returncode == 2


def test_cli_corruption_report_matches_library(tmp_path: Path) -> None:
    b, _ = build_v3()
    _, data, dl = chunk_pos(b, "ImageAttributesLV!")
    at = data + lv_record_at(b[data : data + dl], "uiHeight")
    p = tmp_path / "t0.nd2"
    p.write_bytes(patch(b, at, b"\x00"))
    r = cli("validate", "--json", p)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1
    rep = doc["files"][0]
    assert set(rep) >= {
        "path",
        "size",
        "format",
        "version",
        "readable",
        "ok",
        "exit_code",
        "errors",
        "warnings",
        "checked",
        "findings",
        "roundtrip",
    }
    lib = validate_file(p)
    assert rep["findings"] == [f.to_dict() for f in lib.findings]
    assert any(
        f["offset"] == at and f["chunk"] == "ImageAttributesLV!" and f["severity"] == "error"
        for f in rep["findings"]
    )
    r = cli("validate", p)
    assert r.returncode == 1 and "INVALID" in r.stdout and f"0x{at:08X}" in r.stdout


def test_roundtrip_reports_first_differing_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    b, _ = build_v3()
    _, data, dl = chunk_pos(b, "ImageTextInfoLV!")
    real_encode = lv.encode

    def lossy(tree, **kw):  # a deliberately broken encoder: flips byte 40 of every chunk
        out = bytearray(real_encode(tree, **kw))
        out[40] ^= 0xFF
        return bytes(out)

    monkeypatch.setattr(lv, "encode", lossy)
    rep = validate_file(b, roundtrip=True)
    assert_error(rep, "ImageTextInfoLV!", data + 40, "lite_variant.ksy")
    assert not errors_at(validate_file(b, roundtrip=False), "ImageTextInfoLV!", data + 40)


# ----------------------------------------------------------------------------- LiteVariant details


def test_walker_on_lv_sample() -> None:
    data = lv.encode(
        lv.from_python(
            "Root",
            {
                "bFlag": True,
                "iVal": -2,
                "wsName": "Hi",
                "baData": b"\x01\x02\x03",
                "pList": [10, 20],
            },
        )
    )
    visited, findings = walk_lite_variant(data, base=1000)
    assert findings == []
    assert [v[3] for v in visited] == ["Root", "bFlag", "iVal", "wsName", "baData", "pList", "", ""]
    for pos, _d, _path, _name, code, _t in visited:
        assert data[pos] == code
    # name without NUL: an error at the last code unit of the name
    bad = patch(data, 2 + 2 * 4, b"X\x00")
    _, findings = walk_lite_variant(bad, base=1000)
    assert any(f.spec == "lite_variant.ksy:record.name" and f.offset == 1000 + 10 for f in findings)


@pytest.mark.corpus
def test_walker_on_lv_sample_bin() -> None:
    p = [f for f in CORPUS_LV if f.exists()]
    if not p:
        pytest.skip("corpus not available")
    data = p[0].read_bytes()
    visited, findings = walk_lite_variant(data, base=0)
    assert findings == []
    tree = lv.decode_lossless(data)
    assert [v[0] for v in visited] == [r.pos for _d, _p, r in lv.iter_records(tree.root)]


def test_item_count_off_by_one() -> None:
    data = lv.encode(lv.from_python("Root", {"a": 1, "b": 2, "c": 3}))
    count_at = 2 + 2 * 5
    for n in (2, 4):
        bad = patch(data, count_at, struct.pack("<I", n))
        _, findings = walk_lite_variant(bad, base=0)
        hits = [f for f in findings if f.severity == "error" and f.offset == count_at]
        assert hits and hits[0].spec == "lite_variant.ksy:level.item_count", [
            str(f) for f in findings
        ]


@pytest.mark.corpus
def test_compressed_record_checked_inside() -> None:
    p = [f for f in SYNTH if f.name == "spec_v3_lossless.nd2"]
    if not p:
        pytest.skip("corpus not available")
    b = p[0].read_bytes()
    _, data, dl = chunk_pos(b, "ImageTextInfoLV!")
    assert b[data] == 76
    assert validate_file(b).ok
    # damage the zlib stream: reported at the stream start
    rep = validate_file(patch(b, data + 12, b"\x00\x00"))
    assert_error(rep, "ImageTextInfoLV!", data + 12, "lite_variant.ksy:compressed.inflated")


@pytest.mark.corpus
def test_legacy_checks() -> None:
    p = [f for f in SYNTH if f.name == "legacy16.nd2"]
    if not p:
        pytest.skip("corpus not available")
    b = p[0].read_bytes()
    assert validate_file(b).ok
    rep = validate_file(patch(b, len(b) - 40, b"X"))
    assert_error(rep, "<trailer>", len(b) - 40, "legacy_jp2.ksy:box_map_trailer.signature")
    dist = struct.unpack_from("<Q", b, len(b) - 8)[0]
    start = len(b) - dist
    (count,) = struct.unpack_from(">I", b, start)
    for i in range(count):
        e = start + 4 + 16 * i
        if b[e + 4 : e + 8] == b"LUNK":
            break
    rep = validate_file(patch(b, e + 8, struct.pack("<Q", len(b) + 1)))
    assert_error(rep, "LUNK", e + 8, "legacy_jp2.ksy:box_map_entry.offset")
    box = struct.unpack_from("<Q", b, e + 8)[0]
    rep = validate_file(patch(b, box + 8, b"\x00"))
    assert_error(rep, "LUNK", box + 8, "docs/format.md#legacy_jp2.box")
