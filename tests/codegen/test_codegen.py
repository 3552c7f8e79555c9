"""generated/ is what the specs produce, and the staleness check notices edits."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

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


# --------------------------------------------------------------------------- generator contract


def _spec_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """spec/ copied to `tmp_path` with one text replacement in `name`."""
    d = tmp_path / "spec"
    shutil.copytree(ROOT / "spec", d)
    text = (d / name).read_text()
    assert old in text, old
    (d / name).write_text(text.replace(old, new, 1))
    return d


def _lv_types() -> Any:
    return load_spec(ROOT / "spec" / "lite_variant.ksy")


def test_nested_ternary_is_a_spec_error():
    from tools.codegen.ksy import Expr

    spec = _lv_types()
    ex = Expr(spec, spec.types["level"])
    scope = {"item_count": "n", "length": "ln", "_parent": "P"}
    assert eval(ex.to_py("length > 3 ? 1 : 2", scope), {"ln": 5}) == 1
    for bad in ("length > 3 ? (item_count > 1 ? 1 : 2) : 3", "length ? 1 : item_count ? 2 : 3",
                "length ? 1", "length + * 2"):
        with pytest.raises(SpecError, match="not supported|cannot parse"):
            ex.to_py(bad, scope)


@pytest.mark.parametrize(("old", "new", "expect"), [
    # the string case removed: the template needs it
    ("            'lv_type::string': string_value\n", "", r"lite_variant\.ksy.*record.*string type"),
    # the container hint names a type that is not a case
    ("      container: level\n", "      container: level_x\n", r"lite_variant\.ksy.*record.*lv_type::level -> level.*container 'level_x'"),
    # a valid code without a switch case
    ("            'lv_type::void_pointer': u8\n", "", r"lite_variant.*valid type codes \[7\] have no switch case"),
    # the tag field renamed away from the hint
    ("      tag: type\n", "      tag: kind\n", r"lite_variant\.ksy.*record.*no field 'kind'"),
    # the LEVEL loses its offset table
    ("      - id: offsets\n        type: u8\n        repeat: expr\n        repeat-expr: item_count\n",
     "", r"lite_variant\.ksy.*record.*container 'level'.*offset table.*'item_count', 'length', 'body'\]"),
])
def test_template_assumptions_fail_with_a_clear_message(tmp_path, capsys, old, new, expect):
    d = _spec_copy(tmp_path, "lite_variant.ksy", old, new)
    assert codegen.main(["--check", "--spec-dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert re.search(expect, err), err
    assert "Traceback" not in err


def test_spec_constants_are_generated():
    import yaml
    from nd2kit._generated.fast import nd2_container as g

    consts = yaml.safe_load((ROOT / "spec" / "nd2_container.ksy").read_text())["-nd2kit"]["constants"]
    assert consts
    for k, v in consts.items():
        assert getattr(g, k.upper()) == v and k.upper() in g.__all__
    assert g.CHUNK_MAGIC.to_bytes(4, "little") == bytes(g._C_0)  # the chunk_header.magic contents


def test_bad_constants_are_rejected(tmp_path, capsys):
    d = _spec_copy(tmp_path, "nd2_container.ksy", "    name_reserve: 20\n", "    name_reserve: [1, 2]\n")
    assert codegen.main(["--check", "--spec-dir", str(d)]) == 2
    assert "name_reserve" in capsys.readouterr().err


def _generated_uses() -> dict[str, set[str]]:
    """module -> public names src/ takes from nd2kit._generated.fast.<module>."""
    uses: dict[str, set[str]] = {}
    for p in (ROOT / "src").rglob("*.py"):
        text = p.read_text()
        aliases: dict[str, str] = {}
        for m in re.finditer(r"from (?:nd2kit|\.+)\._generated\.fast import (\w+) as (\w+)", text):
            aliases[m.group(2)] = m.group(1)
        for m in re.finditer(r"from (?:nd2kit|\.+)\._generated\.fast\.(\w+) import (?:\(([^)]*)\)|([^\n]+))", text):
            for item in (m.group(2) or m.group(3)).split(","):
                name = item.split()[0] if item.split() else ""
                if name:
                    uses.setdefault(m.group(1), set()).add(name)
        for alias, mod in aliases.items():
            for m in re.finditer(rf"\b{alias}\.([A-Za-z]\w*)", text):
                uses.setdefault(mod, set()).add(m.group(1))
    return uses


def test_generated_all_lists_what_the_library_uses():
    import importlib

    uses = _generated_uses()
    assert "lite_variant" in uses and "nd2_container" in uses  # the scan finds the imports
    for mod, names in uses.items():
        m = importlib.import_module(f"nd2kit._generated.fast.{mod}")
        assert set(m.__all__) <= set(dir(m)), mod
        missing = {n for n in names if not n.startswith("_")} - set(m.__all__)
        assert not missing, f"{mod}.__all__ lacks {sorted(missing)}"


def test_format_md_is_rendered_from_the_specs():
    specs = [load_spec(p) for p in sorted((ROOT / "spec").glob("*.ksy"))]
    text = codegen.render_docs(specs)["format.md"]
    assert (ROOT / "docs" / "format.md").read_text() == text
    for s in specs:
        assert f"\n## {s.id}\n" in text
        for t in s.types.values():
            assert f"`{s.id}.{t.name}`" in text
            for a in t.seq:
                assert f"| `{a.id}` |" in text
    assert "| 76 | `compress` |" in text
    assert "ND2_FORMAT" not in text and "§" not in text


@pytest.mark.skipif(shutil.which("node") is None, reason="the official compiler needs node")
def test_check_detects_stale_docs(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "format.md").write_text((ROOT / "docs" / "format.md").read_text() + "hand edit\n")
    monkeypatch.setattr(codegen, "DOCS_DIR", docs)
    assert codegen.main(["--check"]) == 1
