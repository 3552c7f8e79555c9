"""Hostile test files for the robustness tests of ``validate`` / ``inspect``.

Built with nd2kit's own encoders (LiteVariant, chunk, chunk map) plus a few raw
layouts the encoders refuse to write on purpose (LiteVariant nested thousands of
levels deep, which the recursive encoder cannot produce; unaligned minimal chunks so
that maps of 100 000+ entries stay small).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from nd2kit.codecs import container, names
from nd2kit.codecs import lite_variant as lv
from nd2kit.codecs.chunk_map import build_chunk_map_body, parse_chunk_map

FILEMAP = names.FILEMAP_NAME


def nested_lv(depth: int, root: str = "SLxImageTextInfo") -> bytes:
    """A LiteVariant payload: `depth` LEVELs each holding the next, the innermost one
    an INT32 ``v = 7``; every length and offset table is consistent."""
    leaf = bytes([int(lv.LvType.INT32), 2]) + "v\0".encode("utf-16-le") + struct.pack("<i", 7)
    inner_name = "a\0".encode("utf-16-le")
    root_name = (root + "\0").encode("utf-16-le")
    heads, tails = [], []
    inner_hdr = 2 + len(inner_name) + 12
    # the level at depth k holds levels k+1..depth-1, the leaf and their offset tables
    for k in range(depth):
        nm = root_name if k == 0 else inner_name
        hdr = 2 + len(nm) + 12
        length = hdr + (depth - 1 - k) * (inner_hdr + 8) + len(leaf)
        heads.append(bytes([int(lv.LvType.LEVEL), len(nm) // 2]) + nm + struct.pack("<IQ", 1, length))
        tails.append(struct.pack("<Q", hdr))
    return b"".join(heads) + leaf + b"".join(reversed(tails))


def chunk_bytes(name: str, payload: bytes, name_len: int | None = None) -> bytes:
    """One chunk without padding: header, name field (`name_len` bytes), payload."""
    nb = name.encode("latin-1")
    nl = len(nb) if name_len is None else name_len
    head = container.CHUNK_MAGIC_BYTES + struct.pack("<IQ", nl, len(payload))
    assert len(head) == container.HEADER_SIZE
    return head + nb + bytes(nl - len(nb)) + payload


def finish(body: bytes, entries: list[tuple[str, int, int]]) -> bytes:
    """`body` (signature and chunks) + a chunk map listing `entries` + the trailer."""
    map_offset = len(body)
    mb = build_chunk_map_body(
        [e[0] for e in entries], [e[1] for e in entries], [e[2] for e in entries], map_offset
    )
    trailer = container.MAP_SIGNATURE.encode() + struct.pack("<Q", map_offset)
    assert len(trailer) == container.TRAILER_SIZE
    return body + chunk_bytes(FILEMAP, mb + trailer)


def split(data: bytes) -> tuple[bytes, list[tuple[str, int, int]]]:
    """The bytes before the chunk map chunk and the map's entries."""
    mo, cm = container.read_chunk_map(data)
    return data[:mo], list(zip(cm.names, cm.offsets.tolist(), cm.sizes.tolist()))


def add_entries(data: bytes, extra: list[tuple[str, int, int]]) -> bytes:
    """`data` with more chunk map entries (e.g. a second entry for a name)."""
    body, entries = split(data)
    return finish(body, entries + extra)


def replace_payload(data: bytes, name: str, payload: bytes) -> bytes:
    """`data` with chunk `name`'s payload replaced (the new chunk appended, the map
    entry moved to it)."""
    body, entries = split(data)
    at = len(body)
    body += chunk_bytes(name, payload)
    return finish(body, [(n, at, len(payload)) if n == name else (n, o, s) for n, o, s in entries])


def payload_of(data: bytes, name: str) -> bytes:
    mo, cm = container.read_chunk_map(data)
    ci = container.read_chunk(data, int(cm.offsets[cm.names.index(name)]))
    return data[ci.data_offset : ci.end]


def attributes(n: int, w: int = 4, h: int = 2, compression: int = 0) -> bytes:
    return lv.encode(
        lv.from_python(
            "SLxImageAttributes",
            {
                "uiWidth": w,
                "uiWidthBytes": w,
                "uiHeight": h,
                "uiComp": 1,
                "uiBpcInMemory": 8,
                "uiBpcSignificant": 8,
                "uiSequenceCount": n,
                "eCompression": compression,
                "ePixelType": 1,
            },
        )
    )


def many_frames(n: int) -> bytes:
    """A v3 file with `n` tiny lossless frames in minimal (unaligned) chunks: a map of
    n + 2 entries in about 60 n bytes."""
    sig = container.build_file([])[: container.SIGNATURE_SIZE]
    body = bytearray(sig)
    entries: list[tuple[str, int, int]] = []
    attrs = attributes(n)
    entries.append(("ImageAttributesLV!", len(body), len(attrs)))
    body += chunk_bytes("ImageAttributesLV!", attrs)
    meta = lv.encode(lv.from_python("SLxPictureMetadata", {"bCalibrated": False}))
    entries.append(("ImageMetadataSeqLV|0!", len(body), len(meta)))
    body += chunk_bytes("ImageMetadataSeqLV|0!", meta)
    frame = struct.pack("<d", 0.0) + zlib.compress(bytes(8))
    head = container.CHUNK_MAGIC_BYTES
    for i in range(n):
        name = f"ImageDataSeq|{i}!".encode()
        entries.append((name.decode(), len(body), len(frame)))
        body += head + struct.pack("<IQ", len(name), len(frame)) + name + frame
    return finish(bytes(body), entries)


def zlib_bomb(inflated: int) -> bytes:
    """A zlib stream of zeros inflating to `inflated` bytes (about inflated / 1000 bytes)."""
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(inflated >> 20)]
    parts.append(c.compress(bytes(inflated & ((1 << 20) - 1))))
    parts.append(c.flush())
    return b"".join(parts)


def compressed_lv(stream: bytes) -> bytes:
    """A LiteVariant payload whose root is a compressed (type 76) record holding `stream`."""
    return bytes([int(lv.LvType.COMPRESS)]) + b"V0Z" + bytes(8) + stream


def map_entries_check(data: bytes) -> int:
    _, cm = container.read_chunk_map(data)
    return len(cm.names)


__all__ = [
    "add_entries",
    "attributes",
    "chunk_bytes",
    "compressed_lv",
    "finish",
    "many_frames",
    "map_entries_check",
    "nested_lv",
    "np",
    "parse_chunk_map",
    "payload_of",
    "replace_payload",
    "split",
    "zlib_bomb",
]
