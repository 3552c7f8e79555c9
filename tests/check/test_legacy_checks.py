"""Legacy (JPEG 2000) findings at the exact bytes, on files built with ``jp2.build_legacy``.

Positions are computed here with :mod:`struct` from the spec's field order (box map
= u4be count + 16-byte entries ``box_type, tag, u8le offset``; trailer = 32-byte
signature + u8le distance), independently of the codecs helpers the checks use.
"""

from __future__ import annotations

import struct

from nd2kit.check.validate import validate_file
from nd2kit.codecs import jp2


def _file() -> bytes:
    ihdr = struct.pack(">IIHBBBB", 2, 2, 1, 8, 7, 0, 0)
    return jp2.build_legacy([
        jp2.Box("jP  ", b"\r\n\x87\n"),
        jp2.Box("jp2h", children=[jp2.Box("ihdr", ihdr)]),
        jp2.Box("jp2c", b"\xff\x4f\xff\x51rest", tag="LUNK"),
        jp2.Box("xml ", b"<variant/>", tag="VIMD"),
        jp2.Box("uuid", b"cal", tag="VCAL"),
    ])


def _map(b: bytes) -> tuple[int, list[tuple[bytes, bytes, int, int]]]:
    start = len(b) - struct.unpack_from("<Q", b, len(b) - 8)[0]
    (count,) = struct.unpack_from(">I", b, start)
    out = []
    for i in range(count):
        e = start + 4 + 16 * i
        out.append((b[e : e + 4], b[e + 4 : e + 8], struct.unpack_from("<Q", b, e + 8)[0], e))
    return start, out


def _patch(b: bytes, off: int, new: bytes) -> bytes:
    return b[:off] + new + b[off + len(new) :]


def _errors(b: bytes) -> list[tuple[str | None, int | None, str]]:
    return [(f.chunk, f.offset, f.spec) for f in validate_file(b).errors]


def test_built_legacy_file_is_clean() -> None:
    assert validate_file(_file()).ok


def test_signature_box_and_distance() -> None:
    b = _file()
    assert ("jP  ", 0, "legacy_jp2.ksy:box") in _errors(_patch(b, 4, b"jX"))
    bad = _patch(b, len(b) - 8, struct.pack("<Q", len(b) + 1))
    assert ("<trailer>", len(b) - 8, "legacy_jp2.ksy:box_map_trailer.distance") in _errors(bad)


def test_map_entry_fields_and_payload_offsets() -> None:
    b = _file()
    _, entries = _map(b)
    lunk = next(e for e in entries if e[1] == b"LUNK")
    xml = next(e for e in entries if e[1] == b"VIMD")
    # the map names another box type: reported at the entry's box_type field
    errs = _errors(_patch(b, lunk[3], b"xml "))
    assert ("LUNK", lunk[3], "legacy_jp2.ksy:box_map_entry.box_type") in errs
    # a codestream box without the SOC/SIZ markers: at the box payload (after 8 header bytes)
    errs = _errors(_patch(b, lunk[2] + 8, b"\0"))
    assert ("LUNK", lunk[2] + 8, "docs/format.md#legacy_jp2.box") in errs
    # malformed XML: at the payload of the XML box
    errs = _errors(_patch(b, xml[2] + 8, b"x"))
    assert ("VIMD", xml[2] + 8, "docs/format.md#legacy_jp2.box") in errs
