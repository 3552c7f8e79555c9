"""check/ and compat/ are peer stages: neither imports the other (the package's own
``__init__`` loads compat for ``nd2kit.ND2File``, so this is checked on the sources)."""

from __future__ import annotations

import ast
from pathlib import Path

import nd2kit

PKG = Path(nd2kit.__file__).parent


def _imports(path: Path) -> set[str]:
    """Absolute module names imported by `path` (relative imports resolved)."""
    mod = ".".join(("nd2kit", *path.relative_to(PKG).with_suffix("").parts))
    pkg = mod.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
    return out


def test_check_and_compat_do_not_import_each_other() -> None:
    for stage, other in (("check", "nd2kit.compat"), ("compat", "nd2kit.check")):
        files = sorted((PKG / stage).glob("*.py"))
        assert files
        for f in files:
            bad = sorted(m for m in _imports(f) if m == other or m.startswith(other + "."))
            assert not bad, f"{stage}/{f.name} imports {bad}"


def test_the_rule_sees_a_relative_import(tmp_path: Path) -> None:
    # the checker itself: a relative import of compat from check/ is resolved
    src = PKG / "check" / "summary.py"
    assert "nd2kit.reader" in _imports(src) and "nd2kit.model" in _imports(src)
