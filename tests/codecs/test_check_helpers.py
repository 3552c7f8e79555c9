"""The small codecs helpers the check tools locate bytes with: header field and trailer
positions, name field, frame pixel offset, version text, numbered names, XML sniffing,
LiteVariant value offsets and the legacy box map / box payload offsets.

Oracles: the bytes as written by the codecs' own writers (``build_file``,
``build_legacy``, ``lv.encode``) and read back with :mod:`struct` at independently
known positions (the spec's field order), not through the helpers under test.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from nd2kit.codecs import container, jp2, names
from nd2kit.codecs import lite_variant as lv
from nd2kit.codecs.xml_variant import looks_like_xml
from nd2kit.errors import CorruptChunkError, Nd2Error


def _file() -> bytes:
    return container.build_file([("ImageDataSeq|0!", struct.pack("<d", 2.5) + bytes(4), 8),
                                 ("CustomData|X!", b"abc")])


def test_header_field_offsets_read_the_header_fields() -> None:
    b = _file()
    cm = container.read_chunk_map(b)[1]
    off = cm["CustomData|X!"].offset
    hf = container.header_field_offsets()
    assert set(hf) == {"magic", "name_len", "data_len", "name"}
    assert b[off + hf["magic"] : off + hf["magic"] + 4] == container.CHUNK_MAGIC_BYTES
    info = container.read_chunk(b, off)
    assert struct.unpack_from("<I", b, off + hf["name_len"])[0] == info.name_len
    assert struct.unpack_from("<Q", b, off + hf["data_len"])[0] == info.data_len == 3
    assert b[off + hf["name"] :].startswith(b"CustomData|X!")
    assert container.header_end(off) == off + hf["name"]
    assert list(container.header_end(np.array([0, 10]))) == [hf["name"], 10 + hf["name"]]


def test_trailer_offset_and_fields() -> None:
    b = _file()
    at = container.trailer_offset(len(b))
    assert b[at:].startswith(container.MAP_SIGNATURE.encode())
    mo = container.trailer_offset(len(b), "map_offset")
    assert struct.unpack_from("<Q", b, mo)[0] == container.read_trailer(b)
    assert container.trailer_offset(len(b), "signature") == at
    with pytest.raises(ValueError):
        container.trailer_offset(len(b), "nope")


def test_name_field_frame_pixels_and_version() -> None:
    b = _file()
    cm = container.read_chunk_map(b)[1]
    info = container.read_chunk(b, cm["ImageDataSeq|0!"].offset)
    raw = container.read_name_field(b, info.offset, info.name_len)
    assert raw.startswith(b"ImageDataSeq|0!") and len(raw) == min(info.name_len, container.NAME_WINDOW)
    assert container.read_name_field(b, info.offset, info.name_len, 5) == b"Image"
    px = container.frame_pixels_offset(info.data_offset)
    assert container.frame_timestamp(b[info.data_offset : px]) == 2.5
    assert b[px : px + 4] == bytes(4)
    assert container.decode_version_field(b"Ver3.0" + bytes(58)) == "Ver3.0"
    assert container.version_string(b) == "Ver3.0"


@pytest.mark.parametrize(("name", "want"), [
    ("ImageDataSeq|12!", ("ImageDataSeq|", 12)),
    ("CustomDataSeq|RleZipBinarySequence_1_v1|0!", ("CustomDataSeq|RleZipBinarySequence_1_v1|", 0)),
    ("ImageMetadataSeqLV|007!", ("ImageMetadataSeqLV|", 7)),
    ("ImageAttributesLV!", None),
    ("Foo|!", None),
    ("Foo|1x!", None),
    ("Foo|1", None),
])
def test_split_sequence(name: str, want: tuple[str, int] | None) -> None:
    assert names.split_sequence(name) == want


@pytest.mark.parametrize(("head", "want"), [
    (b"<?xml", True), (b"<v", True), (b"\xef\xbb\xbf<?xml", True), (b"<\0v\0", False),
    (b"", False), (b"\x0b\x05", False), (b"\xef\xbb\xbfx", False),
])
def test_looks_like_xml(head: bytes, want: bool) -> None:
    assert looks_like_xml(head) is want


def test_value_offset_points_at_the_stored_value() -> None:
    payload = lv.encode(lv.from_python("SLxImageAttributes", {
        "uiWidth": 7, "dZoom": 1.5, "wsName": "ab", "bOn": True}))
    tree = lv.decode_lossless(payload)
    root: Any = tree.root
    got: dict[str, Any] = {c.name: lv.value_offset(payload, c) for c in root.value}
    assert struct.unpack_from("<I", payload, got["uiWidth"])[0] == 7
    assert struct.unpack_from("<d", payload, got["dZoom"])[0] == 1.5
    assert payload[got["wsName"] : got["wsName"] + 4] == "ab".encode("utf-16-le")
    assert payload[got["bOn"]] == 1
    for c in root.value:  # the value follows type byte, name_len byte and the name
        assert got[c.name] == c.pos + 2 + 2 * payload[c.pos + 1]
    assert lv.value_offset(payload, tree.root) is None


def test_legacy_box_map_and_payload_offsets() -> None:
    boxes = [jp2.Box("jP  ", b"\r\n\x87\n"), jp2.Box("xml ", b"<a/>", tag="VIMD")]
    b = jp2.build_legacy(boxes)
    start, bm = jp2.read_box_map(b)
    assert start == jp2.read_legacy(b).map_offset
    assert [(e.box_type, e.tag, e.offset) for e in bm.entries] == [("jP  ", "jP  ", 0), ("xml ", "VIMD", 12)]
    assert jp2.box_payload_offset(b, 12, start) == 20
    assert b[20:24] == b"<a/>"
    bad = bytearray(b)
    struct.pack_into("<Q", bad, len(b) - 8, len(b) + 1)  # distance past the start of the file
    with pytest.raises(CorruptChunkError) as ei:
        jp2.read_box_map(bytes(bad))
    assert ei.value.offset == len(b) - 8
    with pytest.raises(Nd2Error):
        jp2.box_payload_offset(b, 0, 4)


def test_header_field_position() -> None:
    b = _file()
    off = container.read_chunk_map(b)[1]["CustomData|X!"].offset
    assert struct.unpack_from("<Q", b, container.header_field_position(off, "data_len"))[0] == 3
    assert container.header_field_position(off, "name") == container.header_end(off)


def test_legacy_box_map_layout() -> None:
    boxes = [jp2.Box("jP  ", b"\r\n\x87\n"), jp2.Box("xml ", b"<a/>", tag="VIMD")]
    b = jp2.build_legacy(boxes)
    start, bm = jp2.read_box_map(b)
    assert (jp2.BOX_MAP_COUNT_SIZE, jp2.BOX_MAP_ENTRY_SIZE, jp2.LIMND2_BOX_MAP_ENTRY_SIZE) == (4, 16, 12)
    assert struct.unpack_from(">I", b, start)[0] == bm.count == 2
    e = bm.entries[1]
    assert b[jp2.box_map_field_position(e, "box_type") :].startswith(b"xml VIMD")
    assert b[jp2.box_map_field_position(e, "tag") :].startswith(b"VIMD")
    assert struct.unpack_from("<Q", b, jp2.box_map_field_position(e, "offset"))[0] == 12
    assert struct.unpack_from("<Q", b, jp2.trailer_field_position(len(b), "distance"))[0] == \
        jp2.read_box_map_trailer(b) == len(b) - start
    with pytest.raises(Nd2Error):
        jp2.read_box_map_trailer(b[:-1])


def test_file_kind_and_codestream() -> None:
    assert container.file_kind(_file()) == "modern"
    assert container.file_kind(jp2.build_legacy([jp2.Box("jP  ", b"\r\n\x87\n")])) == "legacy"
    assert container.file_kind(b"") is None and container.file_kind(b"\x89PNG") is None
    assert jp2.is_codestream(b"\xff\x4f\xff\x51\x00") and not jp2.is_codestream(b"\xff\x4f\xff")
