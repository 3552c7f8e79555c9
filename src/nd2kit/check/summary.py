"""The summary ``nd2kit inspect`` prints first: what the file holds, in a person's terms.

Every value comes from nd2kit's own reader (:func:`nd2kit.reader.open_reader`) and
the model functions (:mod:`nd2kit.model`), never from bytes parsed here. Each part is
read on its own: when one part cannot be read (a damaged chunk, a legacy file the
reader does not support yet), the summary keeps the others and says in
``problems`` which part is missing and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import model
from ..codecs import names
from ..errors import Nd2Error
from ..reader import open_reader
from ..storage import open_store

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
    #: exceptions that were not Nd2Error (bugs of nd2kit): the first one, and how many
    internal_error: BaseException | None = None
    internal_errors: int = 0

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


def _writer(custom: Any, text_info: Any) -> dict[str, str | None] | None:
    app = custom
    if isinstance(app, dict) and app.get("SWNameString"):
        return {
            "application": str(app["SWNameString"]),
            "version": str(app["VersionString"]) if app.get("VersionString") else None,
        }
    ver = text_info.get("appVersion")
    if ver:
        return {"application": None, "version": str(ver)}
    return None


#: the ``CustomDataVar|...!`` chunk that names the writing application
_APP_INFO = names.custom_data_var_name("AppInfo_V1_0")


class _Model:
    """The model structures of one file, each decoded on first use (as ND2File does)."""

    def __init__(self, rdr: Any) -> None:
        self.rdr = rdr
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def raw_meta(self) -> Any:
        return self._get("raw_meta", lambda: self.rdr.raw("metadata", schema=model.metadata.READ_SCHEMA))

    @property
    def attributes(self) -> Any:
        return self._get("attributes", lambda: model.load_attributes(
            self.rdr.raw("attributes"), model.channel_count(self.raw_meta)))

    @property
    def experiment(self) -> Any:
        return self._get("experiment", lambda: model.load_experiment(
            self.rdr.raw("experiment", schema=model.experiment.READ_SCHEMA)))

    @property
    def text_info(self) -> Any:
        return self._get("text_info", lambda: model.load_text_info(self.rdr.raw("text_info")))

    @property
    def metadata(self) -> Any:
        return self._get("metadata", lambda: model.load_metadata(
            self.raw_meta, self.attributes, self.experiment, self.text_info))

    @property
    def app_info(self) -> Any:
        if _APP_INFO not in self.rdr.chunkmap:
            return None
        return self.rdr.decode_chunk(_APP_INFO, strip_prefix=True)


def summarize(src: Any) -> FileSummary:
    """Summary of an ND2 file (path or bytes) through nd2kit's reader and model.

    Never raises for bad content: what cannot be read is left ``None`` and named in
    ``problems``. Raises OSError only when a path cannot be opened.
    """
    out = FileSummary()
    try:
        store = open_store(src)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure degrades the summary
        out.problems.append(f"the file cannot be opened by the reader: {_why(e)}")
        return out
    try:
        try:
            rdr = open_reader(store)
        except Exception as e:  # noqa: BLE001 - any reader failure degrades the summary
            out.problems.append(f"the file cannot be opened by the reader: {_why(e)}")
            if not isinstance(e, Nd2Error):
                out.internal_errors += 1
                out.internal_error = e
            return out
        _fill(out, rdr)
    finally:
        store.close()
    return out


def _fill(out: FileSummary, rdr: Any) -> None:
    f = _Model(rdr)

    def part(name: str, fill: Callable[[], None]) -> None:
        try:
            fill()
        except Nd2Error as e:
            out.problems.append(f"{name}: {_why(e)}")
        except Exception as e:  # noqa: BLE001 - the summary degrades, the table still prints
            out.problems.append(f"{name}: not read (nd2kit internal error, {_why(e)})")
            out.internal_errors += 1
            out.internal_error = out.internal_error or e

    def version() -> None:
        out.format_version = ".".join(str(v) for v in rdr.version)

    def writer() -> None:
        out.writer = _writer(f.app_info, f.text_info)

    def pixels() -> None:
        a = f.attributes
        out.frames = int(a.sequenceCount)
        out.bits_in_memory = int(a.bitsPerComponentInMemory)
        out.significant_bits = int(a.bitsPerComponentSignificant)
        out.compression = str(a.compressionType) if a.compressionType else "none"
        if a.compressionType and a.compressionLevel is not None:
            out.compression += f" (level {a.compressionLevel:g})"
        out.dtype = str(np.dtype(rdr.frame_layout().dtype.newbyteorder("=")))

    def sizes() -> None:
        out.sizes = {str(k): int(v) for k, v in model.sizes_from(f.attributes, f.experiment).items()}

    def channels() -> None:
        chans = f.metadata.channels or []
        out.channels = [{"name": c.channel.name, "color": _color(c.channel)} for c in chans]

    def loops() -> None:
        out.loops = [_loop(lp) for lp in f.experiment]

    def voxel() -> None:
        out.voxel_size_um = [float(v) for v in model.voxel_size(f.metadata)]

    part("version", version)
    part("writer", writer)
    part("attributes", pixels)
    part("sizes", sizes)
    part("channels", channels)
    part("loops", loops)
    part("voxel size", voxel)


def _why(e: BaseException) -> str:
    """The exception type and message; for an :class:`Nd2Error` also where it is
    (chunk, field, offset), as ``str()`` of the error gives it."""
    msg = str(e) if isinstance(e, Nd2Error) else (getattr(e, "message", None) or str(e))
    return f"{type(e).__name__}: {msg}"
