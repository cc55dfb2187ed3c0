"""The loop structure the attention kernels share: head loops, and the causal triangle of
query/key block pairs cut into constant-shape pieces."""

from __future__ import annotations

from isa.kernels.common import Kc


def heads(kc: Kc, bsz: int, hq: int, hkv: int):
    """Yields (query head, kv head) as affine expressions inside nested head loops."""
    grp = hq // hkv
    from contextlib import ExitStack
    stack = ExitStack()
    bi = stack.enter_context(kc.rep("b", bsz))
    kh = stack.enter_context(kc.rep("h", hkv))
    gq = stack.enter_context(kc.rep("g", grp))
    return stack, bi * hq + kh * grp + gq, bi * hkv + kh


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
