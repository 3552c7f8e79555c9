"""Each zlib stream of a file inflated at most once per check run, never beyond the cap.

The check tools read a compressed (type 76) LiteVariant record three ways — the
structural walk, the fast lossless decoder and the Kaitai reference parser — and
each of them inflates the record's zlib stream on its own. Inside
:func:`inflate_once` the three share one inflation per stream: the first result
(the inflated bytes, or the failure: a bad stream, or one inflating to more than
the cap) is kept and handed to the others. A zlib bomb therefore costs one capped
inflation per run instead of one per reader, and the Kaitai parser, which inflates
without a cap, is held to the same cap as nd2kit's own decoders.

How: the generated modules look their inflate function up at call time
(``_inflate`` in ``nd2kit._generated.fast.lite_variant``, ``zlib.decompress`` in the
Kaitai parser). :func:`inflate_once` installs a wrapper for both once per process;
outside :func:`inflate_once` (in the current thread or task) the wrappers call the
originals unchanged, so the library's behaviour is not altered.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._generated.fast import _runtime
from .._generated.fast import lite_variant as _glv
from ..errors import CorruptChunkError, Nd2Error

__all__ = ["inflate_once", "inflation_cap"]

#: the memo of the active run: (stream, limit) -> inflated bytes or a failure message
_MEMO: contextvars.ContextVar[dict[tuple[bytes, int], bytes | _Failure] | None] = (
    contextvars.ContextVar("nd2kit_check_inflate_memo", default=None)
)
_LOCK = threading.Lock()
_ORIG_INFLATE: Any = None


def inflation_cap() -> int:
    """The cap on the inflated size of one LiteVariant zlib stream in the current
    context (bytes): the limit :func:`inflate_once` was given, else the codecs' own
    last-resort cap."""
    return int(_runtime.inflate_limit())


class _Failure:
    """A stream that could not be inflated: the reason, without the field prefix."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _shared(raw: bytes, limit: int, tname: str, field: str, pos: int) -> bytes:
    """Inflate `raw` (at most `limit` bytes) once per run; later calls get the result."""
    memo = _MEMO.get()
    if memo is None:
        return bytes(_ORIG_INFLATE(raw, tname, field, pos, limit))
    key = (raw, limit)
    hit = memo.get(key)
    if hit is None:
        try:
            out = bytes(_ORIG_INFLATE(raw, tname, field, pos, limit))
        except Nd2Error as e:
            prefix = f"{tname}.{field}: "
            memo[key] = _Failure(e.message[len(prefix) :] if e.message.startswith(prefix) else e.message)
            raise
        memo[key] = out
        return out
    if isinstance(hit, _Failure):
        raise CorruptChunkError(f"{tname}.{field}: {hit.why}", offset=pos)
    return hit


def _fast_inflate(
    raw: bytes, tname: str, field: str, pos: int, limit: int | None = None
) -> bytes:
    return _shared(bytes(raw), inflation_cap() if limit is None else limit, tname, field, pos)


class _KaitaiZlib:
    """What the Kaitai parser sees as ``zlib``: ``decompress`` shared and capped in a run."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.error = real.error

    def decompress(self, data: Any, *args: Any, **kwargs: Any) -> bytes:
        if _MEMO.get() is None:
            return bytes(self._real.decompress(data, *args, **kwargs))
        return _shared(bytes(data), inflation_cap(), "compressed", "inflated", 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _install() -> None:
    global _ORIG_INFLATE
    with _LOCK:
        if _ORIG_INFLATE is not None:
            return
        from .._generated.kaitai import lite_variant as _klv

        _ORIG_INFLATE = _runtime._inflate
        _glv._inflate = _fast_inflate
        if not isinstance(_klv.zlib, _KaitaiZlib):
            _klv.zlib = _KaitaiZlib(_klv.zlib)


@contextmanager
def inflate_once(limit: int | None = None) -> Iterator[None]:
    """Within this block (current thread or task), every LiteVariant zlib stream is
    inflated at most once and never beyond :func:`inflation_cap`; nested blocks
    share the outer one's memo. The inflated bytes are released at the end.

    `limit` (bytes per stream) sets the cap for the block; the check tools pass
    :func:`nd2kit.model.limits.metadata_inflate_limit` of the file's size, the limit
    the reader applies."""
    _install()
    with contextlib.ExitStack() as stack:
        if limit is not None:
            stack.enter_context(_runtime.limit_inflation(limit))
        if _MEMO.get() is not None:
            yield
            return
        token = _MEMO.set({})
        try:
            yield
        finally:
            _MEMO.reset(token)
