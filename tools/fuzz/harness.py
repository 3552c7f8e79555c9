"""What one case runs on a mutant (in the forked child) and how outcomes are classified.

The targets are nd2kit's public entry points: :class:`nd2kit.ND2File` (metadata,
frames, arrays, dask, xarray), :func:`nd2kit.imread`, the limnd2-compatible
:class:`nd2kit.compat.nd2reader.Nd2Reader`, and ``nd2kit validate`` / ``nd2kit
inspect`` through :func:`nd2kit.cli.main`. Each step runs on its own; a step that
raises an :class:`nd2kit.Nd2Error` is fine (the report counts the ones that name no
chunk and no offset), any other exception is a finding keyed by (exception type, top
frame inside nd2kit).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

__all__ = ["CaseTimeout", "FINDINGS", "Finding", "ORACLES", "OUTCOMES", "STEPS", "Target", "child_setup",
           "classify", "normalise_message", "preload", "run_steps", "top_frame"]

#: outcome classes (a case's outcome is the worst of its steps, in this order)
OUTCOMES = ("crash", "timeout", "memory-limit", "other-exception", "cli-internal-error",
            "nd2error-no-place", "nd2error", "ok")
#: outcomes that are findings (the campaign's targets are 0 of each)
FINDINGS = frozenset({"crash", "timeout", "memory-limit", "other-exception", "cli-internal-error"})


class CaseTimeout(BaseException):
    """Raised by the child's SIGALRM handler (a BaseException: ``except Exception`` in
    the library does not swallow it)."""


@dataclass
class Finding:
    """The outcome of one step (or of the whole case for crash/timeout)."""

    outcome: str
    step: str = ""
    exc_type: str = ""
    top: str = ""  # "module:function" of the innermost nd2kit frame
    message: str = ""
    tb_tail: str = ""
    chunk: str | None = None
    offset: int | None = None
    field_path: str | None = None

    @property
    def key(self) -> str:
        """The deduplication key: outcome, exception type, top nd2kit frame."""
        if self.outcome in ("nd2error", "nd2error-no-place", "ok"):
            return self.outcome
        if self.outcome == "timeout":  # where an alarm lands varies: one key per step
            return f"timeout|{self.step}"
        return f"{self.outcome}|{self.exc_type}|{self.top or self.step}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        return cls(**d)


def top_frame(tb: TracebackType | None) -> str:
    """``module:function`` of the innermost traceback frame whose module is nd2kit's."""
    best = ""
    while tb is not None:
        mod = str(tb.tb_frame.f_globals.get("__name__", ""))
        if mod == "nd2kit" or mod.startswith("nd2kit."):
            best = f"{mod}:{tb.tb_frame.f_code.co_name}"
        tb = tb.tb_next
    return best


def _tail(e: BaseException, lines: int = 12) -> str:
    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


def classify(step: str, e: BaseException) -> Finding:
    """The finding for an exception `e` raised by `step`."""
    from nd2kit import Nd2Error

    msg = " ".join(str(e).split())[:300]
    if isinstance(e, Nd2Error):
        placed = e.chunk is not None or e.offset is not None
        return Finding("nd2error" if placed else "nd2error-no-place", step, type(e).__name__,
                       top_frame(e.__traceback__), msg, "", e.chunk, e.offset,
                       getattr(e, "field", None))
    outcome = ("timeout" if isinstance(e, CaseTimeout) else
               "memory-limit" if isinstance(e, MemoryError) else "other-exception")
    return Finding(outcome, step, type(e).__name__, top_frame(e.__traceback__), msg, _tail(e))


# ------------------------------------------------------------------ the steps

#: arrays are only materialised by to_xarray when at most this big
_XARRAY_MAX = 16 << 20


def _frames_of(n: int) -> list[int]:
    return sorted({0, n // 2, n - 1}) if n > 0 else []


def _exercise_nd2file(f: Any, unstructured: bool = True) -> None:
    """The calls of the ``ND2File`` step, on an open nd2kit or nd2 ``ND2File``."""
    for attr in ("attributes", "metadata", "experiment", "text_info", "custom_data", "sizes",
                 "shape", "dtype", "version", "is_rgb", "components_per_channel"):
        getattr(f, attr)
    if unstructured:
        f.unstructured_metadata()
    f.voxel_size()
    f.loop_indices  # noqa: B018 - a property that parses the experiment
    n = int(f.attributes.sequenceCount) if f.attributes is not None else 0
    for i in _frames_of(n):
        f.read_frame(i)
    f.asarray()
    f.to_dask().compute()
    if f.nbytes <= _XARRAY_MAX:
        f.to_xarray(delayed=False)


def step_nd2file(path: str) -> None:
    import nd2kit

    with nd2kit.ND2File(path) as f:
        _exercise_nd2file(f)


def step_imread(path: str) -> None:
    import nd2kit

    nd2kit.imread(path)


def step_nd2reader(path: str) -> None:
    from nd2kit.compat.nd2reader import Nd2Reader

    r = Nd2Reader(path)
    try:
        ia = r.imageAttributes
        r.pictureMetadata  # noqa: B018
        r.experiment  # noqa: B018
        r.imageTextInfo  # noqa: B018
        r.dimensionSizes()
        r.generateLoopIndexes(named=True)
        for i in _frames_of(int(ia.frameCount)):
            r.image(i)
        r.delayedImageData().compute()
    finally:
        r.close()


class _CliFailure(Exception):
    """An exit code the CLI must not return on any input (3 = internal error)."""


def _cli(argv: list[str]) -> None:
    import nd2kit.cli as cli
    from nd2kit.cli import inspect_cmd, validate_cmd

    caught: list[BaseException] = []

    def capture(command: str, target: object, err: BaseException) -> int:
        caught.append(err)
        return cli.EXIT_INTERNAL

    # the subcommands report a bug through internal_error (one line, no traceback):
    # keep the exception for the dedup key instead
    mods = (cli, inspect_cmd, validate_cmd)
    saved = [getattr(m, "internal_error") for m in mods]  # noqa: B009
    for m in mods:
        setattr(m, "internal_error", capture)  # noqa: B010
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(argv)
    finally:
        for m, fn in zip(mods, saved):
            setattr(m, "internal_error", fn)  # noqa: B010
    if code == cli.EXIT_INTERNAL and caught:
        raise _CliFailure(f"exit {code}") from caught[0]
    if code not in (0, 1, 2):
        raise _CliFailure(f"exit {code}")


def step_validate(path: str) -> None:
    _cli(["validate", "--roundtrip", path])


def step_inspect(path: str) -> None:
    _cli(["inspect", "--all", path])
    _cli(["inspect", "--json", path])


@dataclass
class Target:
    """A named step: ``fn(path)`` runs one entry point on the mutant file."""

    name: str
    fn: Callable[[str], None]


STEPS: list[Target] = [Target("nd2file", step_nd2file), Target("imread", step_imread),
                       Target("nd2reader", step_nd2reader), Target("validate", step_validate),
                       Target("inspect", step_inspect)]


def step_nd2(path: str) -> None:
    """The same calls as :func:`step_nd2file`, made of nd2 0.12 (the comparison oracle)."""
    import nd2

    with nd2.ND2File(path) as f:
        # nd2 0.12 has no unstructured_metadata for legacy files
        _exercise_nd2file(f, unstructured=not f.is_legacy)


#: other readers run on the same mutants for comparison (``python -m tools.fuzz --oracle``);
#: their exceptions are tallied by type, they are not nd2kit findings
ORACLES: dict[str, list[Target]] = {"nd2": [Target("nd2", step_nd2)]}


def _classify_step(step: str, e: BaseException) -> Finding:
    if isinstance(e, _CliFailure):
        inner = e.__cause__
        if inner is None:
            return Finding("cli-internal-error", step, "exit-code", "", str(e))
        f = classify(step, inner)
        if f.outcome in ("memory-limit", "timeout"):
            return f
        f.outcome = "cli-internal-error"
        f.tb_tail = _tail(inner)
        return f
    return classify(step, e)


def run_steps(path: str, steps: list[Target], step_timeout: float | None = None) -> list[Finding]:
    """Run `steps` on the file at `path`; one Finding per step (``ok`` when it passed).

    With `step_timeout`, each step gets that many seconds (``SIGALRM``; the caller
    installs a handler that raises :class:`CaseTimeout`). A timeout ends the case (the
    remaining steps are not run).
    """
    import signal

    out: list[Finding] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in steps:
            try:
                if step_timeout:
                    signal.setitimer(signal.ITIMER_REAL, step_timeout)
                t.fn(path)
                if step_timeout:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except CaseTimeout as e:
                out.append(classify(t.name, e))
                break
            except BaseException as e:  # noqa: BLE001 - every exception is an outcome
                if isinstance(e, KeyboardInterrupt):
                    raise
                out.append(_classify_step(t.name, e))
            else:
                out.append(Finding("ok", t.name))
    return out


_PRELOADED = [False]


def preload() -> None:
    """Import everything a case uses, once, before forking (children start warm)."""
    if _PRELOADED[0]:
        return
    _PRELOADED[0] = True
    import dask
    import dask.array  # noqa: F401
    import xarray  # noqa: F401

    import nd2kit
    import nd2kit.check.validate  # noqa: F401
    import nd2kit.cli
    import nd2kit.compat.nd2reader  # noqa: F401

    nd2kit.cli.subcommands()  # imports the *_cmd modules
    # a first run on a small sample warms lazy imports and caches
    from nd2kit.testing.samples import sample_file_bytes

    tmp = os.path.join(_tmpdir(), f"warm-{os.getpid()}.nd2")
    with open(tmp, "wb") as fh:
        fh.write(sample_file_bytes(t=1, z=1, channels=1, height=4, width=4))
    try:
        with dask.config.set(scheduler="synchronous"):
            run_steps(tmp, STEPS)
    finally:
        os.unlink(tmp)


def child_setup() -> None:
    """Settings of a forked child: dask without thread pools (one case, one thread)."""
    import dask

    dask.config.set(scheduler="synchronous")


def _tmpdir() -> str:
    d = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    import tempfile

    return d or tempfile.gettempdir()


def normalise_message(msg: str) -> str:
    """A message with its numbers replaced by N (for counting Nd2Errors by message)."""
    return re.sub(r"0x[0-9A-Fa-f]+|\d+", "N", msg)[:160]
