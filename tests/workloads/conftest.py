"""Shared traces for the workloads tests (extraction takes about a second each)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def trace_9b_prefill():
    from workloads.extract import trace

    return trace("qwen3.5-9b", phase="prefill", batch=1, seq=256)


@pytest.fixture(scope="session")
def trace_35b_decode():
    from workloads.extract import trace

    return trace("qwen3.5-35b-a3b", phase="decode", batch=2, context=300)
