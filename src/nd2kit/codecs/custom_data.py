"""Small binary payloads of auxiliary chunks, through ``spec/custom_data.ksy``.

* per-frame caches ``CustomData|AcqTimesCache!`` / ``AcqTimes2Cache!`` (f64) and
  ``AcqFramesCache!`` (u32): :func:`decode_f8_array`, :func:`decode_u4_array`;
* the ``matCameraToStage`` ``Data`` byte array (four f64): :func:`decode_camera_matrix`;
* a stored pyramid level ``CustomDataSeq|DownsampledColorData_<S>|N!``:
  :func:`decode_downsampled`;
* zlib-compressed JSON ``CustomData|WellPlateFrameInfoZJSON!``: :func:`decode_zipped_json`
  (inflate capped by the generated codec).

Arrays are zero-copy read-only views of the payload. Every decoder raises
:class:`~nd2kit.errors.CorruptChunkError` naming the chunk and the absolute offset
(`base` = file offset of the payload) for bytes that do not follow the spec.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._generated.fast import custom_data as _g
from ..errors import CorruptChunkError, Nd2Error
from .names import ACQ_TIMES_CACHE, WELLPLATE_FRAME_INFO

__all__ = [
    "CAMERA_MATRIX_SIZE",
    "decode_camera_matrix",
    "decode_downsampled",
    "decode_f8_array",
    "decode_i4_array",
    "decode_u4_array",
    "decode_zipped_json",
    "encode_camera_matrix",
    "encode_downsampled",
    "encode_f8_array",
    "encode_u4_array",
    "encode_zipped_json",
]

#: bytes of a well-formed ``matCameraToStage`` Data array (spec: camera_matrix)
CAMERA_MATRIX_SIZE: int = 4 * np.dtype("<f8").itemsize


def _raw(payload: Any) -> Any:
    return payload if isinstance(payload, (bytes, bytearray, memoryview)) else bytes(payload)


def _array(node_cls: Any, payload: Any, unit: int, chunk: str | None, base: int) -> np.ndarray:
    raw = _raw(payload)
    try:
        node = node_cls.parse(raw)
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    if len(node.rest):
        k = len(raw) - len(node.rest)
        raise CorruptChunkError(
            f"{len(raw)} bytes is not a whole number of {unit}-byte values "
            f"({len(node.rest)} bytes left over)", chunk=chunk, offset=base + k)
    out: np.ndarray = node.values
    return out


def decode_f8_array(payload: Any, *, chunk: str | None = ACQ_TIMES_CACHE, base: int = 0) -> np.ndarray:
    """The f64 values of a cache payload (e.g. ``CustomData|AcqTimesCache!``, ms).

    Returns
    -------
    ndarray of float64 (little-endian), a read-only view of `payload`.

    Raises
    ------
    CorruptChunkError
        The payload size is not a multiple of 8 (offset = first left-over byte).
    """
    return _array(_g.F8Array, payload, 8, chunk, base)


def decode_u4_array(payload: Any, *, chunk: str | None = None, base: int = 0) -> np.ndarray:
    """The u32 values of a cache payload (``CustomData|AcqFramesCache!``)."""
    return _array(_g.U4Array, payload, 4, chunk, base)


def decode_i4_array(payload: Any, *, chunk: str | None = None, base: int = 0) -> np.ndarray:
    """The i32 values of a per-frame payload (``CustomData|PFS_STATUS!``, integer
    recorded-data columns)."""
    return _array(_g.I4Array, payload, 4, chunk, base)


def encode_f8_array(values: Any) -> bytes:
    """Payload of an f64 cache (inverse of :func:`decode_f8_array`)."""
    return bytes(_g.F8Array(values=np.asarray(values, dtype="<f8"), rest=b"").to_bytes())


def encode_u4_array(values: Any) -> bytes:
    """Payload of a u32 cache (inverse of :func:`decode_u4_array`)."""
    return bytes(_g.U4Array(values=np.asarray(values, dtype="<u4"), rest=b"").to_bytes())


def decode_camera_matrix(data: Any, *, chunk: str | None = None, base: int = 0,
                         strict: bool = False) -> tuple[float, float, float, float] | None:
    """The four doubles of a ``matCameraToStage`` ``Data`` byte array, in stored order.

    Returns None when `data` is None or not exactly 32 bytes (readers then ignore the
    matrix), unless `strict`, which raises CorruptChunkError instead.
    """
    if data is None:
        return None
    raw = _raw(data)
    if len(raw) != CAMERA_MATRIX_SIZE:
        if not strict:
            return None
        raise CorruptChunkError(f"matCameraToStage Data holds {len(raw)} bytes, expected "
                                f"{CAMERA_MATRIX_SIZE}", chunk=chunk, offset=base)
    try:
        (elements,) = _g.CameraMatrix.unpack(raw)
    except Nd2Error as e:  # pragma: no cover - the size was checked
        raise e.at(chunk, base) from None
    a, b, c, d = (float(v) for v in elements.tolist())
    return a, b, c, d


def encode_camera_matrix(elements: Any) -> bytes:
    """``Data`` bytes for four matrix elements (inverse of :func:`decode_camera_matrix`)."""
    arr = np.asarray(elements, dtype="<f8").reshape(-1)
    if arr.size != 4:
        raise ValueError(f"a camera matrix has 4 elements, got {arr.size}")
    return bytes(_g.CameraMatrix(elements=arr).to_bytes())


def decode_downsampled(payload: Any, height: int, width_bytes: int, *, chunk: str | None = None,
                       base: int = 0) -> Any:
    """The pixel block (``height * width_bytes`` bytes) of a stored pyramid level.

    Returns a zero-copy slice of `payload` (bytes beyond the block are ignored).

    Raises
    ------
    CorruptChunkError
        The payload is shorter than the pixel block.
    """
    raw = _raw(payload)
    try:
        node = _g.DownsampledFrame.parse(raw, height=int(height), width_bytes=int(width_bytes))
    except Nd2Error as e:
        raise CorruptChunkError(
            f"pyramid level holds {len(raw)} bytes, expected {int(height) * int(width_bytes)} "
            f"({int(height)} rows of {int(width_bytes)} bytes)", chunk=chunk,
            offset=base + (e.offset or 0)) from None
    return node.pixels


def encode_downsampled(pixels: Any, height: int, width_bytes: int) -> bytes:
    """Payload of a stored pyramid level (the rows, no timestamp)."""
    node = _g.DownsampledFrame(pixels=bytes(pixels), padding=b"")
    node.height, node.width_bytes = int(height), int(width_bytes)
    return bytes(node.to_bytes())


def decode_zipped_json(payload: Any, *, chunk: str | None = WELLPLATE_FRAME_INFO,
                       base: int = 0) -> Any:
    """Inflate (size-capped) and parse a zlib-compressed UTF-8 JSON payload.

    Raises
    ------
    CorruptChunkError
        Bad or oversized zlib stream, invalid UTF-8 or invalid JSON.
    """
    raw = _raw(payload)
    try:
        text = _g.ZippedJson.parse(raw).json
    except Nd2Error as e:
        raise e.at(chunk, base) from None
    try:
        return json.loads(bytes(text).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CorruptChunkError(f"inflated JSON is not UTF-8 ({e.reason} at inflated byte {e.start})",
                                chunk=chunk, offset=base) from None
    except ValueError as e:
        raise CorruptChunkError(f"inflated payload is not JSON ({e})", chunk=chunk, offset=base) from None


def encode_zipped_json(value: Any) -> bytes:
    """zlib-compressed UTF-8 JSON payload (as limnd2 writes it)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    node = _g.ZippedJson(json=text)
    return bytes(node.to_bytes())
