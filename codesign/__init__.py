"""codesign: how much faster do Qwen models run with attention instructions on RISC-V?

>>> import codesign as cd
>>> tr = cd.trace("qwen3.5-9b", phase="decode", batch=1, context=4096)
>>> cd.compare(tr, ["c950-like", "c950-like+xattn", "h100-sxm"])
>>> cd.generate("qwen3.5-9b", "h100-sxm", prompt=2048, output=512)  # TTFT, TPOT, tok/s
>>> cd.explore("experiments/explore_edge.toml", out="runs/edge").pareto  # design search

The names are loaded on first use, so ``import codesign.cli`` (``codesign --help``)
imports neither pandas nor the timing models. ``codesign.sweep`` is the :func:`sweep`
function, never the subpackage of that name (whichever is imported first).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from workloads.lazy import lazy_names

if TYPE_CHECKING:
    from codesign.api import compare, generate, simulate, trace
    from codesign.errors import CodesignError
    from codesign.result import Result
    from codesign.sweep import sweep
    from codesign.sweep.explore import explore
    from workloads.schema import Trace

__all__ = ["CodesignError", "Result", "Trace", "compare", "explore", "generate", "simulate",
           "sweep", "trace"]
__getattr__ = lazy_names(__name__, {
    "compare": "codesign.api", "generate": "codesign.api", "simulate": "codesign.api",
    "trace": "codesign.api", "CodesignError": "codesign.errors", "Result": "codesign.result",
    "explore": "codesign.sweep.explore", "Trace": "workloads.schema"})


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package's module type: its ``sweep`` attribute is the API function. The import
    system binds a subpackage to its parent's attribute when it first loads it; this
    setter keeps the function there instead of the ``codesign.sweep`` package."""

    @property
    def sweep(self) -> Any:
        return importlib.import_module("codesign.sweep").sweep

    @sweep.setter
    def sweep(self, value: Any) -> None:
        if not isinstance(value, types.ModuleType):
            raise AttributeError("codesign.sweep is the sweep function; it cannot be set")


sys.modules[__name__].__class__ = _Package
