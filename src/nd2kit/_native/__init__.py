"""Compiled twins of generated codecs (built by ``python -m tools.native build``; optional).

Only :mod:`nd2kit.codecs` imports from here, and only after checking that a compiled
module was built from the generated source on disk (``SOURCE_SHA256``).
"""
