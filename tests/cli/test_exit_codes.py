"""Exit codes of ``nd2kit validate`` / ``nd2kit inspect``: 0, 1, 2 for what the file is,
3 (one line on stderr, no traceback) when nd2kit itself fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from nd2kit import cli
from nd2kit.check import inspection, modern, summary
from nd2kit.cli import EXIT_INTERNAL
from nd2kit.testing.samples import sample_file_bytes


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    p = tmp_path / "s.nd2"
    p.write_bytes(sample_file_bytes(t=2, z=1, channels=1, height=4, width=4))
    return p


def _boom(*_a: object, **_k: object) -> None:
    raise RuntimeError("simulated internal failure\nsecond line")


def _one_line(err: str, command: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"nd2kit {command}: internal error")
    assert "RuntimeError: simulated internal failure second line" in lines[0]
    assert "Traceback" not in err


def test_exit_codes_for_the_file(sample: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(sample)]) == 0
    assert cli.main(["inspect", str(sample)]) == 0
    bad = tmp_path / "bad.nd2"
    b = bytearray(sample.read_bytes())
    b[0x4000 + 2] ^= 0xFF  # the magic of the second chunk
    bad.write_bytes(bytes(b))
    assert cli.main(["validate", str(bad)]) == 1
    junk = tmp_path / "junk.nd2"
    junk.write_bytes(b"hello")
    assert cli.main(["validate", str(junk)]) == 2
    assert cli.main(["inspect", str(junk)]) == 2
    assert cli.main(["inspect", str(tmp_path / "missing.nd2")]) == 2
    capsys.readouterr()


def test_validate_internal_error(sample: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(modern.ModernCheck, "frames", _boom)
    assert cli.main(["validate", str(sample)]) == EXIT_INTERNAL == 3
    cap = capsys.readouterr()
    _one_line(cap.err, "validate")
    assert str(sample) in cap.err
    assert cli.main(["validate", "--json", str(sample)]) == 3
    _one_line(capsys.readouterr().err, "validate")


def test_inspect_internal_error(sample: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(inspection, "_inspect_modern", _boom)
    assert cli.main(["inspect", str(sample)]) == 3
    _one_line(capsys.readouterr().err, "inspect")
    assert cli.main(["inspect", "--json", str(sample)]) == 3
    _one_line(capsys.readouterr().err, "inspect")
    assert cli.main(["inspect", "--chunk", "ImageAttributesLV!", str(sample)]) == 3
    _one_line(capsys.readouterr().err, "inspect")


def test_summary_failure_is_not_fatal(sample: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # a failing summary part degrades the summary; the table is still printed, and the
    # exit code is 3 (nd2kit failed, not the file) with the one-line message on stderr
    monkeypatch.setattr(summary, "_loop", _boom)
    assert cli.main(["inspect", str(sample)]) == 3
    cap = capsys.readouterr()
    assert "internal error" in cap.err and "Traceback" not in cap.err + cap.out
    out = cap.out
    assert "summary incomplete: loops: not read (nd2kit internal error" in out
    assert "ImageDataSeq|0..1!" in out and "sizes: T=2" in out


def test_any_subcommand_that_raises_exits_3(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    def configure(p: object) -> None:
        pass

    def broken(args: object) -> int:
        raise RuntimeError("simulated internal failure\nsecond line")

    cli.add_subcommand("broken-for-test", "raises", configure, broken)
    try:
        assert cli.main(["broken-for-test"]) == 3
    finally:
        cli._REGISTRY.pop("broken-for-test", None)
    _one_line(capsys.readouterr().err, "broken-for-test")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_json_output_is_strict_when_the_file_holds_non_finite_numbers(
    value: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged file may hold inf / nan (fuzz case 2026:1676: ``dZStep = inf`` made
    ``inspect --json`` fail with exit 3). ``--json`` output stays strict JSON: such
    numbers are written as the strings "inf", "-inf", "nan"."""
    import json as _json

    from nd2kit import cli
    from nd2kit.testing.samples import sample_file_bytes

    p = tmp_path / "nonfinite.nd2"
    p.write_bytes(sample_file_bytes(t=1, z=2, channels=1, height=4, width=4, z_step=value,
                                    calibration=value))
    want = "nan" if value != value else ("inf" if value > 0 else "-inf")
    for argv in (["inspect", "--json", str(p)], ["validate", "--json", str(p)]):
        rc = cli.main(argv)
        out = capsys.readouterr().out
        assert rc in (0, 1), (argv, rc)
        doc = _json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
        if argv[0] == "inspect" and value == float("inf"):  # shown as a voxel size
            assert f'"{want}"' in out, out[:2000]
        assert isinstance(doc, dict)


def test_json_safe_walks_deep_trees_without_recursion() -> None:
    from nd2kit.cli import _json_safe

    deep: list[object] = [float("inf")]
    for _ in range(50_000):
        deep = [deep, {"x": (1.5, float("nan"))}]
    out = _json_safe(deep)
    node = out
    for _ in range(50_000):
        assert node[1] == {"x": [1.5, "nan"]}
        node = node[0]
    assert node == ["inf"]
