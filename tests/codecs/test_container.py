"""The container codec: chunk header bounds."""

def test_headers_in_file_does_not_wrap_near_int64_max() -> None:
    import numpy as np

    from nd2kit.codecs import container

    offs, rows = container._headers_in_file(np.array([0, 2**63 - 8, 2**63 - 1, -5, 100], np.int64), 200)
    assert rows.tolist() == [0, 4]
