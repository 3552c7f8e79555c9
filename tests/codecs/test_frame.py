"""codecs.frame: inflate bounds."""

def test_inflate_of_an_impossible_frame_size_is_a_located_error() -> None:
    import sys
    import zlib

    import pytest

    from nd2kit.codecs import frame
    from nd2kit.errors import CorruptChunkError

    for n in (sys.maxsize, 2**64, -1):
        with pytest.raises(CorruptChunkError) as e:
            frame.inflate(zlib.compress(b"abc"), n, chunk="ImageDataSeq|0!", offset=24)
        assert e.value.chunk == "ImageDataSeq|0!" and e.value.offset == 24
