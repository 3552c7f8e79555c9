"""The architecture as rules a test can check: stage imports, where bytes are read, and
which module names the reader implementation.

docs/architecture.md explains each rule; this test keeps them true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nd2kit"

#: the stages, lowest first; a module may import its own stage and any lower one
STAGES = {
    "errors": 0, "_cache": 0,
    "_generated": 1, "_native": 1, "storage": 1,
    "codecs": 2,
    "model": 3,
    "reader": 4,
    "compat": 5, "check": 5, "testing": 5,
    "cli": 6,
    "__init__": 7, "__main__": 7,
}
#: peers that must not import each other
PEERS = {("compat", "check"), ("check", "compat"), ("compat", "testing"), ("check", "testing")}
#: modules allowed to handle byte layouts themselves
LAYOUT_MODULES = ("codecs",)
#: the independent byte writers of the property tests (an oracle must not share code
#: with what it checks): see the module docstring
LAYOUT_EXEMPT = {"testing/strategies.py"}
BANNED_MODULES = {"struct", "zlib"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "_generated" not in p.parts)


def _stage(rel: Path) -> str:
    return rel.parts[0].removesuffix(".py")


def _imported(tree: ast.AST, rel: Path) -> list[tuple[str, int]]:
    """(top-level nd2kit subpackage, line) of every nd2kit import in a module."""
    pkg = ["nd2kit", *rel.parts[:-1]]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
                if len(parts) == 1:  # from . import x (top level)
                    out += [(a.name, node.lineno) for a in node.names]
                    continue
            elif node.module and node.module.startswith("nd2kit"):
                parts = node.module.split(".")
            else:
                continue
            if len(parts) > 1:
                out.append((parts[1], node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "nd2kit" and len(parts) > 1:
                    out.append((parts[1], node.lineno))
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_stages_import_only_downward(path: Path) -> None:
    rel = path.relative_to(SRC)
    me = _stage(rel)
    tree = ast.parse(path.read_text(), str(path))
    bad = []
    for target, line in _imported(tree, rel):
        if target not in STAGES:
            continue
        if target != me and (STAGES[target] > STAGES[me] or (me, target) in PEERS):
            bad.append(f"{rel}:{line} ({me}) imports {target}")
    assert not bad, "\n".join(bad)


def _layout_violations(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, f"import {a.name}") for a in node.names
                    if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split(".")[0] in BANNED_MODULES:
                out.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Attribute) and node.attr in ("from_bytes", "to_bytes") and (
                isinstance(node.value, ast.Name) and node.value.id == "int"):
            out.append((node.lineno, f"int.{node.attr}"))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            # payload offset arithmetic: chunk offset + header size + name field length
            if "name_len" in names or ({"SIZE"} & names and "ChunkHeader" in names):
                out.append((node.lineno, "payload offset arithmetic (use codecs.container)"))
    return out


@pytest.mark.parametrize("path", [p for p in _modules()
                                  if _stage(p.relative_to(SRC)) not in LAYOUT_MODULES
                                  and str(p.relative_to(SRC)) not in LAYOUT_EXEMPT],
                         ids=lambda p: str(p.relative_to(SRC)))
def test_no_byte_layouts_outside_codecs(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    bad = [f"{path.relative_to(SRC)}:{line}: {what}" for line, what in _layout_violations(tree)]
    assert not bad, "byte layouts belong in spec/ + codecs/:\n" + "\n".join(bad)


def test_the_rule_catches_what_it_should() -> None:
    src = ("import struct\nimport zlib as z\nfrom struct import unpack\nx = int.from_bytes(b, 'little')\n"
           "off = info.offset + 16 + h.name_len\n")
    assert len(_layout_violations(ast.parse(src))) == 5


def test_only_the_reader_package_names_its_implementations() -> None:
    bad = [str(p.relative_to(SRC)) for p in _modules()
           if _stage(p.relative_to(SRC)) != "reader" and "ModernReader" in p.read_text()]
    assert not bad, f"use nd2kit.reader.open_reader instead of naming ModernReader: {bad}"
