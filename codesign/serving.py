"""A continuously batched server's steady-state step: the decode of the running sequences
and the prefill of the prompts admitted in place of finished requests, in one mixed batch.

A server that keeps ``batch`` sequences running (vLLM's ``max_num_seqs``) admits a waiting
request whenever one finishes. With requests of ``output`` tokens, ``batch / output`` of
them finish per step on average, and as many prompts of ``prompt`` tokens are admitted in
their place. vLLM's V1 scheduler has no prefill or decode phase: each step it gives every
running request the tokens it still needs, a new prompt's included, within the step's
token budget (vllm/v1/core/sched/scheduler.py, ``Scheduler.schedule``: "There's no
'decoding phase' nor 'prefill phase' in the scheduler"; vLLM blog 2025-01-27 "vLLM V1",
§2 "Simplified Scheduler"), so an admitted prompt runs in the same forward pass as the
decode tokens, whole while it fits the budget (``max_num_batched_tokens``: 2048 unless
set, ``SchedulerConfig.DEFAULT_MAX_NUM_BATCHED_TOKENS``, vllm/config/scheduler.py, v0.11).

A step that admits ``k`` prompts (:func:`step_trace`) runs every op that works token by
token (the GEMMs, norms, activations, RoPE, KV-cache writes) over the ``batch`` decode
tokens and the ``k x prompt`` prompt tokens as one batch of rows, so the GEMMs read their
weights once for both; attention runs per sequence: the decode sequences over their KV
cache, each prompt causally over itself; the logits are computed for the ``batch``
sampled positions (each running sequence yields one output token per step, an admitted
prompt's first token in place of a finished sequence's).

Steps differ in how many prompts they admit. :func:`admissions` weighs the two whole
counts around the mean ``batch / output`` so that their mean is that mean (requests of
one length, finishing evenly spread over the steps: assumed); the steady state's time and
energy per step are the weighted means of those steps' (:func:`steady_state`), each step
timed as sustained work (a GPU's power limiter holds it to the cap: :func:`sustained`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from codesign.errors import CodesignError
from codesign.result import Result
from workloads.schema import Trace

# kinds whose op mixes the positions of a sequence: run per sequence, not per token
SEQUENCE_KINDS = ("attention", "linear_attention", "conv1d")


def admissions(batch: int, prompt: int, output: int) -> list[tuple[int, float]]:
    """``(prompts admitted in a step, share of the steps)``: the whole counts around the
    mean ``batch / output`` (requests finishing per step), weighted so that their mean is
    it; no prompt (``prompt`` 0): every step is the decode alone."""
    if prompt < 0 or output < 1 or batch < 1:
        raise CodesignError(f"a serving step needs batch >= 1, prompt >= 0 and output >= 1;"
                            f" got batch {batch}, prompt {prompt}, output {output}")
    if prompt == 0:
        return [(0, 1.0)]
    k = batch // output
    f = batch / output - k
    return [(n, w) for n, w in ((k, 1.0 - f), (k + 1, f)) if w > 0]


def mixed_rows(decode: Trace, tokens: Trace, prefill: Trace) -> pd.DataFrame:
    """The rows of a mixed step from three traces of the same model with the same rows:
    ``decode`` (the running sequences), ``tokens`` (a decode trace with the decode and
    prompt tokens as its batch: the per-token ops of both) and ``prefill`` (the admitted
    prompts). A row whose FLOPs add up (per token) comes from ``tokens``; a sequence
    kind's row is the decode's and the prefill's; any other row (the logits of the sampled
    positions, the step's position tables) is the decode's."""
    d, t, p = (tr.ops.to_dict("records") for tr in (decode, tokens, prefill))

    def same(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> bool:
        return (a["module"], a["name"]) == (b["module"], b["name"]) == (c["module"], c["name"])

    if not len(d) == len(t) == len(p) or not all(map(same, d, t, p)):
        raise CodesignError(f"the decode and prefill traces of {decode.model!r} differ in "
                            "their ops: a mixed serving step needs the same ops in both")
    rows: list[dict[str, Any]] = []
    for dr, tr, pr in zip(d, t, p, strict=True):
        if dr["kind"] in SEQUENCE_KINDS:
            rows.extend([dr, {**pr, "name": f"{pr['name']}.prefill"}])
        elif int(tr["flops"]) == int(dr["flops"]) + int(pr["flops"]):
            rows.append(tr)
        else:
            rows.append(dr)
    df = pd.DataFrame(rows)
    df["op_id"] = range(len(df))
    return df


def step_trace(model: str, batch: int, context: int, prompt: int, admitted: int,
               **options: Any) -> Trace:
    """A serving step: ``batch`` sequences decoding over ``context`` cached tokens, plus
    the prefill of ``admitted`` prompts of ``prompt`` tokens (none: the decode step
    itself). ``options`` go to the traces (``weight_dtype``, ``routing``)."""
    from codesign.api import trace

    decode = trace(model, phase="decode", batch=batch, context=context, **options)
    if admitted == 0 or prompt == 0:
        return decode
    tokens = trace(model, phase="decode", batch=batch + admitted * prompt, context=context,
                   **options)
    prefill = trace(model, phase="prefill", batch=admitted, seq=prompt, **options)
    meta = {**decode.meta, "serving": {"prompt": prompt, "admitted": admitted}}
    return Trace(mixed_rows(decode, tokens, prefill), meta)


def sustained(trace: Trace) -> Trace:
    """``trace`` marked as work that runs back to back for longer than a GPU's power limiter
    averages (a server's steps: :mod:`codesign.gpu.power`). Each step of the steady
    state's mix is held to the cap on its own (the limiter averages over the mix: a
    simplification where the steps differ)."""
    scenario = {**trace.meta.get("scenario", {}), "sustained": True}
    return Trace(trace.ops, {**trace.meta, "scenario": scenario})


@dataclass(frozen=True)
class SteadyState:
    """A server's mean step: its seconds and joules, and the steps it averages."""

    seconds: float
    energy_j: float | None
    steps: tuple[tuple[float, Result], ...]  # (share of the steps, the step's Result)

    @property
    def power_w(self) -> float | None:
        return None if self.energy_j is None else self.energy_j / self.seconds


def steady_state(target: Any, model: str, batch: int, context: int, prompt: int,
                 output: int, **options: Any) -> SteadyState:
    """The mean step of ``target`` (a resolved target) serving ``batch`` sequences of
    requests with ``prompt``-token prompts and ``output``-token outputs, the decode at
    ``context`` cached tokens: the steps of :func:`admissions`, weighted."""
    steps = tuple((w, target.simulate(sustained(step_trace(model, batch, context, prompt, k,
                                                           **options))))
                  for k, w in admissions(batch, prompt, output))
    energies = [r.energy_j for _, r in steps]
    return SteadyState(
        seconds=sum(w * r.latency_s for w, r in steps),
        energy_j=None if any(e is None for e in energies)
        else sum(w * float(e) for (w, _), e in zip(steps, energies, strict=True)),
        steps=steps)
