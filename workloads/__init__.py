"""Qwen operator traces: the model registry, trace extraction and the trace schema.

Importing this package never imports torch; only :func:`workloads.extract.trace` does.
"""

from workloads.errors import WorkloadError
from workloads.schema import KINDS, SCHEMA_VERSION, Scenario, Trace

__all__ = ["KINDS", "SCHEMA_VERSION", "Scenario", "Trace", "WorkloadError"]
