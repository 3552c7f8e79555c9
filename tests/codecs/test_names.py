"""codecs/names.py, the chunk-name registry: against the spec constants, the
vectorised ChunkMap lookup, the tables the other layers still hold (until they switch
to the registry) and the names of the corpus files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from conftest import ROOT, corpus_files
from hypothesis import given
from hypothesis import strategies as st

from nd2kit.codecs import container, names
from nd2kit.codecs.chunk_map import build_chunk_map_body, parse_chunk_map
from nd2kit.codecs.names import ChunkKind
from nd2kit.errors import Nd2Error

SPEC_CONSTANTS = yaml.safe_load((ROOT / "spec" / "nd2_container.ksy").read_text())["-nd2kit"]["constants"]


def test_fixed_names_are_the_spec_constants() -> None:
    assert names.SIGNATURE_NAME == SPEC_CONSTANTS["file_signature"]
    assert names.MAP_SIGNATURE == SPEC_CONSTANTS["map_signature"]
    assert names.FILEMAP_NAME == SPEC_CONSTANTS["filemap_name"]
    # container re-exports the registry's names (one definition)
    assert container.SIGNATURE_NAME is names.SIGNATURE_NAME
    assert container.FILEMAP_NAME is names.FILEMAP_NAME
    assert container.MAP_SIGNATURE is names.MAP_SIGNATURE


def test_fixed_names_are_what_the_generated_parser_accepts() -> None:
    f = container.build_file([("A!", b"x")])
    assert container.read_signature(f) == (3, 0)  # SignatureChunk contents check
    _, cmap = container.read_chunk_map(f)  # FILEMAP_NAME expected, MAP_SIGNATURE end marker
    assert list(cmap) == ["A!"]


@given(st.integers(0, 10**18 - 1))
def test_frame_name_round_trip(n: int) -> None:
    name = names.frame_name(n)
    assert name == f"ImageDataSeq|{n}!"
    assert names.parse_frame_index(name) == n
    assert names.is_canonical_frame_name(name)
    assert names.parse(name) == (ChunkKind.FRAME, None, n)
    assert names.classify(name) is ChunkKind.FRAME


@pytest.mark.parametrize("name", [
    "ImageDataSeq|!", "ImageDataSeq|1", "ImageDataSeq|-1!", "ImageDataSeq|1a!", "ImageDataSeq|+1!",
    "ImageDataSeq|\u0661!", "ImageDataSeq| 1!", "imagedataseq|1!", "ImageDataSeq|1!!",
    "ImageDataSeq|1234567890123456789!", "XImageDataSeq|1!", "ImageDataSeqLV|1!",
])
def test_parse_frame_index_rejects(name: str) -> None:
    assert names.parse_frame_index(name) is None
    assert names.classify(name) is not ChunkKind.FRAME


def test_leading_zeros_parse_but_are_not_canonical() -> None:
    assert names.parse_frame_index("ImageDataSeq|007!") == 7
    assert not names.is_canonical_frame_name("ImageDataSeq|007!")


_name_part = st.text(st.sampled_from("ImageDataSeq|0123456789LV!xCustom"), max_size=20)


@given(st.lists(st.one_of(
    st.integers(0, 10**6).map(names.frame_name),
    st.builds(lambda a, b: f"{a}{b}!", _name_part.filter(lambda s: "!" not in s),
              st.text("0123456789", max_size=4)),
), max_size=30))
def test_scalar_parse_agrees_with_vectorised_chunk_map(entry_names: list[str]) -> None:
    entry_names = [n for n in entry_names if n.count("!") == 1 and n.endswith("!")]
    body = build_chunk_map_body(entry_names, list(range(0, 4096 * len(entry_names), 4096)),
                                [1] * len(entry_names), 0)
    cmap = parse_chunk_map(body)
    numbers, rows = cmap.frames()
    want: dict[int, int] = {}
    for i, n in enumerate(entry_names):
        k = names.parse_frame_index(n)
        if k is not None:
            want[k] = i  # the last entry wins
    assert numbers.tolist() == sorted(want)
    assert rows.tolist() == [want[k] for k in sorted(want)]
    f2, r2 = cmap.sequence(names.FRAME_PREFIX)
    assert np.array_equal(f2, numbers) and np.array_equal(r2, rows)


def test_meta_chunks_by_version() -> None:
    assert names.meta_chunk("attributes", 3) == "ImageAttributesLV!"
    assert names.meta_chunk("attributes", (3, 1)) == "ImageAttributesLV!"
    assert names.meta_chunk("attributes", (2, 1)) == "ImageAttributes!"
    assert names.meta_chunk("metadata", 3) == "ImageMetadataSeqLV|0!"
    assert names.meta_chunk("metadata", 2) == "ImageMetadataSeq|0!"
    assert names.meta_chunk("experiment", 3) == "ImageMetadataLV!"
    assert names.meta_chunk("text_info", 2) == "ImageTextInfo!"
    assert names.frame_metadata_name(5, 3) == "ImageMetadataSeqLV|5!"
    assert names.frame_metadata_name(5, (2, 0)) == "ImageMetadataSeq|5!"
    with pytest.raises(KeyError):
        names.meta_chunk("nope", 3)


# The tables below are the ones the reader, the validator and the inspector kept by hand
# before the registry existed (pinned here so the registry answers exactly as they did).
_READER_META = {
    "attributes": ("ImageAttributesLV!", "ImageAttributes!", "SLxImageAttributes"),
    "metadata": ("ImageMetadataSeqLV|0!", "ImageMetadataSeq|0!", "SLxPictureMetadata"),
    "experiment": ("ImageMetadataLV!", "ImageMetadata!", "SLxExperiment"),
    "text_info": ("ImageTextInfoLV!", "ImageTextInfo!", "SLxImageTextInfo"),
}
_VALIDATOR_ROOTS = {
    "ImageAttributesLV!": "SLxImageAttributes", "ImageMetadataLV!": "SLxExperiment",
    "ImageTextInfoLV!": "SLxImageTextInfo", "ImageEventsLV!": "RLxExperimentRecord",
    "CustomData|ExperimentEventsV1_0!": "RLxExperimentRecord",
    "CustomData|RoiMetadata_v1!": "RoiMetadata_v1", "CustomData|WellPlateDesc_0!": "PlateDesc",
    "CustomData|CustomDescriptionV1_0!": "CLxCustomDescription",
}
_XML_NAME_RE = re.compile(r"(ImageAttributes|ImageMetadata|ImageTextInfo|ImageEvents)!\Z"
                          r"|(ImageMetadataSeq|ImageCalibration)\|\d+!\Z")
_LV_CUSTOM_NAMES = frozenset({
    "CustomData|RoiMetadata_v1!", "CustomData|WellPlateDesc_0!", "CustomData|JobDefinitionDescV1_0!",
    "CustomData|CustomDescriptionV1_0!", "CustomData|ExperimentEventsV1_0!", "CustomData|JobDefinitionV1_0!",
})
_FRAME_RE = re.compile(r"ImageDataSeq\|(\d+)!\Z")
_RLE_RE = re.compile(r"CustomDataSeq\|RleZipBinarySequence[^|]*\|\d+!\Z")
_LV_NAME_RE = re.compile(r"LV(\|\d+)?!\Z")


def test_registry_matches_the_reader_table() -> None:
    for kind, (lv, xml, root) in _READER_META.items():
        m = names.META_CHUNKS[kind]
        assert (m.lite_variant, m.xml, m.root) == (lv, xml, root)
        assert names.meta_chunk(kind, 3) == lv and names.meta_chunk(kind, 2) == xml
        assert names.root_name(lv) == root and names.root_name(xml) == root
        assert names.meta_kind(lv) == (kind, True) and names.meta_kind(xml) == (kind, False)


def test_registry_matches_the_validator_tables() -> None:
    for chunk, root in _VALIDATOR_ROOTS.items():
        assert names.root_name(chunk) == root
    for n in ("ImageMetadataSeqLV|0!", "ImageMetadataSeqLV|12!"):
        assert names.root_name(n) == "SLxPictureMetadata"
    samples = ["ImageAttributes!", "ImageMetadata!", "ImageTextInfo!", "ImageEvents!",
               "ImageMetadataSeq|0!", "ImageMetadataSeq|3!", "ImageCalibration|0!",
               "ImageAttributesLV!", "ImageMetadataSeq|x!", "ImageMetadataSeq|!", "Image!",
               "CustomDataVar|AppInfo_V1_0!", "ImageDataSeq|0!"]
    for n in samples:
        assert names.expects_xml(n) == bool(_XML_NAME_RE.match(n)), n


def test_registry_matches_the_inspection_tables() -> None:
    assert names.LV_CUSTOM_NAMES == _LV_CUSTOM_NAMES
    samples = ["ImageDataSeq|0!", "ImageDataSeq|01!", "ImageDataSeq|x!",
               "CustomDataSeq|RleZipBinarySequence_1_v1|0!", "CustomDataSeq|RleZipBinarySequence|3!",
               "CustomDataSeq|RleZipBinarySequence_1_v1|x!", "ImageAttributesLV!",
               "ImageMetadataSeqLV|0!", "ImageCalibrationLV|0!", "SomethingLV|x!", "LV!"]
    for n in samples:
        assert (names.classify(n) is ChunkKind.FRAME) == bool(_FRAME_RE.match(n)), n
        assert (names.classify(n) is ChunkKind.RLE_MASK) == bool(_RLE_RE.match(n)), n
        assert names.is_lite_variant_name(n) == bool(_LV_NAME_RE.search(n)), n


@pytest.mark.parametrize("name, parsed", [
    ("ND2 FILE SIGNATURE CHUNK NAME01!", (ChunkKind.SIGNATURE, None, None)),
    ("ND2 FILEMAP SIGNATURE NAME 0001!", (ChunkKind.FILEMAP, None, None)),
    ("ImageAttributesLV!", (ChunkKind.METADATA, "attributes", None)),
    ("ImageMetadataSeq|0!", (ChunkKind.METADATA, "metadata", None)),
    ("ImageMetadataSeqLV|4!", (ChunkKind.FRAME_METADATA, "metadata", 4)),
    ("ImageCalibration|2!", (ChunkKind.FRAME_METADATA, "calibration", 2)),
    ("ImageEventsLV!", (ChunkKind.METADATA, "events", None)),
    ("CustomData|AcqTimesCache!", (ChunkKind.CUSTOM_DATA, "AcqTimesCache", None)),
    ("CustomData|X|Y!", (ChunkKind.CUSTOM_DATA, "X|Y", None)),
    ("CustomDataVar|AppInfo_V1_0!", (ChunkKind.CUSTOM_DATA_VAR, "AppInfo_V1_0", None)),
    ("CustomDataSeq|RleZipBinarySequence_1_v1|7!", (ChunkKind.RLE_MASK, "RleZipBinarySequence_1_v1", 7)),
    ("CustomDataSeq|DownsampledColorData_1024|3!", (ChunkKind.DOWNSAMPLED, "1024", 3)),
    ("CustomDataSeq|TiledRasterBinaryData_1_0_2|0!", (ChunkKind.TILED_RASTER, "1_0_2", 0)),
    ("CustomDataSeq|DownsampledTiledRasterBinaryData_1_512_0_0|9!",
     (ChunkKind.DOWNSAMPLED_TILED_RASTER, "1_512_0_0", 9)),
    ("CustomDataSeq|AUXIMAGE_21_0|2!", (ChunkKind.CUSTOM_DATA_SEQ, "AUXIMAGE_21_0", 2)),
    ("CustomDataSeq|NoIndex!", (ChunkKind.OTHER, None, None)),
    ("CustomDataSeq|X|!", (ChunkKind.OTHER, None, None)),
    ("CustomData|NoBang", (ChunkKind.OTHER, None, None)),
    ("", (ChunkKind.OTHER, None, None)),
])
def test_parse(name: str, parsed: tuple[object, ...]) -> None:
    assert names.parse(name) == parsed


def test_builders_parse_back() -> None:
    assert names.parse(names.custom_data_name("T")) == (ChunkKind.CUSTOM_DATA, "T", None)
    assert names.parse(names.custom_data_var_name("T")) == (ChunkKind.CUSTOM_DATA_VAR, "T", None)
    assert names.parse(names.custom_data_seq_name("T", 3)) == (ChunkKind.CUSTOM_DATA_SEQ, "T", 3)
    assert names.parse(names.downsampled_name(1024, 3)) == (ChunkKind.DOWNSAMPLED, "1024", 3)
    assert names.downsampled_name(1024, 3) == "CustomDataSeq|DownsampledColorData_1024|3!"
    assert all(p.endswith("_") or p.endswith("|") for p in names.PIXEL_PREFIXES)


def test_lite_variant_names() -> None:
    assert names.expects_lite_variant("ImageAttributesLV!")
    assert names.expects_lite_variant("ImageMetadataSeqLV|0!")
    assert names.expects_lite_variant("CustomData|RoiMetadata_v1!")
    assert not names.expects_lite_variant("ImageAttributes!")
    assert not names.expects_lite_variant("CustomData|AcqTimesCache!")


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_names(path: object) -> None:
    buf = path.read_bytes()  # type: ignore[attr-defined]
    try:
        if container.sniff_version(buf)[0] < 2:
            return
        _, cmap = container.read_chunk_map(buf)
    except Nd2Error:  # damaged synthetic files: nothing to classify
        return
    for n in cmap.names:
        kind = names.classify(n)
        assert (kind is ChunkKind.FRAME) == bool(_FRAME_RE.match(n)), n
        assert (kind is ChunkKind.RLE_MASK) == bool(_RLE_RE.match(n)), n
        if n.startswith("CustomData") and re.fullmatch(r"[^!]*!", n):
            assert kind is not ChunkKind.OTHER or n.startswith("CustomDataSeq|"), n
    numbers, _ = cmap.frames()
    assert numbers.tolist() == sorted({names.parse_frame_index(n) for n in cmap.names} - {None})
