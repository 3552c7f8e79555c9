"""Picture metadata (``SLxPictureMetadata``, docs/format.md, "Picture metadata and text info").

:func:`load_metadata` turns the decoded ``ImageMetadataSeq[LV]|0!`` chunk into
:class:`~nd2kit.model.structures.Metadata`: one :class:`~nd2kit.model.structures.Channel`
per picture plane with its name, colour, wavelengths, optics, modality flags,
calibration, camera transform and pixel-to-stage matrix, following nd2 0.12's
rules (including its quirks) wherever those give an answer, and a sensible
answer where nd2 raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from ..codecs.custom_data import decode_camera_matrix
from ._coerce import MAP_TYPES as _MAP
from ._coerce import as_mapping as _mapping
from ._coerce import as_number as _num
from ._coerce import as_str as _str
from .attributes import byte_array, collect_unknown
from .structures import (
    Attributes,
    Channel,
    ChannelMeta,
    Color,
    Contents,
    ExpLoop,
    LoopIndices,
    Metadata,
    Microscope,
    TextInfo,
    Volume,
)

__all__ = [
    "MODALITY_BITS",
    "EXTRA_MODALITY_BITS",
    "RGB_PSEUDO_WAVELENGTHS",
    "channel_count",
    "load_metadata",
    "modality_flags",
    "modality_mask",
    "unknown_keys",
    "voxel_size",
    "wavelengths",
]

#: Modality bit -> name, in the order nd2 reports them (docs/format.md, "Picture metadata and text info").
MODALITY_BITS: dict[str, int] = {
    "fluorescence": 0x1,
    "brightfield": 0x2,
    "phaseContrast": 0x10,
    "diContrast": 0x20,
    "camera": 0x100,
    "laserScanConfocal": 0x200,
    "spinningDiskConfocal": 0x400,
    "sweptFieldConfocalSlit": 0x800,
    "sweptFieldConfocalPinhole": 0x1000,
    "dsdConfocal": 0x2000,
    "SIM": 0x4000,
    "iSIM": 0x8000,
    "RCM": 0x40,
    "VCS": 0x80,
    "sora": 0x40000000,
    "liveSR": 0x40000,
    "multiphoton": 0x10000,
    "TIRF": 0x20000,
    "pmt": 0x100000,
    "spectral": 0x200000,
    "vaasIF": 0x400000,
    "vaasNF": 0x800000,
    "transmitDetector": 0x1000000,
    "nonDescannedDetector": 0x2000000,
    "virtualFilter": 0x4000000,
    "gaasp": 0x8000000,
    "remainder": 0x10000000,
    "aux": 0x20000000,
}

#: Bits known from limnd2 only; not part of ``ModalityFlags`` (nd2 drops them).
EXTRA_MODALITY_BITS: dict[str, int] = {
    "darkfield": 0x4,
    "NAMC": 0x8,
    "lightSheet": 0x80000,
    "customDescChannel": 0x80000000,
    "STED": 0x1_00000000,
    "galvano": 0x2_00000000,
    "resonant": 0x4_00000000,
    "AX": 0x8_00000000,
    "STORM": 0x10_00000000,
    "deepSIM": 0x20_00000000,
    "NSPARC": 0x40_00000000,
    "pmtIRGaAsP": 0x80_00000000,
    "pmtGaAs": 0x100_00000000,
}

_LIGHT = MODALITY_BITS["fluorescence"] | MODALITY_BITS["brightfield"]
_M = MODALITY_BITS

#: v2 ``eModality`` enum -> modality mask (nd2's table).
_MODALITY_ENUM: dict[int, int] = {
    0: _M["fluorescence"] | _M["camera"],
    1: _M["brightfield"] | _M["camera"],
    2: _M["fluorescence"] | _M["laserScanConfocal"],
    3: _M["fluorescence"] | _M["spinningDiskConfocal"],
    4: _M["fluorescence"] | _M["sweptFieldConfocalSlit"],
    5: _M["fluorescence"] | _M["multiphoton"] | _M["laserScanConfocal"],
    6: _M["brightfield"] | _M["phaseContrast"],
    7: _M["brightfield"] | _M["diContrast"],
    8: _M["fluorescence"] | _M["spectral"] | _M["laserScanConfocal"],
    9: _M["fluorescence"] | _M["vaasNF"] | _M["laserScanConfocal"],
    10: _M["fluorescence"] | _M["vaasIF"] | _M["laserScanConfocal"],
    11: _M["fluorescence"] | _M["vaasNF"] | _M["laserScanConfocal"],
    12: _M["dsdConfocal"],
}
_DEFAULT_MASK = _M["fluorescence"] | _M["camera"]

#: Representative wavelengths (nm) nd2 gives to the planes of RGB images.
RGB_PSEUDO_WAVELENGTHS: tuple[float, float, float] = (420.0, 515.0, 590.0)



# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------






def _first(mapping: Mapping[str, Any]) -> Any:
    return next(iter(mapping.values()), {})


#: the keys :func:`channel_count` reads (a reader that needs only the count decodes these)
CHANNEL_COUNT_SCHEMA: dict[str, Any] = {"sPicturePlanes": {"uiCount": None}}


def channel_count(raw_meta: Mapping[str, Any] | None) -> int:
    """Number of channels, as passed to ``load_attributes``.

    Parameters
    ----------
    raw_meta : Mapping or None
        Decoded ``SLxPictureMetadata``.

    Returns
    -------
    int
        ``sPicturePlanes.uiCount`` (1 when absent).
    """
    value = _mapping(_mapping(raw_meta).get("sPicturePlanes")).get("uiCount", 1)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return 1


def modality_mask(plane: Mapping[str, Any]) -> int:
    """Modality bit mask of a plane (``uiModalityMask``, or v2 ``eModality``).

    Parameters
    ----------
    plane : Mapping

    Returns
    -------
    int
    """
    mask = plane.get("uiModalityMask")
    if mask is None:
        try:
            mask = _MODALITY_ENUM.get(int(plane.get("eModality", -1)), _DEFAULT_MASK)
        except (TypeError, ValueError):
            mask = _DEFAULT_MASK
    try:
        return int(mask)
    except (TypeError, ValueError):
        return 0


def modality_flags(mask: int, component_count: int, *, extended: bool = False) -> list[str]:
    """Names of the modality bits set in `mask`.

    Parameters
    ----------
    mask : int
        Modality mask of the plane.
    component_count : int
        Components of the plane; without a light bit (fluorescence or
        brightfield) the result is ``["brightfield"]`` for 3 components, else
        ``["fluorescence"]`` (nd2's rule).
    extended : bool, optional
        Also name the bits only limnd2 knows (``darkfield``, ``STED``, …),
        appended at the end.  Default False (nd2's list).

    Returns
    -------
    list of str
    """
    if not mask & _LIGHT:
        return ["brightfield"] if component_count == 3 else ["fluorescence"]
    key = (mask, extended)
    names = _FLAG_NAMES.get(key)
    if names is None:
        names = tuple(name for name, bit in MODALITY_BITS.items() if mask & bit)
        if extended:
            names += tuple(name for name, bit in EXTRA_MODALITY_BITS.items() if mask & bit)
        if len(_FLAG_NAMES) < 4096:
            _FLAG_NAMES[key] = names
    return list(names)


#: (mask, extended) -> flag names: files use a handful of masks
_FLAG_NAMES: dict[tuple[int, bool], tuple[str, ...]] = {}


# ---------------------------------------------------------------------------
# wavelengths
# ---------------------------------------------------------------------------


def _spectrum_points(spectrum: Any) -> list[Mapping[str, Any]]:
    points = _mapping(_mapping(spectrum).get("pPoint"))
    return [p for p in points.values() if isinstance(p, _MAP)]


def _spectrum_peak(spectrum: Any) -> float:
    """Wavelength of the point with the largest transmission (first wins)."""
    points = _spectrum_points(spectrum)
    if not points:
        return 0.0
    best = points[0]
    for p in points[1:]:
        if _num(p.get("dTValue", 0.0), 0.0) > _num(best.get("dTValue", 0.0), 0.0):
            best = p
    return float(_num(best.get("dWavelength", 0.0), 0.0))


def _point_at(spectrum: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    points = _mapping(spectrum.get("pPoint"))
    point = points.get(f"Point{index}")
    if point is None:  # list-style spectra (LiteVariant items)
        point = points.get(f"i{index:010d}")
    return _mapping(point)


def wavelengths(plane: Mapping[str, Any], index: int) -> tuple[float, float]:
    """Excitation and emission wavelength of a picture plane (0 = unknown).

    nd2's rule: the peak of the fluorescent probe's spectrum; otherwise the
    first filter of the filter path (for an excitation filter with several
    peak points: the point at the plane's index); RGB planes get pseudo
    wavelengths 420/515/590 nm by plane index.

    Parameters
    ----------
    plane : Mapping
        One entry of ``sPlaneNew`` / ``sPlane``.
    index : int
        Position of the plane.

    Returns
    -------
    (float, float)
        ``(excitation, emission)`` in nm.
    """
    probe = _mapping(plane.get("pFluorescentProbe"))
    filt = _mapping(_first(_mapping(_mapping(plane.get("pFilterPath")).get("m_pFilter"))))
    rgb = plane.get("uiCompCount") == 3
    pseudo = RGB_PSEUDO_WAVELENGTHS[index] if rgb and 0 <= index < 3 else 0.0

    excitation = _spectrum_peak(probe.get("m_ExcitationSpectrum")) if probe else 0.0
    if not excitation and filt:
        spectrum = _mapping(filt.get("m_ExcitationSpectrum"))
        points = _spectrum_points(spectrum)
        if _num(spectrum.get("uiCount", 0), 0) > 1 and all(p.get("eType") == 4 for p in points):
            excitation = _num(_point_at(spectrum, index).get("dWavelength", 0), 0)
        if not excitation:
            excitation = _spectrum_peak(spectrum)
    if not excitation and rgb:
        excitation = pseudo

    if rgb:
        emission = pseudo
    else:
        emission = _spectrum_peak(probe.get("m_EmissionSpectrum")) if probe else 0.0
        if not emission and filt:
            emission = _spectrum_peak(filt.get("m_EmissionSpectrum"))
    return excitation, emission


# ---------------------------------------------------------------------------
# global part
# ---------------------------------------------------------------------------

_MAG = re.compile(r"(\d+)x", re.IGNORECASE)


def _magnification(raw_meta: Mapping[str, Any], text_info: Mapping[str, Any]) -> float | None:
    mag = _num(raw_meta.get("dObjectiveMag", 0.0), 0.0)
    if mag <= 0 and isinstance(text_info.get("optics"), str):
        match = _MAG.search(text_info["optics"])
        if match:
            mag = float(match.group(1))
    return mag if mag > 0 else None


def _positive(value: Any) -> Any:
    value = _num(value, None)
    return value if value is not None and value > 0 else None


def _global(
    raw_meta: Mapping[str, Any],
    attrs: Attributes,
    exp: list[ExpLoop],
    text_info: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """Volume fields, microscope fields and loop positions shared by all channels."""
    calibrated = raw_meta.get("bCalibrated", False)
    calibration = _num(raw_meta.get("dCalibration", 1.0), 1.0)
    axes_calibrated = (calibrated, calibrated, False)
    axes_calibration = [calibration, calibration, 1.0]
    voxels = [attrs.widthPx or 0, attrs.heightPx or 0, 1]
    loops: dict[str, int] = {}
    for i, loop in enumerate(exp):
        loops[loop.type] = i
        if loop.type == "ZStackLoop":
            voxels[2] = loop.count
            axes_calibration[2] = abs(loop.parameters.stepUm)
            axes_calibrated = (*axes_calibrated[:2], bool(axes_calibration[2] > 0))

    interp = ("time" if raw_meta.get("ePictureXAxis") == 2 else "distance",
              "time" if raw_meta.get("ePictureYAxis") == 2 else "distance")
    projective = raw_meta.get("dProjectiveMag")
    if projective and _num(projective, 0) < 0:
        projective = None
    refract = raw_meta.get("dRefractIndex1") or raw_meta.get("dRefractIndex2")

    microscope = {
        "objectiveMagnification": _magnification(raw_meta, text_info),
        "objectiveName": raw_meta.get("wsObjectiveName") or None,
        "objectiveNumericalAperture": _positive(raw_meta.get("dObjectiveNA", -1)),
        "projectiveMagnification": projective,
        "zoomMagnification": _positive(raw_meta.get("dZoom", -1)),
        "immersionRefractiveIndex": _positive(refract) if refract else None,
        "pinholeDiameterUm": _positive(_num(raw_meta.get("dPinholeRadius", 0), 0) * 2),
    }
    volume = {
        "axesCalibrated": axes_calibrated,
        "axesCalibration": tuple([v if v > 0 else 1.0 for v in axes_calibration]),
        "axesInterpretation": (*interp, "distance"),
        "bitsPerComponentInMemory": attrs.bitsPerComponentInMemory,
        "bitsPerComponentSignificant": attrs.bitsPerComponentSignificant,
        "cameraTransformationMatrix": (
            raw_meta.get("dStgLgCT11", 1.0),
            raw_meta.get("dStgLgCT12", 0.0),
            raw_meta.get("dStgLgCT21", 0.0),
            raw_meta.get("dStgLgCT22", 1.0),
        ),
        "componentDataType": attrs.pixelDataType,
        "voxelCount": tuple(voxels),
    }
    return volume, microscope, loops


def global_position_time(raw_meta: Mapping[str, Any] | None) -> tuple[tuple[float, float, float],
                                                                      tuple[float, float]]:
    """Stage position and acquisition time of the picture metadata as a whole.

    Parameters
    ----------
    raw_meta : Mapping or None
        Decoded ``SLxPictureMetadata``.

    Returns
    -------
    ((x, y, z), (relative_ms, julian_day))
        ``dXPos``, ``dYPos``, ``dZPos`` (stage µm) and ``dTimeMSec``, ``dTimeAbsolute``
        (Julian day number of the acquisition start); 0 where absent or not a number.
    """
    m = _mapping(raw_meta)
    x, y, z = (float(_num(m.get(k, 0.0), 0.0)) for k in ("dXPos", "dYPos", "dZPos"))
    return (x, y, z), (float(_num(m.get("dTimeMSec", 0.0), 0.0)),
                       float(_num(m.get("dTimeAbsolute", 0.0), 0.0)))


def _camera_matrix(sample: Mapping[str, Any]) -> tuple[float, ...] | None:
    """``matCameraToStage`` of a sample setting as 4 doubles, if well-formed."""
    matrix = _mapping(sample.get("matCameraToStage"))
    if not matrix or matrix.get("Columns") != 2 or matrix.get("Rows") != 2:
        return None
    return decode_camera_matrix(byte_array(matrix.get("Data")))


# ---------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------


def load_metadata(
    raw_meta: Mapping[str, Any] | None,
    attrs: Attributes,
    exp: list[ExpLoop],
    text_info: TextInfo | Mapping[str, Any] | None = None,
) -> Metadata:
    """Build :class:`~nd2kit.model.structures.Metadata` from ``SLxPictureMetadata``.

    Parameters
    ----------
    raw_meta : Mapping or None
        Decoded ``ImageMetadataSeq[LV]|0!`` (root unwrapped).
    attrs : Attributes
        Result of :func:`~nd2kit.model.attributes.load_attributes`.
    exp : list of ExpLoop
        Result of :func:`~nd2kit.model.experiment.load_experiment`.
    text_info : TextInfo, optional
        Result of :func:`~nd2kit.model.text_info.load_text_info`; its
        ``optics`` text supplies the objective magnification when the metadata
        has none.

    Returns
    -------
    Metadata
        One channel per plane of ``sPicturePlanes.sPlaneNew`` (v3) or
        ``sPlane`` (v2).  Unlike nd2, a plane count different from
        ``uiCount``, missing calibration keys or missing probes do not raise.
    """
    raw_meta = _mapping(raw_meta)
    text_info = _mapping(text_info)
    volume_g, microscope_g, loop_pos = _global(raw_meta, attrs, exp, text_info)

    planes_root = _mapping(raw_meta.get("sPicturePlanes"))
    planes = _mapping(planes_root.get("sPlaneNew")) or _mapping(planes_root.get("sPlane"))
    samples = _mapping(planes_root.get("sSampleSetting"))

    loops = (
        LoopIndices(
            NETimeLoop=loop_pos.get("NETimeLoop"),
            TimeLoop=loop_pos.get("TimeLoop"),
            XYPosLoop=loop_pos.get("XYPosLoop"),
            ZStackLoop=loop_pos.get("ZStackLoop"),
            CustomLoop=loop_pos.get("CustomLoop"),
        )
        if loop_pos
        else None
    )

    # nd2 carries the pixel-to-stage matrix of an earlier plane over to later
    # planes whose sample setting has no device settings (or no calibration)
    carried: list[float] | None = None
    channels: list[Channel] = []
    for i, plane in enumerate(planes.values()):
        plane = _mapping(plane)
        k = plane.get("uiSampleIndex") or i
        sample = _mapping(samples.get(f"a{k}"))
        excitation, emission = wavelengths(plane, i)
        comp_count = plane.get("uiCompCount", 1)

        volume = dict(volume_g)
        microscope = dict(microscope_g)
        own_matrix = _camera_matrix(sample)
        if own_matrix is not None:
            volume["cameraTransformationMatrix"] = own_matrix

        pixel_to_stage = carried
        device = sample.get("pDeviceSetting")
        if isinstance(device, _MAP):
            if not device.get("m_iXYUse0"):
                pixel_to_stage = None
            elif all(volume["axesCalibrated"][:2]):
                # the global dStgLgCT matrix is used here, not matCameraToStage
                m11, m12, m21, m22 = [_num(v, 0.0) for v in volume_g["cameraTransformationMatrix"]]
                cal_x, cal_y = volume["axesCalibration"][:2]
                width, height = volume["voxelCount"][:2]
                inv_x = _num(device.get("m_iXOrientation0", 0), 0)
                inv_y = _num(device.get("m_iYOrientation0", 0), 0)
                a, b = inv_x * cal_x * m11, inv_x * cal_y * m12
                c, d = inv_y * cal_x * m21, inv_y * cal_y * m22
                pixel_to_stage = [
                    a, b, -0.5 * (a * width + b * height),
                    c, d, -0.5 * (c * width + d * height),
                ]
                carried = pixel_to_stage

        pinhole = _num(plane.get("dPinholeDiameter", -1), -1)
        if pinhole > 0:
            microscope["pinholeDiameterUm"] = pinhole

        # placeholder extrema, one per component (bounded for corrupt counts)
        n_comp = comp_count if isinstance(comp_count, int) and 0 <= comp_count <= 4096 else 1
        channels.append(
            Channel(
                channel=ChannelMeta(
                    name=_str(plane.get("sDescription"), ""),
                    index=k,
                    color=Color.from_abgr_u4(_color(plane.get("uiColor", 0))),
                    emissionLambdaNm=emission or None,
                    excitationLambdaNm=excitation or None,
                ),
                loops=loops,
                microscope=Microscope(
                    **microscope,
                    modalityFlags=modality_flags(  # type: ignore[arg-type]
                        modality_mask(plane), comp_count
                    ),
                ),
                volume=Volume(
                    **volume,
                    pixelToStageTransformationMatrix=(
                        None if pixel_to_stage is None else cast(
                            "tuple[float, float, float, float, float, float]", tuple(pixel_to_stage))
                    ),
                    componentCount=comp_count,
                    componentMinima=[0.0] * n_comp,
                    componentMaxima=[0.0] * n_comp,
                ),
            )
        )

    contents = Contents(channelCount=len(channels), frameCount=attrs.sequenceCount)
    return Metadata(contents=contents, channels=channels)


def _color(value: Any) -> int:
    try:
        return int(value) & 0xFFFFFFFF
    except (TypeError, ValueError, OverflowError):
        return 0


# ---------------------------------------------------------------------------
# unknown keys
# ---------------------------------------------------------------------------

_SPECTRUM = {
    "uiCount": None,
    "pPoint": {"*": {"eType": None, "dWavelength": None, "dTValue": None}},
}
_PLANE = {
    "uiCompCount": None,
    "uiSampleIndex": None,
    "uiModalityMask": None,
    "eModality": None,
    "sDescription": None,
    "uiColor": None,
    "dPinholeDiameter": None,
    "pFluorescentProbe": {"m_ExcitationSpectrum": _SPECTRUM, "m_EmissionSpectrum": _SPECTRUM},
    "pFilterPath": {
        "m_pFilter": {"*": {"m_ExcitationSpectrum": _SPECTRUM, "m_EmissionSpectrum": _SPECTRUM}}
    },
}
_SAMPLE = {
    "matCameraToStage": {"Columns": None, "Rows": None, "Data": None},
    "pDeviceSetting": {"m_iXYUse0": None, "m_iXOrientation0": None, "m_iYOrientation0": None},
}
_META_SCHEMA = {
    **{
        k: None
        for k in (
            "bCalibrated",
            "dCalibration",
            "ePictureXAxis",
            "ePictureYAxis",
            "dObjectiveMag",
            "wsObjectiveName",
            "dObjectiveNA",
            "dProjectiveMag",
            "dZoom",
            "dRefractIndex1",
            "dRefractIndex2",
            "dPinholeRadius",
            "dStgLgCT11",
            "dStgLgCT12",
            "dStgLgCT21",
            "dStgLgCT22",
            "dXPos",
            "dYPos",
            "dZPos",
            "dTimeMSec",
            "dTimeAbsolute",
        )
    },
    "sPicturePlanes": {
        "uiCount": None,
        "sPlaneNew": {"*": _PLANE},
        "sPlane": {"*": _PLANE},
        "sSampleSetting": {"*": _SAMPLE},
    },
}


#: Every key of ``SLxPictureMetadata`` that :func:`load_metadata` reads (readers may
#: decode only these: ``nd2kit.codecs.lite_variant.decode(..., schema=READ_SCHEMA)``).
READ_SCHEMA = _META_SCHEMA


def unknown_keys(raw_meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """Entries of ``SLxPictureMetadata`` not represented in :class:`Metadata`.

    Parameters
    ----------
    raw_meta : Mapping or None

    Returns
    -------
    dict
        ``"sPicturePlanes/sPlaneNew/a0/dAcqTime" -> value`` etc.: every key
        that :func:`load_metadata` does not read (time and stage position of
        the first frame, camera and objective settings, …).
    """
    return collect_unknown(_mapping(raw_meta), _META_SCHEMA)


def voxel_size(meta: Metadata | None) -> tuple[float, float, float]:
    """Voxel size in µm ``(x, y, z)``: channel 0's axes calibration, ``(1, 1, 1)``
    when the metadata has no channel (as nd2's ``ND2File.voxel_size``)."""
    ch = meta.channels if meta else None
    if ch:
        x, y, z = ch[0].volume.axesCalibration
        return x, y, z
    return 1, 1, 1
