"""Load Kaitai Struct (.ksy) specs into a small model the fast-codec templates use.

The fast generator supports the subset of Kaitai Struct 0.11 that nd2kit's specs
use, and fails loudly (``SpecError``) on anything else, so a spec can never be
silently mis-rendered:

* primitive types ``u1..u8``, ``s1..s8``, ``f4``, ``f8`` with ``le``/``be`` suffix or
  the spec's ``meta.endian``; ``contents``; ``size``/``size-eos`` byte blocks;
  ``str``/``strz`` with ``encoding``, ``size``, ``terminator``, ``include``;
  user types (sized = substream), ``switch-on`` over user and primitive types;
* ``repeat: expr | until | eos``; ``if``; ``process: zlib``; ``valid`` (equality);
* ``params``; ``instances`` with ``value`` or ``pos`` (+ ``size``, ``type``);
* enums; the expression language's arithmetic, comparison, logic, ternary,
  ``_parent``, ``_root``, ``_io.size``, ``_`` in ``repeat-until``, ``enum::value``.

``-nd2kit`` keys (ignored by the official compiler) select specialised hot-path
templates for a type: ``fast: record_table`` and ``fast: tagged_tree``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SpecError(Exception):
    """A spec uses something the fast generator does not support."""


PRIM_RE = re.compile(r"^(u1|s1|u2|s2|u4|s4|u8|s8|f4|f8)(le|be)?$")
STRUCT_CODES = {
    "u1": "B", "s1": "b", "u2": "H", "s2": "h", "u4": "I", "s4": "i",
    "u8": "Q", "s8": "q", "f4": "f", "f8": "d",
}
NUMPY_CODES = {
    "u1": "u1", "s1": "i1", "u2": "u2", "s2": "i2", "u4": "u4", "s4": "i4",
    "u8": "u8", "s8": "i8", "f4": "f4", "f8": "f8",
}


@dataclass
class Prim:
    name: str  # e.g. "u4"
    endian: str  # "<" or ">"

    @property
    def code(self) -> str:
        return STRUCT_CODES[self.name]

    @property
    def size(self) -> int:
        return int(self.name[1])

    @property
    def np_dtype(self) -> str:
        return ("<" if self.endian == "<" else ">") + NUMPY_CODES[self.name]


@dataclass
class Attr:
    id: str
    doc: str
    raw: dict[str, Any]
    prim: Prim | None = None
    contents: bytes | None = None
    user: str | None = None  # user type name
    switch_on: str | None = None
    cases: dict[str, Any] = field(default_factory=dict)  # expr -> Prim | str
    is_str: bool = False
    encoding: str | None = None
    terminator: int | None = None
    include: bool = False
    size: str | None = None
    size_eos: bool = False
    repeat: str | None = None
    repeat_expr: str | None = None
    repeat_until: str | None = None
    cond: str | None = None
    process: str | None = None
    valid: Any = None
    valid_any: list[str] | None = None
    enum: str | None = None

    @property
    def fixed_prim(self) -> bool:
        """A primitive read at a fixed place: no repeat, no condition."""
        return self.prim is not None and not self.repeat and not self.cond


@dataclass
class Instance:
    id: str
    doc: str
    value: str | None = None
    pos: str | None = None
    size: str | None = None
    user: str | None = None


@dataclass
class KType:
    name: str
    doc: str
    seq: list[Attr]
    params: list[str]
    instances: list[Instance]
    hints: dict[str, Any]

    def is_fixed_prims(self) -> bool:
        return bool(self.seq) and all(a.fixed_prim for a in self.seq)


@dataclass
class Spec:
    id: str
    path: Path
    doc: str
    endian: str
    types: dict[str, KType]
    enums: dict[str, dict[int, str]]
    hints: dict[str, Any]
    text: str

    def enum_value(self, enum: str, name: str) -> int:
        for k, v in self.enums[enum].items():
            if v == name:
                return k
        raise SpecError(f"{self.id}: enum {enum} has no value {name}")


def _prim(tname: str, default_endian: str) -> Prim | None:
    m = PRIM_RE.match(tname)
    if not m:
        return None
    end = m.group(2)
    endian = {"le": "<", "be": ">", None: default_endian}[end]
    return Prim(m.group(1), endian)


def _contents(v: Any) -> bytes:
    if isinstance(v, str):
        return v.encode("ascii")
    out = bytearray()
    for item in v:
        if isinstance(item, str):
            out += item.encode("ascii")
        else:
            out.append(int(item))
    return bytes(out)


def _attr(spec_id: str, tname: str, raw: dict[str, Any], endian: str) -> Attr:
    allowed = {
        "id", "doc", "doc-ref", "type", "contents", "size", "size-eos", "encoding",
        "terminator", "include", "repeat", "repeat-expr", "repeat-until", "if",
        "process", "valid", "enum", "value", "pos",
    }
    extra = set(raw) - allowed
    extra = {k for k in extra if not k.startswith("-")}
    if extra:
        raise SpecError(f"{spec_id}.{tname}.{raw.get('id')}: unsupported keys {extra}")
    if "doc" not in raw:
        raise SpecError(f"{spec_id}.{tname}.{raw.get('id')}: every field needs doc:")
    a = Attr(id=raw["id"], doc=str(raw["doc"]).strip(), raw=raw)
    t = raw.get("type")
    if "contents" in raw:
        a.contents = _contents(raw["contents"])
    elif isinstance(t, dict):
        a.switch_on = str(t["switch-on"])
        for k, v in t["cases"].items():
            p = _prim(str(v), endian)
            a.cases[str(k)] = p if p else str(v)
    elif t in ("str", "strz"):
        a.is_str = True
        a.encoding = raw.get("encoding")
        if t == "strz":
            a.terminator = 0
        if "terminator" in raw:
            a.terminator = int(raw["terminator"])
        a.include = bool(raw.get("include", False))
    elif t is not None:
        p = _prim(str(t), endian)
        if p:
            a.prim = p
        elif "(" in str(t):
            raise SpecError(f"{spec_id}.{tname}.{a.id}: type arguments unsupported")
        else:
            a.user = str(t)
    if "size" in raw:
        a.size = str(raw["size"])
    a.size_eos = bool(raw.get("size-eos", False))
    if "repeat" in raw:
        a.repeat = raw["repeat"]
        a.repeat_expr = str(raw["repeat-expr"]) if "repeat-expr" in raw else None
        a.repeat_until = str(raw["repeat-until"]) if "repeat-until" in raw else None
    if "if" in raw:
        a.cond = str(raw["if"])
    if "process" in raw:
        if raw["process"] != "zlib":
            raise SpecError(f"{spec_id}.{tname}.{a.id}: only process: zlib")
        a.process = "zlib"
    if "valid" in raw:
        v = raw["valid"]
        if isinstance(v, dict) and "any-of" in v:
            a.valid_any = [str(x) for x in v["any-of"]]
        else:
            a.valid = v["eq"] if isinstance(v, dict) else v
    a.enum = raw.get("enum")
    return a


def load_spec(path: Path) -> Spec:
    text = path.read_text()
    data = yaml.safe_load(text)
    meta = data["meta"]
    sid = meta["id"]
    endian = {"le": "<", "be": ">"}[meta.get("endian", "le")]
    types: dict[str, KType] = {}

    def make_type(name: str, body: dict[str, Any]) -> KType:
        seq = [_attr(sid, name, r, endian) for r in body.get("seq", [])]
        params = [p["id"] for p in body.get("params", [])]
        insts = []
        for iid, ib in (body.get("instances") or {}).items():
            if "doc" not in ib:
                raise SpecError(f"{sid}.{name}.{iid}: every instance needs doc:")
            t = ib.get("type")
            if t is not None and _prim(str(t), endian):
                raise SpecError(f"{sid}.{name}.{iid}: primitive pos instances unsupported")
            insts.append(
                Instance(
                    id=iid,
                    doc=str(ib["doc"]).strip(),
                    value=str(ib["value"]) if "value" in ib else None,
                    pos=str(ib["pos"]) if "pos" in ib else None,
                    size=str(ib["size"]) if "size" in ib else None,
                    user=str(t) if t is not None else None,
                )
            )
        if "doc" not in body and name != sid:
            raise SpecError(f"{sid}.{name}: every type needs doc:")
        return KType(
            name=name,
            doc=str(body.get("doc", "")).strip(),
            seq=seq,
            params=params,
            instances=insts,
            hints=body.get("-nd2kit") or {},
        )

    types[sid] = make_type(sid, data)
    for tname, tbody in (data.get("types") or {}).items():
        types[tname] = make_type(tname, tbody)
    enums = {k: {int(n): str(v) for n, v in e.items()} for k, e in (data.get("enums") or {}).items()}
    for t in types.values():
        for a in t.seq:
            refs = [a.user] if a.user else [c for c in a.cases.values() if isinstance(c, str)]
            for r in refs:
                if r and r not in types:
                    raise SpecError(f"{sid}.{t.name}.{a.id}: unknown type {r}")
    return Spec(
        id=sid,
        path=path,
        doc=str(data.get("doc", "")).strip(),
        endian=endian,
        types=types,
        enums=enums,
        hints=data.get("-nd2kit") or {},
        text=text,
    )


# --------------------------------------------------------------------------------------
# expressions

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>0x[0-9a-fA-F]+|\d+(?:\.\d+)?)|
        (?P<str>'[^']*'|"[^"]*")|
        (?P<enum>[a-z_][a-z0-9_]*::[a-z_][a-z0-9_]*)|
        (?P<name>[A-Za-z_][A-Za-z0-9_]*)|
        (?P<op>==|!=|<=|>=|<<|>>|[-+*/%<>?:().!])
    )""",
    re.X,
)


class Expr:
    """Translate a ksy expression to Python for the fast codecs.

    ``scope`` maps a bare identifier to the Python expression holding it (the parser
    keeps fields in locals ``f_<id>``; the serializer reads ``self.<id>``).
    """

    def __init__(self, spec: Spec, ktype: KType) -> None:
        self.spec = spec
        self.ktype = ktype

    def to_py(self, src: str, scope: dict[str, str], *, item: str | None = None) -> str:
        out: list[str] = []
        pos = 0
        src = src.strip()
        tokens: list[tuple[str, str]] = []
        while pos < len(src):
            m = _TOKEN.match(src, pos)
            if not m or m.end() == pos:
                raise SpecError(f"cannot parse expression {src!r} at {pos}")
            pos = m.end()
            kind = m.lastgroup
            assert kind is not None
            tokens.append((kind, m.group(kind)))
        i = 0
        ternary_stack = 0
        while i < len(tokens):
            kind, tok = tokens[i]
            if kind == "num":
                out.append(tok)
            elif kind == "str":
                out.append(repr(tok[1:-1]))
            elif kind == "enum":
                ename, vname = tok.split("::")
                out.append(str(self.spec.enum_value(ename, vname)))
            elif kind == "name":
                if tok in ("and", "or", "not"):
                    out.append(f" {tok} ")
                elif tok in ("true", "false"):
                    out.append("True" if tok == "true" else "False")
                else:
                    # a dotted path: name(.name)*
                    path = [tok]
                    while i + 2 < len(tokens) and tokens[i + 1] == ("op", ".") and tokens[i + 2][0] == "name":
                        path.append(tokens[i + 2][1])
                        i += 2
                    out.append(self._path(path, scope, item))
            else:  # op
                if tok == "?":
                    ternary_stack += 1
                    out.append(" ?TERN? ")
                elif tok == ":" and ternary_stack:
                    ternary_stack -= 1
                    out.append(" :TERN: ")
                elif tok == "!":
                    out.append(" not ")
                elif tok == "/":
                    out.append("//")
                else:
                    out.append(tok)
            i += 1
        text = "".join(out)
        # a ? b : c  ->  (b if a else c); one un-nested ternary at most
        n_tern = text.count("?TERN?")
        if n_tern > 1 or ternary_stack:
            raise SpecError(f"{self.spec.id}.{self.ktype.name}: expression {src!r}: nested, chained or "
                            "unbalanced ?: is not supported (use one a ? b : c, or an instance per step)")
        if n_tern:
            cond, rest = text.split("?TERN?", 1)
            a, b = rest.split(":TERN:", 1)
            text = f"(({a.strip()}) if ({cond.strip()}) else ({b.strip()}))"
        text = f"({text.strip()})"
        try:
            compile(text, "<ksy expression>", "eval")
        except SyntaxError:
            raise SpecError(f"{self.spec.id}.{self.ktype.name}: expression {src!r} is not supported "
                            f"(it renders as invalid Python: {text})") from None
        return text

    def _path(self, path: list[str], scope: dict[str, str], item: str | None) -> str:
        head, rest = path[0], path[1:]
        if head == "_io":
            if rest == ["size"]:
                return scope["_io.size"]
            if rest == ["pos"]:
                return scope["_io.pos"]
            raise SpecError(f"unsupported _io member {rest}")
        if head == "_":
            if item is None:
                raise SpecError("'_' outside repeat-until")
            base = item
        elif head == "_parent":
            base = scope["_parent"]
        elif head == "_root":
            base = scope["_root"]
        else:
            if head not in scope:
                raise SpecError(f"{self.ktype.name}: unknown name {head!r} in expression")
            base = scope[head]
        for r in rest:
            base = f"{base}.{r}"
        return base
