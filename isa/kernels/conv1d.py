"""conv1d: the causal depthwise convolution of Gated DeltaNet (qwen.md 4.2), no activation.

``causal_conv1d`` (prefill): y[t, c] = sum_i w[i, c] x[t - W + 1 + i, c], zero left padding
(transformers ``causal_conv1d_fn`` with ``activation=None``).
``causal_conv1d_update`` (decode): the rolling state holds the last W inputs; the Sq new
tokens are appended, y for each new token is the dot product with the last W entries, and
the state keeps the last W (transformers ``causal_conv1d_update``).

Layouts: channels are the vector dimension (the projection output is token-major):
x, y [B, Sq, N]; weights tap-major ``w[W, N]`` (packed once, offline, like GEMM weights);
state tap-major [B, W, N] (private to the kernel between decode steps). All unit-stride.
The W weight vectors of a channel strip stay in registers for the whole sequence; each
token costs W loads + W FMAs + 1 store per strip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from isa.core import Core
from isa.errors import IsaError
from isa.instructions import Isa
from isa.kernels.common import Kc, op_of, positive
from isa.program import Affine, Program, V

OPS = ("causal_conv1d", "causal_conv1d_update")


def lower(row: Mapping[str, Any], isa: Isa | str, core: Core | None = None) -> Program:
    op = op_of(row, "conv1d", OPS)
    bsz, n, t, w = positive(row, "B", "N", "Sq", "W")
    lmul = 4 if w <= 5 else 2
    ngroups = (32 - 4) // lmul  # v0-v3: mask and BF16 staging registers
    if w + 2 > ngroups:
        raise IsaError(f"conv1d width W={w} too large: at most {ngroups - 2} taps are "
                       "held in registers")
    kc = Kc(f"conv1d {op} B={bsz} N={n} Sq={t} W={w}", isa, core, lmul=lmul)
    b = kc.b
    dt = kc.core.dtype
    b.buffer("x", dt, bsz * t * n, "in", (bsz, t, n))
    b.buffer("w", dt, w * n, "in", (w, n))
    if op == "causal_conv1d_update":
        b.buffer("state", dt, bsz * w * n, "inout", (bsz, w, n))
    b.buffer("y", dt, bsz * t * n, "out", (bsz, t, n))
    groups = [V(4 + lmul * i) for i in range(ngroups)]
    wr, acc, xr = groups[:w], groups[w], groups[w + 1]

    with kc.rep("b", bsz) as bi:
        def strip(off: Affine, vl: int) -> None:
            for i in range(w):
                kc.load(wr[i], "w", i * n + off)

            def src(p: int | Affine) -> tuple[str, Affine]:
                """Row ``p`` of the (state ++ x) sequence of the update, or of x."""
                if op == "causal_conv1d_update":
                    if isinstance(p, int) and p < w:
                        return "state", bi * (w * n) + p * n + off
                    return "x", bi * (t * n) + (p - w) * n + off
                return "x", bi * (t * n) + p * n + off

            def token(tt: int | Affine, first_tap: int) -> None:
                """y[tt] from taps first_tap..W-1 (earlier taps fall on the zero padding)."""
                for i in range(first_tap, w):
                    p = (tt + 1 + i) if op == "causal_conv1d_update" else (tt - w + 1 + i)
                    buf, o = src(p)
                    kc.load(xr, buf, o)
                    if i == first_tap:
                        b.emit("vfmul.vv", acc, xr, wr[i])
                    else:
                        b.emit("vfmacc.vv", acc, xr, wr[i])
                kc.store(acc, "y", bi * (t * n) + tt * n + off)

            if op == "causal_conv1d":
                lead = min(t, w - 1)  # tokens whose window starts in the padding
                for tt in range(lead):
                    token(tt, w - 1 - tt)
                if t > lead:
                    with kc.rep("t", t - lead, ptrs=3) as ti:
                        token(ti + lead, 0)
            else:
                # windows that reach into the old state: straight-line; then x only
                lead = min(t, w - 1)
                for tt in range(lead):
                    token(tt, 0)
                if t > lead:
                    with kc.rep("t", t - lead, ptrs=3) as ti:
                        # p = tt + 1 + i >= w for tt >= w - 1: x rows only
                        for i in range(w):
                            kc.load(xr, "x", bi * (t * n) + (ti + lead + 1 + i - w) * n + off)
                            b.emit("vfmul.vv" if i == 0 else "vfmacc.vv", acc, xr, wr[i])
                        kc.store(acc, "y", bi * (t * n) + (ti + lead) * n + off)
                # roll: new state[k] = (state ++ x)[t + k]; ascending k reads ahead of writes
                for k in range(w):
                    buf, o = src(t + k)
                    kc.load(xr, buf, o)
                    kc.store(xr, "state", bi * (w * n) + k * n + off)
        kc.strips(n, "j", strip)
    return kc.program(kind="conv1d", op=op)
