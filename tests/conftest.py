"""Shared fixtures: the corpus location and the rule that CI never skips corpus tests."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


# ---------------------------------------------------------------------------- corpus access
# The `corpus` marker means "reads corpus files", and conftest holds tests to it both ways
# (see pytest_runtest_makereport): the count CI checks is a count of tests that read the
# corpus, and a clone without the corpus skips exactly those tests. A test reads the corpus
# when, while it runs, a file inside the folder is opened (an audit hook sees every open)
# or passed to a child process,
# `corpus_files()` is called, a `corpus_cached` helper hands out corpus data, or it is
# parametrised with a corpus path or uses the `corpus_dir` fixture.
_touched = [False]
_CORPUS_PREFIX = str(CORPUS) + os.sep


def _in_corpus(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(_CORPUS_PREFIX)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _touched[0] or not args:
        return
    if event == "open":
        _touched[0] = _in_corpus(args[0])
    elif event == "subprocess.Popen":  # (executable, args, cwd, env): a child reads them
        argv = args[1]
        _touched[0] = any(_in_corpus(a) for a in (argv if isinstance(argv, (list, tuple)) else [argv]))


sys.addaudithook(_audit)

F = TypeVar("F", bound=Callable[..., Any])


def corpus_cached(fn: F) -> F:
    """``functools.cache`` for helpers that return corpus data: every call (cached or not)
    counts as reading the corpus for the running test."""
    cached = functools.cache(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _touched[0] = True
        return cached(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def corpus_files(kind: str = "*") -> list[Path]:
    """All .nd2 files of the corpus (``real``, ``synthetic`` or ``*``); [] if absent."""
    _touched[0] = True
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob(f"{kind}/*.nd2"))


def _static_corpus_use(item: pytest.Item) -> bool:
    if "corpus_dir" in getattr(item, "fixturenames", ()):
        return True
    stack = list(getattr(getattr(item, "callspec", None), "params", {}).values())
    while stack:
        v = stack.pop()
        if isinstance(v, (tuple, list)):
            stack.extend(v)
        elif isinstance(v, Path) and (v == CORPUS or CORPUS in v.parents):
            return True
    return False


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
            if item.get_closest_marker("corpus") is not None or any(
                    "empty parameter set" in str(m.kwargs.get("reason", m.args[0] if m.args else ""))
                    for m in item.iter_markers("skip")):
                item.add_marker(pytest.mark.skip(reason=reason), append=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _touched[0] = False


#: fixtures whose value came from corpus files (module/session fixtures are set up once)
_corpus_fixtures: set[str] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> object:
    outer, _touched[0] = _touched[0], False
    yield
    if _touched[0]:
        _corpus_fixtures.add(fixturedef.argname)
    _touched[0] = _touched[0] or outer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call" and rep.passed and CORPUS.is_dir():  # noqa: SIM102
        if item.get_closest_marker("corpus_optional") is not None:
            return
        marked = item.get_closest_marker("corpus") is not None
        read = (_touched[0] or _static_corpus_use(item)
                or not _corpus_fixtures.isdisjoint(getattr(item, "fixturenames", ())))
        if marked != read:
            rep.outcome = "failed"
            rep.longrepr = ("marked `corpus` but read no corpus file" if marked else
                            "read corpus files but is not marked `corpus` (it would not skip without "
                            "the corpus)")
    if REQUIRE_CORPUS and rep.skipped and item.get_closest_marker("corpus") is not None:
        rep.outcome = "failed"
        rep.longrepr = f"corpus test skipped although ND2KIT_CORPUS is set: {rep.longrepr}"


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    stats = getattr(terminalreporter, "stats", {})
    n = sum(1 for r in stats.get("passed", []) if "corpus" in getattr(r, "keywords", {}))
    tw = terminalreporter.write_line
    tw(f"nd2kit: corpus at {CORPUS} ({'present' if CORPUS.is_dir() else 'absent'}); "
       f"{n} corpus tests passed")
