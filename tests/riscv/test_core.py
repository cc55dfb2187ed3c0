"""Single-instruction micro-benchmarks on x280-like reproduce the vendor's timing row by
row: riscv.md §4.1 (LLVM's SiFive7 model), with LLVM 22's refinements where it differs
(vrgather.vv, vector-to-scalar moves, shift and multiply latency; every form is checked
against llvm-mca 22 itself in test_mca.py).

Occupancy: eight independent copies of an instruction back to back; the sequencer holds
each for its occupancy, so consecutive start cycles differ by exactly that.
Latency: a producer and a dependent consumer of the same occupancy; with chaining the
consumer starts exactly ``latency`` cycles after the producer.
The expected numbers below are typed from the riscv.md §4.1 table (VLEN=512, DLEN=256,
"chunks" = 2*LMUL) and from llvm-mca 22 (-mcpu=sifive-x280) where marked, not computed by
the model's code.
"""

from __future__ import annotations

import itertools

import pytest

from codesign.riscv import make
from codesign.riscv.core import busy_floor, simulate
from isa.instructions import parse_isa
from isa.program import Builder, F, V, X

X280 = make("x280-like+xattn").config
ISA = parse_isa("rvv+xattn")


def _builder(sew: int, lmul: int, vl: int | None = None) -> Builder:
    b = Builder("micro", ISA, 512)
    # scratch buffers are L1-resident (codesign.riscv.memory): the table is for L1 hits
    b.buffer("m", "fp32", 1 << 11, "scratch")  # 8 KiB each: fit the 32 KiB L1D
    b.buffer("h", "bf16", 1 << 11, "scratch")
    b.buffer("d", "fp64", 1 << 10, "scratch")
    vlmax = lmul * 512 // sew
    b.vsetvli(vl or vlmax, sew, lmul)
    return b


def _starts(b: Builder) -> list[float]:
    stats = simulate(b.program(), X280, mode="full", log=True)
    return [s for _, _, s, _ in stats.log]


def _mem(b: Builder, sew: int, pattern: str = "unit", stride: int = 1):
    buf = {16: "h", 32: "m", 64: "d"}[sew]
    return b.mem(buf, 0, sew, pattern, stride)


# (mnemonic, operand builder(dst, src) -> args, sew, lmul, expected occupancy)
def _vv(d, s, b):
    return (V(d), V(s), V(s))


def _vf(d, s, b):
    return (V(d), V(s), F(1))


def _fma_vf(d, s, b):
    return (V(d), F(1), V(s))


def _v(d, s, b):
    return (V(d), V(s))


def _red(d, s, b):
    return (V(d), V(s), V(s))


OCCUPANCY = [
    # riscv.md §4.1 row: vfadd/vfmul/vfmacc/vfmadd: occupancy 2*LMUL
    ("vfadd.vv", _vv, 32, 1, 2), ("vfadd.vv", _vv, 32, 8, 16), ("vfmul.vf", _vf, 32, 2, 4),
    ("vfmacc.vf", _fma_vf, 32, 4, 8), ("vfmadd.vv", _vv, 32, 1, 2),
    # vfmin/vfmax/vfsgnj/vfmv: 2*LMUL
    ("vfmax.vv", _vv, 32, 1, 2), ("vfmin.vf", _vf, 32, 8, 16),
    # int ALU: 2*LMUL
    ("vadd.vv", _vv, 32, 1, 2), ("vsll.vv", _vv, 32, 4, 8),
    # compares: 2*LMUL
    ("vmflt.vv", _vv, 32, 1, 2), ("vmflt.vv", _vv, 32, 8, 16),
    # vfredusum/vfredmax: occupancy = latency = 2*LMUL + 5*(4 + log2(DLEN/SEW))
    ("vfredusum.vs", _red, 32, 1, 37), ("vfredusum.vs", _red, 32, 8, 51),
    ("vfredmax.vs", _red, 16, 1, 42), ("vfredmax.vs", _red, 64, 1, 32),
    # vfredosum: 6*VLMAX: e32 m1 = 96, m8 = 768
    ("vfredosum.vs", _red, 32, 1, 96), ("vfredosum.vs", _red, 32, 8, 768),
    # vfdiv/vfsqrt: f32 28*VLMAX/4 (e32 m1: 112), f16 15*VLMAX/4, f64 57*VLMAX/4
    ("vfdiv.vv", _vv, 32, 1, 112), ("vfsqrt.v", _v, 16, 1, 120), ("vfdiv.vv", _vv, 64, 1, 114),
    # vrgather.vv: VLMAX + 4 (llvm-mca 22: e32 m1 20, m2 36); vrgather.vx, vslide: 2*LMUL
    ("vrgather.vv", _vv, 32, 1, 20), ("vrgather.vv", _vv, 32, 2, 36),
    ("vslidedown.vi", lambda d, s, b: (V(d), V(s), 1), 32, 2, 4),
    # vmv.x.s / vfmv.f.s: occupancy 3 (llvm-mca 22; 1 in riscv.md's older table)
    ("vfmv.f.s", lambda d, s, b: (F(2 + d % 8), V(s)), 32, 1, 3),
]


@pytest.mark.parametrize(("op", "args", "sew", "lmul", "occ"), OCCUPANCY,
                         ids=[f"{o[0]}-e{o[2]}m{o[3]}" for o in OCCUPANCY])
def test_occupancy_matches_sifive7_table(op, args, sew, lmul, occ):
    b = _builder(sew, lmul)
    src = 24
    dsts = [g * lmul for g in range(8) if g * lmul < 24 and g * lmul != 0] * 2
    for d in dsts[:8]:
        b.emit(op, *args(d, src, b))
    starts = _starts(b)
    gaps = {round(t1 - t0, 6) for t0, t1 in itertools.pairwise(starts)}
    assert gaps == {occ}


MEM_OCCUPANCY = [
    # vle/vse unit-stride: 2*LMUL on VL/VS (DLEN bits per cycle)
    ("vle32.v", 32, 1, "unit", 2), ("vle32.v", 32, 8, "unit", 16),
    ("vse32.v", 32, 4, "unit", 8), ("vle16.v", 16, 2, "unit", 4),
    # vlse/vsse strided: VLMAX (1 element/cycle)
    ("vlse32.v", 32, 1, "strided", 16), ("vlse32.v", 32, 4, "strided", 64),
    ("vsse32.v", 32, 2, "strided", 32), ("vlse16.v", 16, 1, "strided", 32),
]


@pytest.mark.parametrize(("op", "sew", "lmul", "pattern", "occ"), MEM_OCCUPANCY,
                         ids=[f"{o[0]}-e{o[1]}m{o[2]}" for o in MEM_OCCUPANCY])
def test_memory_occupancy_matches_sifive7_table(op, sew, lmul, pattern, occ):
    b = _builder(sew, lmul)
    for g in range(1, 8):
        reg = (g * lmul) % 32
        b.emit(op, V(reg), _mem(b, sew, pattern, 3 if pattern == "strided" else 1))
    starts = _starts(b)
    gaps = {round(t1 - t0, 6) for t0, t1 in itertools.pairwise(starts)}
    assert gaps == {occ}


LATENCY = [
    # (producer, consumer, sew, lmul, expected start-to-start latency)
    # FP arithmetic and conversions: 8
    (("vfadd.vv", _vv), ("vfadd.vv", _vv), 32, 1, 8),
    # at m8 the producer holds the single VA sequencer for 16 cycles, so the latency is
    # seen by a consumer on another sequencer: a store of the result
    (("vfmacc.vf", _fma_vf), ("vse32.v", lambda d, s, b: (V(s), _mem(b, 32))), 32, 8, 8),
    (("vfcvt.x.f.v", _v), ("vfadd.vv", _vv), 32, 2, 8),
    # vfmin/vfmax/vfsgnj/vfmv: 4
    (("vfmax.vv", _vv), ("vfadd.vv", _vv), 32, 1, 4),
    (("vfsgnjn.vv", _vv), ("vfadd.vv", _vv), 32, 1, 4),
    # int ALU: 4
    (("vadd.vv", _vv), ("vadd.vv", _vv), 32, 1, 4),
    # compares: 2*LMUL + 3 (mask results do not chain): m1 5, m4 11, m8 19
    (("vmflt.vv", lambda d, s, b: (V(0), V(s), V(s))),
     ("vfadd.vv", lambda d, s, b: (V(d), V(s), V(s))), 32, 1, 5),
    (("vmflt.vv", lambda d, s, b: (V(0), V(s), V(s))),
     ("vfadd.vv", lambda d, s, b: (V(d), V(s), V(s))), 32, 4, 11),
    (("vmflt.vv", lambda d, s, b: (V(0), V(s), V(s))),
     ("vfadd.vv", lambda d, s, b: (V(d), V(s), V(s))), 32, 8, 19),
    # reductions: e32 m1 37, m8 51; e16 m1 42
    (("vfredusum.vs", _red), ("vfadd.vv", _vv), 32, 1, 37),
    (("vfredmax.vs", _red), ("vfadd.vv", _vv), 32, 8, 51),
    (("vfredusum.vs", _red), ("vfadd.vv", _vv), 16, 1, 42),
    # vfredosum e32 m1: 96
    (("vfredosum.vs", _red), ("vfadd.vv", _vv), 32, 1, 96),
    # vfdiv e32 m1: 112 (7 cycles/element)
    (("vfdiv.vv", _vv), ("vfadd.vv", _vv), 32, 1, 112),
    # shifts: 8 (llvm-mca 22; 4 in riscv.md's older table)
    (("vsll.vv", _vv), ("vadd.vv", _vv), 32, 1, 8),
    # vrgather.vx: 8; vslide: 4 (vrgather.vv's 7 + DLEN/SEW is below its own occupancy,
    # so its consumers wait for its element groups: checked in test_mca.py)
    (("vrgather.vx", lambda d, s, b: (V(d), V(s), X(6))), ("vfadd.vv", _vv), 32, 1, 8),
    (("vslidedown.vi", lambda d, s, b: (V(d), V(s), 1)), ("vfadd.vv", _vv), 32, 1, 4),
    # Xattn (riscv.md §6): vfexp FP32 8, BF16 6; vfexpsub +1; segred 4 + 3*log2(G)
    (("vfexp.v", _v), ("vfadd.vv", _vv), 32, 1, 8),
    (("vfexp.v", _v), ("vfadd.vv", _vv), 16, 1, 6),
    (("vfexpsub.vf", lambda d, s, b: (V(d), V(s), F(1))), ("vfadd.vv", _vv), 32, 1, 9),
    (("vfsegredsum.vv", lambda d, s, b: (V(d), V(s), 8)), ("vfadd.vv", _vv), 32, 1, 13),
]


@pytest.mark.parametrize(("prod", "cons", "sew", "lmul", "lat"), LATENCY,
                         ids=[f"{p[0]}-e{s}m{m}" for p, _, s, m, _ in LATENCY])
def test_latency_matches_table(prod, cons, sew, lmul, lat):
    b = _builder(sew, lmul)
    d = 8
    b.emit(prod[0], *prod[1](d, 16, b))
    produced = 0 if prod[0].startswith("vmf") else d
    b.emit(cons[0], *cons[1](24, produced, b))
    s = _starts(b)
    assert s[1] - s[0] == lat


@pytest.mark.parametrize(("op", "sew", "lmul", "pattern", "lat"), [
    ("vle32.v", 32, 1, "unit", 4),        # vle latency 4
    ("vle32.v", 32, 8, "unit", 4),
    ("vlse32.v", 32, 1, "strided", 19),   # 3 + VLMAX (16)
    ("vlse32.v", 32, 2, "strided", 35),   # 3 + 32
    ("vlse16.v", 16, 1, "strided", 35),   # 3 + 32
])
def test_load_latency_matches_table(op, sew, lmul, pattern, lat):
    b = _builder(sew, lmul)
    b.emit(op, V(8), _mem(b, sew, pattern, 5 if pattern == "strided" else 1))
    b.emit("vadd.vv" if sew == 16 else "vfadd.vv", V(16), V(8), V(8))
    s = _starts(b)
    assert s[1] - s[0] == lat


def test_vector_to_scalar_move_latency_is_11():
    """vfmv.f.s: latency 11 (llvm-mca 22 -mcpu=sifive-x280; riscv.md §4.1's older table
    says 4); the consumer reads f2 from the front end: the scalar round trip."""
    b = _builder(32, 1)
    b.emit("vfmv.f.s", F(2), V(8))
    b.emit("vfadd.vf", V(16), V(8), F(2))
    s = _starts(b)
    assert s[1] - s[0] == 11


def test_widening_fma_holds_2_lmul_of_its_source():
    """vfwmaccbf16.vf at e16 m2 (FP32 accumulators at EMUL 4): occupancy 2*LMUL = 4 of
    the BF16 source (riscv.md §4.1 "widening: 2*LMUL"; llvm-mca 22 sifive-x280: 4), not
    the 8 of its FP32 destination: 16 BF16 MACs per cycle at DLEN 256."""
    b = _builder(16, 2)
    for d in (4, 8, 12, 16):
        b.emit("vfwmaccbf16.vf", V(d), F(1), V(24))
    starts = _starts(b)
    assert {t1 - t0 for t0, t1 in itertools.pairwise(starts)} == {4}


def test_mask_results_do_not_chain_but_fp_results_do():
    """A consumer of a long FP instruction starts before the producer ends (chaining);
    a consumer of a mask waits for the whole compare."""
    b = _builder(32, 8)
    b.emit("vfadd.vv", V(8), V(16), V(16))  # occupancy 16, latency 8
    b.emit("vse32.v", V(8), _mem(b, 32))  # VS sequencer, same occupancy
    s = _starts(b)
    assert s[1] - s[0] == 8  # before the producer's 16 element groups are done
    b = _builder(32, 8)
    b.emit("vmflt.vv", V(0), V(16), V(16))  # occupancy 16
    b.emit("vfadd.vv", V(8), V(16), V(16), masked=True)
    s = _starts(b)
    assert s[1] - s[0] == 16 + 3


def test_no_chaining_waits_for_the_last_element_group():
    cfg = make("x280-like", {"vector.chaining": False}).config
    b = _builder(32, 8)
    b.emit("vfadd.vv", V(8), V(16), V(16))
    b.emit("vse32.v", V(8), _mem(b, 32))
    stats = simulate(b.program(), cfg, mode="full", log=True)
    s = [x[2] for x in stats.log]
    assert s[1] - s[0] == 16 - 1 + 8



def _load_use_cycles(cfg, const: bool) -> float:
    b = _builder(32, 1)
    b.emit("flw", F(1), b.const(1.5) if const else b.mem("m", 0, 32))
    b.emit("fadd.s", F(2), F(1), F(1))
    return simulate(b.program(), cfg, mode="full").cycles


@pytest.mark.parametrize("const_lat", [9, 30])
def test_constant_loads_pay_memory_const_load_latency(const_lat):
    """memory.const_load_latency: a scalar load from a constant buffer (the constant pool
    here) is a round trip of that many cycles to where the platform links constant data,
    in place of the cached load's timing.scalar_load_latency (what 0 keeps); a load from a
    data buffer keeps the scalar load latency either way."""
    cfg = make("x280-like+xattn", {"memory.const_load_latency": const_lat}).config
    load_lat = X280.timing_params().scalar_load_latency
    assert X280.memory.const_load_latency == 0
    assert _load_use_cycles(cfg, True) - _load_use_cycles(X280, True) == const_lat - load_lat
    assert _load_use_cycles(cfg, False) == _load_use_cycles(X280, False)
    assert _load_use_cycles(X280, True) == _load_use_cycles(X280, False)


@pytest.mark.parametrize("cores,places,hold", [(1, 2, 3), (8, 2, 3), (8, 4, 5)])
def test_constant_loads_wait_for_a_place_on_the_constant_path(cores, places, hold):
    """memory.const_loads_in_flight / const_load_hold: the cluster's path to its constant
    data admits ``places`` reads at once, each for ``hold`` cycles, shared alike by the op's
    ``cores``: back-to-back independent constant loads of one core start
    hold x cores / places apart (when that exceeds the one-per-cycle issue), each then a
    const_load_latency round trip; unset (0), they issue one per cycle."""
    lat, n = 9, 6
    base = {"memory.const_load_latency": lat, "scalar.issue_width": 1}
    b = _builder(32, 1)
    for i in range(n):
        b.emit("flw", F(1 + i), b.const(1.5 + i))
    prog = b.program()
    free = make("x280-like+xattn", base).config
    cfg = make("x280-like+xattn", {**base, "memory.const_loads_in_flight": places,
                                   "memory.const_load_hold": hold}).config
    gap = max(1.0, hold * cores / places)  # cycles between the loads' starts
    vsetvli = 1  # the builder's vsetvli issues in cycle 0, the loads from cycle 1
    assert simulate(prog, free, cores, mode="full").cycles == vsetvli + (n - 1) + lat
    assert simulate(prog, cfg, cores, mode="full").cycles == vsetvli + (n - 1) * gap + lat
    # data loads never wait for the constant path
    d = _builder(32, 1)
    for i in range(n):
        d.emit("flw", F(1 + i), d.mem("m", i, 32))
    assert simulate(d.program(), cfg, cores, mode="full").cycles == \
        simulate(d.program(), free, cores, mode="full").cycles


@pytest.mark.parametrize("noncomp,to_int", [(0, 0), (2, 3), (1, 6)])
def test_scalar_fp_result_latency_by_class(noncomp, to_int):
    """timing.scalar_fp_noncomp_latency (fmax.s, fmin.s, fmv.s) and
    timing.scalar_fp_to_int_latency (fmv.x.w, flt.s: a result for the integer register
    file) set when a dependent issues; 0 keeps timing.scalar_fp_latency for them. A chain
    fmax -> fadd -> fmv.x.w -> addi issues each link once its source is ready."""
    fp = 4
    cfg = make("x280-like+xattn", {"scalar.issue_width": 1, "timing.scalar_fp_latency": fp,
                                   "timing.scalar_fp_noncomp_latency": noncomp,
                                   "timing.scalar_fp_to_int_latency": to_int}).config
    b = _builder(32, 1)
    b.emit("fmax.s", F(2), F(1), F(1))
    b.emit("fadd.s", F(3), F(2), F(2))
    b.emit("fmv.x.w", X(5), F(3))
    b.emit("addi", X(6), X(5), 1)
    int_lat = cfg.timing_params().scalar_int_latency
    # the builder's vsetvli issues in cycle 0, fmax.s in cycle 1
    expect = 1 + (noncomp or fp) + fp + (to_int or fp) + int_lat
    assert simulate(b.program(), cfg, mode="full").cycles == expect
    c = _builder(32, 1)
    c.emit("flt.s", X(5), F(1), F(1))
    c.emit("addi", X(6), X(5), 1)
    assert simulate(c.program(), cfg, mode="full").cycles == 1 + (to_int or fp) + int_lat


@pytest.mark.parametrize("n", [1, 5])
def test_ssr_stream_loads_issue_no_instruction(n):
    """scalar.ssr: a load of a buffer the program marks as an SSR stream (its
    ``ssr_streams`` meta) takes no issue slot and has no load latency (the streamer reads
    ahead), so a chain load -> fadd issues one fadd a cycle; without SSRs each fadd waits
    for its load (timing.scalar_load_latency) and the load takes a slot. Loads of other
    buffers are loads either way."""
    base = {"scalar.issue_width": 1}
    off = make("x280-like+xattn", base).config
    on = make("x280-like+xattn", {**base, "scalar.ssr": True}).config
    tp = off.timing_params()
    ld, fp = tp.scalar_load_latency, tp.scalar_fp_latency

    def chain(streamed: bool):
        b = _builder(32, 1)  # its vsetvli issues in cycle 0
        b.buffer("s", "fp32", 64, "scratch")
        for i in range(n):
            b.emit("flw", F(1), b.mem("s" if streamed else "m", i, 32))
            b.emit("fadd.s", F(2), F(1), F(1))
        b.meta["ssr_streams"] = ("s",)
        return b.program()

    assert simulate(chain(True), off, mode="full").cycles == 1 + (n - 1) * (ld + 1) + ld + fp
    assert simulate(chain(True), on, mode="full").cycles == 1 + (n - 1) + fp
    assert simulate(chain(False), on, mode="full").cycles == \
        simulate(chain(False), off, mode="full").cycles
    assert busy_floor(chain(True), on) <= simulate(chain(True), on, mode="full").cycles


@pytest.mark.parametrize("caq", [0, 3, 6])
def test_integer_load_waits_for_an_fp_store_to_its_word(caq):
    """scalar.fp_store_load_cycles: an integer load of the word an FP store wrote issues
    that many cycles after the store (0: the next cycle); a load of another word, and an
    FP load of the same word, do not wait."""
    cfg = make("x280-like+xattn", {"scalar.issue_width": 1,
                                   "scalar.fp_store_load_cycles": caq}).config
    tp = cfg.timing_params()

    def run(load: str, elem: int) -> float:
        b = _builder(32, 1)  # its vsetvli issues in cycle 0, the fsw in cycle 1
        b.emit("fsw", F(1), b.mem("m", 0, 32))
        if load == "lw":
            b.emit("lw", X(5), b.mem("m", elem, 32))
            b.emit("addi", X(6), X(5), 1)
        else:
            b.emit("flw", F(5), b.mem("m", elem, 32))
            b.emit("fadd.s", F(6), F(5), F(5))
        return simulate(b.program(), cfg, mode="full").cycles

    ld, alu, fp = tp.scalar_load_latency, tp.scalar_int_latency, tp.scalar_fp_latency
    assert run("lw", 0) == 1 + max(1, caq) + ld + alu
    assert run("lw", 1) == 1 + max(1, caq) + ld + alu  # the same 8-byte word
    assert run("lw", 2) == 1 + 1 + ld + alu  # the next word
    assert run("flw", 0) == 1 + 1 + ld + fp
