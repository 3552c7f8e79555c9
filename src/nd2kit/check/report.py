"""The one report model of the check tools.

:class:`Finding` is one problem (``error``, ``warning`` or ``info``) with the chunk
concerned, the absolute file offset and the spec rule; :class:`ValidationReport`
collects the findings of ``nd2kit validate``; :class:`Problem` is the
:class:`Finding` ``nd2kit inspect`` reports when it could not read something (an
``error`` without a spec rule). :class:`Sink` de-duplicates findings while a check
runs and folds what known writers produce into notes.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..codecs import container
from ..codecs import lite_variant as lv
from ..errors import Nd2Error

__all__ = [
    "Finding",
    "Problem",
    "Sink",
    "ValidationReport",
    "WRITER_QUIRKS",
    "WriterQuirk",
    "gc_paused",
    "header_spec",
    "hex_offset",
    "located_message",
    "spec_from",
]

K_C = "nd2_container.ksy"
K_LV = "lite_variant.ksy"
K_JP2 = "legacy_jp2.ksy"
K_RLE = "binary_rle.ksy"

LV_TYPE_NAMES = {int(t): t.name for t in lv.LvType}


@dataclass
class Finding:
    """One problem: severity (``error``/``warning``/``info``), chunk name, absolute offset,
    spec rule and a message."""

    severity: str
    chunk: str | None
    offset: int | None
    spec: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "chunk": self.chunk,
            "offset": self.offset,
            "spec": self.spec,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = "-" if self.offset is None else f"0x{self.offset:X} ({self.offset})"
        return f"{self.severity}: {self.chunk or '-'} @ {where} [{self.spec}] {self.message}"


class Problem(Finding):
    """What ``inspect`` could not read: where (absolute offset) and why.

    A :class:`Finding` of severity ``error`` without a spec rule, built as
    ``Problem(offset, message, chunk)``; ``to_dict`` keeps inspect's JSON shape
    ``{chunk, offset, message}``.
    """

    def __init__(
        self, offset: int | None, message: str, chunk: str | None = None, spec: str = ""
    ) -> None:
        super().__init__("error", chunk, offset, spec, message)

    def to_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "offset": self.offset, "message": self.message}


@dataclass
class ValidationReport:
    """Result of :func:`validate_file`.

    ``readable`` is False when the input could not be opened or is not an ND2 file
    at all (exit code 2). ``ok`` is True when readable and no finding is an error.
    ``checked`` counts what was examined (chunks per kind, records, frames...).
    """

    path: str | None
    size: int = 0
    format: str = "unknown"
    version: tuple[int, int] | None = None
    readable: bool = True
    roundtrip: bool = False
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def infos(self) -> list[Finding]:
        """Notes: what the spec does not ask for but known writers produce (never fails)."""
        return [f for f in self.findings if f.severity == "info"]

    @property
    def ok(self) -> bool:
        return self.readable and not self.errors

    @property
    def exit_code(self) -> int:
        return 2 if not self.readable else (0 if self.ok else 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "format": self.format,
            "version": list(self.version) if self.version else None,
            "readable": self.readable,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "roundtrip": self.roundtrip,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "infos": len(self.infos),
            "checked": dict(self.checked),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass(frozen=True)
class WriterQuirk:
    """A finding kind that a known writer produces in its ordinary files.

    A warning whose ``spec`` equals `spec` and whose message matches `pattern` is
    not reported on its own: :meth:`Sink.finish` folds all of them into one
    ``info`` finding, ``"N chunks: <label>"``. ``pattern``'s optional group ``n``
    is the number of items a single finding stands for (summed in the note).
    """

    spec: str
    pattern: re.Pattern[str]
    label: str
    unit: str


#: Finding kinds NIS-Elements / LUCIA write in every real file (decided on the real
#: corpus files, all written by NIS-Elements AR 5.x or LUCIA G); docs/tools.md
#: documents the rule. Everything else keeps its severity.
WRITER_QUIRKS: tuple[WriterQuirk, ...] = (
    WriterQuirk(
        f"{K_LV}:record.name_len",
        re.compile(r"(?P<n>\d+) records? with name_len 0 "),
        "name field padding as NIS writes it (records with name_len 0: an empty name "
        "stored without its NUL terminator; nd2 and limnd2 read it)",
        "record",
    ),
    WriterQuirk(
        f"{K_LV}:level_body.children",
        re.compile(r"duplicate name '"),
        "duplicate record names inside one LEVEL, as NIS writes them (e.g. 'dZLow' in a "
        "Z-stack's ImageMetadataLV!; nd2 keeps the last, limnd2 renames it)",
        "duplicate",
    ),
)


class Sink:
    """Collects findings for a :class:`ValidationReport`, dropping exact repeats;
    :meth:`finish` folds :data:`WRITER_QUIRKS` into ``info`` notes."""

    def __init__(self, rep: ValidationReport) -> None:
        self.rep = rep
        self._seen: set[tuple[Any, ...]] = set()

    def add(
        self, severity: str, chunk: str | None, offset: int | None, spec: str, message: str
    ) -> None:
        key = (severity, chunk, offset, spec, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.rep.findings.append(Finding(severity, chunk, offset, spec, message))

    def error(self, chunk: str | None, offset: int | None, spec: str, message: str) -> None:
        self.add("error", chunk, offset, spec, message)

    def warning(self, chunk: str | None, offset: int | None, spec: str, message: str) -> None:
        self.add("warning", chunk, offset, spec, message)

    def count(self, key: str, n: int = 1) -> None:
        self.rep.checked[key] = self.rep.checked.get(key, 0) + n

    def finish(self, quirks: tuple[WriterQuirk, ...] = WRITER_QUIRKS) -> None:
        """Fold the warnings that match a known writer's quirk into one ``info`` note
        per quirk (count of chunks and items, first chunk and offset)."""
        hits: dict[int, list[tuple[Finding, int]]] = {}
        kept: list[Finding] = []
        for f in self.rep.findings:
            if f.severity == "warning":
                k = _quirk_of(f, quirks)
                if k is not None:
                    hits.setdefault(k[0], []).append((f, k[1]))
                    continue
            kept.append(f)
        for qi, found in sorted(hits.items()):
            q = quirks[qi]
            chunks = list(dict.fromkeys(f.chunk or "-" for f, _ in found))
            items = sum(n for _, n in found)
            first = found[0][0]
            shown = ", ".join(chunks[:4]) + (", ..." if len(chunks) > 4 else "")
            kept.append(
                Finding(
                    "info",
                    first.chunk,
                    first.offset,
                    q.spec,
                    f"{len(chunks)} chunk{'s' * (len(chunks) != 1)}: {q.label}; "
                    f"{items} {q.unit}{'s' * (items != 1)} in {shown}",
                )
            )
        self.rep.findings = kept


def _quirk_of(f: Finding, quirks: tuple[WriterQuirk, ...]) -> tuple[int, int] | None:
    for i, q in enumerate(quirks):
        if f.spec == q.spec:
            m = q.pattern.search(f.message)
            if m is not None:
                n = m.groupdict().get("n")
                return i, int(n) if n else 1
    return None


_ERR_FIELD = re.compile(r"(\w+)\.(\w+):")


def spec_from(ksy: str, err: Nd2Error, default: str) -> str:
    """``ksy:type.field`` from a generated codec's error message, else `default`."""
    m = _ERR_FIELD.match(err.message)
    return f"{ksy}:{m.group(1)}.{m.group(2)}" if m else default


#: spec rule by position inside a chunk: the header fields and the name field
#: (from the generated chunk_header layout)
_HEADER_RULES = {
    rel: f"{K_C}:{'chunk' if field == 'name' else 'chunk_header'}.{field}"
    for field, rel in container.header_field_offsets().items()
}


def header_spec(err: Nd2Error, chunk_offset: int) -> str:
    """The spec rule of an error found while reading the chunk header at `chunk_offset`."""
    default = spec_from(K_C, err, f"{K_C}:chunk_header")
    return default if err.offset is None else _HEADER_RULES.get(err.offset - chunk_offset, default)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (restored after it).

    For the loops over every map entry, which create one small acyclic object per
    entry: with hundreds of thousands of them, the collector's full passes would make
    the loop cost grow faster than the number of entries.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def located_message(err: Nd2Error) -> str:
    """The message of `err` with the field it names (``field ...``), for findings whose
    chunk and offset come from the error itself."""
    return err.message if err.field is None else f"{err.message} (field {err.field!r})"


def hex_offset(n: int | None) -> str:
    return "?" if n is None else f"{n} (0x{n:X})"

