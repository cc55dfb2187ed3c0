"""attention (SDPA with GQA, causal mask, sliding window, sinks): FlashAttention-2
prefill, split-KV decode.

Layouts: Q [B,Hq,Sq,D], K/V [B,Hkv,Skv,D], O [B,Hq,Sq,D]; scale 1/sqrt(D); query r sits
at position Skv - Sq + r (the new tokens are the last Sq of the context).

A sliding window W (Mistral, GPT-OSS's alternate layers) lets the query at position p see
keys p - W < k <= p: prefill visits only the key blocks inside the window (the band of
the causal triangle), decode only the last W keys. Sinks (GPT-OSS) are a learned logit per
query head, ``sinks`` [Hq], that joins each softmax denominator and has no value: the
online softmax starts from (m, l) = (sink, 1) instead of (-inf, 0), and split-KV decode
adds exp(sink - M) to the combined denominator.

The kernels, one module each: :mod:`.prefill` (FlashAttention-2 on plain RVV, vectorised
over queries), :mod:`.tiles` (FlashAttention-2 on Xattn vfwmmacc tiles), :mod:`.decode`
(split-KV decode sharing K/V across the GQA group); :mod:`.schedule` holds what they share
(the head loops and the causal triangle's constant-shape pieces).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa
from isa.kernels import ggml_attention, ggml_fa_tiled, ggml_kq
from isa.kernels.attention.decode import decode
from isa.kernels.attention.prefill import prefill
from isa.kernels.attention.schedule import Masking
from isa.kernels.attention.tiles import mmacc_tile, prefill_mmacc
from isa.kernels.common import Kc, op_of, positive
from isa.program import Program

__all__ = ["lower", "mmacc_tile"]


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op_of(row, "attention", ("sdpa",))
    bsz, hq, hkv, sq, skv, d = positive(row, "B", "Hq", "Hkv", "Sq", "Skv", "D")
    causal = bool(row.get("causal", False))
    if hq % hkv:
        raise IsaError(f"attention needs Hq ({hq}) to be a multiple of Hkv ({hkv})")
    if sq > skv:
        raise IsaError(f"attention needs Sq ({sq}) <= Skv ({skv})")
    sinks = bool(row.get("sinks", False))
    window = int(row.get("window", 0) or 0)
    if window < 0:
        raise IsaError(f"attention window must be >= 0 (0: none), got {window}")
    if not 0 < window < skv:  # with Skv <= window the window masks nothing: plain causal
        window = 0
    if window and not causal:
        raise IsaError(f"a sliding window (window {window}) is causal; got causal=False")
    if (core is not None and core.library == "snitch" and sq > 1 and not causal
            and not sinks and not window):  # snitch_cluster's FA-2 (non-causal prefill)
        from isa.kernels import snitch
        return snitch.lower_attention(row, isa, core)
    kc = Kc(f"attention B={bsz} Hq={hq} Hkv={hkv} Sq={sq} Skv={skv} D={d}"
            f"{' causal' if causal else ''}{f' window={window}' if window else ''}"
            f"{' sinks' if sinks else ''}", isa, core)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("Q", dt, bsz * hq * sq * d, "in", (bsz, hq, sq, d))
    b.buffer("K", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    ggml_graph = (kc.core.library == "llamacpp" and not kc.core.flash_attn
                  and ggml_kq.usable(causal, window, sinks))
    if ggml_graph:  # llama.cpp keeps V transposed in the cache without flash attention
        b.buffer("Vt", dt, bsz * hkv * d * skv, "in", (bsz, hkv, d, skv))
    else:
        b.buffer("V", dt, bsz * hkv * skv * d, "in", (bsz, hkv, skv, d))
    if sinks:
        b.buffer("sinks", dt, hq, "in", (hq,))
    b.buffer("O", dt, bsz * hq * sq * d, "out", (bsz, hq, sq, d))
    mask = Masking(causal, window, sinks)
    if ggml_fa_tiled.usable(kc.core, sq, d, causal, window, sinks):
        return ggml_fa_tiled.lower(kc, bsz, hq, hkv, sq, skv, d)
    if (kc.core.library == "llamacpp" and kc.core.flash_attn
            and ggml_attention.usable(sq, causal, window, sinks)):
        return ggml_attention.lower(kc, bsz, hq, hkv, sq, skv, d)
    if ggml_graph:
        return ggml_kq.lower(kc, bsz, hq, hkv, sq, skv, d, causal)
    if sq == 1:
        decode(kc, bsz, hq, hkv, skv, d, mask)
        phase = "decode"
    else:
        t = mmacc_tile(kc, sq, skv, d, causal, window)
        if t is not None:
            prefill_mmacc(kc, t, bsz, hq, hkv, sq, skv, d, mask)
            if sq % t.k:  # the last Sq mod Br queries: one RVV query block
                prefill(kc, bsz, hq, hkv, sq, skv, d, mask, q0=sq - sq % t.k)
        else:
            prefill(kc, bsz, hq, hkv, sq, skv, d, mask)
        phase = "prefill"
    return kc.program(kind="attention", phase=phase)
