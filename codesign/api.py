"""The Python API for notebooks: trace a model, time it on targets, compare them."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from codesign import targets
from codesign.errors import CodesignError
from codesign.result import Result
from workloads.schema import Trace


def trace(model: str, phase: str = "prefill", batch: int = 1, seq: int | None = None,
          context: int | None = None, cache: bool = True, **options: Any) -> Trace:
    """Extract the operator trace of a forward pass (shape-only; see ``workloads.extract``).

    ``model`` is a registered name (``codesign models``) or the path of a config.json.
    Prefill takes ``seq`` (default 2048); decode takes ``context`` (default 4096).
    Other options: ``routing`` ("balanced", "zipf:S[:SEED]"), ``weight_dtype``.
    A prompt or KV cache longer than the model's maximum context is refused.
    Traces are cached on disk (:mod:`workloads.cache`: keyed by the model config, the
    scenario, the options, the extraction code and the torch/transformers versions), so a
    repeated request imports neither torch nor transformers; ``cache=False`` extracts anew.
    """
    if phase == "prefill":
        check_context(model, "seq", seq)
    else:
        check_context(model, "context", context)
    from workloads import cache as trace_cache

    k = trace_cache.key(model, phase, batch, seq, context, options)
    if cache:
        hit = trace_cache.get(k)
        if hit is not None:
            return hit
    with _without_cyclic_gc():
        from workloads.extract import trace as _trace  # imports torch: only when extracting

        tr = _trace(model, phase=phase, batch=batch, seq=seq, context=context, **options)
    trace_cache.put(k, tr)
    return tr


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection within: importing torch and transformers allocates
    millions of objects, none of them garbage, and each collection the allocations trigger
    traverses the growing heap again (~0.6 of a cold run's 5 CPU-s, issue #12). Reference
    counting still frees all that is not in a cycle; the collector is back afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_context(model: str, option: str, tokens: int | None) -> None:
    """Refuse a prompt (prefill ``seq``) or KV cache (decode ``context``) longer than the
    model's ``max_position_embeddings``: its positions have no meaning beyond it, and the
    trace would time a model that cannot run."""
    from workloads.registry import load_config

    limit = load_config(model).fields.get("max_position_embeddings")
    if tokens is None or not isinstance(limit, int) or tokens <= limit:
        return
    raise CodesignError(f"{option} {tokens:,} is beyond the maximum context of {model!r}: "
                        f"{limit:,} tokens (its max_position_embeddings)")


def as_trace(obj: Trace | str | Path) -> Trace:
    """A Trace, or a trace loaded from a Parquet path."""
    return obj if isinstance(obj, Trace) else Trace.load(obj)


def simulate(trace: Trace | str | Path, target: str, **overrides: Any) -> Result:
    """Time ``trace`` on ``target`` (a name from ``codesign targets``).

    Keyword overrides replace config fields by dotted path; since Python keywords cannot
    hold dots, pass them as ``**{"vector.dlen": 512}`` or with ``__`` (``vector__dlen=512``).
    """
    paths = {k.replace("__", "."): v for k, v in overrides.items()}
    return targets.resolve(target, paths).simulate(as_trace(trace))


def compare(trace: Trace | str | Path, target_names: Sequence[str],
            overrides: dict[str, Any] | None = None, jobs: int = 1) -> pd.DataFrame:
    """One row per target: latency, tokens/s and speedup over the first target. ``jobs``
    > 1 simulates the RISC-V targets cold in that many processes first
    (:mod:`codesign.parallel`; the same numbers)."""
    from codesign.parallel import simulate_all

    tr = as_trace(trace)
    paths = {k.replace("__", "."): v for k, v in (overrides or {}).items()}
    resolved = [targets.resolve(t, paths) for t in target_names]
    rows = [r.summary() for r in simulate_all(tr, resolved, jobs)]
    df = pd.DataFrame(rows)
    df["speedup"] = df["latency_s"].iloc[0] / df["latency_s"]
    return df


def generate(model: str, target: str, prompt: int = 2048, output: int = 512, batch: int = 1,
             engine: str | None = None, **options: Any) -> Any:
    """One request end to end on ``target``: a prefill of ``prompt`` tokens, then decode
    steps until ``output`` tokens per sequence (the first comes from the prefill), for
    ``batch`` sequences. GPU targets run ``engine`` (``codesign targets`` names the
    default). Returns a :class:`codesign.result.GenerateResult` (TTFT, time per output
    token mean and last, end-to-end output tokens/s, breakdown by kind).

    Decode steps are timed at a few contexts and interpolated, with an error bound
    (``bound_s``; see :mod:`codesign.generation`). ``options``: ``weight_dtype``,
    ``routing``, ``overrides`` (dotted config paths), ``rel_tol``, ``max_samples``.
    """
    from codesign.generation import generate as _generate

    return _generate(model, target, prompt=prompt, output=output, batch=batch,
                     engine=engine, **options)
