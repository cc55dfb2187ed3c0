"""The lowering memo (codesign.riscv.lowering): a program lowered for one config serves
another only where the kernel's every question to its ISA and core has the same answer."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.riscv import lowering, make, replay
from codesign.riscv.replay import candidate_ways
from isa import kernels
from isa.core import Core
from isa.program import Builder, Program, X
from workloads.schema import Op

# configs a sweep crosses: ISA subsets, VLEN, DLEN, the kernel library and GEMM blocking
CONFIGS = [("c950-like", {}), ("c950-like+xattn", {}), ("c950-like+xattn:vfexp", {}),
           ("c950-like+xattn:mmacc", {}), ("c950-like+xattn:segred,vfrec", {}),
           ("c950-like", {"vector.dlen": 128}), ("c950-like+xattn", {"vector.dlen": 64}),
           ("c950-like", {"vector.vlen": 1024}), ("c950-like+xattn", {"vector.vlen": 256}),
           ("c950-like", {"kernel.library": "llamacpp"}), ("x280-like+xattn", {}),
           ("spacemit-k1+ime", {})]


def _direct(shard: Op, cfg, nc: int) -> Program:
    return kernels.lower(shard, cfg.parsed_isa, cfg.core(replay._DTYPES[shard.dtype or "bf16"],
                                                         nc))


def _same_program(a: Program, b: Program) -> None:
    assert a.asm() == b.asm()  # the header names the ISA: each config's own
    assert a.isa == b.isa and a.vlen == b.vlen and a.name == b.name
    assert a.signature() == b.signature()
    assert a.buffers == b.buffers and a.meta == b.meta
    assert a.consts.keys() == b.consts.keys()
    assert all(np.array_equal(a.consts[k], b.consts[k]) for k in a.consts)


@pytest.mark.parametrize("trace", ["tiny_prefill", "tiny_moe_decode"])
def test_memoized_programs_are_the_programs_each_config_lowers(trace, request):
    ops = request.getfixturevalue(trace).ops
    shapes = {replay._shape_key(Op.from_row(r)): None for r in ops.to_dict("records")}
    lowering.clear()
    compared = 0
    for name, overrides in CONFIGS:
        cfg = make(name, overrides).config
        for op in shapes:
            for shard, cores in candidate_ways(op, cfg):
                for nc in cfg.gemm_nc_choices(cores) if op.kind == "gemm" else (0,):
                    try:
                        direct = _direct(shard, cfg, nc)
                    except Exception as exc:  # no kernel: the memo must refuse it alike
                        with pytest.raises(replay.MissingKernel, match=str(exc)[:30]):
                            replay.lower(shard, cfg, nc)
                        continue
                    memo, entry = replay._lower_signed(shard, cfg, nc)
                    _same_program(memo, direct)
                    assert entry.signature() == direct.signature()
                    compared += 1
    assert compared > 100
    lowered = lowering._MEMO.programs
    assert lowered < compared / 2  # most programs came from the memo


def _counting(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = kernels.lower

    def spy(op, isa, core):
        calls.append(op["kind"])
        return real(op, isa, core)
    monkeypatch.setattr(kernels, "lower", spy)
    return calls


def test_a_kernel_that_asks_alike_is_lowered_once(monkeypatch):
    lowering.clear()
    calls = _counting(monkeypatch)
    gemv = Op(name="g", kind="gemm", op="matmul", M=1, N=512, K=4096, dtype="bf16")
    progs = [replay.lower(gemv, make(name, overrides).config)
             for name, overrides in [("c950-like", {}), ("c950-like+xattn:vfexp", {}),
                                     ("c950-like+xattn:segred,vfrec", {}),
                                     ("c950-like", {"vector.dlen": 128})]]
    # a GEMV uses no vfexp, segmented reduction or vfrec, and its RVV kernel never reads
    # DLEN: one lowering, each copy with its own ISA
    assert calls == ["gemm"]
    assert [p.isa.name for p in progs] == ["rvv", "rvv+xattn:vfexp",
                                           "rvv+xattn:segred,vfrec", "rvv"]
    replay.lower(gemv, make("c950-like", {"vector.vlen": 1024}).config)
    assert len(calls) == 2  # another VLEN: another program
    replay.lower(gemv, make("c950-like+xattn:vfexp", {"vector.vlen": 1024}).config)
    assert len(calls) == 2


def _toy(op, isa, core) -> Program:
    """A kernel that reads VLEN and DLEN and asks for one instruction."""
    b = Builder("toy", isa, core.vlen)
    for _ in range(core.dlen // 32):
        b.emit("addi", X(10), X(10), 1)
    return b.program()


def test_another_answer_to_a_question_asked_lowers_again(monkeypatch):
    monkeypatch.setitem(kernels.KERNELS, "norm", _toy)  # a registry change: a new memo
    calls = _counting(monkeypatch)
    op = Op(name="t", kind="norm", op="rmsnorm", M=1, N=64, dtype="bf16")
    progs = {}
    for name, overrides in [("c950-like", {}), ("c950-like+xattn", {}),
                            ("c950-like", {"kernel.lmul": 2, "kernel.gemm_kc": 512}),
                            ("c950-like", {"vector.dlen": 128}),
                            ("c950-like+xattn", {"vector.dlen": 128})]:
        progs[name, tuple(overrides.items())] = replay.lower(op, make(name, overrides).config)
    # the ISA, LMUL and GEMM blocking were never asked about: one lowering per DLEN
    assert len(calls) == 2
    assert {p.static_size() for p in progs.values()} == {256 // 32, 128 // 32}
    assert progs["c950-like+xattn", ()].isa.name == "rvv+xattn"  # each caller's own ISA


def test_comparing_a_watched_core_depends_on_every_field(monkeypatch):
    def picky(op, isa, core):
        b = Builder("picky", None, 512)
        if core == Core(vlen=512, dlen=256, gemm_nc=core.gemm_nc):
            b.vsetvli(1, 32, 1)
        return b.program()
    monkeypatch.setitem(kernels.KERNELS, "norm", picky)
    calls = _counting(monkeypatch)
    op = Op(name="p", kind="norm", op="rmsnorm", M=1, N=64, dtype="bf16")
    a = replay.lower(op, make("c950-like", {"vector.vlen": 512, "vector.dlen": 256}).config)
    b = replay.lower(op, make("c950-like", {"vector.vlen": 512, "vector.dlen": 256,
                                            "kernel.attn_bc": 16}).config)
    assert len(calls) == 2  # attn_bc is compared, so asked
    assert (a.static_size(), b.static_size()) == (1, 0)  # and answered otherwise
