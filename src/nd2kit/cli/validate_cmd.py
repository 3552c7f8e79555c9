"""``nd2kit validate FILE... [--json] [--roundtrip] [--quiet]``.

Exit code: the worst over all files — 0 valid (warnings and notes allowed), 1 invalid,
2 unreadable (cannot open / not an ND2 file), 3 nd2kit itself failed (a bug: one
line on stderr, no traceback).

``--json`` prints ``{"ok": bool, "exit_code": int, "files": [report, ...],
"internal_errors": [{"path", "error"}, ...]}`` where each report is
:meth:`nd2kit.check.validate.ValidationReport.to_dict`; a file on which nd2kit failed
has no report but an ``internal_errors`` entry (and its line on stderr), and the
other files are still validated.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from . import EXIT_INTERNAL, add_subcommand, dump_json, internal_error

if TYPE_CHECKING:  # the checks are imported when validate runs (inspect need not load them)
    from ..check.validate import ValidationReport

__all__ = ["configure", "format_report", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="the .nd2 file(s)")
    p.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    p.add_argument(
        "--roundtrip",
        action="store_true",
        help="also re-encode every LiteVariant chunk and the chunk map losslessly and report "
        "the first byte that differs",
    )
    p.add_argument(
        "--quiet", "-q", action="store_true", help="one summary line per file, no findings"
    )


def format_report(rep: ValidationReport, quiet: bool = False) -> str:
    if not rep.readable:
        status = "UNREADABLE"
    else:
        status = "OK" if rep.ok else "INVALID"
    ver = f"{rep.version[0]}.{rep.version[1]}" if rep.version else "?"
    n_err, n_warn, n_info = len(rep.errors), len(rep.warnings), len(rep.infos)
    lines = [
        f"{rep.path or '<bytes>'}: {status} ({rep.format}, version {ver}, {rep.size} bytes; "
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
        f"{f', {n_info} note' + 's' * (n_info != 1) if n_info else ''}"
        f"{', roundtrip checked' if rep.roundtrip else ''})"
    ]
    if quiet:
        return lines[0]
    for f in rep.findings:
        where = "-" if f.offset is None else f"0x{f.offset:08X}"
        lines.append(f"  {f.severity:<7}  {f.chunk or '-'}  @ {where}  [{f.spec}]")
        lines.append(f"           {f.message}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..check.validate import validate_file

    reports: list[ValidationReport] = []
    failed: list[dict[str, str]] = []
    for f in args.files:
        try:
            reports.append(validate_file(f, roundtrip=args.roundtrip))
        except Exception as e:  # noqa: BLE001 - a bug in nd2kit: one line, distinct exit code
            internal_error("validate", f, e)
            failed.append({"path": str(f), "error": f"{type(e).__name__}: {e}"})
        # the other files are still validated and reported
    code = max([EXIT_INTERNAL] * bool(failed) + [r.exit_code for r in reports])
    if args.json:
        dump_json(
            {
                "ok": code == 0,
                "exit_code": code,
                "files": [r.to_dict() for r in reports],
                "internal_errors": failed,
            },
            sys.stdout,
        )
    else:
        for r in reports:
            print(format_report(r, quiet=args.quiet))
    return code


add_subcommand(
    "validate",
    "check .nd2 files against the format specs (exit 0 valid, 1 invalid, 2 unreadable, "
    f"{EXIT_INTERNAL} internal error)",
    configure,
    run,
)
