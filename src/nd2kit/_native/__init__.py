"""Compiled twins of generated codecs (built by ``python -m tools.native build``; optional).

Only :mod:`nd2kit.codecs` imports from here, through :func:`compiled`, which hands out a
compiled module only when it was built from the generated source on disk.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import ModuleType

__all__ = ["compiled"]


def compiled(name: str, pure: ModuleType) -> tuple[ModuleType, str]:
    """The compiled module ``nd2kit._native.<name>`` if it may stand in for `pure`.

    It may when it exists, its ``SOURCE_SHA256`` is the SHA-256 of `pure`'s source file
    (the generated module it was copied from, so a stale build is never used) and the
    environment variable ``ND2KIT_NATIVE`` is not ``0``. Otherwise `pure` is returned.

    Returns
    -------
    (module, str)
        The module to use and why (``"compiled (<file>)"`` or ``"pure Python (<why>)"``).
    """
    if os.environ.get("ND2KIT_NATIVE", "1") == "0":
        return pure, "pure Python (ND2KIT_NATIVE=0)"
    try:
        mod = importlib.import_module(f"{__name__}.{name}")
    except ImportError:
        return pure, "pure Python (not compiled: python -m tools.native build)"
    try:
        sha = hashlib.sha256(Path(str(pure.__file__)).read_bytes()).hexdigest()
    except OSError:
        sha = ""
    if getattr(mod, "SOURCE_SHA256", None) != sha:
        return pure, "pure Python (the compiled copy is stale: python -m tools.native build)"
    return mod, f"compiled ({Path(str(mod.__file__)).name})"
