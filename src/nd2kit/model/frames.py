"""Per-frame metadata: :func:`load_frame_metadata` (nd2 0.12's ``FrameMetadata``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from .structures import (
    ExpLoop,
    FrameChannel,
    FrameMetadata,
    Metadata,
    Position,
    StagePosition,
    TimeStamp,
    XYPosLoop,
    ZStackLoop,
)

__all__ = ["load_frame_metadata"]


def load_frame_metadata(
    meta: Metadata,
    exp: Sequence[ExpLoop],
    position: tuple[float, float, float],
    time: tuple[float, float],
    frame_time: float | None,
    loop_index: Mapping[str, int],
    pfs_status: int | None = None,
) -> FrameMetadata:
    """The metadata of one frame: the global channels with the frame's stage position,
    acquisition time and Perfect Focus status.

    Parameters
    ----------
    meta : Metadata
        Result of :func:`~nd2kit.model.metadata.load_metadata` (copied, not shared).
    exp : list of ExpLoop
        Result of :func:`~nd2kit.model.experiment.load_experiment`.
    position, time : tuple
        Result of :func:`~nd2kit.model.metadata.global_position_time`.
    frame_time : float or None
        The frame's acquisition time in ms (``CustomData|AcqTimesCache!``); None when the
        file records none: the time is then NaN (unknown), never made up.
    loop_index : Mapping
        The frame's loop coordinates (``{"T": 0, "P": 1, ...}``,
        :func:`~nd2kit.model.experiment.loop_indices`).
    pfs_status : int, optional
        The frame's entry of ``CustomData|PFS_STATUS!``.

    Returns
    -------
    FrameMetadata
        Equal to nd2 0.12's ``frame_metadata`` (nd2 takes the position of the frame's
        multi-point, Z from the loop only when it sets Z, minus ``homeIndex × stepUm`` in
        a Z stack, and uses the global time for a non-finite cached time).
    """
    x, y, z = position
    name: str | None = None
    for loop in reversed(exp):  # nd2 takes the last loop of the type
        if isinstance(loop, XYPosLoop):
            points = loop.parameters.points
            k = loop_index.get("P", 0)
            if 0 <= k < len(points):
                name = points[k].name
                x, y, lz = points[k].stagePositionUm
                if loop.parameters.isSettingZ:
                    z = lz
            break
    for loop in reversed(exp):  # nd2 takes the last loop of the type
        if isinstance(loop, ZStackLoop):
            z -= (loop.parameters.homeIndex or 0) * (loop.parameters.stepUm or 1)
            break
    if frame_time is None:
        stamp = TimeStamp(absoluteJulianDayNumber=math.nan, relativeTimeMs=math.nan)
    elif math.isfinite(frame_time):
        stamp = TimeStamp(absoluteJulianDayNumber=time[1] + frame_time / 86_400_000,
                          relativeTimeMs=frame_time)
    else:
        stamp = TimeStamp(absoluteJulianDayNumber=time[1], relativeTimeMs=time[0])
    where = StagePosition(x, y, z)
    channels = [
        FrameChannel(**dataclasses.asdict(c), time=dataclasses.replace(stamp),
                     position=Position(name=name, stagePositionUm=where), pfs_status=pfs_status)
        for c in meta.channels or ()
    ]
    contents = dataclasses.replace(meta.contents) if meta.contents is not None else None
    return FrameMetadata(contents=contents, channels=channels)  # type: ignore[arg-type]
