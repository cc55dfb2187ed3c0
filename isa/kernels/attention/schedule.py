"""The loop structure the attention kernels share: what is masked, head loops, the causal
triangle of query/key block pairs cut into constant-shape pieces, and the query blocks of
a sliding window."""

from __future__ import annotations

from dataclasses import dataclass

from isa.errors import IsaError
from isa.kernels.common import Kc


@dataclass(frozen=True)
class Masking:
    """Which keys a query sees and what else joins its softmax: ``causal`` (keys up to its
    own position), ``window`` > 0 (only the ``window`` - 1 keys before it besides itself;
    0 when the window covers every key) and ``sinks`` (a learned logit per query head in
    the denominator)."""

    causal: bool = False
    window: int = 0
    sinks: bool = False


@dataclass(frozen=True)
class WindowBlocks:
    """The query blocks of a windowed causal prefill, in three groups: blocks [0, plain)
    whose keys all lie inside every row's window (plain causal: the compact triangle
    schedule), blocks [plain, steady) whose window reaches before key 0 (clipped: each its
    own code), and blocks [steady, n) that all see the same relative keys (one loop)."""

    plain: int
    steady: int
    n: int


def window_blocks(n: int, br: int, off: int, window: int, lowest: int) -> WindowBlocks:
    """``n`` blocks of ``br`` queries, block i at position off + i*br; ``lowest`` is the
    first key a steady block visits relative to its first query (<= 1 - window)."""
    if window < br:
        raise IsaError(f"sliding window {window} is narrower than a query block of {br} "
                       "rows: no kernel (a window this small would mask inside the band)")
    plain = 0
    while plain < n and off + (plain + 1) * br <= window:
        plain += 1
    steady = plain
    while steady < n and off + steady * br + lowest < 0:
        steady += 1
    return WindowBlocks(plain, steady, n)


def heads(kc: Kc, bsz: int, hq: int, hkv: int):
    """(loop stack, query head, kv head, query head within the batch) as affine expressions
    inside nested head loops."""
    grp = hq // hkv
    from contextlib import ExitStack
    stack = ExitStack()
    bi = stack.enter_context(kc.rep("b", bsz))
    kh = stack.enter_context(kc.rep("h", hkv))
    gq = stack.enter_context(kc.rep("g", grp))
    return stack, bi * hq + kh * grp + gq, bi * hkv + kh, kh * grp + gq


def lower_triangle(kc: Kc, nblk: int, br: int, off: int, visit) -> None:
    """The block pairs (i, j < i) of ``nblk`` query blocks of ``br`` rows against the key
    blocks of the new tokens, as dyadic squares: i and j first differ in bit l, so the
    square of size S = 2^l holding (i, j) has query blocks [(2s+1)S, (2s+2)S) and key
    blocks [2sS, (2s+1)S). Level l is one loop over its full squares x their S query
    blocks (+ one loop for a clipped last square): ``visit(block, first key, keys)`` with
    a constant key count per level, every pair exactly once."""
    size = 1
    while size < nblk:
        size *= 2
    size //= 2
    while size >= 1:
        nsqr = nblk // (2 * size)
        groups = [(nsqr, size)] if nsqr else []
        r0 = (2 * nsqr + 1) * size
        if r0 < nblk:
            groups.append((1, nblk - r0))
        base = 0
        for count, rows in groups:
            with kc.rep("sqr", count, ptrs=2) as s, kc.rep("qi", rows, ptrs=2) as qi:
                blk = s * (2 * size) + qi + (base * 2 + 1) * size
                visit(blk, (s * (2 * size) + base * 2 * size) * br + off, size * br)
            base += count
        size //= 2
