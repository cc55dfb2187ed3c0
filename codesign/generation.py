"""Generation scenarios: one prefill of the prompt, then decode steps over the growing
context, on any target.

A request of ``prompt`` tokens that generates ``output`` tokens per sequence runs one
prefill pass of ``prompt`` tokens (it yields the first output token: the time to first
token, TTFT) and then ``output - 1`` decode steps; step ``j`` (1-based) finds
``prompt + j - 1`` tokens in the KV cache. This is how serving engines count output
tokens (vLLM's ``output_len``, gpt-fast's ``max_new_tokens``, Qwen's speed benchmark).

Decode steps are not all traced and timed. The step time ``f(context)`` is sampled at a
few contexts (both ends first) and interpolated linearly between them. **Error bound**:
when ``f`` does not decrease with the context (more KV cache to read never makes a step
faster: the property ``tests/generate/test_generate.py`` checks), every interpolated step
between samples ``a < b`` lies, like the true one, in ``[f(a), f(b)]``, so the summed
decode time is off by at most ``sum over segments of (interior steps) x (f(b) - f(a))``.
That bound is computed for every run (``bound_s``); segments are bisected, the one with
the largest share first, until it is at most ``rel_tol`` of the decode time or
``max_samples`` contexts are timed. A test compares the result with timing every step on
a small case.

On a GPU, the decode steps run back to back: when they outlast the power limiter's
window (``power.window_ms``, judged by the first step's time as a burst), each step is
timed as sustained work (:func:`codesign.serving.sustained`), held to the cap on average
by the limiter's clock rather than capped row by row.

Traces come from the trace cache (:mod:`workloads.cache`), so a repeated scenario
imports neither torch nor transformers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from codesign import config as C
from codesign import targets
from codesign.errors import CodesignError
from codesign.result import GenerateResult, Result, engine_of
from codesign.serving import sustained

DEFAULT_REL_TOL = 0.005  # the decode time's interpolation bound, relative
DEFAULT_MAX_SAMPLES = 5  # decode contexts timed at most (each one trace and one simulation)


def target_for(name: str, engine: str | None, overrides: dict[str, Any] | None = None
               ) -> Any:
    """The target ``name``; GPU targets run ``engine`` (default: the GPU family's)."""
    from codesign import gpu

    paths = dict(overrides or {})
    # engines are GPU serving stacks; other targets replay the trace as it is
    if engine is not None and gpu.owns(name):
        paths["engine"] = engine
    return targets.resolve(name, paths)


def bound(contexts: list[int], values: list[float], steps: np.ndarray) -> float:
    """The interpolation bound over ``steps`` (their contexts) for sampled
    ``contexts -> values`` (sorted): interior steps of each segment x its rise."""
    total = 0.0
    for (a, fa), (b, fb) in zip(zip(contexts, values, strict=True),
                                zip(contexts[1:], values[1:], strict=True), strict=False):
        interior = int(np.count_nonzero((steps > a) & (steps < b)))
        total += interior * abs(fb - fa)
    return total


def _segment_shares(contexts: list[int], values: list[float], steps: np.ndarray
                    ) -> list[tuple[float, int, int]]:
    out = []
    for i in range(len(contexts) - 1):
        a, b = contexts[i], contexts[i + 1]
        interior = int(np.count_nonzero((steps > a) & (steps < b)))
        if interior:
            out.append((interior * abs(values[i + 1] - values[i]), a, b))
    return sorted(out, reverse=True)


def sample_steps(step_time: Callable[[int], Result], lo: int, hi: int,
                 rel_tol: float = DEFAULT_REL_TOL, max_samples: int = DEFAULT_MAX_SAMPLES
                 ) -> dict[int, Result]:
    """Decode Results at the contexts chosen by bisection (see the module docstring)."""
    if max_samples < 2 and hi > lo:
        raise CodesignError(f"max_samples {max_samples} must be at least 2")
    steps = np.arange(lo, hi + 1)
    timed = {c: step_time(c) for c in sorted({lo, hi})}
    while len(timed) < max_samples:
        cs = sorted(timed)
        vs = [timed[c].latency_s for c in cs]
        decode = float(np.interp(steps, cs, vs).sum())
        shares = _segment_shares(cs, vs, steps)
        if not shares or sum(sh for sh, _, _ in shares) <= rel_tol * decode:
            break
        _, a, b = shares[0]
        timed[(a + b) // 2] = step_time((a + b) // 2)
    return timed


def _by_kind(results: dict[int, Result], steps: np.ndarray) -> dict[str, float]:
    """Seconds by op kind summed over the decode steps (each kind interpolated alike)."""
    cs = sorted(results)
    per = [results[c].seconds_by_kind() for c in cs]
    kinds = sorted({k for p in per for k in p})
    return {k: float(np.interp(steps, cs, [p.get(k, 0.0) for p in per]).sum()) for k in kinds}


def candidate_contexts(lo: int, hi: int, max_samples: int = DEFAULT_MAX_SAMPLES
                       ) -> list[int]:
    """Every decode context :func:`sample_steps` may time between ``lo`` and ``hi`` with at
    most ``max_samples`` samples: both ends and the midpoints of repeated bisection (so a
    sweep can extract their traces before its workers, which never trace, time them)."""
    out = {lo, hi}
    segments = [(lo, hi)]
    for _ in range(max(max_samples - 2, 0)):
        nxt = []
        for a, b in segments:
            if b - a >= 2:  # interior steps to bisect
                m = (a + b) // 2
                out.add(m)
                nxt.extend([(a, m), (m, b)])
        segments = nxt
    return sorted(out)


def check_request(prompt: int, output: int, batch: int) -> None:
    for label, v in (("prompt", prompt), ("output", output), ("batch", batch)):
        if int(v) < 1:
            raise CodesignError(f"--{label} {v} must be at least 1")


def generate(model: str, target: str, prompt: int = 2048, output: int = 512, batch: int = 1,
             engine: str | None = None, overrides: dict[str, Any] | None = None,
             rel_tol: float = DEFAULT_REL_TOL, max_samples: int = DEFAULT_MAX_SAMPLES,
             **options: Any) -> GenerateResult:
    """Time one prefill of ``prompt`` tokens and ``output - 1`` decode steps of ``batch``
    sequences on ``target`` (``engine`` for GPU targets). ``options`` go to the trace
    (``weight_dtype``, ``routing``)."""
    from codesign import api

    check_request(prompt, output, batch)
    api.check_context(model, "prompt + output", prompt + output)
    tgt = target_for(target, engine, overrides)
    return time_request(
        tgt, target, api.trace(model, phase="prefill", batch=batch, seq=prompt, **options),
        lambda context: api.trace(model, phase="decode", batch=batch, context=context,
                                  **options),
        prompt, output, batch, rel_tol, max_samples, model)


def time_request(tgt: Any, target: str, prefill_trace: Any, decode_trace: Callable[[int], Any],
                 prompt: int, output: int, batch: int, rel_tol: float = DEFAULT_REL_TOL,
                 max_samples: int = DEFAULT_MAX_SAMPLES, model: str = "") -> GenerateResult:
    """:func:`generate` on a resolved target ``tgt`` (named ``target``), given the prefill
    trace and a function from a decode context to its trace (the trace cache's, or a
    sweep's saved traces of :func:`candidate_contexts`)."""
    prefill = tgt.simulate(prefill_trace)
    lo, hi = prompt, prompt + output - 2
    # on a GPU, the first step as a burst says whether the steps outlast the limiter's window
    burst = tgt.simulate(decode_trace(lo)) if output > 1 and tgt.family == "gpu" else None
    back_to_back = burst is not None and _outlasts_window(tgt, burst, output - 1)

    def step_time(context: int) -> Result:
        if context == lo and burst is not None and not back_to_back:
            return burst
        trace = decode_trace(context)
        return tgt.simulate(sustained(trace) if back_to_back else trace)

    timed = sample_steps(step_time, lo, hi, rel_tol, max_samples) if output > 1 else {}
    steps = np.arange(lo, hi + 1) if output > 1 else np.zeros(0, dtype=int)
    cs = sorted(timed)
    per_step = (np.interp(steps, cs, [timed[c].latency_s for c in cs]) if cs
                else np.zeros(0))
    breakdown = dict(prefill.seconds_by_kind())
    for kind, seconds in (_by_kind(timed, steps) if cs else {}).items():
        breakdown[kind] = breakdown.get(kind, 0.0) + seconds
    work = {k: prefill.summary()[k] + (_interpolated(timed, steps, k) if cs else 0.0)
            for k in ("gflop", "gbytes")}
    energy = None if prefill.energy_j is None else \
        prefill.energy_j + (_interpolated(timed, steps, "energy_j") if cs else 0.0)
    return GenerateResult(
        target=target, family=tgt.family,
        engine=engine_of(C.to_dict(tgt.config)) or "",
        model=str(prefill.trace_meta.get("model", model)), prompt=prompt, output=output,
        batch=batch, prefill=prefill, step_seconds=per_step,
        sampled={c: timed[c].latency_s for c in cs},
        bound_s=bound(cs, [timed[c].latency_s for c in cs], steps) if cs else 0.0,
        breakdown=dict(sorted(breakdown.items(), key=lambda kv: -kv[1])),
        gflop=work["gflop"], gbytes=work["gbytes"], energy_j=energy,
    )


def _outlasts_window(tgt: Any, first: Result, steps: int) -> bool:
    """Whether ``steps`` decode steps like ``first`` (a GPU step timed as a burst), run back
    to back, outlast the GPU's power limiter's window."""
    from codesign.gpu import power

    return power.is_sustained(tgt.config, steps * first.latency_s)


def _interpolated(results: dict[int, Result], steps: np.ndarray, key: str) -> float:
    """A summary quantity (``gflop``, ``gbytes``, ``energy_j``) summed over the decode steps,
    interpolated between the timed contexts as the step times are."""
    cs = sorted(results)
    return float(np.interp(steps, cs, [results[c].summary()[key] for c in cs]).sum())
