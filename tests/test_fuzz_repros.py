"""Every reproducer the fuzzing campaign saved (tests/fuzz_repros/*.json) stays fixed.

A reproducer is a small JSON patch against a named seed (a generated sample or a
corpus file, identified by sha256). Replayed through every harness step of
``tools.fuzz`` (in a child with the campaign's time and address-space limits), it
must give only ``ok`` or ``nd2kit.Nd2Error`` outcomes. A reproducer still marked
``"open": true`` (as the campaign saves it) is an unfixed finding: the test checks that it
still reproduces and fails once it no longer does, so that the flag is flipped to false
with the fix (from then on the replay must be clean). Reproducers of corpus seeds are corpus tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import corpus_files

from tools.fuzz.campaign import replay

STORE = Path(__file__).resolve().parent / "fuzz_repros"
REPROS = sorted(STORE.glob("*.json"))


def _params() -> list[object]:
    out: list[object] = []
    for p in REPROS:
        gen = json.loads(p.read_text())["seed"]["name"].startswith("gen:")
        out.append(pytest.param(p, id=p.stem, marks=() if gen else (pytest.mark.corpus,)))
    return out


@pytest.mark.parametrize("path", _params())
def test_reproducer_is_fixed(path: Path) -> None:
    rep = json.loads(path.read_text())
    if not rep["seed"]["name"].startswith("gen:"):
        assert corpus_files(), "corpus reproducer without corpus"
    try:
        r = replay(path)
    except ValueError as e:  # the generated seed changed: the reproducer must be re-made
        pytest.skip(str(e))
    bad = [f"{f.step}: {f.outcome} {f.exc_type} {f.top} {f.message}" for f in r.findings
           if f.outcome not in ("ok", "nd2error", "nd2error-no-place")]
    if rep.get("open", False):
        # saved by the campaign and not fixed yet: the finding must still be there (like a
        # strict xfail, but not reported as skipped: conftest forbids skipped corpus tests
        # under ND2KIT_CORPUS); the fix flips "open" to false and the replay must be clean
        assert bad, f"{path.name} is fixed now: set \"open\": false in it"
        return
    assert not bad, f"{rep['key']} ({rep['seed']['name']}): {bad}"
