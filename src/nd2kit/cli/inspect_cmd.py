"""``nd2kit inspect FILE [--chunk NAME] [--json] [--all] [--bytes N]``.

The output starts with a summary (version, writer, sizes, dtype, channels, loops,
voxel size, frames, compression), then the chunk table, where numbered series
(``ImageDataSeq|N!``...) are folded into one row per run unless ``--all``.

Exit codes: 0 shown (also for damaged files: the output says where reading
stopped), 1 ``--chunk`` names no chunk, 2 the file cannot be opened or is not an
ND2 file, 3 nd2kit itself failed (a bug: one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..check.inspection import (
    ChunkDetail,
    ChunkRow,
    ChunkRun,
    InspectResult,
    folded_rows,
    inspect_chunk,
    inspect_file,
)
from ..check.summary import FileSummary
from . import add_subcommand, dump_json, internal_error

__all__ = ["configure", "format_detail", "format_result", "format_summary", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .nd2 file")
    p.add_argument(
        "--chunk",
        metavar="NAME",
        help="decode one chunk (e.g. 'ImageAttributesLV!'); for legacy files a box tag or type, "
        "optionally with '#k' for the k-th one (e.g. 'VIMD#1')",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (stable keys)")
    p.add_argument(
        "--all",
        action="store_true",
        help="list every chunk (default: numbered series such as ImageDataSeq|N! are folded "
        "into one row per run)",
    )
    p.add_argument(
        "--bytes",
        type=int,
        default=256,
        metavar="N",
        help="bytes shown in hex dumps (default 256; 0 = whole payload)",
    )


def _hx(n: int | None, width: int = 8) -> str:
    return "-" if n is None else f"0x{n:0{width}X}"


def _num(x: float | None, unit: str = "") -> str:
    return "?" if x is None else f"{x:g}{unit}"


def _loop_text(lp: dict[str, Any]) -> str:
    text = f"{lp['type']} ×{lp['count']}"
    if "period_ms" in lp:
        per = lp["period_ms"]
        if isinstance(per, list):
            text += ", periods " + ", ".join(_num(p, " ms") for p in per)
        else:
            text += f", period {_num(per, ' ms')}"
    if "z_step_um" in lp:
        text += f", Z step {_num(lp['z_step_um'], ' µm')}"
    if "points" in lp:
        text += f", {lp['points']} points"
    return text


def format_summary(sm: FileSummary) -> list[str]:
    """The summary lines printed before the chunk table (parts not read are omitted)."""
    out: list[str] = []
    if sm.writer:
        app, ver = sm.writer.get("application"), sm.writer.get("version")
        out.append("writer: " + " ".join(x for x in (app, ver) if x))
    if sm.sizes is not None:
        out.append("sizes: " + ", ".join(f"{k}={v}" for k, v in sm.sizes.items()))
    if sm.dtype is not None:
        bits = ""
        if sm.significant_bits is not None and sm.significant_bits != sm.bits_in_memory:
            bits = f" ({sm.significant_bits} significant bits of {sm.bits_in_memory})"
        elif sm.significant_bits is not None:
            bits = f" ({sm.significant_bits} bits)"
        out.append(f"dtype: {sm.dtype}{bits}")
    if sm.channels is not None:
        chans = ", ".join(
            f"{c['name']}" + (f" {c['color']}" if c.get("color") else "") for c in sm.channels
        )
        out.append(f"channels: {len(sm.channels)}" + (f" ({chans})" if chans else ""))
    if sm.loops is not None:
        out.append("loops: " + ("; ".join(_loop_text(lp) for lp in sm.loops) or "none"))
    if sm.voxel_size_um is not None:
        out.append("voxel size: " + " × ".join(f"{v:g}" for v in sm.voxel_size_um) + " µm (x, y, z)")
    if sm.frames is not None:
        out.append(f"frames: {sm.frames}")
    if sm.compression is not None:
        out.append(f"compression: {sm.compression}")
    for p in sm.problems:
        out.append(f"summary incomplete: {p}")
    return out


def _table(res: InspectResult, all_rows: bool) -> list[str]:
    rows: list[ChunkRow | ChunkRun] = list(res.chunks) if all_rows else folded_rows(res)
    w = max([len(r.name) for r in rows] + [4])
    out = [f"  {'name':<{w}}  {'offset':>10}  {'data size':>10}  {'kind':<12}  note"]
    for r in rows:
        if isinstance(r, ChunkRun):
            size = "-" if r.data_len is None else str(r.data_len)
            note = f"{r.count} chunks, offsets {_hx(r.first_offset)}..{_hx(r.last_offset)}"
            if r.min_data_len != r.max_data_len:
                note += f", sizes {r.min_data_len}..{r.max_data_len} (most common shown)"
            out.append(f"  {r.name:<{w}}  {_hx(r.first_offset)}  {size:>10}  {r.kind:<12}  {note}")
            continue
        dsize = r.data_len if r.data_len is not None else r.size
        note = r.problem or ("" if r.source == "map" else f"({r.source})")
        out.append(
            f"  {r.name:<{w}}  {_hx(r.offset)}  {('-' if dsize is None else dsize):>10}  "
            f"{r.kind:<12}  {note}".rstrip()
        )
    return out


def format_result(res: InspectResult, all_rows: bool = False) -> str:
    """The text output of ``nd2kit inspect FILE``: summary, then the chunk table."""
    out: list[str] = []
    out.append(f"file: {res.path or '<bytes>'} ({res.size} bytes)")
    if res.format == "modern":
        ver = f"{res.version[0]}.{res.version[1]}" if res.version else "unknown"
        out.append(
            f"format: modern chunk container, version {ver}"
            + (f" (signature {res.version_string!r})" if res.version_string else "")
        )
        if res.map_offset is not None:
            out.append(f"chunk map: at {_hx(res.map_offset)}, {res.map_entries} entries")
        out.append("")
        out.extend(_table(res, all_rows))
    elif res.format == "legacy":
        out.append("format: legacy JPEG 2000 container, version 1.0")
        if res.map_offset is not None:
            out.append(f"box map: at {_hx(res.map_offset)}, {res.map_entries} entries")
        out.append("")
        out.append(f"  {'type':<6}  {'tag':<6}  {'offset':>10}  {'length':>8}  note")
        for b in res.boxes:
            out.append(
                f"  {b.box_type!r:<6}  {(b.tag or '-'):<6}  {_hx(b.offset)}  "
                f"{('-' if b.length is None else b.length):>8}  {b.problem or ''}".rstrip()
            )
    if res.summary is not None and len(out) > 1:
        out[2:2] = format_summary(res.summary)  # after the file and format lines
    for p in res.problems:
        where = f" at {_hx(p.offset)} ({p.offset})" if p.offset is not None else ""
        out.append(f"problem{where}: {p.message}")
    if res.format != "unknown" and res.problems:
        out.append("(reading stopped early; the listing above is what the bytes allowed)")
    return "\n".join(out)


#: records nested deeper than this are indented as deep as this, with their depth shown
MAX_INDENT = 32


def _indent(depth: int) -> str:
    if depth <= MAX_INDENT:
        return "  " * depth
    return "  " * MAX_INDENT + f"[depth {depth}] "


def format_detail(det: ChunkDetail) -> str:
    out = [
        f"chunk {det.name!r} at {_hx(det.offset)}: kind {det.kind}, name_len {det.name_len}, "
        f"data {det.data_len} bytes at {_hx(det.data_offset)}"
    ]
    for k, v in det.info.items():
        out.append(f"  {k}: {v}")
    if det.records is not None:
        out.append(f"  {'offset':>10}  {'type':<11}  name = value")
        for r in det.records:
            off = _hx(r["offset"]) if r["offset"] is not None else f"+{r['inflated_offset']}z"
            ind = _indent(r["depth"])
            name = r["name"] if r["name"] else "''"
            text = r.get("text") or ""
            if r.get("items") is not None:
                text = f"({r['items']} items)"
            out.append(
                f"  {off:>10}  {str(r['type'])[:11]:<11}  {ind}{name}"
                + (f" = {text}" if text else "")
            )
    if det.hexdump is not None:
        for row in det.hexdump:
            out.append(f"  {_hx(row['offset'])}  {row['hex']:<47}  |{row['ascii']}|")
        if det.truncated:
            out.append("  ... (use --bytes N for more)")
    for p in det.problems:
        where = f" at {_hx(p.offset)} ({p.offset})" if p.offset is not None else ""
        out.append(f"problem{where}: {p.message}")
    return "\n".join(out)


def _emit(obj: Any, text: str, as_json: bool, stream: TextIO) -> None:
    if as_json:
        dump_json(obj, stream)
    else:
        stream.write(text + "\n")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except OSError as e:
        print(f"nd2kit inspect: cannot open {args.file}: {e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a bug in nd2kit: one line, distinct exit code
        return internal_error("inspect", args.file, e)


def _run(args: argparse.Namespace) -> int:
    res = inspect_file(args.file, summary=not args.chunk)
    if res.format == "unknown" or not args.chunk:
        # only the form asked for is built (the --json dict holds one entry per chunk)
        if args.json:
            _emit(res.to_dict(), "", True, sys.stdout)
        else:
            _emit(None, format_result(res, all_rows=args.all), False, sys.stdout)
        if res.format == "unknown":
            return 2
        sm = res.summary
        if sm is not None and sm.internal_error is not None:
            # the output is printed (degraded); the exit code still says nd2kit failed
            return internal_error("inspect", args.file, sm.internal_error)
        return 0
    det = inspect_chunk(args.file, args.chunk, max_bytes=None if args.bytes <= 0 else args.bytes)
    if det is None:
        known = (
            [r.name for r in res.chunks]
            if res.format == "modern"
            else sorted({b.tag or b.box_type for b in res.boxes})
        )
        print(
            f"nd2kit inspect: no chunk named {args.chunk!r} in {args.file}; known: "
            + ", ".join(known[:40])
            + (" ..." if len(known) > 40 else ""),
            file=sys.stderr,
        )
        return 1
    _emit(det.to_dict(), format_detail(det), args.json, sys.stdout)
    return 0


add_subcommand(
    "inspect",
    "show the version and chunk table of an .nd2 file, or one chunk decoded",
    configure,
    run,
)
