"""Decoder for the "XML variant" metadata encoding of ND2 files.

Version 2.x files store their metadata chunks (``ImageAttributes!``,
``ImageMetadata!``, ``ImageMetadataSeq|N!``, ``ImageTextInfo!``, ...) and every
version stores its ``CustomDataVar|...!`` chunks as an XML serialisation of a
variant tree (``docs/format.md#xml_variant``)::

    <?xml version="1.0" encoding="UTF-8"?>
    <variant version="1.0">
      <no_name runtype="SLxImageAttributes">
        <uiWidth runtype="lx_uint32" value="3"/>
        ...
      </no_name>
    </variant>

Every element is one field: the tag is the field name, the ``runtype`` attribute
is the type, scalar fields carry their text in the ``value`` attribute and every
other ``runtype`` marks a container whose children are its fields.

:func:`decode_xml_variant` turns such a document into plain Python objects and is
output-compatible with the reference reader ``nd2`` 0.12
(``nd2._parse._clx_xml.json_from_clx_variant``), including its quirks (see the
function's notes).  :func:`iter_xml_records` lists the elements of a document with
the byte offset of each start tag, for inspection tools.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from lxml import etree

from ..errors import CorruptChunkError

__all__ = ["decode_xml_variant", "iter_xml_records", "looks_like_xml"]


# ---------------------------------------------------------------------------
# scalar conversions (runtype -> converter of the ``value`` attribute text)
# ---------------------------------------------------------------------------

_TRUE_TEXTS = frozenset({"true", "1"})


def _to_bool(text: str) -> bool:
    return text.lower() in _TRUE_TEXTS


def _to_float(text: str) -> float:
    # a missing value (None) raises TypeError, like the reference reader;
    # unparsable text becomes NaN
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _to_bytearray(text: str) -> bytearray:
    # base64 text is *not* decoded: the reference reader keeps the UTF-8 text
    return bytearray(text, "utf8")


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool,
    "lx_int32": int,
    "lx_uint32": int,
    "lx_int64": int,
    "lx_uint64": int,
    "double": _to_float,
    "float": _to_float,
    "CLxStringW": str,  # a missing value becomes the text "None" (as in nd2)
    "unknown": str,
    "CLxByteArray": _to_bytearray,
}

#: Children with these names are list items: they are stored under the key
#: ``i`` + 10-digit position among all child nodes of the parent, and dropped
#: when their value is falsy.
_LIST_ITEM_NAMES = frozenset(
    {"no_name", "BinaryItem", "TextInfoItem", "Wavelength", "MinSrc", "MaxSrc"}
)

#: lower-case "type prefix" of a field name (``ui``, ``d``, ``s``, ``_``, ...)
_TYPE_PREFIX = re.compile(r"[a-z_]+")

#: the ``_VERSION`` root attribute that marks legacy-style documents whose
#: container values also carry the element attributes
_LEGACY_VERSION = "1.000000"

#: characters that end an element name in a start tag
_CONVERSION_ERRORS = (TypeError, ValueError, AttributeError, UnicodeError)


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------

_local = threading.local()


def _parser(resolve_entities: bool = True) -> etree.XMLParser:
    """Return this thread's parser (one per thread: parses never wait on each other)."""
    key = "resolving" if resolve_entities else "literal"
    parser = getattr(_local, key, None)
    if parser is None:
        if resolve_entities:
            # same options as lxml's default parser (what nd2 uses), except
            # that deep trees and long attribute values are accepted
            parser = etree.XMLParser(huge_tree=True, recover=False)
        else:
            parser = etree.XMLParser(
                huge_tree=True, recover=False, resolve_entities=False
            )
        setattr(_local, key, parser)
    return parser


class _Parsed(NamedTuple):
    root: Any  # lxml.etree._Element
    mode: str  # "bytes", "utf-8" (text, bad bytes dropped) or "utf-16" (text)
    base: int  # number of bytes cut from the front (the XML declaration)
    body: bytes  # data[base:], what was handed to the parser
    text: str | None  # decoded text for the text modes


class _Failure(NamedTuple):
    message: str
    offset: int


def _declaration_end(data: bytes) -> int:
    """Byte count of a leading ``<?xml ...?>`` declaration (0 when none).

    Like the reference reader, only a declaration at the very first byte is cut
    (not one after a BOM or whitespace), and it is cut up to the first ``?>``.
    The encoding it declares is therefore ignored.
    """
    if data.startswith(b"<?xml"):
        end = data.find(b"?>")
        if end >= 0:
            return end + 2
    return 0


def _parse(data: bytes, parser: etree.XMLParser) -> _Parsed:
    """Parse like the reference reader: bytes, then UTF-8 text with undecodable
    bytes dropped, then UTF-16 text; raise CorruptChunkError when all fail."""
    base = _declaration_end(data)
    body = data[base:] if base else data
    failures: list[_Failure] = []

    try:
        return _Parsed(etree.fromstring(body, parser), "bytes", base, body, None)
    except SyntaxError as exc:  # XMLSyntaxError: try the text fallbacks
        failures.append(_failure_in_bytes(exc, body, base))
    except Exception as exc:  # noqa: BLE001 - nd2 gives up here too
        raise CorruptChunkError(
            f"XML variant cannot be parsed: {exc}", chunk=None, offset=0
        ) from exc

    text8 = body.decode("utf-8", errors="ignore")
    try:
        return _Parsed(etree.fromstring(text8, parser), "utf-8", base, body, text8)
    except Exception as exc:  # noqa: BLE001
        failures.append(_failure_in_text(exc, text8, lambda t: len(t.encode()), base))

    text16 = body.decode("utf-16", errors="ignore")
    try:
        return _Parsed(etree.fromstring(text16, parser), "utf-16", base, body, text16)
    except Exception as exc:  # noqa: BLE001
        codec, bom = _utf16_layout(body)
        failures.append(
            _failure_in_text(
                exc,
                text16,
                lambda t: bom + len(t.encode(codec, "surrogatepass")),
                base,
            )
        )

    # report the attempt that got furthest into the data
    worst = max(failures, key=lambda f: f.offset)
    raise CorruptChunkError(
        f"XML variant cannot be parsed: {worst.message}",
        chunk=None,
        offset=min(worst.offset, len(data)),
    )


def _error_position(exc: BaseException) -> tuple[int, int] | None:
    pos = getattr(exc, "position", None)
    if isinstance(exc, etree.XMLSyntaxError) and pos and pos[0] >= 1:
        return int(pos[0]), max(int(pos[1]), 1)
    return None


def _error_message(exc: BaseException) -> str:
    return str(getattr(exc, "msg", None) or exc).strip()


def _failure_in_bytes(exc: BaseException, body: bytes, base: int) -> _Failure:
    """Locate a parser error reported as (line, column) in UTF-8 bytes."""
    pos = _error_position(exc)
    if pos is None:
        return _Failure(_error_message(exc), base)
    line, col = pos
    start = _nth_line_start(body, line, b"\n")
    # libxml2 columns count characters: walk col-1 UTF-8 characters
    segment = body[start : start + 4 * col]
    chars = segment.decode("utf-8", "surrogateescape")[: col - 1]
    return _Failure(
        _error_message(exc),
        base + start + len(chars.encode("utf-8", "surrogateescape")),
    )


def _failure_in_text(
    exc: BaseException, text: str, encoded_len: Callable[[str], int], base: int
) -> _Failure:
    """Locate a parser error in decoded text (approximate byte offset)."""
    pos = _error_position(exc)
    if pos is None:
        return _Failure(_error_message(exc), base)
    line, col = pos
    index = min(_nth_line_start(text, line, "\n") + col - 1, len(text))
    return _Failure(_error_message(exc), base + encoded_len(text[:index]))


def _nth_line_start(buf: Any, line: int, newline: Any) -> int:
    pos = 0
    for _ in range(line - 1):
        nxt = buf.find(newline, pos)
        if nxt < 0:
            break
        pos = nxt + 1
    return pos


def _utf16_layout(body: bytes) -> tuple[str, int]:
    """Codec (without BOM) and BOM length Python's ``utf-16`` decoder uses."""
    if body.startswith(b"\xff\xfe"):
        return "utf-16-le", 2
    if body.startswith(b"\xfe\xff"):
        return "utf-16-be", 2
    return ("utf-16-le" if sys.byteorder == "little" else "utf-16-be"), 0


def _wide_layout(body: bytes) -> tuple[str, int] | None:
    """Codec and BOM length when libxml2 read `body` as UTF-16/UTF-32."""
    if body.startswith((b"\xff\xfe\x00\x00", b"<\x00\x00\x00")):
        return "utf-32-le", 4 if body[:1] == b"\xff" else 0
    if body.startswith((b"\x00\x00\xfe\xff", b"\x00\x00\x00<")):
        return "utf-32-be", 4 if body[:1] == b"\x00" and body[3:4] == b"\xff" else 0
    if body.startswith((b"\xff\xfe", b"<\x00")):
        return "utf-16-le", 2 if body[:1] == b"\xff" else 0
    if body.startswith((b"\xfe\xff", b"\x00<")):
        return "utf-16-be", 2 if body[:1] == b"\xfe" else 0
    return None


def _to_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()  # bytearray, memoryview, mmap, ...
    except TypeError as exc:
        raise TypeError(
            f"XML variant data must be bytes-like, not {type(data).__name__}"
        ) from exc


# ---------------------------------------------------------------------------
# tree -> python
# ---------------------------------------------------------------------------


class _BadValue(Exception):
    def __init__(self, element: Any, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.element = element
        self.cause = cause


def _field_name(tag: str, strip_prefix: bool) -> str:
    if strip_prefix and tag != "no_name":
        match = _TYPE_PREFIX.match(tag)
        if match is not None and match.end() < len(tag):
            return tag[match.end() :]
    return tag


def _convert(root: Any, strip_prefix: bool, keep_attrs: bool) -> tuple[str, Any]:
    """Convert the parsed tree to (root name, value), iteratively (no recursion
    limit: libxml2 accepts 2048 levels with ``huge_tree``)."""
    converters = _CONVERTERS
    items = _LIST_ITEM_NAMES

    def scalar(element: Any, convert: Callable[[Any], Any]) -> Any:
        try:
            return convert(element.get("value"))
        except _CONVERSION_ERRORS as exc:
            raise _BadValue(element, exc) from exc

    root_name = _field_name(root.tag, strip_prefix)
    convert = converters.get(root.get("runtype"))
    if convert is not None:
        return root_name, scalar(root, convert)

    root_value: dict[str, Any] = dict(root.attrib) if keep_attrs else {}
    # frame: (value, remaining children, parent value, key in parent, is list item)
    stack: list[tuple[dict[str, Any], Any, dict[str, Any] | None, str, bool]] = [
        (root_value, enumerate(root), None, "", False)
    ]
    # containers holding comments/PIs: nd2 stores those under odd keys, so such a list
    # item is never empty for nd2 (and is kept) even though we leave the keys out
    # (the dicts are kept alive here: an id() is unique only while its object lives, and
    # a replaced duplicate container could otherwise pass its id on to a new one)
    noisy: dict[int, dict[str, Any]] = {}
    while stack:
        value, children, parent, key, is_item = stack[-1]
        for index, child in children:
            tag = child.tag
            if type(tag) is not str:  # comment, processing instruction, entity
                noisy[id(value)] = value
                continue
            name = _field_name(tag, strip_prefix) if strip_prefix else tag
            convert = converters.get(child.get("runtype"))
            if convert is None:  # container: descend
                child_value: dict[str, Any] = dict(child.attrib) if keep_attrs else {}
                if name in items:
                    stack.append(
                        (child_value, enumerate(child), value, f"i{index:010}", True)
                    )
                else:
                    stack.append((child_value, enumerate(child), value, name, False))
                break
            child_scalar = scalar(child, convert)
            if name in items:
                if not child_scalar:  # empty/falsy list items are dropped
                    continue
                name = f"i{index:010}"
            value[name] = child_scalar
        else:  # all children done: store this container in its parent
            stack.pop()
            if parent is not None and (value or not is_item or id(value) in noisy):
                parent[key] = value
    return root_name, root_value


def decode_xml_variant(data: bytes, *, strip_prefix: bool = False) -> dict[str, Any]:
    """Decode an XML-variant metadata payload into Python objects.

    The result equals what ``nd2`` 0.12's
    ``nd2._parse._clx_xml.json_from_clx_variant(data, strip_prefix=...)`` returns
    whenever that function succeeds.

    Parameters
    ----------
    data : bytes
        The chunk payload (bytes-like), e.g. of ``ImageMetadata!`` in a version 2
        file or of any ``CustomDataVar|...!`` chunk.
    strip_prefix : bool, optional
        Remove the lower-case type prefix from field names (``uiWidth`` ->
        ``Width``, ``_00`` -> ``00``); ``no_name`` and names that consist only
        of lower-case letters and ``_`` are kept. Default False.

    Returns
    -------
    dict[str, Any]
        Field name -> value, where a value is a ``bool``, ``int``, ``float``,
        ``str``, ``bytearray`` (``CLxByteArray``: the base64 *text* as UTF-8
        bytes, not decoded) or a nested dict for a container.

        * A root ``<variant>`` element is unwrapped; any other root element
          yields ``{root_name: value}``.
        * If the root's value has the single key ``i0000000000`` (the usual
          ``<variant><no_name runtype="...">``), that item is returned.
          In that case, or when the root itself is a scalar element, the result
          can be a scalar rather than a dict (real files have such chunks,
          e.g. ``CustomDataVar|AcqTimeV1_0!`` decodes to a float).

    Raises
    ------
    CorruptChunkError
        If the bytes are not well-formed XML in any of the accepted decodings, or
        a scalar value cannot be converted (e.g. ``lx_int32`` with ``value="x"``
        or without a ``value`` attribute). ``offset`` is the byte offset in
        `data` of the problem (best effort, 0 when unknown).

    Notes
    -----
    Rules shared with the reference reader (``docs/format.md#xml_variant``):

    * A declaration at byte 0 is cut up to the first ``?>`` (its ``encoding``
      is ignored). The rest is parsed as bytes; if the parser rejects it, it is
      decoded as UTF-8 dropping invalid bytes, then as UTF-16, and re-parsed.
    * Children named ``no_name``, ``BinaryItem``, ``TextInfoItem``,
      ``Wavelength``, ``MinSrc`` or ``MaxSrc`` (names compared *after* prefix
      stripping) are list items stored under ``"i%010d" % position``, where
      position counts all child nodes of the parent, comments included. Items
      whose value is falsy (empty container, ``False``, ``0``, ``0.0``, ``""``)
      are dropped.
    * Unparsable ``double``/``float`` text gives NaN; ``bool`` is true for
      ``true``/``1`` (any case); ``CLxStringW``/``unknown`` without a ``value``
      attribute give the string ``"None"``.
    * If the root has ``_VERSION="1.000000"``, every container value starts with
      the element's attributes (e.g. ``runtype``), children overriding them.
    * Repeated sibling names keep the last value (at the first one's position).

    One deliberate difference: comments and processing instructions inside
    containers produce no entry, whereas nd2 stores them under a key that is the
    lxml ``Comment``/``ProcessingInstruction`` factory function (and raises
    ``TypeError`` with ``strip_prefix=True``). Everything else follows nd2: they
    still count in list-item positions, and one directly under the root blocks
    the ``i0000000000`` unwrap. The result is nd2's with those keys removed.
    """
    data = _to_bytes(data)
    parsed = _parse(data, _parser())
    root = parsed.root
    keep_attrs = root.get("_VERSION") == _LEGACY_VERSION
    try:
        name, value = _convert(root, strip_prefix, keep_attrs)
    except _BadValue as exc:
        element = exc.element
        raise CorruptChunkError(
            f"bad value {element.get('value')!r} for runtype "
            f"{element.get('runtype')!r} in element <{element.tag}>: {exc.cause}",
            chunk=None,
            offset=_element_offset(data, parsed, element),
        ) from exc.cause

    if (
        isinstance(value, dict)
        and len(value) == 1
        and "i0000000000" in value
        # nd2 keeps comments / PIs of the root as extra keys, which block this
        and all(type(node.tag) is str for node in root)
    ):
        value = value["i0000000000"]
    result: dict[str, Any] = value if name == "variant" else {name: value}  # may be a scalar
    return result


# ---------------------------------------------------------------------------
# records with byte offsets
# ---------------------------------------------------------------------------

#: One token of markup in a *well-formed* document. A ``<`` outside comments,
#: CDATA sections, processing instructions and the DOCTYPE always opens markup
#: (character data and attribute values cannot contain it), so scanning the
#: text once with this pattern finds every start tag; quoted attribute values
#: may contain ``>`` and ``/>`` and are skipped as a whole. ``lastgroup`` tells
#: the token kind: "open" (start tag), "empty" (empty-element tag), "end"
#: (end tag) or None (anything else). Possessive quantifiers: no backtracking.
_MARKUP = re.compile(
    r"""
      <!--.*?-->
    | <!\[CDATA\[.*?\]\]>
    | <\?.*?\?>
    | <!DOCTYPE(?:[^\["'>]++|"[^"]*+"|'[^']*+')*+
        (?:\[(?:<!--.*?-->|<\?.*?\?>|"[^"]*+"|'[^']*+'|[^\]"'<]++|<)*+\][ \t\r\n]*+)?>
    | (?P<end></)[^>]*+>
    | <(?P<open>[^ \t\r\n/>]++)(?:[^>"'/]++|/(?!>)|"[^"]*+"|'[^']*+')*+(?:(?P<empty>/)>|>)
    """,
    re.VERBOSE | re.DOTALL,
)
_TAG_NAME = re.compile(r"<([^ \t\r\n/>]+)")
_LOOKAHEAD = 64  # tags searched per element when the scan and tree disagree


def _scan_start_tags(text: str) -> tuple[list[int], list[int]]:
    """Positions and depths of every start tag of a well-formed document."""
    starts: list[int] = []
    depths: list[int] = []
    add_start = starts.append
    add_depth = depths.append
    depth = 0
    for match in _MARKUP.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        if kind == "end":
            depth -= 1
        else:
            add_start(match.start())
            add_depth(depth)
            if kind == "open":
                depth += 1
    return starts, depths


def _source_name(element: Any) -> str:
    """The element name as written in the source (``prefix:local``)."""
    tag = str(element.tag)
    if tag[:1] != "{":
        return tag
    local = tag.rpartition("}")[2]
    return f"{element.prefix}:{local}" if element.prefix else local


def _tree_depths(root: Any) -> list[int]:
    """Depth of each element of `root` (document order, elements only)."""
    depths: list[int] = []
    depth = -1
    for event, element in etree.iterwalk(root, events=("start", "end")):
        if type(element.tag) is not str:  # entity reference
            continue
        if event == "start":
            depth += 1
            depths.append(depth)
        else:
            depth -= 1
    return depths


class _Locator:
    """Maps elements of a parsed document to byte offsets of their start tags."""

    def __init__(self, parsed: _Parsed) -> None:
        self.base = parsed.base
        self.wide: tuple[str, int] | None
        if parsed.mode == "utf-16":
            self.wide = _utf16_layout(parsed.body)
            self.text = parsed.text or ""
        elif parsed.mode == "bytes" and (layout := _wide_layout(parsed.body)):
            codec, bom = layout
            self.wide = layout
            self.text = parsed.body[bom:].decode(codec, "replace")
        else:
            # ASCII-compatible: latin-1 maps each byte to one character, so
            # text indices are byte indices (also for the "utf-8" fallback,
            # whose dropped bytes cannot change the markup)
            self.wide = None
            self.text = parsed.body.decode("latin-1")
        self.starts, self.depths = _scan_start_tags(self.text)

    def byte_offsets(self, indices: list[int]) -> list[int]:
        """Byte offsets in the data of ascending text `indices`."""
        base = self.base
        if self.wide is None:
            return [base + index for index in indices]
        codec, bom = self.wide
        out = []
        done = length = 0
        for index in indices:
            if index < done:
                done = length = 0
            length += len(self.text[done:index].encode(codec, "surrogatepass"))
            done = index
            out.append(base + bom + length)
        return out

    def source_name(self, name: str) -> str:
        """`name` as it appears in ``self.text``."""
        if self.wide is None:
            return name.encode("utf-8", "surrogatepass").decode("latin-1")
        return name

    def locate(self, elements: list[Any]) -> tuple[list[int], list[int] | None]:
        """Byte offsets of the start tags of `elements` (all elements of the
        document, in order) and their depths (None when the scan does not
        match the tree one to one)."""
        starts, depths = self.starts, self.depths
        if len(starts) == len(elements):
            return self.byte_offsets(starts), depths
        # not one to one (not expected for a well-formed document): match by
        # name, falling back to the start of the element's line
        text = self.text
        names = [_TAG_NAME.match(text, i).group(1) for i in starts]  # type: ignore[union-attr]
        indices = []
        k = 0
        for element in elements:
            want = self.source_name(_source_name(element))
            j, stop = k, min(len(starts), k + _LOOKAHEAD)
            while j < stop and names[j] != want:
                j += 1
            if j < stop:
                indices.append(starts[j])
                k = j + 1
            else:  # a miss does not consume the remaining tags
                indices.append(_nth_line_start(text, element.sourceline or 1, "\n"))
        # byte_offsets wants ascending indices: sort, map, put back
        order = sorted(range(len(indices)), key=indices.__getitem__)
        mapped = self.byte_offsets([indices[i] for i in order])
        offsets = [0] * len(indices)
        for i, off in zip(order, mapped):
            offsets[i] = off
        return offsets, None


def _elements(root: Any) -> list[Any]:
    return [el for el in root.iter() if type(el.tag) is str]


def _element_offset(data: bytes, parsed: _Parsed, target: Any) -> int:
    """Best-effort byte offset of `target`'s start tag (error reporting)."""
    try:
        elements = _elements(parsed.root)
        position = next(i for i, el in enumerate(elements) if el is target)
        return _Locator(parsed).locate(elements)[0][position]
    except Exception:  # noqa: BLE001 - only used to decorate an error
        return 0


def iter_xml_records(data: bytes) -> Iterator[tuple[int, str, str, str | None, int]]:
    """List the elements of an XML-variant payload with their byte offsets.

    The document is parsed (and rejected) exactly as by
    :func:`decode_xml_variant`, but entity references are not expanded into
    elements, so every record corresponds to a start tag written in `data`.

    Parameters
    ----------
    data : bytes
        The chunk payload (bytes-like).

    Returns
    -------
    Iterator[tuple[int, str, str, str | None, int]]
        One ``(depth, name, runtype, value, offset)`` per element in document
        order: ``depth`` is 0 for the root, ``name`` the element name as written
        (``prefix:local`` for namespaced names), ``runtype`` the ``runtype``
        attribute (``""`` when absent), ``value`` the ``value`` attribute or
        None, ``offset`` the byte offset in `data` of the ``<`` of its start
        tag. For UTF-8 (and other ASCII-compatible) data,
        ``data[offset:offset + 1 + len(name)] == b"<" + name.encode()``;
        for UTF-16 data the offset is that of the UTF-16 ``<``.

    Raises
    ------
    CorruptChunkError
        If the bytes are not well-formed XML (raised by this call, not lazily).
    """
    data = _to_bytes(data)
    parsed = _parse(data, _parser(resolve_entities=False))
    elements = _elements(parsed.root)
    offsets, depths = _Locator(parsed).locate(elements)
    if depths is None:
        depths = _tree_depths(parsed.root)
    return _records(elements, depths, offsets)


def _records(
    elements: list[Any], depths: list[int], offsets: list[int]
) -> Iterator[tuple[int, str, str, str | None, int]]:
    for element, depth, offset in zip(elements, depths, offsets):
        tag = element.tag
        yield (
            depth,
            tag if tag[:1] != "{" else _source_name(element),
            element.get("runtype") or "",
            element.get("value"),
            offset,
        )


#: the UTF-8 byte order mark some writers put before the document
_UTF8_BOM = b"\xef\xbb\xbf"


def looks_like_xml(head: bytes) -> bool:
    """True when `head` (the first payload bytes) starts like an XML-variant document:
    ``<`` followed by a byte that is not NUL (single-byte text; UTF-16 ``<\\0`` is not
    taken), or a UTF-8 byte order mark then ``<``. Nothing is parsed."""
    return (head[:1] == b"<" and head[1:2] != b"\0") or head.startswith(_UTF8_BOM + b"<")
