"""The modern ND2 container: signature, chunks, map, trailer (``docs/format.md#nd2_container``).

Reading goes through the generated codecs of ``spec/nd2_container.ksy``; the
writer follows the layout NIS uses (4 KiB alignment, padding inside the name field,
``name_len = 4072`` for uncompressed frames). Chunk names live in :mod:`.names`.

Locating payloads: a chunk's payload starts at :func:`payload_offset` ``(chunk
offset, name_len)``; :func:`read_header` parses only the 16-byte header and
:func:`locate_payloads` does that for many chunks at once (numpy, no per-chunk
objects; :func:`locate_payloads_with` for stores without a buffer). What is inside a
frame payload is :mod:`.frame`'s business; :data:`FRAME_TIMESTAMP_SIZE`,
:func:`inflate_frame` and :func:`frame_timestamp` are its rules under container names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._generated.fast import nd2_container as _g
from ..errors import ChunkNotFoundError, CorruptChunkError, Nd2Error, UnsupportedFormatError
from . import frame as _frame
from .chunk_map import ChunkMap, build_chunk_map_body, parse_chunk_map
from .jp2 import JP2_SIGNATURE_BOX
from .names import FILEMAP_NAME, MAP_SIGNATURE, SIGNATURE_NAME

__all__ = [
    "CHUNK_MAGIC_BYTES",
    "ChunkInfo",
    "FILEMAP_NAME",
    "JP2_MAGIC_BYTES",
    "MAP_SIGNATURE",
    "SIGNATURE_NAME",
    "ChunkHeaderInfo",
    "FRAME_TIMESTAMP_SIZE",
    "HEADER_SIZE",
    "SIGNATURE_SIZE",
    "TRAILER_SIZE",
    "VERSION_OFFSET",
    "build_file",
    "decode_version_field",
    "file_kind",
    "frame_pixels_offset",
    "frame_timestamp",
    "header_end",
    "header_field_offsets",
    "header_field_position",
    "inflate_frame",
    "header_names_match",
    "locate_payloads",
    "locate_payloads_with",
    "parse_header",
    "payload_offset",
    "read_chunk",
    "read_chunk_map",
    "read_header",
    "read_name_field",
    "read_signature",
    "read_trailer",
    "sniff_version",
    "trailer_offset",
    "version_string",
]

#: the chunk magic (spec: chunk_header.magic; contents are written from the spec)
CHUNK_MAGIC_BYTES: bytes = bytes(_g.ChunkHeader(name_len=0, data_len=0).to_bytes()[:4])
#: the first 4 bytes of a legacy (JPEG 2000) file: the signature box length, big-endian
JP2_MAGIC_BYTES: bytes = JP2_SIGNATURE_BOX[:4]
# layout constants of the writer (spec constants chunk_alignment, name_reserve,
# frame_name_len of spec/nd2_container.ksy)
ALIGN = 4096
NAME_RESERVE = 20
FRAME_NAME_LEN = 4072
#: size of the chunk header (spec: chunk_header)
HEADER_SIZE: int = _g.ChunkHeader.SIZE
#: size of the map trailer at the end of the file (spec: map_trailer)
TRAILER_SIZE: int = _g.MapTrailer.SIZE
#: size of the 64-byte version field of the signature chunk (spec: signature_chunk.version)
VERSION_FIELD_SIZE = 64
#: offset of the version string (``VerM.m``) in the file: header + signature name
VERSION_OFFSET: int = HEADER_SIZE + len(SIGNATURE_NAME)
#: bytes of the whole signature chunk (header, name, version field)
SIGNATURE_SIZE: int = VERSION_OFFSET + VERSION_FIELD_SIZE
#: the f64 timestamp before a frame's pixels (spec: image_frame.timestamp; :mod:`.frame`)
FRAME_TIMESTAMP_SIZE: int = _frame.PIXELS_AT


class ChunkInfo(NamedTuple):
    """A chunk located in a file (immutable).

    Attributes
    ----------
    name : str
        Name read from the chunk itself (up to and including ``!``).
    offset : int
        Offset of the chunk header.
    name_len, data_len : int
        Header fields.
    data_offset : int
        Offset of the payload (:func:`payload_offset`).
    """

    name: str
    offset: int
    name_len: int
    data_len: int
    data_offset: int

    @property
    def end(self) -> int:
        """Offset of the byte after the payload (may lie past the end of the file)."""
        return _payload_end(self)


class ChunkHeaderInfo(NamedTuple):
    """The fields of one 16-byte chunk header and where its payload starts."""

    name_len: int
    data_len: int
    data_offset: int

    @property
    def end(self) -> int:
        """Offset of the byte after the payload (may lie past the end of the file)."""
        return _payload_end(self)


def _payload_end(info: ChunkInfo | ChunkHeaderInfo) -> int:
    return info.data_offset + info.data_len


def payload_offset(chunk_offset: Any, name_len: Any) -> Any:
    """Offset of a chunk's payload from its header offset and name_len.

    Works on ints and on numpy arrays (elementwise).
    """
    return chunk_offset + HEADER_SIZE + name_len


def header_end(chunk_offset: Any) -> Any:
    """Offset of the byte after a chunk's 16-byte header (where its name field starts).

    Works on ints and on numpy arrays (elementwise).
    """
    return chunk_offset + HEADER_SIZE


def header_field_offsets() -> dict[str, int]:
    """Offsets inside a chunk of the header fields (spec: chunk_header) and of the name
    field (``"name"``, spec: chunk.name), from the generated header layout."""
    fields = _g.ChunkHeader.DTYPE.fields
    assert fields is not None  # a structured dtype
    out = {k: int(fields[k][1]) for k in _g.ChunkHeader.FIELDS}
    out["name"] = HEADER_SIZE
    return out


_HEADER_FIELDS = header_field_offsets()


def header_field_position(chunk_offset: int, field: str) -> int:
    """File offset of one field (``magic``, ``name_len``, ``data_len`` or ``name``) of the
    chunk whose header is at `chunk_offset` (:func:`header_field_offsets`)."""
    return chunk_offset + _HEADER_FIELDS[field]


def trailer_offset(file_size: int, field: str | None = None) -> int:
    """Offset of the map trailer (spec: map_trailer) in a file of `file_size` bytes, or
    of its `field` (``"signature"``, ``"map_offset"``; positions from the generated
    trailer layout). Negative when the file is too short to hold a trailer."""
    at = file_size - TRAILER_SIZE
    if field is None:
        return at
    fields = _g.MapTrailer.DTYPE.fields
    if fields is None or field not in fields:
        raise ValueError(f"the map trailer has no field {field!r}")
    return at + int(fields[field][1])


def frame_pixels_offset(data_offset: Any) -> Any:
    """Offset of a frame's pixels (or zlib stream) from its payload offset: after the
    f64 timestamp (spec: image_frame.timestamp). Works on ints and numpy arrays."""
    return data_offset + FRAME_TIMESTAMP_SIZE


def read_name_field(buf: Any, chunk_offset: int, name_len: int, limit: int | None = None) -> bytes:
    """The raw name field of the chunk at `chunk_offset` (spec: chunk.name): `name_len`
    bytes after the header, at most `limit` of them (default :data:`NAME_WINDOW`), cut
    short by the end of `buf`. No decoding, no check."""
    at = header_end(chunk_offset)
    n = min(name_len, NAME_WINDOW if limit is None else limit)
    return bytes(buf[at : at + n])


def parse_header(head: Any, offset: int = 0, *, chunk: str | None = None) -> ChunkHeaderInfo:
    """Parse a chunk header from `head` (its first 16 bytes, or more).

    `offset` is the header's file offset, used for ``data_offset`` and errors.

    Raises
    ------
    CorruptChunkError
        Too short, or bad magic (offset of the problem in the file).
    """
    try:
        _, name_len, data_len = _g.ChunkHeader.unpack(head, 0)
    except Nd2Error as e:
        raise e.at(chunk, offset) from None
    return ChunkHeaderInfo(int(name_len), int(data_len), payload_offset(offset, int(name_len)))


def read_header(buf: Any, offset: int, *, chunk: str | None = None) -> ChunkHeaderInfo:
    """:func:`parse_header` of the header at `offset` in `buf` (no name, no bounds check
    of the payload)."""
    return parse_header(buf[offset : offset + HEADER_SIZE], offset, chunk=chunk)


def _fit_headers(head: np.ndarray, offs: np.ndarray, file_size: int,
                 min_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Payload offsets and data_len from header records `head` (ChunkHeader.DTYPE) of the
    chunks at `offs`; -1 where the magic is bad or the payload does not fit."""
    magic_ok = head["magic"] == np.void(CHUNK_MAGIC_BYTES)
    data_off = payload_offset(offs, head["name_len"].astype(np.int64))
    data_len = head["data_len"]
    fits = magic_ok & (data_off + data_len.astype(np.float64) <= file_size) & (data_len >= min_len)
    return np.where(fits, data_off, -1), np.where(fits, data_len.astype(np.int64), -1)


def _headers_in_file(offsets: Any, file_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk offsets as int64 and the rows whose 16-byte header lies inside the file."""
    offs = np.asarray(offsets).astype(np.int64).reshape(-1)
    # offs <= size - header, not offs + header <= size: an offset near 2**63 must not wrap
    return offs, np.flatnonzero((offs >= 0) & (offs <= file_size - HEADER_SIZE))


def locate_payloads(buf: Any, offsets: Any, *, min_len: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Payload offsets and data_len of many chunks at once, from their headers.

    Parameters
    ----------
    buf : buffer
        The whole file (bytes, mmap, memoryview).
    offsets : array of int
        Chunk header offsets (e.g. ``ChunkMap.offsets[rows]``).
    min_len : int
        Payloads shorter than this count as damaged.

    Returns
    -------
    (data_offsets, data_lens) : int64 arrays
        -1 in both for chunks whose header is outside the file, has a bad magic, or
        whose payload does not fit in the file.
    """
    u8 = np.frombuffer(buf, dtype=np.uint8)
    offs, rows = _headers_in_file(offsets, len(u8))
    out = np.full(len(offs), -1, np.int64)
    lens = np.full(len(offs), -1, np.int64)
    if len(rows):
        o = offs[rows]
        head = u8[o[:, None] + np.arange(HEADER_SIZE)].reshape(-1).view(_g.ChunkHeader.DTYPE)
        out[rows], lens[rows] = _fit_headers(head, o, len(u8), min_len)
    return out, lens


def header_names_match(buf: Any, offsets: Any, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whether the chunk headers at `offsets` name the chunks `names`, many at once.

    Parameters
    ----------
    buf : buffer
        The whole file.
    offsets : array of int
        Chunk header offsets.
    names : sequence of str
        The expected names (with their ``!``; latin-1), one per offset.

    Returns
    -------
    (name_lens, match) : int64 and bool arrays
        The header's name_len (-1 where the header is outside the file) and True
        where the name field is at least as long as the name and starts with it
        (what :func:`read_chunk` reads as the name when its only ``!`` ends it);
        False for a name that is not latin-1 (no header can hold it).
    """
    u8 = np.frombuffer(buf, dtype=np.uint8)
    offs, rows = _headers_in_file(offsets, len(u8))
    name_lens = np.full(len(offs), -1, np.int64)
    match = np.zeros(len(offs), bool)
    if not len(rows):
        return name_lens, match
    o = offs[rows]
    head = u8[o[:, None] + np.arange(HEADER_SIZE)].reshape(-1).view(_g.ChunkHeader.DTYPE)
    nl = head["name_len"].astype(np.int64)
    name_lens[rows] = nl
    want = [names[i] for i in rows.tolist()]
    try:
        enc = [n.encode("latin-1") for n in want]
        storable = np.ones(len(want), bool)
    except UnicodeEncodeError:  # a name no header can hold: it never matches
        enc = [n.encode("latin-1", "replace") for n in want]
        storable = np.fromiter((n.isascii() or _latin1(n) for n in want), bool, len(want))
    exp = np.array(enc, dtype=bytes)
    width = max(exp.dtype.itemsize, 1)
    exp_u8 = np.frombuffer(exp.tobytes(), np.uint8).reshape(len(want), width)
    lens = np.fromiter(map(len, enc), np.int64, len(enc))
    start = header_end(o)
    at = np.minimum(start[:, None] + np.arange(width), len(u8) - 1)
    used = np.arange(width)[None, :] < lens[:, None]
    same = np.where(used, u8[at] == exp_u8, True).all(axis=1)
    match[rows] = same & storable & (nl >= lens) & (start + lens <= len(u8))
    return name_lens, match


def _latin1(name: str) -> bool:
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def locate_payloads_with(read_ranges: Callable[[Sequence[tuple[int, int]]], Sequence[Any]],
                         file_size: int, offsets: Any, *,
                         min_len: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`locate_payloads` for a file that is not in memory: the headers are read
    through one ``read_ranges([(offset, 16), ...])`` call (e.g.
    :meth:`nd2kit.storage.Store.read_ranges`, coalesced and concurrent)."""
    offs, rows = _headers_in_file(offsets, file_size)
    out = np.full(len(offs), -1, np.int64)
    lens = np.full(len(offs), -1, np.int64)
    if len(rows):
        o = offs[rows]
        blobs = read_ranges([(int(x), HEADER_SIZE) for x in o.tolist()])
        head = np.frombuffer(b"".join(bytes(b) for b in blobs), _g.ChunkHeader.DTYPE)
        out[rows], lens[rows] = _fit_headers(head, o, file_size, min_len)
    return out, lens


#: :func:`nd2kit.codecs.frame.inflate`: a lossless frame's zlib stream to exactly its size
inflate_frame = _frame.inflate
#: :func:`nd2kit.codecs.frame.timestamp`: the f64 that starts a frame payload
frame_timestamp = _frame.timestamp


def decode_version_field(raw: Any) -> str:
    """Text of a signature version field (spec: signature_chunk.version): latin-1,
    without its zero padding."""
    return bytes(raw).rstrip(b"\0").decode("latin-1")


def version_string(buf: Any) -> str | None:
    """The signature chunk's version field (``VerM.m``) without its zero padding, or
    None when the file is too short to hold it. Does not validate the signature."""
    if len(buf) < SIGNATURE_SIZE:
        return None
    return decode_version_field(buf[VERSION_OFFSET:SIGNATURE_SIZE])


def file_kind(buf: Any) -> str | None:
    """``"modern"`` (2.x/3.x chunk container), ``"legacy"`` (1.0 JPEG 2000) or None,
    from the first 4 bytes only (nothing else is checked)."""
    head = bytes(buf[: len(CHUNK_MAGIC_BYTES)])
    if head == CHUNK_MAGIC_BYTES:
        return "modern"
    if head == JP2_MAGIC_BYTES:
        return "legacy"
    return None


def sniff_version(buf: Any) -> tuple[int, int]:
    """Return ``(major, minor)`` from the first bytes; legacy JPEG 2000 files are (1, 0)."""
    head = bytes(buf[:4])
    if head == JP2_MAGIC_BYTES:
        return (1, 0)
    if head != CHUNK_MAGIC_BYTES:
        raise UnsupportedFormatError(f"not an ND2 file (first bytes {head.hex()})", offset=0)
    return read_signature(buf)


def read_signature(buf: Any) -> tuple[int, int]:
    """Parse the file signature chunk and return the version tuple."""
    try:
        v = bytes(_g.SignatureChunk.unpack(buf, 0)[4])  # the version field
    except Nd2Error as e:
        raise e.at(SIGNATURE_NAME) from None
    try:
        return int(chr(v[3])), int(chr(v[5]))
    except (ValueError, IndexError):
        raise CorruptChunkError(
            f"bad version string {v.rstrip(bytes(1))!r}", chunk=SIGNATURE_NAME, offset=VERSION_OFFSET
        ) from None


def read_trailer(buf: Any, size: int | None = None, *, base: int = 0) -> int:
    """Return the chunk map offset stored in the last 40 bytes of ``buf[:size]``.

    `base` is the file offset of `buf` (when it holds only the end of the file), for
    errors."""
    size = len(buf) if size is None else size
    if base + size < TRAILER_SIZE + HEADER_SIZE:
        raise CorruptChunkError(f"file too short for a trailer ({base + size} bytes)", offset=0)
    try:
        return int(_g.MapTrailer.parse(buf, size - TRAILER_SIZE, size).map_offset)
    except Nd2Error as e:
        raise e.at("<trailer>", base) from None


#: bytes after a chunk header that are read to find the chunk name
NAME_WINDOW = 4096


def read_chunk(buf: Any, offset: int, *, expect: str | None = None) -> ChunkInfo:
    """Parse the chunk header and name at `offset` and check the payload fits the file."""
    size = len(buf)
    if offset < 0 or offset + HEADER_SIZE > size:
        raise CorruptChunkError(f"chunk offset {offset} outside the file ({size} bytes)",
                                chunk=expect, offset=offset)
    head = bytes(buf[offset : offset + HEADER_SIZE + NAME_WINDOW])
    return parse_chunk_head(head, offset, size, expect=expect)


_NAME_BYTES: dict[str, bytes | None] = {}


def _plain_name(name: str) -> bytes | None:
    """`name` as stored (latin-1) when its only ``!`` ends it, else None (cached)."""
    nb = _NAME_BYTES.get(name, b"")
    if nb == b"":
        try:
            nb = name.encode("latin-1")
        except UnicodeEncodeError:
            nb = None
        if nb is not None and nb.find(b"!") != len(nb) - 1:
            nb = None
        if len(_NAME_BYTES) < 4096:
            _NAME_BYTES[name] = nb
    return nb


def parse_chunk_head(head: bytes, offset: int, file_size: int, *, expect: str | None = None) -> ChunkInfo:
    """Like :func:`read_chunk`, from the bytes that start at `offset` (header + name window)."""
    try:
        _, name_len, data_len = _g.ChunkHeader.unpack(head, 0)
    except Nd2Error as e:
        raise e.at(expect, offset) from None
    name_at = offset + HEADER_SIZE
    if name_len > file_size - name_at:
        raise CorruptChunkError(f"name_len {name_len} runs past the end of the file",
                                chunk=expect, offset=offset + 4)
    nb = _plain_name(expect) if expect is not None else None
    if expect is not None and nb is not None and len(nb) <= min(name_len, NAME_WINDOW) and \
            head[HEADER_SIZE : HEADER_SIZE + len(nb)] == nb:
        name = expect  # the usual case: the expected name, whose only "!" ends it
    else:
        raw = head[HEADER_SIZE : HEADER_SIZE + min(name_len, NAME_WINDOW)]
        bang = raw.find(b"!")
        name = raw[: bang + 1].decode("latin-1") if bang >= 0 else raw.split(b"\0", 1)[0].decode("latin-1")
    data_offset = payload_offset(offset, name_len)
    if data_len > file_size - data_offset:
        raise CorruptChunkError(
            f"data_len {data_len} runs past the end of the file ({file_size} bytes)",
            chunk=expect or name, offset=offset + 8,
        )
    if expect is not None and name != expect:
        raise CorruptChunkError(f"expected chunk {expect!r}, found {name!r}", chunk=expect,
                                offset=name_at)
    return ChunkInfo(name, offset, name_len, data_len, data_offset)


def read_chunk_map(buf: Any) -> tuple[int, ChunkMap]:
    """Locate the chunk map through the trailer and parse it.

    Returns
    -------
    (map_offset, ChunkMap)
    """
    map_offset = read_trailer(buf)
    info = read_chunk(buf, map_offset, expect=FILEMAP_NAME)
    body = buf[info.data_offset : info.end]
    return map_offset, parse_chunk_map(body, base=info.data_offset)


def chunk_data(buf: Any, cmap: ChunkMap, name: str) -> tuple[ChunkInfo, Any]:
    """Return the header info and payload of the chunk `name`."""
    if name not in cmap:
        raise ChunkNotFoundError(f"no chunk named {name!r}", chunk=name)
    info = read_chunk(buf, cmap[name].offset, expect=name)
    return info, buf[info.data_offset : info.end]


# ----------------------------------------------------------------------------- writing


def _ceil(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


def _name_len(name: bytes, part1: int) -> int:
    """Name field size so that the first `part1` payload bytes end on a 4 KiB boundary."""
    if part1 == 0:
        return len(name)
    return int(_ceil(HEADER_SIZE + len(name) + NAME_RESERVE + part1) - HEADER_SIZE - part1)


def encode_chunk(name: str, payload: bytes, *, part1: int | None = None) -> bytes:
    """One chunk laid out as NIS writes it, padded to a 4 KiB multiple.

    `part1` is the number of leading payload bytes that must end on a 4 KiB boundary:
    the whole payload for metadata (default), 8 (the timestamp) for frames.
    """
    nb = name.encode("latin-1")
    p1 = len(payload) if part1 is None else part1
    nl = _name_len(nb, p1)
    head = _g.ChunkHeader(magic=CHUNK_MAGIC_BYTES, name_len=nl, data_len=len(payload)).to_bytes()
    body = head + nb + bytes(nl - len(nb)) + payload
    out: bytes = body + bytes(_ceil(len(body)) - len(body))
    return out


def build_file(chunks: Iterable[tuple[str, bytes] | tuple[str, bytes, int]], *, version: str = "Ver3.0") -> bytes:
    """Build a complete modern ND2 file from ``(name, payload[, part1])`` items.

    Chunks are written in the given order, each 4 KiB aligned; the map lists them in
    reverse lexicographic order (as limnd2 does) and the map chunk ends the file.
    """
    sig = _g.SignatureChunk(
        magic=CHUNK_MAGIC_BYTES, name_len=32, data_len=64,
        name=SIGNATURE_NAME.encode(), version=version.encode().ljust(64, b"\0"),
    ).to_bytes()
    parts = [sig + bytes(ALIGN - len(sig))]
    pos = ALIGN
    entries: list[tuple[str, int, int]] = []
    seen: set[str] = set()
    for item in chunks:
        name, payload = item[0], item[1]
        part1 = item[2] if len(item) > 2 else None
        if name in seen:
            raise ValueError(f"duplicate chunk name {name!r}")
        seen.add(name)
        blob = encode_chunk(name, payload, part1=part1)
        entries.append((name, pos, len(payload)))
        parts.append(blob)
        pos += len(blob)
    map_offset = pos
    entries.sort(key=lambda e: e[0].encode("latin-1"), reverse=True)
    body = build_chunk_map_body([e[0] for e in entries], [e[1] for e in entries],
                                [e[2] for e in entries], map_offset)
    trailer = _g.MapTrailer(signature=MAP_SIGNATURE.encode(), map_offset=map_offset).to_bytes()
    fn = FILEMAP_NAME.encode()
    data_len = _ceil(HEADER_SIZE + len(fn) + len(body) + TRAILER_SIZE) - HEADER_SIZE - len(fn)
    payload = body + bytes(data_len - len(body) - TRAILER_SIZE) + trailer
    nl = _name_len(fn, len(payload))
    head = _g.ChunkHeader(magic=CHUNK_MAGIC_BYTES, name_len=nl, data_len=len(payload)).to_bytes()
    parts.append(head + fn + bytes(nl - len(fn)) + payload)
    return b"".join(parts)
