"""What a reader is: the :class:`Reader` protocol.

A reader sits on a :class:`~nd2kit.storage.Store` and gives chunks, raw metadata
dicts and frames of one file. ``ND2File``, ``Nd2Reader``, the lazy arrays and the
tools use only this protocol; :func:`nd2kit.reader.open_reader` picks the
implementation from the file's first bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..codecs.chunk_map import ChunkMap
from ..codecs.container import ChunkInfo
from ..storage.protocol import Store

__all__ = ["Reader", "FrameLayoutLike"]


class FrameLayoutLike(Protocol):
    """Frame geometry: see :class:`nd2kit.reader.modern.FrameLayout`."""

    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def components(self) -> int: ...
    @property
    def stride(self) -> int: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def compressed(self) -> bool: ...
    @property
    def lossy(self) -> bool: ...
    @property
    def nbytes(self) -> int: ...


@runtime_checkable
class Reader(Protocol):
    """Chunks, raw metadata and frames of one ND2 file.

    Attributes
    ----------
    store : Store
        Where the bytes come from.
    version : (int, int)
        Format version ``(major, minor)``.
    chunkmap : ChunkMap
        Every chunk's name, offset and stored size.
    """

    store: Store
    version: tuple[int, int]
    chunkmap: ChunkMap

    # ---------------------------------------------------------------- chunks
    def chunk_info(self, name: str) -> ChunkInfo:
        """Header info of the chunk `name` (ChunkNotFoundError if absent)."""
        ...

    def chunk_bytes(self, name: str) -> tuple[ChunkInfo, bytes]:
        """Header info and payload of the chunk `name`."""
        ...

    def chunk_payload(self, name: str) -> bytes | memoryview:
        """Payload of the chunk `name` (zero-copy where the store allows)."""
        ...

    # ---------------------------------------------------------------- metadata
    def meta_chunk_name(self, kind: str) -> str:
        """Chunk holding `kind` (``attributes``, ``metadata``, ``experiment``, ``text_info``)."""
        ...

    def raw(self, kind: str, schema: Any = None) -> dict[str, Any]:
        """Raw decoded dict of a metadata kind ({} when absent)."""
        ...

    def decode_chunk(self, name: str, strip_prefix: bool = False, schema: Any = None) -> Any:
        """Decode a metadata chunk (LiteVariant or XML variant)."""
        ...

    # ---------------------------------------------------------------- frames
    def frame_layout(self) -> FrameLayoutLike:
        """Frame geometry and sample type."""
        ...

    def frame_numbers(self) -> np.ndarray:
        """Sequence numbers of the frame chunks present, sorted."""
        ...

    def frame_count(self) -> int:
        """Number of frame chunks present."""
        ...

    def has_frame(self, index: int) -> bool:
        """True when frame `index` has a sound chunk."""
        ...

    def frame_data_offsets(self) -> np.ndarray:
        """Payload offset of every present frame (checks every frame header)."""
        ...

    def read_frame(self, index: int, *, copy: bool = False) -> np.ndarray:
        """Frame `index` as ``(height, width, components)`` (stored order)."""
        ...

    def read_frames(self, indices: Any) -> np.ndarray:
        """Frames `indices` as a new ``(n, height, width, components)`` array (batched)."""
        ...

    def read_rows(self, index: int, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` of frame `index`."""
        ...

    def frame_getter(self, transform: Callable[[np.ndarray], np.ndarray] | None = None
                     ) -> Callable[[int], np.ndarray | None] | None:
        """Fast zero-copy per-frame reader (None when not possible)."""
        ...

    def prefetch_frame(self, index: int) -> None:
        """Advisory: start reading frame `index` in (from the chunk map alone; see
        ``ModernReader.prefetch_frame``). Readers that cannot may do nothing."""
        ...

    def prefetch_frames(self, start: int, stop: int, rows: tuple[int, int] | None = None) -> None:
        """Hint that frames ``start:stop`` of :meth:`frames_view` (only their rows
        ``rows[0]:rows[1]`` when given) are about to be read."""
        ...

    def frames_view(self) -> np.ndarray | None:
        """All frames as one strided view when evenly spaced (None otherwise)."""
        ...
