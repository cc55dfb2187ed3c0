"""Package names loaded on first use: a package's ``__getattr__`` that imports each name
from the module that defines it and keeps it, so importing the package (or any of its
light submodules) stays cheap. Used by ``workloads``, ``codesign`` and ``codesign.sweep``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``homes`` maps each lazy name to its module."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
