"""Random byte damage through ``nd2kit validate`` and ``nd2kit inspect`` (in-process
:func:`nd2kit.cli.main`): the exit code always says something about the file —
0/1 (2 only when the damage removed the ND2 signature) — never 3 (nd2kit failed),
never an exception, never a traceback or an "internal error" in the output."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nd2kit import cli
from nd2kit.codecs import container
from nd2kit.testing.samples import sample_file_bytes

_FILES = {
    "v3": sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8"),
    "v3-zlib": sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8",
                                 compression=6),
    "v2": sample_file_bytes(t=2, z=1, channels=1, height=4, width=4, dtype="uint8",
                            version="2.0"),
}
_CHUNKS = ["ImageAttributesLV!", "ImageMetadataSeqLV|0!", "ImageTextInfoLV!", "ImageDataSeq|1!",
           "ImageAttributes!", "ImageMetadataSeq|0!", "ND2 FILEMAP SIGNATURE NAME 0001!"]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(_FILES)))
    b = bytearray(_FILES[kind])
    # where the structure is: chunk headers, payload starts, the map, the trailer
    hot = [0, 4, 8, 16, len(b) - 40, len(b) - 8]
    _, cm = container.read_chunk_map(bytes(b))
    for o in cm.offsets.tolist():
        hot += [o, o + 4, o + 8, o + 16, o + 64, o + 4096]
    for _ in range(draw(st.integers(1, 6))):
        near = draw(st.sampled_from(hot))
        at = min(len(b) - 1, max(0, near + draw(st.integers(-8, 64))))
        how = draw(st.integers(0, 3))
        if how == 0:
            b[at] = draw(st.integers(0, 255))
        elif how == 1:
            b[at] ^= 1 << draw(st.integers(0, 7))
        elif how == 2:
            n = draw(st.integers(1, 8))
            b[at : at + n] = draw(st.binary(min_size=n, max_size=n))
        else:
            b[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 11, 76]))
    if draw(st.integers(0, 9)) == 0:
        b = b[: draw(st.integers(0, len(b)))]
    return kind, bytes(b)


def _run(capsys: pytest.CaptureFixture[str], argv: list[str], ok: set[int]) -> None:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err, cap.err
    assert "internal error" not in cap.err, (argv, cap.err)
    assert "internal error" not in cap.out, (argv, [ln for ln in cap.out.splitlines()
                                                    if "internal error" in ln])
    assert rc in ok, (argv, rc, cap.err[-1000:])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=damaged(), chunk=st.sampled_from(_CHUNKS))
def test_damaged_files_never_crash_the_tools(case: tuple[str, bytes], chunk: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _kind, data = case
    nd2 = container.file_kind(data) is not None
    ok = {0, 1} | (set() if nd2 else {2})
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "f.nd2"
        p.write_bytes(data)
        _run(capsys, ["validate", str(p)], ok)
        _run(capsys, ["validate", "--roundtrip", "--json", str(p)], ok)
        _run(capsys, ["inspect", str(p)], {0} if nd2 else {2})
        _run(capsys, ["inspect", "--json", "--all", str(p)], {0} if nd2 else {2})
        _run(capsys, ["inspect", "--chunk", chunk, str(p)], {0, 1} if nd2 else {2})
        _run(capsys, ["inspect", "--chunk", chunk, "--json", "--bytes", "0", str(p)],
             {0, 1} if nd2 else {2})
