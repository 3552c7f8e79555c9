"""A compressed metadata record inflates to what the file can earn, once (issue #8).

A type-76 LiteVariant record holds a zlib stream. The reader lets one such stream
inflate to :func:`nd2kit.model.limits.metadata_inflate_limit` of the file's size
(8 MiB for small files, 32 x the file beyond that, at most 64 MiB; all three
configurable) instead of the codecs' last-resort 256 MiB, and decodes a damaged
chunk once per open file, not once per property that needs it.
"""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from check.robust_files import compressed_lv, payload_of, replace_payload, zlib_bomb
from nd2kit._generated.fast import _runtime
from nd2kit._generated.fast import lite_variant as glv

import nd2kit
from nd2kit.codecs import lite_variant as lv
from nd2kit.model import limits
from nd2kit.testing.samples import sample_file_bytes


@pytest.fixture(scope="module")
def sample() -> bytes:
    return sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8")


def test_limit_follows_the_file_size(monkeypatch: pytest.MonkeyPatch) -> None:
    floor, ratio, cap = (limits.METADATA_INFLATE_FLOOR, limits.METADATA_INFLATE_RATIO,
                         limits.METADATA_INFLATE_CAP)
    assert floor < cap < _runtime.MAX_INFLATE
    assert limits.metadata_inflate_limit(0) == floor
    assert limits.metadata_inflate_limit(30_000) == floor
    mid = (floor + cap) // 2 // ratio
    assert limits.metadata_inflate_limit(mid) == ratio * mid
    assert limits.metadata_inflate_limit(10 << 30) == cap
    monkeypatch.setattr(limits, "METADATA_INFLATE_CAP", 1 << 30)
    assert limits.metadata_inflate_limit(10 << 30) == 1 << 30  # read at call time
    monkeypatch.setattr(limits, "METADATA_INFLATE_FLOOR", 1 << 10)
    assert limits.metadata_inflate_limit(10) == 1 << 10
    assert limits.metadata_inflate_limit(100) == 100 * ratio


def test_limit_inflation_is_scoped_and_nests() -> None:
    stream = zlib.compress(bytes(5000))
    assert _runtime.inflate_limit() == _runtime.MAX_INFLATE
    with lv.limit_inflation(4000):
        assert lv.inflate_limit() == 4000
        with pytest.raises(nd2kit.Nd2Error, match="more than 4000 bytes"):
            _runtime._inflate(stream, "t", "f", 0)
        with lv.limit_inflation(6000):
            assert len(_runtime._inflate(stream, "t", "f", 0)) == 5000
        assert lv.inflate_limit() == 4000
    assert _runtime.inflate_limit() == _runtime.MAX_INFLATE


class _Count:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.limits: list[int] = []
        real = glv._inflate

        def counting(raw: bytes, tname: str, field: str, pos: int, limit: int | None = None) -> bytes:
            self.limits.append(_runtime.inflate_limit() if limit is None else limit)
            return real(raw, tname, field, pos, limit)

        # the decoders in use: the generated module or its compiled copy (tools/native.py)
        for mod in {id(glv): glv, id(lv._d): lv._d}.values():
            monkeypatch.setattr(mod, "_inflate", counting)


@pytest.mark.parametrize("chunk", ["ImageAttributesLV!", "ImageMetadataLV!", "ImageTextInfoLV!"])
def test_bomb_beyond_the_file_limit_is_one_corrupt_chunk_error(
    chunk: str, sample: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor = limits.METADATA_INFLATE_FLOOR
    data = replace_payload(sample, chunk, compressed_lv(zlib_bomb(floor + (1 << 20))))
    assert limits.metadata_inflate_limit(len(data)) == floor  # a small file: the floor
    count = _Count(monkeypatch)
    with nd2kit.ND2File(data) as f:
        errors: list[nd2kit.Nd2Error] = []
        for _ in range(3):
            for get in (lambda: f.attributes, lambda: f.metadata, lambda: f.text_info,
                        lambda: f.sizes, lambda: f.experiment):
                try:
                    get()
                except nd2kit.Nd2Error as e:
                    errors.append(e)
    assert errors, "a bomb beyond the limit must be an error"
    for e in errors:
        assert isinstance(e, nd2kit.CorruptChunkError)
        assert e.chunk == chunk and e.offset is not None
        assert f"more than {floor} bytes" in e.message
    assert count.limits == [floor]  # inflated once, at the file's limit


def test_limit_is_configurable(sample: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    floor = limits.METADATA_INFLATE_FLOOR
    data = replace_payload(sample, "ImageTextInfoLV!", compressed_lv(zlib_bomb(floor + (1 << 20))))
    monkeypatch.setattr(limits, "METADATA_INFLATE_FLOOR", floor * 2)
    with nd2kit.ND2File(data) as f, pytest.raises(nd2kit.CorruptChunkError) as ei:
        f.text_info  # noqa: B018 - the property decodes the chunk
    # inflated in full now: the zeros are not a LiteVariant record
    assert "more than" not in ei.value.message and ei.value.chunk == "ImageTextInfoLV!"


def test_compressed_metadata_within_the_limit_reads_as_plain(sample: bytes) -> None:
    text = payload_of(sample, "ImageTextInfoLV!")
    data = replace_payload(sample, "ImageTextInfoLV!", compressed_lv(zlib.compress(text)))
    with nd2kit.ND2File(sample) as a, nd2kit.ND2File(data) as b:
        want: Any = a.text_info
        assert want and b.text_info == want
