"""In-repo fuzzing campaign for nd2kit (issue #8): ``python -m tools.fuzz``.

Modules: :mod:`.seeds` (corpus + generated seeds, analysed through the codecs),
:mod:`.mutators` (raw and structure-aware mutators), :mod:`.recipe` (mutations as byte
edits against a named seed), :mod:`.harness` (the public entry points a case runs, and
outcome classes), :mod:`.runner` (a forked child per case with time and address-space
limits, dedup, minimization), :mod:`.report` (JSON + markdown, reproducer store),
:mod:`.campaign` (the whole run, and replay). See ``docs/robustness.md``.
"""
