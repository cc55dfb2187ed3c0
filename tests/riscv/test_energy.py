"""Energy of a RISC-V pass (codesign.riscv.energy): from the replayed work, never negative,
the sum of its parts, scaled by node and voltage as codesign.silicon says."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign import targets
from codesign.errors import CodesignError
from codesign.result import Result
from codesign.riscv import area, energy
from codesign.riscv.replay import WORK_COLUMNS as REPLAY_WORK
from codesign.silicon import DRAM_PJ_PER_BIT
from workloads.schema import trace_from_rows

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
ROWS = (
    {"kind": "gemm", "op": "matmul", "M": 1, "N": 512, "K": 256, "G": 1, "dtype": "bf16"},
    {"kind": "softmax", "op": "softmax", "M": 8, "N": 256, "dtype": "bf16"},
    {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 4, "Hkv": 2, "Sq": 1, "Skv": 257,
     "D": 64, "causal": True, "dtype": "bf16"},
    {"kind": "norm", "op": "rmsnorm", "M": 4, "N": 512, "dtype": "bf16"},
)
TARGETS = ("x280-like", "c950-like+xattn", "spatz-like", "spacemit-x60-like+xattn:vfexp")


def _run(target: str, overrides=None, rows=ROWS) -> Result:
    tr = trace_from_rows([{**r, "repeat": 1 + i} for i, r in enumerate(rows)],
                         {"model": "test", "scenario": {"phase": "decode", "context": 256}})
    return targets.resolve(target, overrides or {}).simulate(tr)


configs = st.fixed_dictionaries({
    "vector.dlen": st.sampled_from([128, 256]),
    "cluster.cores": st.integers(1, 4),
    "tech.node_nm": st.sampled_from([3.0, 5.0, 7.0, 12.0, 22.0, 28.0]),
    "tech.voltage_v": st.floats(0.5, 1.1),
    "l2.size_kib": st.sampled_from([256.0, 1024.0, 4096.0]),
    "energy.dram_technology": st.sampled_from(sorted(DRAM_PJ_PER_BIT)),
})


@SETTINGS
@given(target=st.sampled_from(TARGETS), overrides=configs)
def test_energy_is_never_negative(target, overrides):
    res = _run(target, overrides)
    assert all(v >= 0 for v in res.energy_parts.values()), res.energy_parts
    assert (res.ops["energy_j"] >= 0).all()
    assert res.energy_j > 0 and res.power_w > 0 and res.tokens_per_j > 0


def _logic_at_ref(cfg) -> float:
    """The logic mm^2 (all area parts but the SRAMs and memory controllers) of ``cfg``'s
    design built at the area model's reference node."""
    at_ref = dataclasses.replace(cfg, tech=dataclasses.replace(cfg.tech,
                                                               node_nm=cfg.area.ref_node_nm))
    return sum(v for p, v in area.area_parts(at_ref).items()
               if p not in ("l1", "l2", "memory_controllers"))


def _independent_energy(res: Result, cfg) -> float:
    """The pass's joules recomputed term by term from the ops' work columns and the config's
    constants (not through codesign.riscv.energy)."""
    e, t = cfg.energy, cfg.tech
    k = (t.node_nm / e.ref_node_nm) * (t.voltage_v / e.ref_voltage_v) ** 2 * 1e-12
    fp = cfg.timing_params().fp_path_bits
    vrf_kib = 32 * cfg.vector.vlen / 8192
    vrf_pj = e.vrf_pj_per_bit * math.sqrt(vrf_kib / e.vrf_ref_kib)
    total = 0.0
    for _, r in res.ops.iterrows():
        bits = {"int": cfg.vector.dlen, "fma": fp, "fdiv": fp, "reduction": fp,
                "permute": cfg.vector.dlen, "exp": cfg.exp_width_bits,
                "load": cfg.vector.dlen, "store": cfg.vector.dlen}
        unit_pj = {"int": e.int_pj_per_bit, "fma": e.fma_pj_per_bit,
                   "fdiv": e.fdiv_pj_per_bit, "reduction": e.reduction_pj_per_bit,
                   "permute": e.permute_pj_per_bit, "exp": e.exp_pj_per_bit,
                   "load": 0.0, "store": 0.0}
        pj = (r["cluster_instructions"] - r["stream_instructions"]) * e.instr_pj
        for u, b in bits.items():
            pj += r[f"work_{u}"] * b * (unit_pj[u] + vrf_pj)
        pj += r["work_matrix"] * cfg.vector.dlen * vrf_pj + r["matrix_macs"] * e.matrix_pj_per_mac
        pj += r["scalar_fp_bits"] * e.fma_pj_per_bit + r["scalar_fdiv_bits"] * e.fdiv_pj_per_bit
        pj += r["l1_bytes"] * e.l1_pj_per_byte * math.sqrt(cfg.l1d.size_kib / 32)
        pj += (r["l2_bytes"] + r["dram_bytes"]) * e.l2_pj_per_byte * \
            math.sqrt(cfg.l2.size_kib / 1024)
        joules = pj * k + r["dram_bytes"] * 8 * DRAM_PJ_PER_BIT[e.dram_technology] * 1e-12
        total += joules * r["repeat"]
    # the clock part: every cycle of the latency, per mm^2 of logic of the same design at
    # the area reference node, at the dynamic scale k
    logic_ref = _logic_at_ref(cfg)
    cycles = res.latency_s * cfg.scalar.freq_ghz * 1e9
    clock = e.clock_pj_per_mm2_cycle * logic_ref * cycles * k
    return total + clock + energy.static_power_w(cfg) * res.latency_s


@pytest.mark.parametrize("target", TARGETS)
def test_energy_is_the_sum_of_its_parts(target):
    res = _run(target)
    cfg = targets.resolve(target).config
    assert res.energy_j == pytest.approx(sum(res.energy_parts.values()), rel=1e-12)
    assert res.energy_j == pytest.approx(_independent_energy(res, cfg), rel=1e-9)
    # the per-op column is the dynamic part, by row
    dyn = res.energy_j - res.energy_parts["static"] - res.energy_parts["clock"]
    assert float((res.ops["energy_j"] * res.ops["repeat"]).sum()) == pytest.approx(dyn)
    assert sum(res.energy_by_kind().values()) == pytest.approx(dyn)


def test_energy_follows_the_node_and_voltage_rule():
    base = _run("x280-like")
    half_v = _run("x280-like", {"tech.voltage_v": 0.375})
    # dynamic on-chip energy ~ V^2 (DRAM and leakage do not move with V here)
    on_chip = [p for p in base.energy_parts if p not in ("dram", "static")]
    for p in on_chip:
        assert half_v.energy_parts[p] == pytest.approx(base.energy_parts[p] / 4)
    assert half_v.energy_parts["dram"] == pytest.approx(base.energy_parts["dram"])
    small = _run("x280-like", {"tech.node_nm": 3.5})  # half of 7 nm: C ~ L
    for p in on_chip:
        assert small.energy_parts[p] == pytest.approx(base.energy_parts[p] / 2)


def test_clock_energy_is_charged_per_cycle_stalled_or_not():
    """A pass that waits longer (a slower DRAM: the same instructions, more cycles) pays
    the clock part for every extra cycle: its clock energy over its latency is the same
    power, by hand: clock_pj_per_mm2_cycle x the logic mm^2 at the area reference node x
    cycles per second x the dynamic scale."""
    cfg = targets.resolve("spatz-like").config
    e, t = cfg.energy, cfg.tech
    watts = e.clock_pj_per_mm2_cycle * 1e-12 * _logic_at_ref(cfg) \
        * (t.node_nm / e.ref_node_nm) * (t.voltage_v / e.ref_voltage_v) ** 2 \
        * cfg.scalar.freq_ghz * 1e9
    fast = _run("spatz-like")
    slow = _run("spatz-like", {"dram.bandwidth_gbps": 1.0})
    assert slow.latency_s > 2 * fast.latency_s
    for res in (fast, slow):
        assert res.energy_parts["clock"] == pytest.approx(watts * res.latency_s, rel=1e-12)
    # the dynamic parts of the work itself do not move with the wait
    assert slow.energy_parts["fma"] == pytest.approx(fast.energy_parts["fma"])
    # no clock constant: no clock part
    off = _run("spatz-like", {"energy.clock_pj_per_mm2_cycle": 0.0})
    assert off.energy_parts["clock"] == 0.0
    assert off.energy_j == pytest.approx(fast.energy_j - fast.energy_parts["clock"])


def test_ssr_stream_loads_fetch_no_instruction():
    """The snitch FA-2's GEMM operands (Q, K^T, then P, V) stream through SSRs: by hand,
    per query row and key block d loads of Q and d of K^T, and per key one P load per
    pair of chunks of d and one V load per chunk (one chunk: d <= the block); they are
    counted as loads, but the instructions part charges only the other instructions."""
    from codesign.riscv.replay import time_program
    from isa.kernels import lower
    cfg = targets.resolve("spatz-like", {"kernel.library": "snitch", "vector.vlen": 64,
                                         "vector.dlen": 64}).config
    hq, sq, skv, d = 2, 3, 37, 8
    row = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": hq, "Hkv": 1, "Sq": sq,
           "Skv": skv, "D": d, "causal": False, "dtype": "bf16"}
    prog = lower(row, cfg.parsed_isa, cfg.core("bf16"))
    rows, kblocks = hq * sq, -(-skv // 16)
    t = time_program(prog, cfg)
    assert t["stream_instructions"] == rows * (2 * d * kblocks + skv + skv)
    assert 0 < t["stream_instructions"] < t["instructions"]
    ops = pd.DataFrame([{**{k: 0.0 for k in REPLAY_WORK}, "cluster_instructions": 1000.0,
                         "stream_instructions": 400.0}])
    k = energy.dynamic_scale(cfg) * 1e-12
    assert energy.part_arrays(ops, cfg)["instructions"][0] == pytest.approx(
        600 * cfg.energy.instr_pj * k)
    # the softmax kernels name no streams
    sm = lower({"kind": "softmax", "op": "softmax", "M": 2, "N": 40, "dtype": "bf16"},
               cfg.parsed_isa, cfg.core("bf16"))
    assert time_program(sm, cfg)["stream_instructions"] == 0


def test_static_energy_is_leakage_of_the_area_over_the_latency():
    res = _run("c950-like")
    cfg = targets.resolve("c950-like").config
    parts = area.area_parts(cfg)
    logic = sum(v for k, v in parts.items() if k not in ("l1", "l2", "memory_controllers"))
    watts = (logic * cfg.energy.logic_leak_mw_per_mm2
             + area.sram_mib(cfg) * cfg.energy.sram_leak_mw_per_mib) / 1e3
    assert res.energy_parts["static"] == pytest.approx(watts * res.latency_s)


def test_vfexp_replaces_the_polynomial_exp_and_saves_energy():
    sm = (ROWS[1],)
    plain, xattn = _run("c950-like", rows=sm), _run("c950-like+xattn:vfexp", rows=sm)
    assert xattn.energy_parts["exp"] > 0 and plain.energy_parts["exp"] == 0
    assert xattn.energy_j < plain.energy_j


def test_energy_and_area_survive_save_and_load(tmp_path):
    res = _run("c950-like+xattn")
    back = Result.load(res.save(tmp_path / "r.parquet"))
    assert back.energy_parts == res.energy_parts and back.area_parts == res.area_parts
    s = back.summary()
    assert s["energy_j"] == pytest.approx(res.energy_j)
    assert s["area_mm2"] == pytest.approx(sum(res.area_parts.values()))
    assert s["j_per_token"] == pytest.approx(res.energy_j / res.new_tokens)


def test_unknown_dram_technology_is_one_clear_error():
    with pytest.raises(CodesignError, match="unknown DRAM technology 'ddr9'; valid: lpddr4x"):
        targets.resolve("c950-like", {"energy.dram_technology": "ddr9"})


def test_a_request_s_energy_is_its_prefill_plus_its_interpolated_steps():
    from codesign.generation import time_request

    def decode(context: int):
        row = {**ROWS[2], "Skv": context + 1}
        return trace_from_rows([row], {"model": "test", "scenario": {
            "phase": "decode", "context": context}})

    pre = trace_from_rows([ROWS[0]], {"model": "test", "scenario": {"phase": "prefill",
                                                                     "seq": 64}})
    tgt = targets.resolve("x280-like")
    req = time_request(tgt, "x280-like", pre, decode, prompt=64, output=5, batch=1)
    # each decode context's energy: simulated where sampled, linear between samples
    cs = sorted(req.sampled)
    at = {c: tgt.simulate(decode(c)).energy_j for c in cs}
    steps = [float(np.interp(c, cs, [at[k] for k in cs])) for c in range(64, 64 + 4)]
    expected = tgt.simulate(pre).energy_j + sum(steps)
    assert req.energy_j == pytest.approx(expected, rel=1e-9)
    s = req.summary()
    assert s["j_per_token"] == pytest.approx(req.energy_j / 5)
    assert s["power_w"] == pytest.approx(req.energy_j / req.e2e_s)


def test_scalar_fpu_work_is_its_fp_operations_and_divider_cycles():
    """The snitch library's scalar softmax (libm expf per element, one fdiv.s per output):
    the scalar FPU's work is 32 bits per FP operation with an FP result from FP sources
    (the mnemonics typed here; not flt.s, fmv.x.w, fmv.w.x: integer results or sources)
    and 32 bits per cycle each fdiv.s holds the divider; it adds fma / fdiv energy at the
    FP units' per-bit rates and no VRF traffic."""
    from codesign.riscv.replay import time_program
    from isa.kernels import lower
    cfg = targets.resolve("spatz-like", {"kernel.library": "snitch", "vector.vlen": 64,
                                         "vector.dlen": 64}).config
    prog = lower({"kind": "softmax", "op": "softmax", "M": 2, "N": 40, "dtype": "bf16"},
                 cfg.parsed_isa, cfg.core("bf16"))
    c = prog.counts().by_mnemonic
    fp_ops = sum(c.get(m, 0) for m in ("fadd.s", "fsub.s", "fmul.s", "fmax.s", "fmin.s",
                                       "fmadd.s", "fnmsub.s", "fmv.s", "fcvt.s.h"))
    assert fp_ops >= 10 * 80  # expf alone has 10 per element
    t = time_program(prog, cfg)
    assert t["scalar_fp_bits"] == 32 * fp_ops
    assert t["scalar_fdiv_bits"] == 32 * c["fdiv.s"] * cfg.timing_params().scalar_fdiv_latency
    ops = pd.DataFrame([{**{k: 0.0 for k in REPLAY_WORK}, "cluster_instructions": 0.0,
                         "scalar_fp_bits": t["scalar_fp_bits"],
                         "scalar_fdiv_bits": t["scalar_fdiv_bits"]}])
    parts = energy.part_arrays(ops, cfg)
    k = energy.dynamic_scale(cfg) * 1e-12
    assert parts["fma"][0] == pytest.approx(32 * fp_ops * cfg.energy.fma_pj_per_bit * k)
    assert parts["fdiv"][0] == pytest.approx(t["scalar_fdiv_bits"] * cfg.energy.fdiv_pj_per_bit * k)
    assert parts["vrf"][0] == 0.0
