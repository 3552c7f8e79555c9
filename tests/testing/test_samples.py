"""The sample builder writes files that nd2 0.12 (the oracle) reads as intended."""

from __future__ import annotations

import nd2
import numpy as np
import pytest

from nd2kit.codecs import container
from nd2kit.testing import samples


@pytest.mark.parametrize(
    ("t", "z", "c", "dtype"),
    [(3, 2, 2, "uint16"), (1, 1, 1, "uint8"), (4, 1, 3, "float32"), (1, 5, 1, "uint16")],
)
def test_nd2_reads_sample(tmp_path, t, z, c, dtype):
    p = samples.write_sample_file(tmp_path / "s.nd2", t=t, z=z, channels=c, height=9,
                                  width=7, dtype=dtype)
    want = samples.sample_frames(t, z, c, 9, 7, dtype).reshape(t, z, 9, 7, c)
    with nd2.ND2File(p) as f:
        sizes = {k: v for k, v in f.sizes.items()}
        expect = {"T": t, "Z": z, "C": c, "Y": 9, "X": 7}
        assert sizes == {k: v for k, v in expect.items() if v > 1 or k in "YX"}
        assert f.dtype == np.dtype(dtype)
        arr = f.asarray().reshape(t, z, c, 9, 7)
        assert np.array_equal(arr, want.transpose(0, 1, 4, 2, 3))
        assert f.voxel_size().x == pytest.approx(0.325)


def test_sample_layout_follows_writer_rules():
    b = samples.sample_file_bytes(t=2, z=1, channels=1, height=3, width=3, dtype="uint8")
    assert len(b) % 4096 == 0
    _, cmap = container.read_chunk_map(b)
    for name in cmap:
        info = container.read_chunk(b, cmap[name].offset)
        assert info.offset % 4096 == 0, name
        if name.startswith("ImageDataSeq|"):
            assert info.name_len == 4072  # nd2 requires pixels at chunk + 4096 (§1.3)
            assert info.data_len == 8 + 3 * 4  # 3 px rounded up to a 4-byte stride
        elif name != container.FILEMAP_NAME:
            assert info.end % 4096 == 0, f"{name} payload is end-aligned"
    assert list(cmap) == sorted(cmap, key=lambda n: n.encode(), reverse=True)


def test_int16_sample_is_signed(tmp_path):
    # ePixelType 0: nd2kit reads int16; nd2 0.12 ignores ePixelType and returns the same
    # bits as uint16 (a known nd2 difference, docs/reading.md)
    p = samples.write_sample_file(tmp_path / "s.nd2", t=2, z=1, channels=1, height=4, width=3,
                                  dtype="int16")
    want = samples.sample_frames(2, 1, 1, 4, 3, "int16")[..., 0]
    assert want.min() < 0
    import nd2kit

    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as g:
        assert f.dtype == np.int16
        np.testing.assert_array_equal(f.asarray(), want)
        np.testing.assert_array_equal(g.asarray().view(np.int16), want)


@pytest.mark.parametrize("loops", ["TZ", "ZT", "MTZ", "ZMT"])
def test_loop_order_matches_nd2(tmp_path, loops):
    p = samples.write_sample_file(tmp_path / "s.nd2", t=2, z=3, m=2 if "M" in loops else 1,
                                  channels=1, height=3, width=3, loops=loops)
    import nd2kit

    with nd2kit.ND2File(p) as f, nd2.ND2File(p) as g:
        axes = [{"M": "P"}.get(a, a) for a in loops]
        assert list(g.sizes)[: len(loops)] == axes
        assert list(f.sizes) == list(g.sizes)
        assert f.loop_indices == g.loop_indices
        np.testing.assert_array_equal(f.asarray(), g.asarray())


def test_v2_sample_is_xml(tmp_path):
    p = samples.write_sample_file(tmp_path / "s.nd2", version="2.0", t=2, z=1, channels=1,
                                  height=3, width=3)
    _, cmap = container.read_chunk_map(p.read_bytes())
    assert "ImageAttributes!" in cmap and "ImageAttributesLV!" not in cmap
    with nd2.ND2File(p) as g:
        assert g.version == (2, 0)
        assert g.sizes == {"T": 2, "Y": 3, "X": 3}


def test_compressed_sample(tmp_path):
    plain = samples.write_sample_file(tmp_path / "p.nd2", t=2, z=2, channels=2, height=7, width=5)
    packed = samples.write_sample_file(tmp_path / "z.nd2", t=2, z=2, channels=2, height=7, width=5,
                                       compression=6)
    import nd2kit

    with nd2.ND2File(packed) as g, nd2kit.ND2File(packed) as f, nd2kit.ND2File(plain) as ref:
        assert g.attributes.compressionType == "lossless"
        assert f.attributes.compressionType == "lossless"
        np.testing.assert_array_equal(g.asarray(), ref.asarray())
        np.testing.assert_array_equal(f.asarray(), ref.asarray())
