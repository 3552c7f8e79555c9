"""The summary ``nd2kit inspect`` prints first: what the file holds, in a person's terms.

Every value comes from nd2kit's own reader and model (through the nd2-compatible
:class:`nd2kit.compat.nd2file.ND2File`), never from bytes parsed here. Each part is
read on its own: when one part cannot be read (a damaged chunk, a legacy file the
reader does not support yet), the summary keeps the others and says in
``problems`` which part is missing and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FileSummary", "summarize"]


@dataclass
class FileSummary:
    """What :func:`summarize` could read. ``None`` means "not read" (see ``problems``).

    ``loops`` entries are ``{"type", "count"}`` plus ``period_ms`` (time loops; a list
    for NIS "ND" time loops with several periods), ``z_step_um`` (Z stacks) or
    ``points`` (XY positions). ``channels`` entries are ``{"name", "color"}`` with
    the colour as ``#RRGGBB``. ``writer`` is ``{"application", "version"}``.
    """

    format_version: str | None = None
    writer: dict[str, str | None] | None = None
    sizes: dict[str, int] | None = None
    dtype: str | None = None
    bits_in_memory: int | None = None
    significant_bits: int | None = None
    channels: list[dict[str, Any]] | None = None
    loops: list[dict[str, Any]] | None = None
    voxel_size_um: list[float] | None = None
    frames: int | None = None
    compression: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _loop(loop: Any) -> dict[str, Any]:
    kind = str(loop.type)
    out: dict[str, Any] = {"type": kind, "count": int(loop.count)}
    par = loop.parameters
    if kind == "TimeLoop":
        out["period_ms"] = _finite(par.periodMs)
    elif kind == "NETimeLoop":
        out["period_ms"] = [_finite(p.periodMs) for p in par.periods]
    elif kind == "ZStackLoop":
        out["z_step_um"] = _finite(par.stepUm)
    elif kind == "XYPosLoop":
        out["points"] = len(par.points)
    return out


def _color(ch: Any) -> str | None:
    c = getattr(ch, "color", None)
    if c is None:
        return None
    return f"#{int(c.r):02X}{int(c.g):02X}{int(c.b):02X}"


def _writer(f: Any) -> dict[str, str | None] | None:
    app = f.custom_data.get("AppInfo_V1_0")
    if isinstance(app, dict) and app.get("SWNameString"):
        return {
            "application": str(app["SWNameString"]),
            "version": str(app["VersionString"]) if app.get("VersionString") else None,
        }
    ver = f.text_info.get("appVersion")
    if ver:
        return {"application": None, "version": str(ver)}
    return None


def summarize(src: Any) -> FileSummary:
    """Summary of an ND2 file (path or bytes) through nd2kit's reader and model.

    Never raises for bad content: what cannot be read is left ``None`` and named in
    ``problems``. Raises OSError only when a path cannot be opened.
    """
    from ..compat.nd2file import ND2File
    from ..errors import Nd2Error

    out = FileSummary()
    try:
        f = ND2File(src)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure degrades the summary
        out.problems.append(f"the file cannot be opened by the reader: {_why(e)}")
        return out
    with f:

        def part(name: str, fill: Callable[[], None]) -> None:
            try:
                fill()
            except Nd2Error as e:
                out.problems.append(f"{name}: {_why(e)}")
            except Exception as e:  # noqa: BLE001 - the summary degrades, the table still prints
                out.problems.append(f"{name}: not read (nd2kit internal error, {_why(e)})")

        def version() -> None:
            out.format_version = ".".join(str(v) for v in f.version)

        def writer() -> None:
            out.writer = _writer(f)

        def pixels() -> None:
            a = f.attributes
            out.frames = int(a.sequenceCount)
            out.bits_in_memory = int(a.bitsPerComponentInMemory)
            out.significant_bits = int(a.bitsPerComponentSignificant)
            out.compression = str(a.compressionType) if a.compressionType else "none"
            if a.compressionType and a.compressionLevel is not None:
                out.compression += f" (level {a.compressionLevel:g})"
            out.dtype = str(f.dtype)

        def sizes() -> None:
            out.sizes = {str(k): int(v) for k, v in f.sizes.items()}

        def channels() -> None:
            chans = f.metadata.channels or []
            out.channels = [{"name": c.channel.name, "color": _color(c.channel)} for c in chans]

        def loops() -> None:
            out.loops = [_loop(lp) for lp in f.experiment]

        def voxel() -> None:
            vs = f.voxel_size()
            out.voxel_size_um = [float(vs.x), float(vs.y), float(vs.z)]

        part("version", version)
        part("writer", writer)
        part("attributes", pixels)
        part("sizes", sizes)
        part("channels", channels)
        part("loops", loops)
        part("voxel size", voxel)
    return out


def _why(e: BaseException) -> str:
    msg = getattr(e, "message", None) or str(e)
    return f"{type(e).__name__}: {msg}"
