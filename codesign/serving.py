"""A continuously batched server's steady-state step: the decode of the running sequences
and the prefill of the prompts admitted in their place, in one mixed batch.

A server that keeps ``batch`` sequences running (vLLM's ``max_num_seqs``) admits a waiting
request whenever one finishes. With requests of ``output`` tokens, ``batch / output`` of
them finish per step on average, and the prompts that replace them bring
``batch x prompt / output`` prompt tokens per step (:func:`prefill_tokens_per_step`).
vLLM's V1 scheduler has no prefill or decode phase: each step it gives every running
request the tokens it still needs, new prompts included, within the step's token budget
(vllm/v1/core/sched/scheduler.py, ``Scheduler.schedule``: "There's no 'decoding phase'
nor 'prefill phase' in the scheduler"; chunked prefill is always on in V1: vLLM blog
2025-01-27 "vLLM V1", §"Simplified scheduler"), so those prompt tokens run in the same
forward pass as the decode tokens.

The step (:func:`step_trace`) is the mean over steps (a mean-field model): every op that
works token by token (the GEMMs, norms, activations, RoPE, KV-cache writes) sees the
``batch`` decode tokens and the prefill tokens as one batch of rows, so the GEMMs read
their weights once for both; attention runs per sequence: the decode sequences over their
KV cache, and the prefill tokens as chunks at the end of prompts of ``prompt`` tokens;
the logits are computed for the ``batch`` sampled positions (each running sequence yields
one output token per step, an admitted prompt's first token in place of a finished
sequence's).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from codesign.errors import CodesignError
from workloads import costs
from workloads.schema import Trace

# kinds whose op mixes the positions of a sequence: run per sequence, not per token
SEQUENCE_KINDS = ("attention", "linear_attention", "conv1d")


def prefill_tokens_per_step(batch: int, prompt: int, output: int) -> int:
    """Prompt tokens a steady-state step carries: ``batch / output`` requests finish per
    step, each replaced by a prompt of ``prompt`` tokens (rounded to whole tokens)."""
    if prompt < 0 or (prompt > 0 and output < 1) or batch < 1:
        raise CodesignError(f"a serving step needs batch >= 1, prompt >= 0 and output >= 1 "
                            f"with a prompt; got batch {batch}, prompt {prompt}, "
                            f"output {output}")
    return round(batch * prompt / output) if prompt > 0 else 0


def prefill_chunks(tokens: int, prompt: int) -> tuple[int, int]:
    """The prefill tokens as ``(chunks, tokens per chunk)``: as few chunks as hold them
    with none longer than a prompt (the chunk count times its length may exceed
    ``tokens`` by less than the chunk count)."""
    n = -(-tokens // prompt)
    return n, -(-tokens // n)


def chunk_attention(row: dict[str, Any], prompt: int) -> dict[str, Any]:
    """A prefill trace's attention row (its ``Sq`` = ``Skv`` new tokens per sequence)
    as the last ``Sq`` tokens of prompts of ``prompt`` tokens: the queries also see the
    prompt's earlier keys. FLOPs from the trace's count; the keys and values read grow with
    the keys (the row reads Q, K and V and writes O, the size of Q)."""
    if row["kind"] != "attention" or prompt <= int(row["Skv"]):
        return row
    out = {**row, "Skv": prompt}
    out["flops"] = costs.op_flops(out)
    q = int(row["bytes_written"])
    out["bytes_read"] = q + (int(row["bytes_read"]) - q) * prompt // int(row["Skv"])
    return out


def mixed_rows(decode: Trace, tokens: Trace, prefill: Trace, prompt: int) -> pd.DataFrame:
    """The rows of a mixed step from three traces of the same model with the same rows:
    ``decode`` (the running sequences), ``tokens`` (a decode trace with the decode and
    prefill tokens as its batch: the per-token ops of both) and ``prefill`` (the prefill
    chunks). A row whose FLOPs add up (per token) comes from ``tokens``; a sequence kind's
    row is the decode's and the prefill chunk's (at ``prompt``); any other row (the logits
    of the sampled positions, the step's position tables) is the decode's."""
    d, t, p = (tr.ops.to_dict("records") for tr in (decode, tokens, prefill))
    def same(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> bool:
        return (a["module"], a["name"]) == (b["module"], b["name"]) == (c["module"], c["name"])

    if not len(d) == len(t) == len(p) or not all(map(same, d, t, p)):
        raise CodesignError(f"the decode and prefill traces of {decode.model!r} differ in "
                            "their ops: a mixed serving step needs the same ops in both")
    rows: list[dict[str, Any]] = []
    for dr, tr, pr in zip(d, t, p, strict=True):
        if dr["kind"] in SEQUENCE_KINDS:
            rows.extend([dr, {**chunk_attention(pr, prompt), "name": f"{pr['name']}.prefill"}])
        elif int(tr["flops"]) == int(dr["flops"]) + int(pr["flops"]):
            rows.append(tr)
        else:
            rows.append(dr)
    df = pd.DataFrame(rows)
    df["op_id"] = range(len(df))
    return df


def step_trace(model: str, batch: int, context: int, prompt: int, output: int,
               **options: Any) -> Trace:
    """A steady-state serving step: ``batch`` sequences decoding over ``context`` cached
    tokens, plus :func:`prefill_tokens_per_step` prompt tokens of the prompts admitted
    (``prompt`` tokens each, for requests of ``output`` tokens). No prompt (``prompt`` 0)
    is the decode step itself. ``options`` go to the traces (``weight_dtype``,
    ``routing``)."""
    from codesign.api import trace

    decode = trace(model, phase="decode", batch=batch, context=context, **options)
    admitted = prefill_tokens_per_step(batch, prompt, output)
    if admitted == 0:
        return decode
    chunks, chunk = prefill_chunks(admitted, prompt)
    tokens = trace(model, phase="decode", batch=batch + chunks * chunk, context=context,
                   **options)
    prefill = trace(model, phase="prefill", batch=chunks, seq=chunk, **options)
    scenario = {**decode.meta["scenario"]}
    meta = {**decode.meta, "scenario": scenario,
            "serving": {"prompt": prompt, "output": output, "prefill_tokens": chunks * chunk,
                        "prefill_chunks": chunks}}
    return Trace(mixed_rows(decode, tokens, prefill, prompt), meta)
