"""Typed metadata model (``nd2kit.model.structures`` + ``nd2kit.model``) against nd2 0.12.

Oracle: nd2 0.12 (``nd2.ND2File`` on the corpus, ``nd2._parse._parse`` on
synthetic raw dicts).  Where nd2 is wrong according to the format notes
(/work/shared/format/ND2_FORMAT.md) or crashes, the tests pin nd2's behaviour
*and* assert the correct value of nd2kit, with the reason next to it.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import math
import string
import struct
from collections.abc import Mapping
from pathlib import Path
from random import Random
from typing import Any

import nd2
import nd2._util as nd2_util
import nd2.structures as N
import pytest
from conftest import corpus_files
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from nd2._parse import _parse as P

import nd2kit.model.structures as K
from nd2kit import model
from nd2kit.codecs import container, lite_variant, xml_variant
from nd2kit.errors import CorruptChunkError
from nd2kit.model import attributes as mattrs
from nd2kit.model import experiment as mexp
from nd2kit.model import metadata as mmeta
from nd2kit.model import text_info as mtext

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def norm(obj: Any) -> Any:
    """Plain comparable form that keeps class names (stricter than ``asdict``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return (type(obj).__name__, {f.name: norm(getattr(obj, f.name)) for f in dataclasses.fields(obj)})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__, tuple(norm(v) for v in obj))
    if isinstance(obj, list):
        return [norm(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(norm(v) for v in obj)
    if isinstance(obj, dict):
        return {k: norm(v) for k, v in obj.items()}
    return obj


def asdicts(loops: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(x) for x in loops]


_CHUNKS = {
    "attributes": "ImageAttributes",
    "metadata": "ImageMetadataSeq|0",
    "experiment": "ImageMetadata",
    "text_info": "ImageTextInfo",
}


def raw_chunks(path: Path) -> dict[str, Any]:
    """Decoded, root-unwrapped metadata chunks of a modern file (None = absent)."""
    buf = path.read_bytes()
    version = container.sniff_version(buf)
    _, cmap = container.read_chunk_map(buf)
    lv = version >= (3, 0)
    out: dict[str, Any] = {}
    for kind, base in _CHUNKS.items():
        name = (base.replace("|", "LV|") if "|" in base else base + "LV") if lv else base
        name += "!"
        if name not in cmap:
            out[kind] = None
            continue
        _, payload = container.chunk_data(buf, cmap, name)
        payload = bytes(payload)
        if lv:
            decoded = lite_variant.decode(payload, strip_prefix=False)
        else:
            decoded = xml_variant.decode_xml_variant(payload, strip_prefix=False)
        out[kind] = model.unwrap_root(decoded, kind)
    return out


def build_all(raw: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    text = model.load_text_info(raw["text_info"])
    exp = model.load_experiment(raw["experiment"])
    attrs = model.load_attributes(raw["attributes"], model.channel_count(raw["metadata"]))
    meta = model.load_metadata(raw["metadata"], attrs, exp, text)
    return attrs, exp, meta, text


def _is_modern(path: Path) -> bool:
    try:
        return container.sniff_version(path.read_bytes()[:4096]) >= (2, 0)
    except Exception:  # a broken corpus file must fail the tests, not hide
        return True


MODERN = [p for p in corpus_files() if _is_modern(p)]


def _resolve(tree: Any, path: str) -> tuple[Any, Any, str]:
    parts = path.split("/")
    node = tree
    for part in parts[:-1]:
        node = node[part]
    return node, node[parts[-1]], parts[-1]


def ik(i: int) -> str:
    return f"i{i:010d}"


# ---------------------------------------------------------------------------
# declarations
# ---------------------------------------------------------------------------

_DELIBERATE = {
    # "signed" added (format notes §2.3: ePixelType 0 = signed, which nd2 ignores)
    ("Attributes", "pixelDataType"),
    ("Volume", "componentDataType"),
}


def _nd2_public() -> list[str]:
    return [n for n in K.__all__ if hasattr(N, n)]


def test_every_nd2_structure_used_by_the_model_is_declared() -> None:
    needed = {
        "Attributes", "TimeLoop", "TimeLoopParams", "PeriodDiff", "NETimeLoop", "NETimeLoopParams",
        "Period", "XYPosLoop", "XYPosLoopParams", "Position", "StagePosition", "ZStackLoop",
        "ZStackLoopParams", "CustomLoop", "SpectLoop", "ExpLoop", "LoopParams", "Metadata",
        "Contents", "Channel", "ChannelMeta", "Color", "Microscope", "Volume", "LoopIndices",
        "ModalityFlags", "LoopType", "TextInfo", "TimeStamp", "FrameChannel", "FrameMetadata",
    }
    assert needed <= set(_nd2_public())
    assert needed <= set(dir(N))


@pytest.mark.parametrize("name", [*_nd2_public(), "_Loop"])
def test_declaration_matches_nd2(name: str) -> None:
    ours, theirs = getattr(K, name), getattr(N, name)
    if dataclasses.is_dataclass(ours):
        def sig(cls: type) -> list[tuple]:
            return [
                (f.name, f.type if (cls.__name__, f.name) not in _DELIBERATE else "-",
                 repr(f.default), f.default_factory is not dataclasses.MISSING, f.compare, f.repr, f.init)
                for f in dataclasses.fields(cls)
            ]
        assert sig(ours) == sig(theirs)
        assert [b.__name__ for b in ours.__mro__[1:-1]] == [b.__name__ for b in theirs.__mro__[1:-1]]
    elif isinstance(ours, type) and issubclass(ours, tuple):
        assert ours._fields == theirs._fields
        assert ours._field_defaults == theirs._field_defaults
        for k, v in ours.__annotations__.items():
            if (name, k) not in _DELIBERATE:
                assert v == theirs.__annotations__[k], k
    elif isinstance(ours, type) and issubclass(ours, dict):  # TypedDict
        assert list(ours.__annotations__) == list(theirs.__annotations__)
        assert ours.__total__ == theirs.__total__
    elif isinstance(ours, type):  # IntEnum
        assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
    else:  # unions / Literal aliases
        import typing

        args_o, args_t = typing.get_args(ours), typing.get_args(theirs)
        assert [getattr(a, "__name__", a) for a in args_o] == [getattr(a, "__name__", a) for a in args_t]


def test_color_codec_matches_nd2() -> None:
    for val in (0, 0xFF, 0xFF00, 0xFF0000, 0x80FFFFFF, 0xFFFFFFFF, 0x01020304):
        ours, theirs = K.Color.from_abgr_u4(val), N.Color.from_abgr_u4(val)
        assert ours == theirs and ours._asdict() == theirs._asdict()
        assert ours.as_abgr_u4() == theirs.as_abgr_u4()
        assert ours.as_hex() == theirs.as_hex()


def test_structures_rebuild_from_asdict() -> None:
    loops = model.load_experiment(SPEC_TREE)
    assert [type(lp).__name__ for lp in loops] == ["NETimeLoop", "XYPosLoop", "ZStackLoop"]
    for loop in loops:
        again = type(loop)(**dataclasses.asdict(loop))
        assert again == loop
    pos = K.Position(stagePositionUm={"x": 1.0, "y": 2.0, "z": 3.0})
    assert pos.stagePositionUm == K.StagePosition(1.0, 2.0, 3.0)


# ---------------------------------------------------------------------------
# corpus: equality with nd2.ND2File
# ---------------------------------------------------------------------------


@pytest.mark.corpus
def test_corpus_has_modern_files(corpus_dir: Path) -> None:
    names = {p.name for p in MODERN}
    assert "spec_v2.nd2" in names and "spec_v3.nd2" in names
    assert all(p.name != "legacy16.nd2" for p in MODERN)


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_corpus_equals_nd2(path: Path) -> None:
    raw = raw_chunks(path)
    attrs, exp, meta, text = build_all(raw)
    with nd2.ND2File(path) as f:
        assert attrs._asdict() == f.attributes._asdict()
        assert norm(attrs) == norm(f.attributes)
        assert asdicts(exp) == asdicts(f.experiment)
        assert norm(exp) == norm(f.experiment)
        assert dataclasses.asdict(meta) == dataclasses.asdict(f.metadata)
        assert norm(meta) == norm(f.metadata)
        assert text == f.text_info and list(text) == list(f.text_info)
        sizes = model.sizes_from(attrs, exp)
        assert list(sizes.items()) == list(f.sizes.items())
        ours_idx = model.loop_indices(exp)
        assert [list(d.items()) for d in ours_idx] == [list(d.items()) for d in f.loop_indices]
        assert model.seq_count(exp) == len(f.loop_indices)
        assert model.components_per_channel(attrs) == f.components_per_channel
        assert model.numpy_dtype(attrs) == f.dtype


@pytest.mark.corpus
@pytest.mark.parametrize("path", MODERN, ids=lambda p: p.name)
def test_corpus_unknown_keys_are_really_unused(path: Path) -> None:
    raw = raw_chunks(path)
    before = build_all(raw)
    stripped = copy.deepcopy(raw)
    total = 0
    for kind in _CHUNKS:
        if raw[kind] is None:
            continue
        unknown = model.unknown_keys(kind, raw[kind])
        total += len(unknown)
        for key, value in unknown.items():
            parent, found, last = _resolve(raw[kind], key)
            assert found is value or found == value
            parent2, _, _ = _resolve(stripped[kind], key)
            del parent2[last]
    # everything reported as unknown can go without changing the model ...
    assert norm(build_all(stripped)) == norm(before)
    # ... and what is left is understood: nothing more to report
    for kind in _CHUNKS:
        if stripped[kind] is not None:
            assert model.unknown_keys(kind, stripped[kind]) == {}
    assert total > 0


@pytest.mark.corpus
def test_corpus_known_unknowns(corpus_dir: Path) -> None:
    by_name = {p.name: p for p in MODERN}
    raw = raw_chunks(by_name["spec_ne.nd2"])
    assert mattrs.unknown_keys(raw["attributes"]) == {"uiVirtualComponents": 2}
    assert mexp.unknown_keys(raw["experiment"]) == {
        "ppNextLevelEx/i0000000000/ppNextLevelEx/i0000000000/uLoopPars/pPlanes/uiCompCount": 2
    }
    raw = raw_chunks(by_name["spec_v2.nd2"])
    assert mexp.unknown_keys(raw["experiment"]) == {"wsApplicationDesc": ""}
    meta_unknown = mmeta.unknown_keys(raw["metadata"])
    assert "dTimeAbsolute" not in meta_unknown  # read now: the frames' Julian day (frame_metadata)
    assert mmeta.global_position_time(raw["metadata"])[1][1] == 2460000.5
    assert meta_unknown["sPicturePlanes/sPlane/_01/pFluorescentProbe/m_uiColor"] == 65280


# ---------------------------------------------------------------------------
# strategies: experiment trees
# ---------------------------------------------------------------------------

SAFE_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " _-", max_size=6)
JUNK_KEY = st.from_regex(r"x[A-Za-z0-9]{1,6}", fullmatch=True)
JUNK_VALUE = st.one_of(
    st.booleans(),
    st.integers(0, 2**31 - 1),
    st.floats(-1e3, 1e3, allow_nan=False),
    SAFE_TEXT,
    st.dictionaries(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.integers(0, 9), max_size=2),
)
JUNK = st.dictionaries(JUNK_KEY, JUNK_VALUE, max_size=2)
FLOAT = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 100.0, 0.5]),
    st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False),
)
ZF = st.one_of(
    st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0, 3.0, 10.0, -2.5]),
    st.floats(-50, 50, allow_nan=False).filter(lambda x: x == 0 or abs(x) > 1e-3),
)


@st.composite
def time_pars(draw: Any, min_count: int = 0) -> dict[str, Any]:
    d: dict[str, Any] = {
        "uiCount": draw(st.integers(min_count, 3)),
        "dStart": draw(FLOAT),
        "dPeriod": draw(FLOAT),
        "dDuration": draw(FLOAT),
    }
    for key in ("dAvgPeriodDiff", "dMaxPeriodDiff", "dMinPeriodDiff"):
        if draw(st.booleans()):
            d[key] = draw(FLOAT)
    d.update(draw(JUNK))
    return d


@st.composite
def xy_pars(draw: Any) -> tuple[dict[str, Any], bytes | None]:
    n = draw(st.integers(1, 4))
    points = {}
    for i in range(n):
        p: dict[str, Any] = {"dPosX": draw(FLOAT), "dPosY": draw(FLOAT), "dPosZ": draw(FLOAT)}
        if draw(st.booleans()):
            p["dPFSOffset"] = draw(st.sampled_from([-1.0, 0.0, 12.5]) | FLOAT)
        if draw(st.booleans()):
            p["dPosName"] = draw(SAFE_TEXT)
        p.update(draw(JUNK))
        points[ik(i)] = p
    pars: dict[str, Any] = {"uiCount": n, "bUseZ": draw(st.booleans()), "bRelativeXY": draw(st.booleans())}
    if draw(st.booleans()):
        pars["dReferenceX"] = draw(FLOAT)
        pars["dReferenceY"] = draw(FLOAT)
    pars["Points"] = points
    pars.update(draw(JUNK))
    valid = draw(st.none() | st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n).map(bytes))
    return pars, valid


@st.composite
def z_pars(draw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "uiCount": draw(st.integers(0, 5)),
        "dZLow": draw(ZF),
        "dZHigh": draw(ZF),
        "dZStep": draw(ZF),
        "dZHome": draw(ZF),
        "iType": draw(st.integers(0, 7)),
        "bZInverted": draw(st.booleans()),
    }
    if draw(st.booleans()):
        d["wsZDevice"] = draw(SAFE_TEXT)
    d.update(draw(JUNK))
    return d


@st.composite
def level(draw: Any, depth: int = 0, max_depth: int = 3) -> dict[str, Any]:
    kind = draw(st.sampled_from([1, 2, 4, 6, 7, 8]))
    lvl: dict[str, Any] = {"eType": kind}
    if kind == 1:
        lvl["uLoopPars"] = draw(time_pars())
    elif kind == 2:
        pars, valid = draw(xy_pars())
        lvl["uLoopPars"] = pars
        if valid is not None:
            lvl["pItemValid"] = valid
    elif kind == 4:
        lvl["uLoopPars"] = draw(z_pars())
    elif kind == 6:
        pars = {"uiCount": draw(st.integers(0, 3))}
        if draw(st.booleans()):
            pars["pPlanes"] = {"uiCount": draw(st.integers(0, 3))}
        lvl["uLoopPars"] = pars
    elif kind == 7:
        lvl["uLoopPars"] = {"uiCount": draw(st.integers(0, 3))}
    else:
        k = draw(st.integers(1, 3))
        periods = {ik(i): draw(time_pars()) for i in range(k)}
        valid = draw(st.lists(st.sampled_from([0, 1, 1]), min_size=k, max_size=k))
        pars = {
            "uiCount": sum(p["uiCount"] for p, v in zip(periods.values(), valid) if v),
            "uiPeriodCount": k,
            "pPeriod": periods,
            "pPeriodValid": bytes(valid),
        }
        if depth == 0 and draw(st.integers(0, 3)) == 0:
            sub = draw(level(depth=2, max_depth=max_depth))
            pars["pSubLoops"] = {ik(0): {"ppNextLevelEx": {ik(0): {"SLxExperiment": sub}}}}
        pars.update(draw(JUNK))
        lvl["uLoopPars"] = pars
    if depth < max_depth:
        n_children = draw(st.sampled_from([0, 1, 1, 1, 2]))
        if n_children:
            lvl["ppNextLevelEx"] = {ik(i): draw(level(depth + 1, max_depth)) for i in range(n_children)}
            if draw(st.booleans()):
                lvl["uiNextLevelCount"] = n_children
    lvl.update(draw(JUNK))
    return lvl


def lv_roundtrip(tree: dict[str, Any], root: str = "SLxExperiment") -> dict[str, Any]:
    """Encode as a v3 LiteVariant chunk and decode it like a reader does."""
    payload = lite_variant.encode(lite_variant.from_python(root, tree))
    return model.unwrap_root(lite_variant.decode(payload, strip_prefix=False), "experiment")


class XmlBytes(bytes):
    """A ``CLxByteArray`` value (written as base64 text)."""


def _emit(parent: Any, name: str, value: Any) -> None:
    tag = "no_name" if mexp._ITEM_KEY.match(name) else name
    if isinstance(value, XmlBytes):
        etree.SubElement(parent, tag, runtype="CLxByteArray", value=base64.b64encode(value).decode())
    elif isinstance(value, bool):
        etree.SubElement(parent, tag, runtype="bool", value="true" if value else "false")
    elif isinstance(value, int):
        etree.SubElement(parent, tag, runtype="lx_int32" if value < 0 else "lx_uint32", value=str(value))
    elif isinstance(value, float):
        etree.SubElement(parent, tag, runtype="double", value=repr(value))
    elif isinstance(value, str):
        etree.SubElement(parent, tag, runtype="CLxStringW", value=value)
    elif isinstance(value, Mapping):
        el = etree.SubElement(parent, tag, runtype="CLxListVariant")
        for k, v in value.items():
            _emit(el, k, v)
    elif isinstance(value, list):
        el = etree.SubElement(parent, tag, runtype="CLxListVariant")
        for v in value:
            _emit(el, ik(0), v)
    else:  # pragma: no cover - test bug
        raise TypeError(type(value))


def xml_roundtrip(tree: dict[str, Any]) -> dict[str, Any]:
    """Encode as a v2 XML-variant chunk and decode it like a reader does."""
    root = etree.Element("variant", version="1.0")
    _emit(root, "no_name", tree)
    payload = b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root)
    return xml_variant.decode_xml_variant(payload, strip_prefix=False)


def to_v2(lvl: dict[str, Any], rnd: Random) -> dict[str, Any]:
    """The v2 (XML) shape of a v3 experiment level (format notes §1.6, §4.3, §7.2)."""
    out: dict[str, Any] = {}
    kind = lvl.get("eType")
    for key, value in lvl.items():
        if key == "uLoopPars":
            out[key] = {ik(0): _v2_pars(kind, value, rnd)}  # one-element list
        elif key == "pItemValid":
            if any(value) and rnd.random() < 0.5:
                out[key] = [bool(b) for b in value]  # no_name bools: false items vanish
            else:
                out[key] = XmlBytes(value)
        elif key == "ppNextLevelEx":
            out[key] = {k: to_v2(v, rnd) for k, v in value.items()}
        else:
            out[key] = value
    return out


def _v2_pars(kind: int, pars: dict[str, Any], rnd: Random) -> dict[str, Any]:
    pars = dict(pars)
    if kind == 8:
        valid = pars["pPeriodValid"]
        if rnd.random() < 0.5:
            pars["pPeriodValid"] = {f"_{i:02d}": bool(v) for i, v in enumerate(valid)}
        else:
            pars["pPeriodValid"] = XmlBytes(valid)
        if "pSubLoops" in pars:
            sub = pars["pSubLoops"][ik(0)]["ppNextLevelEx"][ik(0)]["SLxExperiment"]
            pars["pSubLoops"] = {ik(0): {"ppNextLevelEx": {ik(0): {"SLxExperiment": to_v2(sub, rnd)}}}}
    if kind == 2 and rnd.random() < 0.5:
        points = list(pars.pop("Points").values())
        with_pfs = ["dPFSOffset" in p for p in points]
        if all(with_pfs) or not any(with_pfs):
            # old files: parallel maps of no_name items (zeros and "" vanish)
            pars["dPosX"] = [p["dPosX"] for p in points]
            pars["dPosY"] = [p["dPosY"] for p in points]
            pars["dPosZ"] = [p["dPosZ"] for p in points]
            if all(with_pfs):
                pars["dPFSOffset"] = [p["dPFSOffset"] for p in points]
            pars["pPosName"] = [p.get("dPosName", "") for p in points]
        else:
            pars["Points"] = {ik(i): p for i, p in enumerate(points)}
    return pars


def junk_paths(tree: Any, path: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            here = f"{path}/{key}" if path else key
            if key.startswith("x"):
                out.add(here)
            else:
                out |= junk_paths(value, here)
    return out


# ---------------------------------------------------------------------------
# hypothesis: experiment
# ---------------------------------------------------------------------------


@given(level())
def test_experiment_matches_nd2(tree: dict[str, Any]) -> None:
    raw = lv_roundtrip(tree)
    ours = model.load_experiment(raw)
    theirs = P.load_experiment(copy.deepcopy(raw))
    assert norm(ours) == norm(theirs)
    assert asdicts(ours) == asdicts(theirs)
    assert [list(d.items()) for d in model.loop_indices(ours)] == [
        list(d.items()) for d in nd2_util.loop_indices(theirs)
    ]


@given(level(), st.booleans())
def test_experiment_from_schema_guided_decode_is_identical(tree: dict[str, Any], wrap: bool) -> None:
    """Decoding only READ_SCHEMA's keys (as ND2File does) builds the same experiment,
    for random nestings of every loop type (junk keys are skipped, never needed), also
    when ``uLoopPars`` is wrapped in a one-item list (as v2 trees store it)."""
    if wrap:
        tree = {**tree, "uLoopPars": [tree["uLoopPars"]]}
    payload = lite_variant.encode(lite_variant.from_python("SLxExperiment", tree))
    full = model.unwrap_root(lite_variant.decode(payload), "experiment")
    part = model.unwrap_root(lite_variant.decode(payload, schema=mexp.READ_SCHEMA), "experiment")
    assert asdicts(model.load_experiment(part)) == asdicts(model.load_experiment(full))


@given(level(), st.randoms(use_true_random=False))
def test_experiment_v2_xml_gives_the_same_model(tree: dict[str, Any], rnd: Random) -> None:
    expected = model.load_experiment(lv_roundtrip(tree))
    raw_v2 = xml_roundtrip(to_v2(tree, rnd))
    assert norm(model.load_experiment(raw_v2)) == norm(expected)


@given(level(), st.randoms(use_true_random=False))
def test_experiment_unknown_keys_are_exactly_the_extra_keys(tree: dict[str, Any], rnd: Random) -> None:
    for raw in (lv_roundtrip(tree), xml_roundtrip(to_v2(tree, rnd))):
        unknown = mexp.unknown_keys(raw)
        assert set(unknown) == junk_paths(raw)
        for key, value in unknown.items():
            assert _resolve(raw, key)[1] == value
        # removing them changes nothing
        stripped = copy.deepcopy(raw)
        for key in unknown:
            parent, _, last = _resolve(stripped, key)
            del parent[last]
        assert norm(model.load_experiment(stripped)) == norm(model.load_experiment(raw))


class _SizesStub:
    """Just enough of ``nd2.ND2File`` to run its ``sizes`` code as an oracle."""

    _coord_info = nd2.ND2File._coord_info
    components_per_channel = nd2.ND2File.components_per_channel

    def __init__(self, attributes: Any, experiment: Any) -> None:
        self.attributes = attributes
        self.experiment = experiment


@given(level(), st.integers(1, 4), st.sampled_from([1, 2, 3, 4, 6, 9]), st.integers(1, 5), st.integers(1, 5))
def test_sizes_match_nd2(tree: dict[str, Any], n_ch: int, n_comp: int, w: int, h: int) -> None:
    raw = lv_roundtrip(tree)
    raw_attrs = {"uiWidth": w, "uiWidthBytes": w * n_comp * 2, "uiHeight": h, "uiComp": n_comp,
                 "uiBpcInMemory": 16, "uiBpcSignificant": 12, "uiSequenceCount": 1, "ePixelType": 1}
    ours_attrs = model.load_attributes(raw_attrs, n_ch)
    theirs_attrs = P.load_attributes(raw_attrs, n_ch)
    ours = model.sizes_from(ours_attrs, model.load_experiment(raw))
    theirs = nd2.ND2File.sizes.func(_SizesStub(theirs_attrs, P.load_experiment(raw)))
    assert list(ours.items()) == list(theirs.items())


def test_hand_made_nesting_orders() -> None:
    """Z outside T, XY innermost, spectral in the middle, custom loop, siblings."""
    z = {"uiCount": 3, "dZLow": 0.0, "dZHigh": 4.0, "dZStep": 2.0, "dZHome": 2.0, "iType": 2, "bZInverted": False}
    t = {"uiCount": 2, "dStart": 0.0, "dPeriod": 10.0, "dDuration": 0.0}
    pts = {ik(i): {"dPosX": float(i), "dPosY": 0.0, "dPosZ": 1.0} for i in range(2)}
    tree = {
        "eType": 4, "uLoopPars": z,
        "ppNextLevelEx": {ik(0): {
            "eType": 6, "uLoopPars": {"uiCount": 2, "pPlanes": {"uiCount": 2}},
            "ppNextLevelEx": {ik(0): {
                "eType": 1, "uLoopPars": t,
                "ppNextLevelEx": {
                    # same-type sibling with more items replaces the first one, and
                    # the walk continues below it
                    ik(0): {"eType": 7, "uLoopPars": {"uiCount": 2}},
                    ik(1): {"eType": 7, "uLoopPars": {"uiCount": 5},
                            "ppNextLevelEx": {ik(0): {"eType": 2, "uLoopPars": {"uiCount": 2, "Points": pts}}}},
                    # a sibling after a deeper loop is ignored
                    ik(2): {"eType": 7, "uLoopPars": {"uiCount": 9}},
                },
            }},
        }},
    }
    ours = model.load_experiment(tree)
    assert norm(ours) == norm(P.load_experiment(tree))
    assert [(lp.type, lp.count, lp.nestingLevel) for lp in ours] == [
        ("ZStackLoop", 3, 0), ("TimeLoop", 2, 1), ("CustomLoop", 5, 2), ("XYPosLoop", 2, 3)]
    assert ours[0].parameters.homeIndex == 1
    assert model.axis_names(ours) == ["Z", "T", "U", "P"]


SPEC_TREE = {
    "eType": 8,
    "uLoopPars": {
        "uiCount": 3, "uiPeriodCount": 3,
        "pPeriod": {ik(i): {"uiCount": i + 1, "dStart": 0.0, "dPeriod": 100.0 * (i + 1), "dDuration": 0.0}
                    for i in range(3)},
        "pPeriodValid": [1, 0, 1],
    },
    "ppNextLevelEx": {ik(0): {
        "eType": 2,
        "uLoopPars": {"uiCount": 3, "bUseZ": True, "Points": {
            ik(i): {"dPosX": 1.0 + i, "dPosY": 2.0, "dPosZ": 5.0, "dPFSOffset": -1.0, "dPosName": f"p{i}"}
            for i in range(3)}},
        "pItemValid": [1, 0, 1],
        "ppNextLevelEx": {ik(0): {"eType": 4, "uLoopPars": {
            "uiCount": 4, "dZLow": -1.5, "dZHigh": 1.5, "dZStep": 0.0, "dZHome": 0.0, "iType": 6, "bZInverted": True}}},
    }},
}


def test_invalid_periods_and_points() -> None:
    ours = model.load_experiment(SPEC_TREE)
    assert norm(ours) == norm(P.load_experiment(SPEC_TREE))
    ne, xy, z = ours
    assert ne.count == 4 and [p.count for p in ne.parameters.periods] == [1, 3]
    assert [p.periodMs for p in ne.parameters.periods] == [100.0, 300.0]
    assert xy.count == 2 and [p.name for p in xy.parameters.points] == ["p0", "p2"]
    assert all(p.pfsOffset is None for p in xy.parameters.points)
    assert z.parameters.stepUm == 1.0 and z.parameters.bottomToTop is False
    assert model.seq_count(ours) == 4 * 2 * 4 == len(model.loop_indices(ours))


@pytest.mark.parametrize("z_type", range(8))
@pytest.mark.parametrize("inverted", [False, True])
def test_z_home_index_all_types(z_type: int, inverted: bool) -> None:
    for count, low, high, home, step in [(5, 0.0, 4.0, 1.0, 1.0), (5, 0.0, 4.0, 3.0, 0.0),
                                         (4, -2.0, 1.0, 0.0, 1.0), (6, 0.0, 0.0, 0.0, 0.0), (1, 0.0, 0.0, 0.0, 0.0)]:
        pars = {"uiCount": count, "dZLow": low, "dZHigh": high, "dZHome": home, "dZStep": step,
                "iType": z_type, "bZInverted": inverted}
        tree = {"eType": 4, "uLoopPars": pars}
        ours, theirs = model.load_experiment(tree), P.load_experiment(tree)
        assert norm(ours) == norm(theirs)
        assert 0 <= ours[0].parameters.homeIndex < count


# ---------------------------------------------------------------------------
# hypothesis: attributes, text info, metadata
# ---------------------------------------------------------------------------


@st.composite
def raw_attributes(draw: Any) -> dict[str, Any]:
    bpc = draw(st.sampled_from([8, 16, 32]))
    comp = draw(st.integers(1, 4))
    w, h = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    d: dict[str, Any] = {
        "uiWidth": w,
        "uiWidthBytes": -(-w * comp * bpc // 8 // 4) * 4,
        "uiHeight": h,
        "uiComp": comp,
        "uiBpcInMemory": bpc,
        "uiBpcSignificant": 32 if bpc == 32 else draw(st.integers(1, bpc)),
        "uiSequenceCount": draw(st.integers(0, 100)),
        "ePixelType": 2 if bpc == 32 else 1,
    }
    if draw(st.booleans()):
        d["uiTileWidth"] = draw(st.sampled_from([0, w, max(w // 2, 1)]))
    if draw(st.booleans()):
        d["uiTileHeight"] = draw(st.sampled_from([0, h, max(h // 2, 1)]))
    if draw(st.booleans()):
        d["eCompression"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        d["dCompressionParam"] = draw(FLOAT)
    if draw(st.booleans()):
        del d["ePixelType"]
    d.update(draw(JUNK))
    return d


@given(raw_attributes(), st.integers(1, 4))
def test_attributes_match_nd2(raw: dict[str, Any], n_ch: int) -> None:
    ours, theirs = model.load_attributes(raw, n_ch), P.load_attributes(raw, n_ch)
    assert ours._asdict() == theirs._asdict() and norm(ours) == norm(theirs)
    assert set(mattrs.unknown_keys(raw)) == {k for k in raw if k.startswith("x")}


@given(st.dictionaries(
    st.sampled_from([f"TextInfoItem_{i}" for i in range(17)]) | JUNK_KEY,
    st.sampled_from(["", "Plan Apo 20x", "x"]) | SAFE_TEXT, max_size=20))
def test_text_info_matches_nd2(raw: dict[str, Any]) -> None:
    ours = model.load_text_info(raw)
    theirs = P.load_text_info(raw)
    assert ours == theirs and list(ours) == list(theirs)
    known = {f"TextInfoItem_{i}" for i in range(15)}
    assert set(mtext.unknown_keys(raw)) == set(raw) - known
    assert model.load_text_info(None) == {}


@st.composite
def spectrum(draw: Any, named: bool) -> dict[str, Any]:
    n = draw(st.integers(0, 3))
    points = {}
    for j in range(n):
        key = f"Point{j}" if named else ik(j)
        points[key] = {"eType": draw(st.sampled_from([0, 1, 4, 4, 5])),
                       "dWavelength": draw(st.sampled_from([0.0, 405.0, 488.0, 561.0, 640.5])),
                       "dTValue": draw(st.sampled_from([0.0, 0.5, 1.0, 17.5]))}
    return {"uiCount": draw(st.sampled_from([n, n, 0, 2])), "bPoints": False, "pPoint": points}


@st.composite
def picture_metadata(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    planes = {}
    for i in range(n):
        comp = draw(st.sampled_from([1, 1, 3]))
        probe: dict[str, Any] = {"m_sName": draw(SAFE_TEXT)}  # never empty: nd2 crashes otherwise
        if draw(st.booleans()):
            probe["m_ExcitationSpectrum"] = draw(spectrum(named=draw(st.booleans())))
        if draw(st.booleans()):
            probe["m_EmissionSpectrum"] = draw(spectrum(named=draw(st.booleans())))
        plane: dict[str, Any] = {
            "uiCompCount": comp,
            "uiColor": draw(st.integers(0, 2**32 - 1)),
            "sDescription": draw(SAFE_TEXT),
            "pFluorescentProbe": probe,
        }
        if draw(st.booleans()):
            plane["uiSampleIndex"] = draw(st.integers(0, 2))
        mode = draw(st.integers(0, 2))
        if mode == 0:
            plane["uiModalityMask"] = draw(st.integers(0, 2**40))
        elif mode == 1:
            plane["eModality"] = draw(st.integers(-1, 14))
        if draw(st.booleans()):
            plane["dPinholeDiameter"] = draw(st.sampled_from([-1.0, 0.0, 58.7]))
        if draw(st.booleans()):
            filt = {"m_sName": "f", "m_ExcitationSpectrum": draw(spectrum(named=True)),
                    "m_EmissionSpectrum": draw(spectrum(named=True))}
            plane["pFilterPath"] = {"m_sDescr": "", "m_uiCount": 1, "m_pFilter": {ik(0): filt}}
        plane.update(draw(JUNK))
        planes[f"a{i}"] = plane
    samples = {}
    for k in range(draw(st.integers(0, 3))):
        s: dict[str, Any] = {}
        if draw(st.booleans()):
            m = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=4, max_size=4))
            s["matCameraToStage"] = {"Columns": 2, "Rows": draw(st.sampled_from([2, 2, 3])),
                                     "Data": list(struct.pack("<4d", *m))}
        if draw(st.booleans()):
            s["pDeviceSetting"] = {"m_iXYUse0": draw(st.integers(0, 1)),
                                   "m_iXOrientation0": draw(st.sampled_from([-1, 1])),
                                   "m_iYOrientation0": draw(st.sampled_from([-1, 1]))}
        samples[f"a{k}"] = s
    meta: dict[str, Any] = {
        "bCalibrated": draw(st.booleans()),
        "dCalibration": draw(st.sampled_from([0.0, -1.0, 0.125, 0.325, 1.0])),
        "sPicturePlanes": {"uiCount": n, "uiCompCount": n, "sPlaneNew": planes, "sSampleSetting": samples},
    }
    optional = {
        "dObjectiveMag": st.sampled_from([-1.0, 0.0, 20.0, 60.0]),
        "wsObjectiveName": st.sampled_from(["", "Plan Apo 20x"]),
        "dObjectiveNA": st.sampled_from([-1.0, 0.75, 1.4]),
        "dZoom": st.sampled_from([-1.0, 1.0, 2.0]),
        "dProjectiveMag": st.sampled_from([-1.0, 0.0, 1.5]),
        "dPinholeRadius": st.sampled_from([0.0, 10.0]),
        "dRefractIndex1": st.sampled_from([-1.0, 0.0, 1.515]),
        "dRefractIndex2": st.sampled_from([-1.0, 1.33]),
        "ePictureXAxis": st.integers(0, 3),
        "ePictureYAxis": st.integers(0, 3),
        "dStgLgCT11": st.floats(-2, 2, allow_nan=False),
        "dStgLgCT12": st.floats(-2, 2, allow_nan=False),
        "dStgLgCT21": st.floats(-2, 2, allow_nan=False),
        "dStgLgCT22": st.floats(-2, 2, allow_nan=False),
    }
    for key, strat in optional.items():
        if draw(st.booleans()):
            meta[key] = draw(strat)
    meta.update(draw(JUNK))
    return meta


OPTICS = st.sampled_from(["Plan Apo 20x", "60X Oil", "", "no magnification", "10x/0.3 Ph1", "Plan Apo λ 100x"])


@given(picture_metadata(), raw_attributes(), level(max_depth=2), st.none() | OPTICS)
def test_metadata_matches_nd2(raw: dict[str, Any], raw_attrs: dict[str, Any], tree: dict[str, Any],
                              optics: str | None) -> None:
    raw_exp = lv_roundtrip(tree)
    raw_text = {} if optics is None else {"TextInfoItem_13": optics}
    n = model.channel_count(raw)
    ours_attrs, theirs_attrs = model.load_attributes(raw_attrs, n), P.load_attributes(raw_attrs, n)
    ours_exp, theirs_exp = model.load_experiment(raw_exp), P.load_experiment(raw_exp)
    ours_text, theirs_text = model.load_text_info(raw_text), P.load_text_info(raw_text)
    ours = model.load_metadata(raw, ours_attrs, ours_exp, ours_text)
    glb = P.load_global_metadata(theirs_attrs, copy.deepcopy(raw), theirs_exp, theirs_text)
    theirs = P.load_metadata(copy.deepcopy(raw), glb)
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert norm(ours) == norm(theirs)
    unknown = mmeta.unknown_keys(raw)
    assert {k for k in unknown if k.rsplit("/", 1)[-1].startswith("x")} == junk_paths(raw)


_ALL_KEYS = sorted(
    mattrs.KNOWN_ATTRIBUTE_KEYS
    | set(mexp._LEVEL_KEYS)
    | {k for s in mexp._PARAM_SCHEMAS.values() for k in s}
    | set(mexp._POINT_SCHEMA)
    | set(mmeta._META_SCHEMA) | set(mmeta._PLANE) | set(mmeta._SAMPLE)
    | {"sPlaneNew", "sPlane", "sSampleSetting", "m_pFilter", "m_ExcitationSpectrum", "m_EmissionSpectrum",
       "pPoint", "dWavelength", "dTValue", "Columns", "Rows", "Data", "m_iXYUse0", "SLxExperiment",
       "pSubLoops", "a0", "a1", "_00", "Point0", "Point1", "TextInfoItem_13"}
)
GARBAGE = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(), SAFE_TEXT,
        st.binary(max_size=12), st.lists(st.integers(-300, 300), max_size=9),
    ),
    lambda children: st.dictionaries(
        st.sampled_from(_ALL_KEYS) | st.sampled_from([ik(0), ik(1), ik(7), "i9999999999"]) | JUNK_KEY,
        children, max_size=5),
    max_leaves=40,
)


@given(GARBAGE, GARBAGE, GARBAGE, GARBAGE)
def test_builders_never_raise(g_attrs: Any, g_exp: Any, g_meta: Any, g_text: Any) -> None:
    raw_attrs = g_attrs if isinstance(g_attrs, dict) else {}
    try:
        attrs = model.load_attributes(raw_attrs, model.channel_count(g_meta), chunk="ImageAttributesLV!")
    except CorruptChunkError as e:  # a value of the wrong type or range (issue #8): located
        assert e.chunk == "ImageAttributesLV!"
        assert e.field is not None and e.field.startswith("SLxImageAttributes.")
        assert e.field.split(".")[1] in raw_attrs
        attrs = model.load_attributes({}, model.channel_count(g_meta))
    model.numpy_dtype(attrs)
    exp = model.load_experiment(g_exp)
    for tree in (g_exp, g_meta):  # garbage placed where a loop tree is expected, too
        model.load_experiment(tree)
        model.load_experiment({"eType": 2, "uLoopPars": tree})
        model.load_experiment({"eType": 8, "uLoopPars": tree})
    text = model.load_text_info(g_text)
    meta = model.load_metadata(g_meta, attrs, exp, text)
    assert meta.contents is not None and meta.contents.channelCount == len(meta.channels or [])
    for kind, raw in (("attributes", g_attrs), ("experiment", g_exp), ("metadata", g_meta), ("text_info", g_text)):
        assert isinstance(model.unknown_keys(kind, raw), dict)
    model.sizes_from(attrs, exp)
    if model.seq_count(exp) <= 5000:
        assert len(model.loop_indices(exp)) == model.seq_count(exp)


@pytest.mark.parametrize("kind", [0, 3, 5, 9, 10, 11, -1])
def test_unsupported_loop_types_end_the_chain(kind: int) -> None:
    inner = {"eType": 1, "uLoopPars": {"uiCount": 2, "dStart": 0.0, "dPeriod": 1.0, "dDuration": 0.0}}
    tree = {"eType": 4, "uLoopPars": {"uiCount": 2, "dZStep": 1.0},
            "ppNextLevelEx": {ik(0): {"eType": kind, "uLoopPars": {"uiCount": 3, "xWhat": 1},
                                       "ppNextLevelEx": {ik(0): inner}}}}
    ours = model.load_experiment(tree)
    assert [lp.type for lp in ours] == ["ZStackLoop"]
    assert mexp.unknown_keys(tree) == {"ppNextLevelEx/i0000000000/uLoopPars": {"uiCount": 3, "xWhat": 1}}
    if kind != 11:  # nd2 0.12 refuses files with these levels altogether (11 is > max: ignored)
        with pytest.raises(NotImplementedError):
            P.load_experiment(tree)
    else:
        assert norm(P.load_experiment(tree)) == norm(ours)


# ---------------------------------------------------------------------------
# where nd2 0.12 is wrong or crashes: pinned nd2 behaviour + the correct value
# ---------------------------------------------------------------------------

_ATTRS = {"uiWidth": 4, "uiWidthBytes": 8, "uiHeight": 2, "uiComp": 1, "uiBpcInMemory": 16,
          "uiBpcSignificant": 16, "uiSequenceCount": 1}


def test_nd2_wrong_signed_pixels() -> None:
    # §2.3: ePixelType 0 = signed; nd2 derives the type from the bit depth only
    raw = {**_ATTRS, "ePixelType": 0}
    assert P.load_attributes(raw, 1).pixelDataType == "unsigned"
    attrs = model.load_attributes(raw, 1)
    assert attrs.pixelDataType == "signed"
    assert model.numpy_dtype(attrs).str == "<i2"


def test_nd2_wrong_32bit_integers() -> None:
    # §2.3: bpc 32 with ePixelType 1 is uint32; nd2 reads any 32-bit container as float
    raw = {**_ATTRS, "uiBpcInMemory": 32, "uiBpcSignificant": 32, "uiWidthBytes": 16, "ePixelType": 1}
    assert P.load_attributes(raw, 1).pixelDataType == "float"
    assert model.numpy_dtype(model.load_attributes(raw, 1)).str == "<u4"
    # the same file without ePixelType keeps nd2's rule
    del raw["ePixelType"]
    assert model.load_attributes(raw, 1).pixelDataType == "float"


def test_nd2_inconsistent_component_data_type() -> None:
    # nd2 decides Attributes.pixelDataType on uiBpcInMemory but Volume.componentDataType on
    # uiBpcSignificant: a float image with 16 significant bits is "float" and "unsigned" at once
    raw = {**_ATTRS, "uiBpcInMemory": 32, "uiWidthBytes": 16, "ePixelType": 2}
    meta = {"bCalibrated": True, "dCalibration": 1.0,
            "sPicturePlanes": {"uiCount": 1, "sPlaneNew": {"a0": {"pFluorescentProbe": {"m_sName": ""}}}}}
    a = P.load_attributes(raw, 1)
    theirs = P.load_metadata(meta, P.load_global_metadata(a, meta, [], {}))
    assert (a.pixelDataType, theirs.channels[0].volume.componentDataType) == ("float", "unsigned")
    ours = model.load_metadata(meta, model.load_attributes(raw, 1), [], {})
    assert ours.channels[0].volume.componentDataType == "float"


_PTS = {ik(i): {"dPosX": float(i + 1), "dPosY": 1.0, "dPosZ": 0.0, "dPosName": f"p{i}"} for i in range(3)}


def test_nd2_wrong_xml_item_valid_list() -> None:
    # §4.2: the XML decoder drops false list items, so [true, false, true] arrives as
    # {i0: True, i2: True}; nd2 then keeps points 0 and 1 instead of 0 and 2
    xml = xml_roundtrip({"eType": 2, "uLoopPars": [{"uiCount": 3, "Points": _PTS}], "pItemValid": [True, False, True]})
    assert xml["pItemValid"] == {ik(0): True, ik(2): True}
    assert [p.name for p in P.load_experiment(xml)[0].parameters.points] == ["p0", "p1"]
    assert [p.name for p in model.load_experiment(xml)[0].parameters.points] == ["p0", "p2"]


def test_nd2_wrong_xml_item_valid_bytearray() -> None:
    # §4.1: CLxByteArray values are base64 text; nd2 reads the text characters as flags
    xml = xml_roundtrip({"eType": 2, "uLoopPars": [{"uiCount": 3, "Points": _PTS}], "pItemValid": XmlBytes(b"\1\0\1")})
    assert bytes(xml["pItemValid"]) == b"AQAB"
    assert P.load_experiment(xml)[0].count == 3
    assert [p.name for p in model.load_experiment(xml)[0].parameters.points] == ["p0", "p2"]


_PERIOD = {"uiCount": 2, "dStart": 0.0, "dPeriod": 1.0, "dDuration": 0.0}


def test_nd2_wrong_missing_period_valid() -> None:
    # §7.2: validity arrays absent = all items valid (writers omit them, §8.3 rule 10);
    # nd2 zips the periods with an empty list and loses the whole ND time loop
    tree = {"eType": 8, "uLoopPars": {"uiCount": 4, "pPeriod": {ik(0): _PERIOD, ik(1): _PERIOD}}}
    assert P.load_experiment(tree) == []
    ours = model.load_experiment(tree)
    assert [(lp.type, lp.count) for lp in ours] == [("NETimeLoop", 4)]


def test_nd2_crash_xml_period_valid_bytearray() -> None:
    tree = {"eType": 8, "uLoopPars": [{"uiCount": 2, "pPeriod": {ik(0): _PERIOD, ik(1): _PERIOD},
                                       "pPeriodValid": XmlBytes(b"\0\1")}]}
    xml = xml_roundtrip(tree)
    with pytest.raises(TypeError, match="pPeriodValid"):
        P.load_experiment(xml)
    assert model.load_experiment(xml)[0].count == 2


def test_nd2_wrong_legacy_xy_maps() -> None:
    # §1.6/§7.2: old XML files keep XY points as parallel maps of no_name items; x = 0.0 is
    # dropped by the decoder, and nd2 never reads dPFSOffset / pPosName of these maps
    pars = {"uiCount": 3, "dPosX": [0.0, 5.0, 6.0], "dPosY": [1.0, 1.0, 1.0], "dPosZ": [2.0, 2.0, 2.0],
            "dPFSOffset": [-1.0, 10.0, -1.0], "pPosName": ["a", "b", "c"]}
    xml = xml_roundtrip({"eType": 2, "uLoopPars": [pars]})
    theirs = P.load_experiment(xml)[0].parameters.points
    assert [p.stagePositionUm.x for p in theirs] == [5.0, 6.0]  # a point is lost
    assert [(p.pfsOffset, p.name) for p in theirs] == [(0.0, None), (0.0, None)]
    ours = model.load_experiment(xml)[0].parameters.points
    assert [p.stagePositionUm.x for p in ours] == [0.0, 5.0, 6.0]
    assert [(p.pfsOffset, p.name) for p in ours] == [(None, "a"), (10.0, "b"), (None, "c")]


def test_v2_sub_loops_like_v3() -> None:
    # nd2's workaround for ND time loops with pSubLoops (its issue #190) only looks at the
    # unwrapped v3 parameters; v2 wraps uLoopPars in a one-element list (§1.6), so nd2
    # drops the sub-experiment there. nd2kit treats both encodings alike.
    inner = {"eType": 4, "uLoopPars": {"uiCount": 3, "dZStep": 1.0}}
    pars = {"uiCount": 2, "pPeriod": {ik(0): _PERIOD}, "pPeriodValid": [1],
            "pSubLoops": {ik(0): {"ppNextLevelEx": {ik(0): {"SLxExperiment": inner}}}}}
    v3 = {"eType": 8, "uLoopPars": pars}
    v2 = {"eType": 8, "uLoopPars": {ik(0): pars}}
    assert [lp.type for lp in P.load_experiment(v3)] == ["NETimeLoop", "ZStackLoop"]
    assert [lp.type for lp in P.load_experiment(v2)] == ["NETimeLoop"]
    assert norm(model.load_experiment(v2)) == norm(model.load_experiment(v3))
    assert norm(model.load_experiment(v3)) == norm(P.load_experiment(v3))


def test_nd2_crash_on_incomplete_loops() -> None:
    cases = [
        {"eType": 2, "uLoopPars": {"uiCount": 2}},  # no Points, no dPosX
        {"eType": 1, "uLoopPars": {"uiCount": 2}},  # no dStart/dPeriod/dDuration
        {"eType": 4, "uLoopPars": {"uiCount": 3, "dZLow": 0.0, "dZHigh": 2.0, "dZStep": 1.0,
                                   "dZHome": math.nan, "iType": 2}},  # XML value "nan"
    ]
    for tree in cases:
        with pytest.raises((KeyError, ValueError)):
            P.load_experiment(tree)
    ours = [model.load_experiment(t) for t in cases]
    assert ours[0] == []  # no points: nothing to count
    assert ours[1][0].parameters == K.TimeLoopParams(0.0, 0.0, 0.0, K.PeriodDiff())
    assert ours[2][0].parameters.homeIndex == 0


def _meta(plane: dict[str, Any], n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"bCalibrated": True, "dCalibration": 0.5,
            "sPicturePlanes": {"uiCount": n, "sPlaneNew": {f"a{i}": plane for i in range(n)}}, **extra}


def _nd2_meta(raw: dict[str, Any], text: dict[str, Any] | None = None) -> Any:
    attrs = P.load_attributes(_ATTRS, 1)
    return P.load_metadata(raw, P.load_global_metadata(attrs, raw, [], text or {}))


def _our_meta(raw: dict[str, Any], text: dict[str, Any] | None = None) -> Any:
    return model.load_metadata(raw, model.load_attributes(_ATTRS, 1), [], text or {})


def test_nd2_crash_plane_without_probe() -> None:
    # §8.4: a plane without a non-empty pFluorescentProbe -> UnboundLocalError in nd2
    raw = _meta({"uiCompCount": 1, "sDescription": "DAPI", "uiColor": 255})
    with pytest.raises(UnboundLocalError):
        _nd2_meta(raw)
    ch = _our_meta(raw).channels[0]
    assert ch.channel.name == "DAPI" and ch.channel.excitationLambdaNm is None
    # the filter still gives a wavelength when there is no probe
    filt = {"m_ExcitationSpectrum": {"uiCount": 1, "pPoint": {"Point0": {"eType": 4, "dWavelength": 488.0, "dTValue": 1.0}}}}
    raw = _meta({"uiCompCount": 1, "pFilterPath": {"m_pFilter": {ik(0): filt}}})
    assert _our_meta(raw).channels[0].channel.excitationLambdaNm == 488.0


def test_nd2_crash_rgb_plane_index_3() -> None:
    # nd2 indexes its 3 RGB pseudo wavelengths with the *plane* index -> IndexError from plane 3
    raw = _meta({"uiCompCount": 3, "pFluorescentProbe": {"m_sName": ""}}, n=4)
    with pytest.raises(IndexError):
        _nd2_meta(raw)
    chans = _our_meta(raw).channels
    assert [c.channel.emissionLambdaNm for c in chans] == [420.0, 515.0, 590.0, None]


def test_nd2_crash_optics_without_digits_before_first_x() -> None:
    # nd2's regex matches the first "x" and calls float(None) when no digits precede it
    raw = _meta({"uiCompCount": 1, "pFluorescentProbe": {"m_sName": ""}})
    text = {"optics": "Fluor Ex 20x"}
    with pytest.raises(TypeError):
        _nd2_meta(raw, text)
    assert _our_meta(raw, text).channels[0].microscope.objectiveMagnification == 20.0


def test_nd2_crash_v2_camera_matrix() -> None:
    # §4.1: v2 CLxByteArray = base64 text; nd2 unpacks the text as doubles
    data = struct.pack("<4d", 0.0, -1.0, 1.0, 0.0)
    plane = {"uiCompCount": 1, "pFluorescentProbe": {"m_sName": "p"}}
    raw = {"bCalibrated": True, "dCalibration": 0.5,
           "sPicturePlanes": {"uiCount": 1, "sPlane": {"_00": plane},
                              "sSampleSetting": {"a0": {"matCameraToStage": {"Columns": 2, "Rows": 2, "Data": XmlBytes(data)}}}}}
    xml = xml_roundtrip(raw)
    with pytest.raises(struct.error):
        _nd2_meta(xml)
    assert _our_meta(xml).channels[0].volume.cameraTransformationMatrix == (0.0, -1.0, 1.0, 0.0)
    # v3: the same matrix as a LiteVariant BYTEARRAY is read identically by both
    lv = copy.deepcopy(raw)
    lv["sPicturePlanes"]["sSampleSetting"]["a0"]["matCameraToStage"]["Data"] = list(data)
    assert norm(_our_meta(lv)) == norm(_nd2_meta(lv))


def test_nd2_crash_missing_calibration_or_plane_count() -> None:
    plane = {"uiCompCount": 1, "pFluorescentProbe": {"m_sName": ""}}
    no_cal = {"sPicturePlanes": {"uiCount": 1, "sPlaneNew": {"a0": plane}}}
    with pytest.raises(KeyError):
        _nd2_meta(no_cal)
    vol = _our_meta(no_cal).channels[0].volume
    assert vol.axesCalibrated == (False, False, False) and vol.axesCalibration == (1.0, 1.0, 1.0)
    wrong_count = _meta(plane, n=2)
    wrong_count["sPicturePlanes"]["uiCount"] = 3
    with pytest.raises(ValueError):
        _nd2_meta(wrong_count)
    assert _our_meta(wrong_count).contents == K.Contents(channelCount=2, frameCount=1)


def test_nd2_wrong_multi_peak_filter_list_points() -> None:
    # §7.4 rule "excitation filter with several peak points: the point at the channel
    # index"; nd2 looks only for "Point<i>" keys and misses LiteVariant list items
    points = {ik(j): {"eType": 4, "dWavelength": w, "dTValue": 1.0} for j, w in enumerate((405.0, 488.0))}
    filt = {"m_ExcitationSpectrum": {"uiCount": 2, "pPoint": points}}
    raw = _meta({"uiCompCount": 1, "pFluorescentProbe": {"m_sName": ""}, "pFilterPath": {"m_pFilter": {ik(0): filt}}}, n=2)
    assert [c.channel.excitationLambdaNm for c in _nd2_meta(raw).channels] == [405.0, 405.0]
    assert [c.channel.excitationLambdaNm for c in _our_meta(raw).channels] == [405.0, 488.0]
    # with NIS's own "Point<i>" keys both agree
    filt["m_ExcitationSpectrum"]["pPoint"] = {f"Point{j}": p for j, p in enumerate(points.values())}
    assert norm(_our_meta(raw)) == norm(_nd2_meta(raw))


def test_nd2_wrong_position_from_mapping() -> None:
    # nd2's Position.__post_init__ unpacks a mapping's *keys* into StagePosition
    assert N.Position(stagePositionUm={"x": 1.0, "y": 2.0, "z": 3.0}).stagePositionUm == ("x", "y", "z")
    assert K.Position(stagePositionUm={"x": 1.0, "y": 2.0, "z": 3.0}).stagePositionUm == (1.0, 2.0, 3.0)


def test_modality_flags() -> None:
    # 12 (DSD) has no light bit: nd2 (and we) fall back to "fluorescence"
    assert mmeta.modality_flags(mmeta._MODALITY_ENUM[12], 1) == ["fluorescence"]
    assert mmeta.modality_flags(0x2, 3) == ["brightfield"]
    mask = 0x1 | 0x100 | 0x4 | 0x1_00000000
    assert mmeta.modality_flags(mask, 1) == ["fluorescence", "camera"]
    assert mmeta.modality_flags(mask, 1, extended=True) == ["fluorescence", "camera", "darkfield", "STED"]
    for e in P.ELxModalityMask:
        assert mmeta.modality_flags(int(e) | 1, 1) == P.ELxModalityMask.flags(int(e) | 1, 1)
