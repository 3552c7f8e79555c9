"""Shared fixtures: the corpus location and the rule that CI never skips corpus tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
_DEFAULT = ROOT.parent / "shared" / "corpus"
CORPUS = Path(os.environ.get("ND2KIT_CORPUS", _DEFAULT)).resolve()
REQUIRE_CORPUS = bool(os.environ.get("ND2KIT_CORPUS"))

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def corpus_files(kind: str = "*") -> list[Path]:
    """All .nd2 files of the corpus (``real``, ``synthetic`` or ``*``); [] if absent."""
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob(f"{kind}/*.nd2"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus folder; skips (fails under ND2KIT_CORPUS) when it is missing."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set ND2KIT_CORPUS)")
    return CORPUS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # parametrised corpus tests collect no cases when the folder is absent; make that loud
    if REQUIRE_CORPUS and not CORPUS.is_dir():
        raise pytest.UsageError(f"ND2KIT_CORPUS={CORPUS} does not exist")
    if not CORPUS.is_dir():
        reason = f"corpus not found at {CORPUS} (set ND2KIT_CORPUS to run these)"
        for item in items:
            if any("empty parameter set" in str(m.kwargs.get("reason", m.args[0] if m.args else ""))
                   for m in item.iter_markers("skip")):
                item.add_marker(pytest.mark.skip(reason=reason), append=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_CORPUS and rep.skipped and item.get_closest_marker("corpus") is not None:
        rep.outcome = "failed"
        rep.longrepr = f"corpus test skipped although ND2KIT_CORPUS is set: {rep.longrepr}"


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    stats = getattr(terminalreporter, "stats", {})
    n = sum(1 for r in stats.get("passed", []) if "corpus" in getattr(r, "keywords", {}))
    tw = terminalreporter.write_line
    tw(f"nd2kit: corpus at {CORPUS} ({'present' if CORPUS.is_dir() else 'absent'}); "
       f"{n} corpus tests passed")
