"""generated/ is what the specs produce, and the staleness check notices edits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.codegen import __main__ as codegen
from tools.codegen.ksy import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_fast_codecs_match_specs():
    specs = [load_spec(p) for p in sorted((ROOT / "spec").glob("*.ksy"))]
    files = codegen.render_fast(specs)
    for rel, src in files.items():
        assert (ROOT / "generated" / rel).read_text() == codegen._format(src), rel


def test_every_spec_field_has_doc():
    for p in sorted((ROOT / "spec").glob("*.ksy")):
        spec = load_spec(p)  # raises SpecError on a field without doc
        assert spec.types


def test_missing_doc_is_rejected(tmp_path):
    src = (ROOT / "spec" / "binary_rle.ksy").read_text().replace(
        "        doc: Mask width in pixels.\n", "", 1)
    p = tmp_path / "binary_rle.ksy"
    p.write_text(src)
    with pytest.raises(SpecError, match="doc"):
        load_spec(p)


@pytest.mark.skipif(shutil.which("node") is None, reason="the official compiler needs node")
def test_check_detects_stale_output(tmp_path, monkeypatch):
    copy = tmp_path / "generated"
    shutil.copytree(ROOT / "generated", copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(codegen, "OUT_DIR", copy)
    assert codegen.main(["--check"]) == 0
    f = copy / "fast" / "lite_variant.py"
    f.write_text(f.read_text() + "# hand edit\n")
    assert codegen.main(["--check"]) == 1


def test_every_package_is_in_pyproject():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "src").parts)
             for p in (ROOT / "src").rglob("__init__.py")}
    found |= {"nd2kit._generated" + ("." + ".".join(p.parent.relative_to(ROOT / "generated").parts)
                                     if p.parent != ROOT / "generated" else "")
              for p in (ROOT / "generated").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
