"""Steady-state extrapolation agrees with full instruction-by-instruction simulation.

For a small kernel of every kind the kernel library lowers, on plain RVV and with Xattn,
the hierarchical model (simulate each loop until its cycles per iteration are stable,
then extrapolate) must be within 2% of simulating every dynamic instruction, and must
actually have skipped work (fewer simulated instructions).
"""

from __future__ import annotations

import pytest

from codesign.riscv import make
from codesign.riscv.core import simulate
from isa import kernels
from isa.program import Builder, F, V, X
from workloads.schema import KINDS

BASE = {"G": 1, "dtype": "bf16", "causal": False}
SMALL: dict[str, list[dict]] = {
    # the second shape is big enough for the cache-blocked mmacc kernel to loop
    "gemm": [dict(op="matmul", M=1, N=256, K=96), dict(op="matmul", M=32, N=128, K=512)],
    "attention": [dict(op="sdpa", B=1, Hq=2, Hkv=1, Sq=1, Skv=256, D=64),
                  dict(op="sdpa", B=1, Hq=1, Hkv=1, Sq=32, Skv=64, D=32, causal=True)],
    "softmax": [dict(op="softmax", M=24, N=96)],
    "norm": [dict(op="rmsnorm", M=16, N=256), dict(op="gated_rmsnorm", M=16, N=128)],
    "activation": [dict(op="swiglu", M=2, N=1024), dict(op="silu", M=1, N=1024)],
    "elementwise": [dict(op="add", M=2, N=2048), dict(op="exp", M=1, N=1024)],
    "rope": [dict(op="rope", M=16, N=128, K=64)],
    "reduction": [dict(op="sum", M=24, N=256)],
    "copy": [dict(op="copy", M=16, N=512)],
    "conv1d": [dict(op="causal_conv1d_update", B=1, N=4096, Sq=1, W=4),
               dict(op="causal_conv1d", B=1, N=128, Sq=32, W=4)],
    "router": [dict(op="softmax_topk", M=16, N=64, topk=4)],
    "embedding": [dict(op="gather", M=64, N=2048, K=1000)],
    "linear_attention": [
        dict(op="recurrent_gated_delta_rule", B=1, Hq=2, Sq=1, Skv=64, D=128, Dv=128, chunk=0),
        dict(op="chunk_gated_delta_rule", B=1, Hq=1, Sq=64, Skv=0, D=32, Dv=32, chunk=16)],
}


def _cases():
    for kind in kernels.KERNELS:
        for i, shape in enumerate(SMALL.get(kind, [])):
            # spacemit-k1: finite outstanding misses (the miss-queue channels) and clusters
            for target in ("x280-like", "c950-like+xattn", "spacemit-k1"):
                yield pytest.param({**BASE, "kind": kind, **shape}, target,
                                   id=f"{kind}{i}-{shape['op']}-{target}")


def test_every_lowerable_kind_has_a_small_case():
    """A kind the kernel library gains must get a case here; kinds it lacks are declared."""
    assert set(kernels.KERNELS) <= set(SMALL)
    assert set(KINDS) <= set(kernels.KERNELS)


@pytest.mark.parametrize(("row", "target"), list(_cases()))
def test_extrapolation_matches_full_simulation(row, target):
    cfg = make(target).config
    prog = kernels.lower(row, cfg.isa, cfg.core(row["dtype"]))
    steady = simulate(prog, cfg)
    full = simulate(prog, cfg, mode="full")
    assert full.simulated_instructions == prog.counts().total
    assert steady.simulated_instructions < full.simulated_instructions
    assert steady.cycles == pytest.approx(full.cycles, rel=0.02)


@pytest.mark.parametrize(("row", "target"), list(_cases()))
def test_reused_steady_states_match_full_simulation(row, target):
    """``sim.reuse_steady`` (the default): a loop the program found steady before is
    extrapolated at that rate after the first iteration of each later entry; still within
    2% of simulating every instruction, and it never simulates more than re-confirming
    the rate on every entry (``sim.reuse_steady=false``)."""
    cfg = make(target).config
    assert cfg.sim.reuse_steady is True
    prog = kernels.lower(row, cfg.isa, cfg.core(row["dtype"]))
    reused = simulate(prog, cfg)
    full = simulate(prog, cfg, mode="full")
    confirmed = simulate(prog, make(target, {"sim.reuse_steady": False}).config)
    assert reused.simulated_instructions <= confirmed.simulated_instructions
    assert confirmed.cycles == pytest.approx(full.cycles, rel=0.02)
    assert reused.cycles == pytest.approx(full.cycles, rel=0.02)


def _nested(cfg, outer: int, inner: int):
    """An outer loop re-entering an inner one: a load and multiply-accumulate stream of
    ``inner`` iterations and a scalar step around it."""
    b = Builder("nested", cfg.parsed_isa, cfg.vector.vlen)
    b.buffer("a", "fp32", 1 << 16, "in")
    b.vsetvli(16, 32, 1)
    with b.loop("i", outer):
        b.emit("addi", X(5), X(5), 1)
        with b.loop("j", inner) as j:
            b.emit("vle32.v", V(8), b.mem("a", 16 * j, 32))
            b.emit("vfmacc.vf", V(16), F(1), V(8))
    return b.program()


def test_reuse_steady_simulates_one_iteration_of_a_known_loop():
    """With ``sim.reuse_steady`` a later entry of the inner loop, steady since its first
    entry, simulates one of its iterations: one more outer iteration costs exactly that
    iteration and the outer loop's own instructions; the default confirms the rate with
    more. On by default, and full simulation is unaffected."""
    on = make("x280-like").config
    off = make("x280-like", {"sim.reuse_steady": False}).config
    assert on.sim.reuse_steady is True
    inner = 200

    def count(cfg, outer):
        return simulate(_nested(cfg, outer, inner), cfg).simulated_instructions

    body = _nested(on, 1, inner).body[-1]  # the outer loop
    inner_loop = body.body[1]
    one_inner = len(inner_loop.body)  # its instructions, loop control included
    own = len(body.body) - 1  # the outer iteration's instructions outside the inner loop
    assert count(on, 6) - count(on, 5) == one_inner + own
    assert count(off, 6) - count(off, 5) > one_inner + own
    prog = _nested(on, 6, inner)
    full = simulate(prog, off, mode="full").cycles
    assert simulate(prog, on, mode="full").cycles == full
    assert simulate(prog, on).cycles == pytest.approx(full, rel=0.02)
