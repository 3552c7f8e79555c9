"""Check an ND2 file against the format specs (``nd2kit validate``).

:func:`validate_file` returns a :class:`ValidationReport` whose ``findings`` say
what is wrong (``error``), unusual (``warning``: no known writer produces it) or
merely noteworthy (``info``: not what the spec asks for, but what NIS-Elements writes
in its ordinary files, see :data:`nd2kit.check.report.WRITER_QUIRKS`), each with the
chunk concerned, the **absolute file offset** of the offending bytes and the spec
rule (``nd2_container.ksy:chunk_header.magic``, ``lite_variant.ksy:level.length``,
or a section of ``docs/format.md`` for rules that span chunks).

The work is split by job: :mod:`.modern` (v2/v3 containers), :mod:`.legacy` (v1
JPEG 2000), :mod:`.lv_walk` (the structural LiteVariant walk), :mod:`.report` (the
report model), :mod:`.scan` (input bytes, chunk kinds, header scanning).

What is checked (modern files, versions 2.x/3.x):

* the signature chunk (magic, name_len 32, data_len 64, name, ``VerM.m``), the
  trailer and the chunk map chunk; when the map cannot be located the file is
  scanned for chunk headers so that a truncated chunk is reported where the file
  ends;
* every map entry against the chunk header it points at (inside the file, magic,
  name, name_len/data_len inside the file, map size == data_len), duplicate names,
  overlapping chunks, 4 KiB alignment (one warning);
* every LiteVariant chunk three ways: a structural walk that locates damage
  (LEVEL ``length``/``item_count`` against the children, the offset table, string
  terminators, type codes — 0, 7 and 10 are errors —, names ending in NUL,
  BYTEARRAY lengths, compressed blocks), the Kaitai reference parser
  (``nd2kit._generated.kaitai.lite_variant``) and the fast lossless decoder, whose
  trees must agree; with ``roundtrip=True`` also ``encode(decode_lossless(b)) == b``;
* XML-variant chunks (``ImageAttributes!``… in 2.x, ``CustomDataVar|…``) parse;
  RLE masks decode;
* frames against the attributes: ``uiSequenceCount`` == number of
  ``ImageDataSeq|N!`` chunks with N = 0…count-1, ``uiWidthBytes >= uiWidth × uiComp ×
  ceil(uiBpcInMemory / 8)``, uncompressed ``data_len == 8 + uiHeight × uiWidthBytes``
  and ``name_len == 4072`` (nd2 reads pixels at chunk + 4096), lossless frames
  inflate to ``uiHeight × uiWidthBytes``;
* the container through the Kaitai reference parser (same chunk map).

Legacy (v1.0, JPEG 2000) files: signature box, trailer, box map (16-byte entries),
every entry against the box it points at, the top-level box walk, ``ihdr``,
codestream and XML boxes, and both the codec and the Kaitai reference parser.

Exit codes used by the CLI: 0 valid (warnings and notes allowed), 1 invalid, 2
unreadable (cannot open, or not an ND2 file), 3 nd2kit itself failed.
"""

from __future__ import annotations

from typing import Any

from ..codecs import container
from ..errors import Nd2Error
from .legacy import LegacyCheck
from .modern import ModernCheck
from .report import K_C, K_JP2, Finding, Sink, ValidationReport, located_message
from .scan import open_source

__all__ = ["Finding", "ValidationReport", "validate_file"]


# ----------------------------------------------------------------------------- entry point


def validate_file(src: Any, roundtrip: bool = False) -> ValidationReport:
    """Validate an ND2 file given as a path or as bytes.

    Parameters
    ----------
    src : str, os.PathLike or bytes-like
        The file.
    roundtrip : bool
        Also re-encode every LiteVariant chunk (and the chunk map) losslessly and
        report the first byte that differs.

    Returns
    -------
    ValidationReport
        Never raises for bad content; ``readable`` is False (exit code 2) when the
        path cannot be opened or the bytes are not an ND2 file.
    """
    path = None if isinstance(src, (bytes, bytearray, memoryview)) else str(src)
    rep = ValidationReport(path=path, roundtrip=roundtrip)
    sink = Sink(rep)
    try:
        source = open_source(src)
    except OSError as e:
        rep.readable = False
        sink.error(None, None, "io", f"cannot open: {e}")
        return rep
    with source:
        buf = source.buf
        rep.size = len(buf)
        kind = container.file_kind(buf)
        if kind == "legacy":
            rep.format, rep.version = "legacy", (1, 0)
            try:
                LegacyCheck(buf, rep, sink).run()
            except Nd2Error as e:  # the bytes stopped a check: a finding, where the error says
                sink.error(e.chunk, e.offset, K_JP2, f"the legacy check stopped: {located_message(e)}")
        elif kind == "modern":
            rep.format = "modern"
            ModernCheck(buf, rep, sink, roundtrip, source.path).run()
        else:
            rep.readable = False
            sink.error(
                None,
                0,
                f"{K_C}:signature_chunk.magic",
                f"not an ND2 file: the first bytes are {bytes(buf[:4]).hex() or '(empty file)'}, neither the chunk "
                "magic da ce be 0a nor a JPEG 2000 signature box",
            )
    sink.finish()
    return rep
