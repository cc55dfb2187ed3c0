"""Qwen operator traces: the model registry, trace extraction and the trace schema.

Importing this package never imports torch; only :func:`workloads.extract.trace` does.
Its names are loaded on first use (``import workloads.errors`` imports no pandas).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workloads.errors import WorkloadError
    from workloads.schema import KINDS, SCHEMA_VERSION, Scenario, Trace

__all__ = ["KINDS", "SCHEMA_VERSION", "Scenario", "Trace", "WorkloadError"]
_HOME = {"WorkloadError": "workloads.errors", "KINDS": "workloads.schema",
         "SCHEMA_VERSION": "workloads.schema", "Scenario": "workloads.schema",
         "Trace": "workloads.schema"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
