"""The ``nd2kit`` command line (console script ``nd2kit = nd2kit.cli:main``).

Subcommands live in a small registry so that other modules can add their own
without editing this file::

    from nd2kit.cli import add_subcommand

    def configure(parser):            # an argparse.ArgumentParser for the subcommand
        parser.add_argument("--out", default="out")

    def run(args) -> int:             # args: the parsed argparse.Namespace
        ...
        return 0                      # the process exit code

    add_subcommand("demo", "write a sample file and inspect it", configure, run)

Where to put that code: any module of this package whose name ends in ``_cmd``
(``nd2kit/cli/demo_cmd.py``) is imported automatically by :func:`main` before the
arguments are parsed, so calling :func:`add_subcommand` at import time is enough.
Code outside the package can call :func:`add_subcommand` itself before
:func:`main` runs. A ``*_cmd`` module that fails to import is reported on stderr
and skipped; it never breaks the other subcommands.

Built-in subcommands: ``inspect`` (:mod:`nd2kit.cli.inspect_cmd`) and ``validate``
(:mod:`nd2kit.cli.validate_cmd`).

Output is plain text (no third-party dependency); both tools offer ``--json``.

Exit codes shared by the built-in tools: 0 fine, 1 the file is invalid (or
``--chunk`` names no chunk), 2 unreadable / not an ND2 file, :data:`EXIT_INTERNAL`
(3) nd2kit itself failed — one line on stderr from :func:`internal_error`, no
traceback. :func:`main` applies the same rule to any subcommand that raises.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = [
    "EXIT_INTERNAL",
    "Subcommand",
    "add_subcommand",
    "build_parser",
    "dump_json",
    "internal_error",
    "main",
    "subcommands",
]

#: exit code when nd2kit itself fails (an exception that is not about the file's bytes)
EXIT_INTERNAL = 3


@dataclass(frozen=True)
class Subcommand:
    """A registered subcommand: its name, one-line help, and two callables."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


_REGISTRY: dict[str, Subcommand] = {}
_LOADED = False


def add_subcommand(
    name: str,
    help: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    *,
    replace: bool = False,
) -> Subcommand:
    """Register ``nd2kit <name>``.

    Parameters
    ----------
    name : str
        The subcommand word.
    help : str
        One line shown by ``nd2kit --help``.
    configure : callable
        ``configure(parser)`` adds the subcommand's arguments to its
        ``argparse.ArgumentParser``.
    run : callable
        ``run(args) -> int`` does the work and returns the exit code.
    replace : bool
        Allow replacing an existing registration (otherwise ValueError).
    """
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"invalid subcommand name {name!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name].run is not run:
        raise ValueError(f"subcommand {name!r} is already registered")
    cmd = Subcommand(name, help, configure, run)
    _REGISTRY[name] = cmd
    return cmd


def subcommands() -> dict[str, Subcommand]:
    """The registered subcommands (after loading the ``*_cmd`` modules)."""
    _load_modules()
    return dict(_REGISTRY)


def _load_modules() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.endswith("_cmd"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except Exception as e:  # noqa: BLE001 - one broken plug-in must not break the CLI
            print(
                f"nd2kit: skipping subcommand module {info.name}: {type(e).__name__}: {e}",
                file=sys.stderr,
            )


def _json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by the string ``"inf"``, ``"-inf"`` or
    ``"nan"`` (strict JSON has no such numbers; a damaged file may hold them). Walks
    the containers with an explicit stack (no recursion limit on deep trees)."""

    def fix(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return v

    def copy(v: Any) -> Any:
        return dict(v) if isinstance(v, dict) else list(v) if isinstance(v, (list, tuple)) else fix(v)

    root = [copy(obj)]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        keys = node.keys() if isinstance(node, dict) else range(len(node))
        for k in keys:
            v = node[k]
            if isinstance(v, (dict, list, tuple)):
                node[k] = c = copy(v)
                stack.append(c)
            elif isinstance(v, float):
                node[k] = fix(v)
    return root[0]


def dump_json(obj: Any, stream: TextIO) -> None:
    """Write `obj` as strict JSON (indented, UTF-8 text) and a newline: non-finite floats
    become the strings ``"inf"``, ``"-inf"``, ``"nan"`` (see ``--json`` of the tools)."""
    json.dump(_json_safe(obj), stream, indent=2, ensure_ascii=False, allow_nan=False)
    stream.write("\n")


def internal_error(command: str, target: object, err: BaseException) -> int:
    """Report an internal failure of nd2kit in one line on stderr; returns :data:`EXIT_INTERNAL`.

    Bad *content* never gets here (the tools report it as findings or problems):
    this is for bugs, so the line says so and names the exception.
    """
    msg = " ".join(str(err).split()) or "(no message)"
    print(
        f"nd2kit {command}: internal error while processing {target}: "
        f"{type(err).__name__}: {msg[:300]} (this is a bug in nd2kit, not in the file)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _targets(args: argparse.Namespace) -> str:
    """The file(s) a subcommand was given (``file`` or ``files``), for messages."""
    one = getattr(args, "file", None)
    many = getattr(args, "files", None)
    if one is not None:
        return str(one)
    if many:
        return ", ".join(map(str, many))
    return "the command"


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="nd2kit", description="Inspect and validate Nikon NIS-Elements .nd2 files."
    )
    parser.add_argument("--version", action="version", version=f"nd2kit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in sorted(subcommands()):
        cmd = _REGISTRY[name]
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.configure(p)
        p.set_defaults(_nd2kit_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_nd2kit_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except BrokenPipeError:  # e.g. `nd2kit inspect f.nd2 | head`
        try:
            sys.stdout.close()
        except Exception:  # noqa: BLE001
            pass
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - last resort: a bug, reported in one line
        return internal_error(str(getattr(args, "command", "")), _targets(args), e)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
