"""Metadata a damaged file gets wrong, as the nd2-compatible API meets it (issue #8).

* The loops' frame count and ``uiSequenceCount`` disagree: the documented, warned
  rule. The array follows the experiment's loops (as in nd2 0.12, which does so
  silently); nd2kit warns once, when the sizes are worked out, and frames the loops
  address but the file does not hold read as zeros with their own warning (item 1).
* Names (positions, channels) of another type than a string are no names.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from check.robust_files import payload_of, replace_payload

import nd2kit
from nd2kit.codecs import lite_variant as lv
from nd2kit.testing.samples import sample_file_bytes


def _with_sequence_count(data: bytes, n: int) -> bytes:
    attrs = lv.decode(payload_of(data, "ImageAttributesLV!"))["SLxImageAttributes"]
    attrs["uiSequenceCount"] = n
    return replace_payload(data, "ImageAttributesLV!", lv.encode(lv.from_python("SLxImageAttributes", attrs)))


@pytest.fixture(scope="module")
def sample() -> bytes:
    return sample_file_bytes(t=3, z=1, channels=1, height=4, width=4, dtype="uint8")


def test_sound_file_does_not_warn(sample: bytes) -> None:
    with nd2kit.ND2File(sample) as f, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f.sizes["T"] == 3
        f.asarray()


@pytest.mark.parametrize("stored", [2, 5])
def test_disagreeing_counts_warn_and_follow_the_loops(sample: bytes, stored: int) -> None:
    data = _with_sequence_count(sample, stored)
    with nd2kit.ND2File(sample) as good:
        want = good.asarray()
    with nd2kit.ND2File(data) as f:
        with pytest.warns(UserWarning, match=f"loops address 3 frames but the attributes count {stored}"):
            sizes = dict(f.sizes)
        assert sizes["T"] == 3  # the loops decide the shape
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            dict(f.sizes)  # once per file
        arr = f.asarray()
    assert arr.shape == want.shape
    np.testing.assert_array_equal(arr, want)  # every frame the loops address is stored here


def _retype_records(data: bytes, chunk: str, name: str, rtype: int, value: object) -> bytes:
    tree = lv.decode_lossless(payload_of(data, chunk))
    stack, hits = [tree.root], 0
    while stack:
        r = stack.pop()
        if r.name == name:
            r.type, r.value, hits = rtype, value, hits + 1
        elif r.type == lv.LvType.LEVEL:
            stack.extend(r.value)
    assert hits, name
    return replace_payload(data, chunk, lv.encode(tree, keep_offsets=False))


@pytest.mark.parametrize(("rtype", "value"), [(lv.LvType.BYTE_ARRAY, b"\xf5\x897"),
                                              (lv.LvType.DOUBLE, 2.5)])
def test_names_of_the_wrong_type_are_no_names(rtype: int, value: object) -> None:
    """Fuzz case 2026:62245 (``dPosName`` stored as a byte array made ``to_xarray`` fail
    with numpy's ValueError): position and channel names of another type than a string
    are treated as absent (positions get nd2's ``XYPos:i``, channels an empty name)."""
    data = sample_file_bytes(t=1, m=2, z=1, channels=2, height=4, width=4, dtype="uint8")
    data = _retype_records(data, "ImageMetadataLV!", "dPosName", rtype, value)
    data = _retype_records(data, "ImageMetadataSeqLV|0!", "sDescription", rtype, value)
    with nd2kit.ND2File(data) as f:
        assert [p.name for p in f.experiment[0].parameters.points] == [None, None]
        assert [c.channel.name for c in f.metadata.channels] == ["", ""]
        xa = f.to_xarray(delayed=False)
    assert list(xa.coords["P"].values) == ["XYPos:0", "XYPos:1"]
