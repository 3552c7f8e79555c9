"""Build the XML variant (the metadata encoding of version 2.x files) from a record tree.

The inverse direction of :func:`nd2kit.codecs.xml_variant.decode_xml_variant` for the
trees nd2kit itself produces: a :class:`~nd2kit.codecs.lite_variant.LvRecord` tree (the
same tree the LiteVariant encoder takes) becomes ``<variant version="1.0">`` with one
element per record, its type in the ``runtype`` attribute and scalars in ``value``.
Records without a name (list items) become ``no_name`` elements, levels get the
container runtype ``CLxListVariant`` when they hold list items and their own name as
class name otherwise (readers ignore container runtypes).
"""

from __future__ import annotations

import base64
import math
from typing import Any

from lxml import etree

from ..errors import Nd2Error
from .lite_variant import LvRecord, LvType

__all__ = ["RUNTYPES", "encode_xml_variant"]

#: scalar LiteVariant type -> XML runtype
RUNTYPES: dict[int, str] = {
    int(LvType.BOOL): "bool",
    int(LvType.INT32): "lx_int32",
    int(LvType.UINT32): "lx_uint32",
    int(LvType.INT64): "lx_int64",
    int(LvType.UINT64): "lx_uint64",
    int(LvType.DOUBLE): "double",
    int(LvType.STRING): "CLxStringW",
    int(LvType.BYTE_ARRAY): "CLxByteArray",
}


def _value_text(rtype: int, value: Any) -> str:
    if rtype == LvType.BOOL:
        return "true" if value else "false"
    if rtype == LvType.DOUBLE:
        x = float(value)
        return repr(x) if math.isfinite(x) else ("nan" if x != x else ("inf" if x > 0 else "-inf"))
    if rtype == LvType.BYTE_ARRAY:
        return base64.b64encode(bytes(value)).decode("ascii")
    if rtype == LvType.STRING:
        return str(value)
    return str(int(value))


def encode_xml_variant(root: LvRecord) -> bytes:
    """Serialise `root` (a LEVEL record) as an XML-variant document (UTF-8).

    Raises
    ------
    Nd2Error
        For record types the XML variant has no runtype for (compressed records,
        void pointers) or a root that is not a level.
    """
    if root.type != LvType.LEVEL:
        raise Nd2Error(f"the XML variant's root must be a level, got type {root.type}")
    doc = etree.Element("variant", version="1.0")
    stack: list[tuple[etree._Element, LvRecord]] = [(doc, root)]
    while stack:
        parent, rec = stack.pop()
        tag = rec.name or "no_name"
        if rec.type == LvType.LEVEL:
            children: list[LvRecord] = list(rec.value)
            listy = any(not c.name for c in children)
            runtype = "CLxListVariant" if listy or parent is not doc and not rec.name else (
                rec.name if parent is doc else "CLxLiteVariant")
            el = etree.SubElement(parent, tag if parent is not doc else "no_name", runtype=runtype)
            stack.extend((el, c) for c in reversed(children))
            continue
        rt = RUNTYPES.get(rec.type)
        if rt is None:
            raise Nd2Error(f"record {rec.name!r}: type {rec.type} has no XML-variant runtype")
        etree.SubElement(parent, tag, runtype=rt, value=_value_text(rec.type, rec.value))
    out: bytes = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out
