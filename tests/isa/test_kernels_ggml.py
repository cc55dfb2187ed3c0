"""The llamacpp kernel library (isa.kernels.ggml): ggml's vec-dot GEMV on Q4_0 x Q8_0 /
Q8_0 x Q8_0 blocks, vec_dot_f16 and tinyBLAS, against torch on the block formats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.executor import execute
from isa.kernels import as_stored, check, lower, random_inputs
from isa.kernels.ggml import BLOCK, TINYBLAS_TILE, splits_weight_rows_only, tinyblas_blocking
from isa.kernels.reference import dequantise, dequantise_q6_k, gemm_q8_0, q8_1_sums

LIB = Core(vlen=256, library="llamacpp")


def _row(fmt: str, m: int, n: int, kk: int, g: int = 1) -> dict:
    return {"kind": "gemm", "M": m, "N": n, "K": kk, "G": g, "weight_dtype": fmt}


def _executed(row: dict, core: Core, seed: int):
    """(program, C as computed, inputs as stored) of ``row``'s GEMM on random data."""
    prog = lower(row, "rvv", core)
    inp = random_inputs(prog, row, np.random.default_rng(seed))
    got = np.asarray(execute(prog, inp).buffers["C"], dtype=np.float64)
    return prog, got, as_stored(prog, inp)


def _vec_dot(fmt: str, g: int, m: int, n: int, blocks: int, vlen: int, seed: int):
    """:func:`_executed` of ggml's vec-dot GEMM."""
    prog, got, seen = _executed(_row(fmt, m, n, 32 * blocks, g),
                                Core(vlen=vlen, library="llamacpp"), seed)
    assert prog.meta["kernel"] == "ggml vec_dot" and prog.meta["b_layout"] == "Bqt"
    return prog, got, seen


@settings(max_examples=25, deadline=None)
@given(fmt=st.sampled_from(["q4_0", "q8_0"]), g=st.integers(1, 2), m=st.integers(1, 20),
       n=st.integers(1, 40), blocks=st.integers(1, 4), vlen=st.sampled_from([128, 256, 512]),
       seed=st.integers(0, 2**16))
def test_vec_dot_is_ggmls_block_arithmetic(fmt, g, m, n, blocks, vlen, seed):
    """Against torch on A quantised to Q8_0 with 16-bit scales (a block_q8_0's d) and the
    block_q4_0 / block_q8_0 weights: equal to the output's BF16 rounding."""
    _, got, seen = _vec_dot(fmt, g, m, n, blocks, vlen, seed)
    b = dequantise(fmt, np.swapaxes(seen["Bqt"], 1, 2), np.swapaxes(seen["Bst"], 1, 2))
    want = gemm_q8_0(seen["A"], b, scale_bits=16)
    assert np.abs(got - want).max() <= 2.0 ** -8 * (np.abs(want).max() or 1.0) + 1e-6


@settings(max_examples=20, deadline=None)
@given(g=st.integers(1, 2), m=st.integers(1, 12), n=st.integers(1, 30),
       blocks=st.integers(1, 3), vlen=st.sampled_from([128, 256, 512]),
       seed=st.integers(0, 2**16))
def test_q4_1_vec_dot_adds_the_min_times_the_q8_1_sums(g, m, n, blocks, vlen, seed):
    """ggml_vec_dot_q4_1_q8_1 against torch: per block d_x d_y sum(q_x q_y) over unsigned
    codes plus m_x s_y, s_y = d_y sum(q_y) of the Q8_1 activations (FP32 d, stored 16-bit):
    equal to the output's BF16 rounding."""
    prog, got, seen = _vec_dot("q4_1", g, m, n, blocks, vlen, seed)
    assert prog.meta["activations"] == "q8_1"
    b = dequantise("q4_1", np.swapaxes(seen["Bqt"], 1, 2), np.swapaxes(seen["Bst"], 1, 2))
    want = gemm_q8_0(seen["A"], b, scale_bits=16)  # d q only: the mins come next
    want = want + np.einsum("gmb,gnb->gmn", q8_1_sums(seen["A"]), seen["Bmt"])
    assert np.abs(got - want).max() <= 2.0 ** -8 * (np.abs(want).max() or 1.0) + 1e-6


def test_q4_1_blocks_take_unsigned_codes_and_one_more_fma_per_block():
    """Against Q4_0: no ``- 8`` (two vadd.vi fewer per block), two more fp16 loads and
    conversions and one more fmadd.s per block (m_x s_y), one vwredsum per activation
    block for its sum; the weight bytes 20 per 32."""
    m, n, kk = 3, 40, 256
    q40 = lower(_row("q4_0", m, n, kk), "rvv", LIB)
    q41 = lower(_row("q4_1", m, n, kk), "rvv", LIB)
    c0, c1 = q40.counts().by_mnemonic, q41.counts().by_mnemonic
    blocks, act_blocks = m * n * kk // 32, m * kk // 32
    assert c0["vadd.vi"] - c1.get("vadd.vi", 0) == 2 * blocks
    assert c1["fmadd.s"] - c0["fmadd.s"] == blocks
    assert c1["fcvt.s.h"] - c0["fcvt.s.h"] == 2 * blocks
    assert c1["vwredsum.vs"] - c0["vwredsum.vs"] == act_blocks
    weights = sum(q41.buffers[k].size * q41.buffers[k].eew // 8 for k in ("Bqt", "Bst", "Bmt"))
    assert weights == n * kk * 20 // 32


@pytest.mark.parametrize("fmt,m", [("q4_0", 1), ("q4_1", 2), ("q8_0", 3), ("", 1), ("", 5)])
def test_every_ggml_kernel_passes_the_library_check(fmt, m):
    r = check(_row(fmt, m, 21, 96), "rvv", LIB)
    assert r.ok and r.counts_match, r


def test_one_reduction_and_scalar_round_trip_per_block():
    """ggml_vec_dot_q4_0_q8_0: per block of 32, one vwredsum and one vmv.x.s (the in-order
    front end waits for it), 2 fp16 scale conversions; outputs in 16 x 16 blocks."""
    m, n, kk = 3, 40, 256
    by = lower(_row("q4_0", m, n, kk), "rvv", LIB).counts().by_mnemonic
    blocks = m * n * kk // 32
    assert by["vwredsum.vs"] == by["vmv.x.s"] == blocks
    assert by["fcvt.s.h"] == 2 * blocks and by["vwmul.vv"] == by["vwmacc.vv"] == blocks
    assert by["vle8.v"] == 3 * blocks  # 16 code bytes, two halves of the activations


def test_outputs_are_visited_in_ggml_blocks():
    prog = lower(_row("q8_0", 40, 40, 64), "rvv", LIB)
    loops = {node.var: node.trip for node, _ in prog.loops()}
    assert loops["nb"] == 40 // BLOCK and loops["mb"] == 40 // BLOCK


@pytest.mark.parametrize("m,n,kk", [(6, 16, 64), (5, 8, 96), (75, 12, 32), (151, 4, 32)])
def test_tinyblas_tiles_and_reduces_once_per_output(m, n, kk):
    prog = lower(_row("", m, n, kk), "rvv", LIB)
    assert prog.meta["kernel"] == f"ggml tinyBLAS {TINYBLAS_TILE[0]}x{TINYBLAS_TILE[1]}"
    by = prog.counts().by_mnemonic
    assert by["vfredusum.vs"] == m * n
    r = check(_row("", m, n, kk), "rvv", LIB)
    assert r.ok and r.counts_match, r


def test_tinyblas_jobs_are_llamafiles():
    """sgemm.cpp tinyBLAS_RVV (LMUL 4): 16 weight rows per job when they are a multiple of
    16, 8 / 4 otherwise; 512 tokens in 256 tiles of 2, (256 + 18) // 36 = 7 blocks of 37
    and 36 tiles (4 x 37 + 3 x 36 = 256); declined for rows not a multiple of 4 or K not
    of the vector length (ggml then runs vec_dot_f16)."""
    assert tinyblas_blocking(512, 2048, 2048, 32) == (16, 2, [(4, 37), (3, 36)])
    assert tinyblas_blocking(5, 24, 64, 32) == (8, 2, [(1, 3)])
    assert tinyblas_blocking(5, 12, 64, 32)[0] == 4
    assert tinyblas_blocking(8, 10, 64, 32) is None
    assert tinyblas_blocking(8, 16, 200, 32) is None
    prog = lower(_row("", 6, 10, 200), "rvv", LIB)
    assert prog.meta["kernel"] == "ggml vec_dot_f16"
    assert check(_row("", 6, 10, 200), "rvv", LIB).ok


def test_tinyblas_streams_each_token_block_once_per_weight_pair():
    """The token block (B) is what each pair of weight rows meets: per job, the weights
    are loaded once per token tile of the block, the tokens once per weight pair. So the
    weight bytes loaded are the weights times the token tiles, not times the tokens over
    the tile (the model before #16: a whole weight matrix per pair of tokens)."""
    m, n, kk = 80, 32, 64
    by = lower(_row("", m, n, kk), "rvv", LIB).counts().by_mnemonic
    vl = LIB.vlmax(32, 4)
    assert by["vle16.v"] == (n * (m // 2) + m * (n // 2)) * kk // vl
    assert by["vfwmaccbf16.vv"] == m * n * kk // vl


def test_llamacpp_splits_tinyblas_over_weight_rows_only():
    """ggml hands consecutive tinyBLAS jobs to the threads: they share a token block and
    split the weight rows; the replay keeps only N splits for such GEMMs."""
    from codesign import targets
    from codesign.riscv.replay import candidate_ways
    from workloads.schema import Op
    row = {**_row("fp16", 512, 2048, 2048), "op": "matmul", "dtype": "bf16",
           "flops": 2 * 512 * 2048 * 2048, "bytes_read": 0, "bytes_written": 0}
    assert splits_weight_rows_only(row, 256)
    assert not splits_weight_rows_only({**row, "M": 1}, 256)
    assert not splits_weight_rows_only({**row, "weight_dtype": "q4_0"}, 256)
    op = Op.from_row(row)
    cfg = targets.resolve("spacemit-k1", {"kernel.library": "llamacpp"}).config
    ways = candidate_ways(op, cfg)
    assert ways and all(s.M == 512 and c == cfg.cluster.cores for s, c in ways)
    assert {s.N for s, _ in ways} == {2048 // cfg.cluster.cores}
    ideal = targets.resolve("spacemit-k1", {}).config
    assert any(s.M < 512 for s, _ in candidate_ways(op, ideal))  # the ideal library: any grid


def test_formats_ggml_has_no_cpu_kernel_for_take_the_ideal_ones():
    for fmt in ("int4", "mxfp4"):
        prog = lower(_row(fmt, 1, 16, 256), "rvv", LIB)
        assert "ggml" not in str(prog.meta.get("kernel", ""))
        assert prog.counts().by_mnemonic == lower(_row(fmt, 1, 16, 256), "rvv",
                                                  Core(vlen=256)).counts().by_mnemonic


def test_with_the_ime_llamacpp_runs_the_spacemit_path():
    prog = lower(_row("q4_0", 8, 32, 256), "rvv+ime", LIB)
    assert prog.meta["kernel"] == "ime" and prog.meta["loop_order"] == "ggml"


def test_an_unknown_library_is_refused():
    from isa.errors import IsaError
    with pytest.raises(IsaError, match="ideal, llamacpp"):
        Core(library="openblas")


@settings(max_examples=10, deadline=None)
@given(op=st.sampled_from(["chunk_gated_delta_rule", "recurrent_gated_delta_rule"]),
       h=st.integers(1, 3), t=st.integers(1, 5), d=st.sampled_from([16, 32, 64]),
       vlen=st.sampled_from([128, 256]))
def test_ggml_gated_delta_net_matches_torch(op, h, t, d, vlen):
    """ggml's fused GATED_DELTA_NET (the recurrence token by token, its state transposed)
    against transformers' chunked / recurrent gated delta rule, in both phases."""
    chunk = 4 if op == "chunk_gated_delta_rule" else 0
    row = {"kind": "linear_attention", "op": op, "B": 1, "Hq": h, "Sq": t if chunk else 1,
           "D": d, "Dv": d, "chunk": chunk}
    core = Core(vlen=vlen, library="llamacpp")
    assert lower(row, "rvv", core).meta["kernel"] == "ggml gated_delta_net"
    r = check(row, "rvv", core)
    assert r.ok and r.counts_match, r


def test_ggml_gated_delta_net_makes_four_passes_over_the_state_per_token():
    """ggml_compute_forward_gated_delta_net_one_chunk: per token and head, the state
    scaled (one pass), one vec_dot (a reduction) per row for S^T k and again for S^T q,
    one vec_mad per row; LMUL 8 strips of VLEN/4 FP32."""
    b_, h, t, d = 1, 2, 3, 128
    row = {"kind": "linear_attention", "op": "chunk_gated_delta_rule", "B": b_, "Hq": h,
           "Sq": t, "D": d, "Dv": d, "chunk": 64}
    by = lower(row, "rvv", LIB).counts().by_mnemonic
    vm = LIB.vlmax(32, 8)
    heads_tokens = b_ * h * t
    assert by["vfredusum.vs"] == 2 * heads_tokens * d
    assert by["vfmadd.vf"] == heads_tokens * d * d // vm
    assert by["vfmacc.vv"] == 2 * heads_tokens * d * d // vm
    assert by["vfmul.vf"] == heads_tokens * d * d // vm


# ---- Q6_K weights (isa.kernels.kquant): ggml_vec_dot_q6_K_q8_K -----------------------------
def _q6_k(g: int, m: int, n: int, supers: int, seed: int):
    """:func:`_executed` of ggml's Q6_K vec-dot GEMM."""
    return _executed(_row("q6_k", m, n, 256 * supers, g), LIB, seed)


@settings(max_examples=12, deadline=None)
@given(g=st.integers(1, 2), m=st.integers(1, 3), n=st.integers(1, 20),
       supers=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_q6_k_vec_dot_is_ggmls_block_arithmetic(g, m, n, supers, seed):
    """Against torch on block_q6_K weights (dequantize_row_q6_K: d x scale x (q - 32), the
    6-bit q from ql's nibbles and qh's 2-bit fields) and A quantised to Q8_K (per 256, FP32
    d): equal to the output's BF16 rounding."""
    prog, got, seen = _q6_k(g, m, n, supers, seed)
    assert prog.meta["kernel"] == "ggml vec_dot q6_K" and prog.meta["activations"] == "q8_K"
    b = np.swapaxes(dequantise_q6_k(seen["Bql"], seen["Bqh"], seen["Bsc"], seen["Bd"]), 1, 2)
    want = gemm_q8_0(seen["A"], b, scale_bits=32, block=256)
    assert np.abs(got - want).max() <= 2.0 ** -8 * (np.abs(want).max() or 1.0) + 1e-6


def test_q6_k_dequantisation_follows_ggmls_bit_layout():
    """Weight 0 of a half is ql[0]'s low nibble with qh[0] bits 0-1, weight 32 ql[32]'s low
    nibble with qh[0] bits 2-3, weight 64 ql[0]'s high nibble with bits 4-5, weight 96
    ql[32]'s high nibble with bits 6-7; sub-block scales per 16 weights; minus 32."""
    ql = np.zeros((1, 1, 128), np.int64)
    qh = np.zeros((1, 1, 64), np.int64)
    ql[0, 0, 0], ql[0, 0, 32], qh[0, 0, 0] = 0x21, 0x43, 0b11_10_01_00
    sc = np.arange(1, 17).reshape(1, 1, 16)
    w = dequantise_q6_k(ql, qh, sc, np.full((1, 1, 1), 0.5))[0, 0]
    assert w[0] == 0.5 * 1 * (1 | 0 << 4) - 0.5 * 32
    assert w[32] == 0.5 * 3 * ((3 | 1 << 4) - 32)
    assert w[64] == 0.5 * 5 * ((2 | 2 << 4) - 32)
    assert w[96] == 0.5 * 7 * ((4 | 3 << 4) - 32)
    assert w[1] == 0.5 * 1 * -32 and w[16] == 0.5 * 2 * -32


def test_q6_k_moves_210_bytes_per_256_weights_and_ggmls_instructions():
    """The weight buffers hold block_q6_K's 210 bytes per 256 weights; per half of a
    super-block and output: 3 weight loads, 4 activation loads, 4 vwmul.vv, 8 vwmul.vx (one
    per 16 products, its scale a scalar lb), 4 chained vredsum.vs and one vmv.x.s."""
    m, n, kk = 2, 16, 512
    prog = lower(_row("q6_k", m, n, kk), "rvv", LIB)
    weights = sum(prog.buffers[k].size * prog.buffers[k].eew // 8
                  for k in ("Bql", "Bqh", "Bsc", "Bd"))
    assert weights == n * kk * 210 // 256
    by = prog.counts().by_mnemonic
    halves = m * n * kk // 128
    assert by["vwmul.vv"] == 4 * halves and by["vwmul.vx"] == 8 * halves
    assert by["vredsum.vs"] == 4 * halves and by["lb"] == 8 * halves
    assert by["vmv.x.s"] == halves and by["vle8.v"] == 7 * halves
    assert by["vse8.v"] == m * kk // 64  # Q8_K codes, stored in e32 m8 strips of 64
    assert check(_row("q6_k", m, n, kk), "rvv", LIB).counts_match


def test_q6_k_runs_on_llamacpps_library_only():
    from isa.errors import IsaError
    with pytest.raises(IsaError, match=r"llama\.cpp's library only"):
        lower(_row("q6_k", 1, 8, 256), "rvv", Core(vlen=256))
    with pytest.raises(IsaError, match="VLEN 256"):
        lower(_row("q6_k", 1, 8, 256), "rvv", Core(vlen=128, library="llamacpp"))


def test_only_q4_formats_run_on_the_ime_in_llamacpps_library():
    """The SpacemiT backend's IME1 kernels take Q4_0 / Q4_1 (/ Q4_K): a Q8_0 weight (a
    GGUF's output matrix whose rows are not a multiple of 256) runs ggml's vec-dot; the
    ideal library still puts it on the IME."""
    ime_core = Core(vlen=256, library="llamacpp")
    row = _row("q8_0", 1, 64, 256)
    assert lower(row, "rvv+ime", ime_core).meta["kernel"] == "ggml vec_dot"
    assert lower(_row("q4_0", 1, 64, 256), "rvv+ime", ime_core).meta["kernel"] == "ime"
    assert lower(row, "rvv+ime", Core(vlen=256)).meta["kernel"] == "ime"


# ---- attention (isa.kernels.ggml_attention): FLASH_ATTN_EXT on the F16 KV cache ------------
def _attn(hq: int, hkv: int, sq: int, skv: int, d: int, b_: int = 1, **kw) -> dict:
    return {"kind": "attention", "op": "sdpa", "B": b_, "Hq": hq, "Hkv": hkv, "Sq": sq,
            "Skv": skv, "D": d, "causal": True, **kw}


@settings(max_examples=15, deadline=None)
@given(b_=st.integers(1, 2), hkv=st.integers(1, 2), grp=st.integers(1, 3),
       sq=st.integers(1, 9), extra=st.integers(0, 5), d=st.sampled_from([8, 24, 64, 128]),
       vlen=st.sampled_from([128, 256]), seed=st.integers(0, 2**16))
def test_ggml_flash_attn_ext_matches_torch(b_, hkv, grp, sq, extra, d, vlen, seed):
    """ggml's per-row online softmax (one expf per visible key, the mask's -inf keys
    skipped) against torch's SDPA, prefill with and without cached keys and decode, GQA."""
    row = _attn(hkv * grp, hkv, sq, sq + extra, d, b_)
    core = Core(vlen=vlen, library="llamacpp")
    assert lower(row, "rvv", core).meta["kernel"] == "ggml flash_attn_ext_f16"
    r = check(row, "rvv", core, seed=seed)
    assert r.ok and r.counts_match, r


def test_ggml_flash_attn_ext_work_per_key_is_ggmls():
    """Per query row and visible key one vec_dot_f16 (one reduction), one libm expf call and
    one vec_mad over D; every (row, key) pair's mask value loaded once (masked ones cost
    the load, compare and branch only); K and V read as 16-bit (the F16 cache)."""
    hq, hkv, sq, skv, d = 4, 2, 6, 10, 64
    prog = lower(_attn(hq, hkv, sq, skv, d), "rvv", LIB)
    by = prog.counts().by_mnemonic
    visible = hq * sum(skv - sq + r + 1 for r in range(sq))
    strips = d // LIB.vlmax(16, 2)
    assert by["vfredusum.vs"] == by["jal"] == visible
    assert by["vfwmaccbf16.vf"] == visible * strips  # V row x vs into VKQ
    assert by["vfwmaccbf16.vv"] == visible * strips  # K row . q
    assert by["flh"] == hq * sq * skv  # the mask: every pair once
    assert by["fdiv.s"] == hq * sq  # 1/S per row
    assert prog.buffers["K"].dtype == prog.buffers["V"].dtype == "bf16"  # 16-bit cache
    assert prog.meta["kv_dtype"] == "f16"


def test_ggml_attention_leaves_the_ideal_library_and_the_cases_it_does_not_express():
    """The ideal library keeps its FlashAttention-2; windows and sinks take the ideal
    kernels in the llamacpp library too."""
    row = _attn(2, 1, 8, 8, 64)
    assert lower(row, "rvv", Core(vlen=256)).meta.get("kernel") != "ggml flash_attn_ext_f16"
    for extra in ({"window": 24}, {"sinks": True}):
        prog = lower(_attn(2, 1, 32, 48, 64, **extra), "rvv", LIB)
        assert prog.meta.get("kernel") != "ggml flash_attn_ext_f16"


# ---- attention with flash attention off (isa.kernels.ggml_kq): KQ, soft_max_ext, KQV ------
NOFA = Core(vlen=256, library="llamacpp", flash_attn=False)


@settings(max_examples=12, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 3), sq=st.integers(1, 7),
       extra=st.integers(0, 5), d=st.sampled_from([8, 24, 64]), causal=st.booleans(),
       vlen=st.sampled_from([128, 256]), seed=st.integers(0, 2**16))
def test_ggml_mul_mat_soft_max_attention_matches_torch(hkv, grp, sq, extra, d, causal, vlen,
                                                       seed):
    """-fa 0: KQ = mul_mat(K, Q) over every cached key, soft_max_ext (scale, mask, one expf
    per element), KQV = mul_mat(V^T, KQ) against torch's SDPA; GQA, decode and prefill."""
    row = _attn(hkv * grp, hkv, sq, sq + extra, d, causal=causal)
    core = Core(vlen=vlen, library="llamacpp", flash_attn=False)
    prog = lower(row, "rvv", core)
    assert prog.meta["kernel"] == "ggml mul_mat + soft_max_ext"
    r = check(row, "rvv", core, seed=seed)
    assert r.ok and r.counts_match, r


@pytest.mark.parametrize("vlen,skv", [(256, 300), (512, 300), (1024, 1100)])
def test_ggml_soft_max_rows_longer_than_the_copy_loop_match_torch(vlen, skv):
    """Rows long enough for ggml_vec_cpy_i8's unrolled main loop (VLENB 32: 4 x 64 floats
    a trip, VLENB 128: 2 x 256; VLENB 64 has only the tail loop) and several exp strips:
    still torch's SDPA; the copy moves each score once."""
    row = _attn(2, 1, 2, skv, 64)
    core = Core(vlen=vlen, library="llamacpp", flash_attn=False)
    r = check(row, "rvv", core, seed=3)
    assert r.ok and r.counts_match, r
    prog = lower(row, "rvv", core)
    def moved(op: str, buf: str) -> int:
        return sum(i.vl * k for i, k in prog.walk()
                   if i.op == op and i.mem is not None and i.mem.buf == buf)
    assert moved("vle32.v", "kq") == 2 * 2 * skv  # Hq x Sq rows of skv scores, once
    assert moved("vse32.v", "wp") == 3 * 2 * 2 * skv  # copied, scaled, masked in place


def test_ggml_mul_mat_soft_max_work_is_ggmls():
    """Per query head: sq x skv vec_dot_f16 for KQ (masked keys too) and sq x D for KQV over
    the keys of V^T rows, each strip two vfwcvt and one vfmacc (PR #15288's asm); per row
    of soft_max one vfredmax, one ordered vfredosum and one 1/sum, the exponential a vector
    polynomial per e32/m4 strip (no libm call), the F32 mask read once, the row narrowed
    to F16 once; V read from the transposed 16-bit cache (Vt [B, Hkv, D, Skv])."""
    hq, hkv, sq, skv, d = 4, 2, 6, 40, 64
    prog = lower(_attn(hq, hkv, sq, skv, d), "rvv", NOFA)
    by = prog.counts().by_mnemonic
    assert by["vfredusum.vs"] == hq * sq * (skv + d)
    vl = NOFA.vlmax(16, 2)
    strips = hq * sq * (skv * -(-d // vl) + d * -(-skv // vl))
    assert by["vfmacc.vv"] == strips and by["vfwcvt.f.f.v"] == 2 * strips
    assert "vfwmaccbf16.vv" not in by and "jal" not in by  # no libm expf
    assert by["vfredmax.vs"] == by["vfredosum.vs"] == by["fdiv.s"] == hq * sq
    m4 = -(-skv // NOFA.vlmax(32, 4))  # e32/m4 strips per row
    assert by["vfmadd.vv"] == hq * sq * m4 * 6  # the degree-6 polynomial
    assert by["vfncvt.f.f.w"] == hq * sq * m4
    masks = sum(k for i, k in prog.walk() if i.mem is not None and i.mem.buf == "kq_mask")
    assert masks == hq * sq * -(-skv // NOFA.vlmax(32, 1))
    assert prog.buffers["kq_mask"].dtype == "fp32"
    assert "V" not in prog.buffers and prog.buffers["Vt"].shape == (1, hkv, d, skv)
    assert prog.buffers["K"].dtype == prog.buffers["Vt"].dtype == "bf16"


def test_ggml_attention_without_flash_attn_costs_more_than_with_it_in_prefill():
    """Without flash attention every masked score of a causal prefill is computed,
    exponentiated and multiplied by V (FA skips them): a dot product and an exponential
    lane for each of the 32 x 32 scores, where FA calls expf for the 32 x 33 / 2 visible
    ones, and more FP work in all."""
    row = _attn(2, 1, 32, 32, 64)
    fa = lower(row, "rvv", LIB).counts().by_mnemonic
    nofa_prog = lower(row, "rvv", NOFA)
    nofa = nofa_prog.counts().by_mnemonic
    assert nofa["vfredusum.vs"] == 2 * 32 * (32 + 64)  # every KQ score, every KQV output
    exp_lanes = sum(i.vl * k for i, k in nofa_prog.walk() if i.op == "vfcvt.x.f.v")
    assert exp_lanes == 2 * 32 * 32 > fa["jal"] == 2 * 32 * 33 // 2
    assert nofa_prog.counts().by_unit["fma"] > lower(row, "rvv", LIB).counts().by_unit["fma"]
    for extra in ({"window": 24}, {"sinks": True}):
        prog = lower(_attn(2, 1, 32, 48, 64, **extra), "rvv", NOFA)
        assert prog.meta.get("kernel") != "ggml mul_mat + soft_max_ext"
