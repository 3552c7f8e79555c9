"""Lower spec types to the statements of generated parsers and serializers.

Each generic type becomes a class with ``__slots__``; ``_parse`` reads fields with
precompiled ``struct.Struct`` objects (consecutive fixed primitives share one
``unpack_from``), checks every length against the end of its (sub)stream before
reading, and keeps the absolute start/end offsets of every object for tools.
Repeated fixed-size primitive records become zero-copy numpy structured arrays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .ksy import Attr, Expr, KType, Prim, Spec, SpecError


def class_name(tname: str) -> str:
    return "".join(p.capitalize() for p in tname.split("_"))


@dataclass
class TypeCode:
    name: str
    cls: str
    doc: str
    fields: list[str]
    slots: list[str]
    parse_lines: list[str]
    build_lines: list[str]
    props: list[tuple[str, str, list[str]]]  # (name, doc, body lines)
    params: list[str]
    fixed_size: int | None
    np_dtype: list[tuple[str, str]] | None
    field_docs: list[tuple[str, str]]
    hints: dict = field(default_factory=dict)
    #: fixed-layout types: parse lines on locals (``_v_<field>``) for ``unpack``
    unpack_lines: list[str] = field(default_factory=list)


class Lowerer:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.structs: dict[str, str] = {}  # struct format -> const name
        self.consts: dict[bytes, str] = {}

    # ---------------------------------------------------------------- helpers
    def struct_const(self, fmt: str) -> str:
        if fmt not in self.structs:
            name = "_S_" + re.sub(r"[^A-Za-z0-9]", "", fmt.replace("<", "le").replace(">", "be"))
            self.structs[fmt] = name
        return self.structs[fmt]

    def bytes_const(self, b: bytes) -> str:
        if b not in self.consts:
            self.consts[b] = f"_C_{len(self.consts)}"
        return self.consts[b]

    def np_dtype(self, t: KType) -> list[tuple[str, str]] | None:
        """Structured dtype of a fixed-size record (primitives and `contents` bytes)."""
        if t.instances or not t.seq:
            return None
        out = []
        for a in t.seq:
            if a.fixed_prim:
                out.append((a.id, a.prim.np_dtype))  # type: ignore[union-attr]
            elif a.contents is not None and not a.cond and not a.repeat:
                out.append((a.id, f"V{len(a.contents)}"))
            else:
                return None
        return out

    def fixed_size(self, t: KType) -> int | None:
        if not t.seq:
            return 0
        total = 0
        for a in t.seq:
            if a.fixed_prim:
                total += a.prim.size  # type: ignore[union-attr]
            elif a.contents is not None and not a.cond and not a.repeat:
                total += len(a.contents)
            else:
                return None
        return total

    # ---------------------------------------------------------------- lowering
    def lower(self, t: KType) -> TypeCode:
        ex = Expr(self.spec, t)
        names = [a.id for a in t.seq]
        pscope = {n: f"self.{n}" for n in names + t.params + [i.id for i in t.instances]}
        pscope.update({"_io.size": "(_end - _base)", "_io.pos": "(pos - _base)",
                       "_parent": "parent", "_root": "root"})
        bscope = {n: f"self.{n}" for n in names + t.params + [i.id for i in t.instances]}
        bscope.update({"_io.size": "_unsupported_io_size", "_parent": "self._parent",
                       "_root": "self._root"})
        pl: list[str] = []
        bl: list[str] = []
        i = 0
        seq = t.seq
        while i < len(seq):
            a = seq[i]
            # group consecutive fixed primitives of one endianness into one struct
            if a.fixed_prim:
                group = [a]
                j = i + 1
                while j < len(seq) and seq[j].fixed_prim and seq[j].prim.endian == a.prim.endian:  # type: ignore[union-attr]
                    group.append(seq[j])
                    j += 1
                fmt = a.prim.endian + "".join(g.prim.code for g in group)  # type: ignore[union-attr]
                size = sum(g.prim.size for g in group)  # type: ignore[union-attr]
                sc = self.struct_const(fmt)
                ids = [g.id for g in group]
                pl.append(f"if pos + {size} > _end: raise _truncated({t.name!r}, {ids[0]!r}, pos, {size}, _end)")
                targets = ", ".join(f"self.{x}" for x in ids) + ("," if len(ids) == 1 else "")
                pl.append(f"{targets} = {sc}.unpack_from(buf, pos)")
                pl.append(f"pos += {size}")
                for g in group:
                    if g.valid_any is not None:
                        allowed = ", ".join(ex.to_py(v, pscope) for v in g.valid_any)
                        pl.append(
                            f"if self.{g.id} not in ({allowed},): raise _invalid({t.name!r}, {g.id!r}, pos - {size}, self.{g.id}, 'one of the allowed values')"
                        )
                    if g.valid is not None:
                        pl.append(
                            f"if self.{g.id} != {g.valid!r}: raise _invalid({t.name!r}, {g.id!r}, pos - {size}, self.{g.id}, {g.valid!r})"
                        )
                bl.append(f"out.append({sc}.pack({', '.join(f'self.{x}' for x in ids)}))")
                i = j
                continue
            p, b = self.lower_attr(t, a, ex, pscope, bscope)
            if a.cond:
                pc = ex.to_py(a.cond, pscope)
                bc = ex.to_py(a.cond, bscope)
                pl.append(f"if {pc}:")
                pl.extend("    " + x for x in p)
                pl.append("else:")
                pl.append(f"    self.{a.id} = None")
                bl.append(f"if {bc}:")
                bl.extend("    " + x for x in b)
            else:
                pl.extend(p)
                bl.extend(b)
            i += 1
        props = []
        for inst in t.instances:
            if inst.value is not None:
                vs = {n: f"self.{n}" for n in names + t.params + [k.id for k in t.instances]}
                vs.update({"_parent": "self._parent", "_root": "self._root", "_io.size": "(self._end - self._base)"})
                props.append((inst.id, inst.doc, [f"return {ex.to_py(inst.value, vs)}"]))
            else:
                vs = {n: f"self.{n}" for n in names + t.params + [k.id for k in t.instances]}
                vs.update({"_parent": "self._parent", "_root": "self._root",
                           "_io.size": "(self._end - self._base)"})
                assert inst.pos is not None and inst.user is not None
                cls = class_name(inst.user)
                body = [
                    f"c = self._cache.get({inst.id!r})",
                    "if c is None:",
                    f"    p = self._base + {ex.to_py(inst.pos, vs)}",
                ]
                if inst.size is not None:
                    body += [
                        f"    n = {ex.to_py(inst.size, vs)}",
                        f"    if n < 0 or p < self._base or p + n > self._end: raise _bad_size({t.name!r}, {inst.id!r}, p, n, self._end)",
                        f"    c = {cls}._parse(self._buf, p, p, p + n, self, self._root or self)[0]",
                    ]
                else:
                    body += [
                        f"    if p < self._base or p > self._end: raise _bad_size({t.name!r}, {inst.id!r}, p, 0, self._end)",
                        f"    c = {cls}._parse(self._buf, p, self._base, self._end, self, self._root or self)[0]",
                    ]
                body += [f"    self._cache[{inst.id!r}] = c", "return c"]
                props.append((inst.id, inst.doc, body))
        return TypeCode(
            name=t.name,
            cls=class_name(t.name),
            doc=t.doc,
            fields=names,
            slots=names + t.params,
            parse_lines=pl,
            build_lines=bl,
            props=props,
            params=t.params,
            fixed_size=self.fixed_size(t),
            np_dtype=self.np_dtype(t),
            field_docs=[(a.id, a.doc) for a in t.seq],
            hints=t.hints,
            unpack_lines=self._unpack_lines(t, pl),
        )

    @staticmethod
    def _unpack_lines(t: KType, pl: list[str]) -> list[str]:
        """Parse lines on locals, for types whose fields do not need a node: no params,
        instances or nested types (their parse refers to nothing but its own fields)."""
        if t.params or t.instances:
            return []
        text = "\n".join(pl)
        if any(w in text for w in ("_parse(", "parent", "root", "self._", "_base")):
            return []
        out = [ln.replace("self.", "_v_") for ln in pl]
        return [] if any("self" in ln for ln in out) else out

    def _size_lines(self, t: KType, a: Attr, ex: Expr, pscope: dict[str, str]) -> list[str]:
        if a.size_eos:
            return ["n = _end - pos"]
        assert a.size is not None
        return [
            f"n = {ex.to_py(a.size, pscope)}",
            f"if n < 0 or pos + n > _end: raise _bad_size({t.name!r}, {a.id!r}, pos, n, _end)",
        ]

    def lower_attr(
        self, t: KType, a: Attr, ex: Expr, pscope: dict[str, str], bscope: dict[str, str]
    ) -> tuple[list[str], list[str]]:
        tn = t.name
        sized = a.size is not None or a.size_eos
        if a.repeat:
            return self.lower_repeat(t, a, ex, pscope, bscope)
        if a.contents is not None:
            c = self.bytes_const(a.contents)
            n = len(a.contents)
            return (
                [
                    f"if pos + {n} > _end: raise _truncated({tn!r}, {a.id!r}, pos, {n}, _end)",
                    f"if buf[pos:pos + {n}] != {c}: raise _bad_contents({tn!r}, {a.id!r}, pos, buf[pos:pos + {n}], {c})",
                    f"self.{a.id} = {c}",
                    f"pos += {n}",
                ],
                [f"out.append({c})"],
            )
        if a.prim is not None:
            sc = self.struct_const(a.prim.endian + a.prim.code)
            n = a.prim.size
            return (
                [
                    f"if pos + {n} > _end: raise _truncated({tn!r}, {a.id!r}, pos, {n}, _end)",
                    f"self.{a.id}, = {sc}.unpack_from(buf, pos)",
                    f"pos += {n}",
                ],
                [f"out.append({sc}.pack(self.{a.id}))"],
            )
        if a.is_str:
            enc = a.encoding or "ASCII"
            penc = {"UTF-16LE": "utf-16-le", "ASCII": "ascii", "UTF-8": "utf-8"}[enc]
            unit = 2 if penc == "utf-16-le" else 1
            term = None if a.terminator is None else bytes([a.terminator]) * unit
            tc = self.bytes_const(term) if term else None
            if sized:
                p = self._size_lines(t, a, ex, pscope) + ["raw = bytes(buf[pos:pos + n])"]
                if term:
                    p += [f"k = _find_unit(raw, {tc}, 0, len(raw), {unit})"]
                    keep = f"k + {unit}" if a.include else "k"
                    p += [f"if k >= 0: raw = raw[:{keep}]"]
                p += [f"self.{a.id} = _decode(raw, {penc!r}, {tn!r}, {a.id!r}, pos)", "pos += n"]
                b = [f"data = self.{a.id}.encode({penc!r}, 'surrogatepass')"]
                if term and not a.include:
                    b += [f"data += {tc}"]
                b += self._build_size_check(a, ex, bscope, pad=True)
                b += ["out.append(data)"]
                return p, b
            if term is None:
                raise SpecError(f"{tn}.{a.id}: str needs size or terminator")
            p = [
                f"k = _find_unit(buf, {tc}, pos, _end, {unit})",
                f"if k < 0: raise _unterminated({tn!r}, {a.id!r}, pos, _end)",
                f"self.{a.id} = _decode(bytes(buf[pos:k + {unit if a.include else 0}]), {penc!r}, {tn!r}, {a.id!r}, pos)",
                f"pos = k + {unit}",
            ]
            b = [f"out.append(self.{a.id}.encode({penc!r}, 'surrogatepass'))"]
            if not a.include:
                b += [f"out.append({tc})"]
            return p, b
        if a.switch_on is not None:
            return self.lower_switch(t, a, ex, pscope, bscope)
        if a.user is not None:
            cls = class_name(a.user)
            if a.process == "zlib":
                p = self._size_lines(t, a, ex, pscope) + [
                    f"self._raw_{a.id} = bytes(buf[pos:pos + n])",
                    f"inner = _inflate(self._raw_{a.id}, {tn!r}, {a.id!r}, pos)",
                    f"self.{a.id} = {cls}._parse(inner, 0, 0, len(inner), self, root)[0]",
                    "pos += n",
                ]
                b = [
                    f"if self._raw_{a.id} is not None: out.append(self._raw_{a.id})",
                    f"else: out.append(_zlib.compress(self.{a.id}.to_bytes()))",
                ]
                return p, b
            if sized:
                p = self._size_lines(t, a, ex, pscope) + [
                    f"self.{a.id}, k = {cls}._parse(buf, pos, pos, pos + n, self, root)",
                    f"self._tail_{a.id} = bytes(buf[k:pos + n])",
                    "pos += n",
                ]
                b = [f"self.{a.id}._parent = self",
                     f"data = self.{a.id}.to_bytes() + (self._tail_{a.id} or b'')"]
                b += self._build_size_check(a, ex, bscope, pad=False) + ["out.append(data)"]
                return p, b
            return (
                [f"self.{a.id}, pos = {cls}._parse(buf, pos, _base, _end, self, root)"],
                [f"self.{a.id}._parent = self", f"self.{a.id}._build(out)"],
            )
        # raw bytes
        if not sized:
            raise SpecError(f"{tn}.{a.id}: no type and no size")
        if a.process == "zlib":
            p = self._size_lines(t, a, ex, pscope) + [
                f"self._raw_{a.id} = bytes(buf[pos:pos + n])",
                f"self.{a.id} = _inflate(self._raw_{a.id}, {tn!r}, {a.id!r}, pos)",
                "pos += n",
            ]
            return p, [f"out.append(self._raw_{a.id} if self._raw_{a.id} is not None else _zlib.compress(self.{a.id}))"]
        p = self._size_lines(t, a, ex, pscope) + [f"self.{a.id} = buf[pos:pos + n]", "pos += n"]
        b = [f"data = bytes(self.{a.id})"] + self._build_size_check(a, ex, bscope, pad=False) + ["out.append(data)"]
        return p, b

    def _build_size_check(self, a: Attr, ex: Expr, bscope: dict[str, str], pad: bool) -> list[str]:
        if a.size is None:
            return []
        n = ex.to_py(a.size, bscope)
        lines = [f"n = {n}"]
        if pad:
            lines += [
                f"if len(data) > n: raise ValueError('{a.id}: value longer than its size field allows')",
                "data = data + bytes(n - len(data))",
            ]
        else:
            lines += [f"if len(data) != n: raise ValueError(f'{a.id}: {{len(data)}} bytes but size says {{n}}')"]
        return lines

    def lower_switch(
        self, t: KType, a: Attr, ex: Expr, pscope: dict[str, str], bscope: dict[str, str]
    ) -> tuple[list[str], list[str]]:
        on_p = ex.to_py(a.switch_on, pscope)  # type: ignore[arg-type]
        on_b = ex.to_py(a.switch_on, bscope)  # type: ignore[arg-type]
        sized = a.size is not None or a.size_eos
        p: list[str] = []
        b: list[str] = []
        if sized:
            p += self._size_lines(t, a, ex, pscope)
        p.append(f"on = {on_p}")
        b.append(f"on = {on_b}")
        first = True
        for key, target in a.cases.items():
            kw = "if" if first else "elif"
            first = False
            k = ex.to_py(key, pscope)
            p.append(f"{kw} on == {k}:")
            b.append(f"{kw} on == {ex.to_py(key, bscope)}:")
            if isinstance(target, Prim):
                sc = self.struct_const(target.endian + target.code)
                end = "pos + n" if sized else "_end"
                p += [
                    f"    if pos + {target.size} > {end}: raise _truncated({t.name!r}, {a.id!r}, pos, {target.size}, {end})",
                    f"    self.{a.id}, = {sc}.unpack_from(buf, pos)",
                ]
                if not sized:
                    p.append(f"    pos += {target.size}")
                b.append(f"    data = {sc}.pack(self.{a.id})")
            else:
                cls = class_name(target)
                if sized:
                    p.append(f"    self.{a.id}, k = {cls}._parse(buf, pos, pos, pos + n, self, root)")
                    p.append(f"    self._tail_{a.id} = bytes(buf[k:pos + n])")
                else:
                    p.append(f"    self.{a.id}, pos = {cls}._parse(buf, pos, _base, _end, self, root)")
                b.append(f"    if isinstance(self.{a.id}, Node):")
                b.append(f"        self.{a.id}._parent = self")
                b.append(f"        data = self.{a.id}.to_bytes() + (getattr(self, '_tail_{a.id}', None) or b'')")
                b.append("    else:  # raw bytes given for a typed case")
                b.append(f"        data = bytes(self.{a.id})")
        p.append("else:")
        b.append("else:")
        if sized:
            p.append(f"    self.{a.id} = buf[pos:pos + n]")
            b.append(f"    data = bytes(self.{a.id})")
        else:
            p.append(f"    raise _bad_switch({t.name!r}, {a.id!r}, pos, on)")
            b.append(f"    raise ValueError(f'{a.id}: no case for {{on!r}}')")
        if sized:
            p.append("pos += n")
        b += self._build_size_check(a, ex, bscope, pad=False)
        b.append("out.append(data)")
        return p, b

    def lower_repeat(
        self, t: KType, a: Attr, ex: Expr, pscope: dict[str, str], bscope: dict[str, str]
    ) -> tuple[list[str], list[str]]:
        tn = t.name
        if a.size is not None or a.size_eos or a.is_str or a.contents is not None or a.switch_on:
            raise SpecError(f"{tn}.{a.id}: repeat supported for plain primitive/user types")
        if a.repeat == "expr":
            cnt = ex.to_py(a.repeat_expr, pscope)  # type: ignore[arg-type]
            if a.prim is not None:
                dt = repr(a.prim.np_dtype)
                itemsize = a.prim.size
                p = [
                    f"cnt = {cnt}",
                    f"if cnt < 0 or pos + cnt * {itemsize} > _end: raise _bad_size({tn!r}, {a.id!r}, pos, cnt * {itemsize}, _end)",
                    f"self.{a.id} = _np.frombuffer(buf, dtype={dt}, count=cnt, offset=pos)",
                    f"pos += cnt * {itemsize}",
                ]
                b = [f"out.append(_np.asarray(self.{a.id}, dtype={dt}).tobytes())"]
                return p, b
            ut = self.spec.types[a.user]  # type: ignore[index]
            cls = class_name(a.user)  # type: ignore[arg-type]
            if self.np_dtype(ut) is not None and ut.is_fixed_prims():
                size = self.fixed_size(ut)
                p = [
                    f"cnt = {cnt}",
                    f"if cnt < 0 or pos + cnt * {size} > _end: raise _bad_size({tn!r}, {a.id!r}, pos, cnt * {size}, _end)",
                    f"self.{a.id} = _np.frombuffer(buf, dtype={cls}.DTYPE, count=cnt, offset=pos)",
                    f"pos += cnt * {size}",
                ]
                b = [f"out.append(_np.asarray(self.{a.id}, dtype={cls}.DTYPE).tobytes())"]
                return p, b
            p = [
                f"cnt = {cnt}",
                f"if cnt < 0 or cnt > _end - pos: raise _bad_size({tn!r}, {a.id!r}, pos, cnt, _end)",
                "items = []",
                "for _i in range(cnt):",
                f"    item, pos = {cls}._parse(buf, pos, _base, _end, self, root)",
                "    items.append(item)",
                f"self.{a.id} = items",
            ]
            return p, [f"for item in self.{a.id}:", "    item._parent = self", "    item._build(out)"]
        if a.repeat == "until":
            if a.user is None:
                raise SpecError(f"{tn}.{a.id}: repeat-until needs a user type")
            cls = class_name(a.user)
            until = ex.to_py(a.repeat_until, pscope, item="item")  # type: ignore[arg-type]
            p = [
                "items = []",
                "while True:",
                f"    item, pos = {cls}._parse(buf, pos, _base, _end, self, root)",
                "    items.append(item)",
                f"    if {until}: break",
                f"self.{a.id} = items",
            ]
            return p, [f"for item in self.{a.id}:", "    item._parent = self", "    item._build(out)"]
        if a.repeat == "eos":
            if a.user is None:
                raise SpecError(f"{tn}.{a.id}: repeat eos needs a user type")
            cls = class_name(a.user)
            p = [
                "items = []",
                "while pos < _end:",
                f"    item, pos = {cls}._parse(buf, pos, _base, _end, self, root)",
                "    items.append(item)",
                f"self.{a.id} = items",
            ]
            return p, [f"for item in self.{a.id}:", "    item._parent = self", "    item._build(out)"]
        raise SpecError(f"{tn}.{a.id}: repeat {a.repeat}")
