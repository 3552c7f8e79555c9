"""Compile the LiteVariant dict decoders with mypyc: ``python -m tools.native build``.

The generated module ``generated/fast/lite_variant.py`` stays the source of truth and
the pure-Python implementation. This tool copies its dict decoders (the functions and
constants of the ``tagged_tree`` template before ``class LvRecord``: ``decode_tree_items``,
``decode_tree_selected``, ``compile_schema``, ``decode_tree_compiled``, ``decode_tree``
and their helpers) into ``nd2kit._native._lv``, unchanged except for absolute imports
and the SHA-256 of the generated file they came from, and compiles that module with
mypyc (which ships with mypy) into ``src/nd2kit/_native/`` (git-ignored).
:mod:`nd2kit.codecs.lite_variant` uses the compiled decoders only when their hash
matches the generated file on disk, so a stale build is never used; without a C
compiler, without mypy or with ``ND2KIT_NATIVE=0`` the pure-Python decoders run.

Why mypyc and not hand-written C: the decoders stay one piece of generated Python,
tested as such; compiling removes the interpreter's per-bytecode cost, which is what
opening a small file spends most of its time on (docs/architecture.md).

Usage::

    python -m tools.native build   # compile (about 20 s); exit 0 also when skipped
    python -m tools.native status  # which decoders nd2kit uses
"""

from __future__ import annotations

import ast
import hashlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "generated" / "fast" / "lite_variant.py"
#: the small-map parse of the chunk map (one Python step per entry: the frame table)
MAP_SOURCE = ROOT / "generated" / "fast" / "nd2_container.py"
TARGET = ROOT / "src" / "nd2kit" / "_native"
BUILD = ROOT / "build" / "native"
#: the first class of the generated module that is not part of the dict decoders
STOP_CLASS = "LvRecord"
#: what nd2kit._native._map takes from nd2_container.py
MAP_NAMES = {"_TB_TERM", "_TB_END", "_TB_TAIL", "_TB_END_TAIL", "_TB_ROW", "_TB_END_ROW",
             "parse_chunk_map_rows"}


def source_sha256(path: Path = SOURCE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def extract_map(source: str, sha: str) -> str:
    """``parse_chunk_map_rows`` and the constants it reads, as a module of their own
    (its result class stays the generated one)."""
    mod = ast.parse(source)
    body: list[ast.stmt] = []
    for node in mod.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import):
            body.append(node)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id in MAP_NAMES for t in node.targets):
            body.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name in MAP_NAMES:
            body.append(node)
    mod.body = body
    return ("from __future__ import annotations\n"
            f'"""Compiled copy of nd2kit._generated.fast.nd2_container.parse_chunk_map_rows '
            f'(tools/native.py)."""\n\nfrom typing import Any\n\n'
            "from nd2kit._generated.fast.nd2_container import ChunkMapEntryTable\n"
            "from nd2kit.errors import CorruptChunkError\n\n"
            f'SOURCE_SHA256 = "{sha}"\n' + ast.unparse(ast.fix_missing_locations(mod)) + "\n")


def extract(source: str, sha: str) -> str:
    """The dict decoders of the generated module as a module of their own."""
    mod = ast.parse(source)
    body: list[ast.stmt] = []
    for node in mod.body:
        if isinstance(node, ast.ClassDef):
            if node.name == STOP_CLASS:
                break
            continue  # the Kaitai-style record classes: not needed by the decoders
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            # relative to nd2kit._generated.fast: make absolute
            base = {1: "nd2kit._generated.fast", 3: "nd2kit"}[node.level]
            node = ast.ImportFrom(module=f"{base}.{node.module}" if node.module else base,
                                  names=node.names, level=0)
        body.append(node)
    mod.body = body
    head = (f'"""Compiled copy of the dict decoders of nd2kit._generated.fast.lite_variant '
            f'(tools/native.py)."""\n\nSOURCE_SHA256 = "{sha}"\n')
    text = ast.unparse(ast.fix_missing_locations(mod))
    # `from __future__` must stay first
    fut = "from __future__ import annotations\n"
    text = text.replace(fut, "", 1)
    return fut + head + text + "\n"


def _stage_tree(module_text: str, map_text: str) -> list[Path]:
    """A source tree mypyc can type-check: the modules and what they import."""
    if BUILD.exists():
        shutil.rmtree(BUILD)
    pkg = BUILD / "nd2kit"
    (pkg / "_generated" / "fast").mkdir(parents=True)
    (pkg / "_native").mkdir()
    for rel in ("__init__.py", "_generated/__init__.py", "_generated/fast/__init__.py",
                "_native/__init__.py"):
        (pkg / rel).write_text("")
    shutil.copy(ROOT / "src" / "nd2kit" / "errors.py", pkg / "errors.py")
    for name in ("_runtime.py", "nd2_container.py"):
        shutil.copy(ROOT / "generated" / "fast" / name, pkg / "_generated" / "fast" / name)
    (pkg / "_native" / "_lv.py").write_text(module_text)
    (pkg / "_native" / "_map.py").write_text(map_text)
    # mypy's defaults, not the project's --strict settings (found by walking up)
    # nd2_container.py is only type-checked for its result class; its own code is not
    (BUILD / "mypy.ini").write_text("[mypy]\n[mypy-nd2kit._generated.fast.nd2_container]\n"
                                    "ignore_errors = True\n")
    return [pkg / "_native" / "_lv.py", pkg / "_native" / "_map.py"]


def build() -> int:
    if not SOURCE.exists():
        print(f"tools.native: {SOURCE} missing (run python -m tools.codegen)", file=sys.stderr)
        return 1
    try:
        import mypyc  # noqa: F401
    except ImportError:
        print("tools.native: mypy (mypyc) not installed; the pure-Python decoders are used")
        return 0
    if shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC")
                    else "cc") is None:
        print("tools.native: no C compiler; the pure-Python decoders are used")
        return 0
    sha = source_sha256()
    srcs = _stage_tree(extract(SOURCE.read_text(), sha),
                       extract_map(MAP_SOURCE.read_text(), source_sha256(MAP_SOURCE)))
    built: list[Path] = []
    for src in srcs:  # one build per module: each gets its own helper library beside it
        r = subprocess.run([sys.executable, "-m", "mypyc", "--config-file", "mypy.ini",
                            str(src.relative_to(BUILD))], cwd=BUILD, capture_output=True, text=True)
        if r.returncode:
            print(f"tools.native: mypyc failed on {src.name}; the pure-Python code is used\n"
                  + r.stdout[-4000:] + r.stderr[-4000:], file=sys.stderr)
            return 0 if "--strict" not in sys.argv else 1
        built += [f for f in sorted(src.parent.iterdir())
                  if f.suffix in (".so", ".pyd") and f.name.startswith(src.stem) and f not in built]
    if not built:
        print("tools.native: mypyc produced no extension", file=sys.stderr)
        return 1
    for old in [*TARGET.glob("*.so"), *TARGET.glob("*.pyd")]:
        old.unlink()
    for f in built:
        shutil.copy(f, TARGET / f.name)
    print(f"tools.native: compiled the LiteVariant decoders and the small chunk-map parse ({', '.join(f.name for f in built)})")
    return 0


def status() -> int:
    from nd2kit.codecs import lite_variant as lv

    print(lv.decoders_in_use())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "build"
    if cmd == "build":
        return build()
    if cmd == "status":
        return status()
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
