"""Qwen operator traces: the model registry, trace extraction and the trace schema.

Importing this package never imports torch; only :func:`workloads.extract.trace` does.
Its names are loaded on first use (``import workloads.errors`` imports no pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workloads.lazy import lazy_names

if TYPE_CHECKING:
    from workloads.errors import WorkloadError
    from workloads.schema import KINDS, SCHEMA_VERSION, Scenario, Trace

__all__ = ["KINDS", "SCHEMA_VERSION", "Scenario", "Trace", "WorkloadError"]
__getattr__ = lazy_names(__name__, {
    "WorkloadError": "workloads.errors", "KINDS": "workloads.schema",
    "SCHEMA_VERSION": "workloads.schema", "Scenario": "workloads.schema",
    "Trace": "workloads.schema"})
