"""ggml's tiled flash attention (isa.kernels.ggml_fa_tiled): against torch, the builds and
shapes that take it, and its work counted from the source's loops (issue #16)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.kernels import check, lower
from isa.kernels.ggml_fa_tiled import F32_EPR, GEMM_RM, KV_TILE, Q_TILE, usable

TILED = "ggml flash_attn_ext_tiled"
PR22863 = Core(vlen=256, library="llamacpp", spacemit="pr22863")


def _attn(hq: int, hkv: int, sq: int, skv: int, d: int, **kw) -> dict:
    return {"kind": "attention", "op": "sdpa", "B": 1, "Hq": hq, "Hkv": hkv, "Sq": sq,
            "Skv": skv, "D": d, "causal": True, **kw}


@settings(max_examples=6, deadline=None)
@given(hkv=st.integers(1, 2), grp=st.integers(1, 2), sq=st.integers(Q_TILE, Q_TILE + 20),
       extra=st.integers(0, 70), d=st.sampled_from([8, 16, 64]),
       vlen=st.sampled_from([128, 256]), seed=st.integers(0, 2**16))
def test_ggml_tiled_flash_attn_matches_torch(hkv, grp, sq, extra, d, vlen, seed):
    """Q tiles of 64 rows (the last one padded), KV tiles of 64 keys (the last one
    padded, the ones past a tile's last query skipped, rows that see none of a tile's keys
    skipped), the exponential's special path on the masked scores: torch's SDPA."""
    row = _attn(hkv * grp, hkv, sq, sq + extra, d)
    core = Core(vlen=vlen, library="llamacpp", spacemit="pr22863")
    assert lower(row, "rvv", core).meta["kernel"] == TILED
    r = check(row, "rvv", core, seed=seed)
    assert r.ok and r.counts_match, r


@pytest.mark.parametrize("core,sq,want", [
    (PR22863, Q_TILE, True),
    (PR22863, Q_TILE - 1, False),  # neq1 < Q_TILE_SZ: one_chunk
    (Core(vlen=256, library="llamacpp"), 128, False),  # PR #15288's build: no tiled path
    (Core(vlen=1024, library="llamacpp", spacemit="pr22863"), 128, False),  # own kernels
    (Core(vlen=256, library="llamacpp", spacemit="pr22863", flash_attn=False), 128, False),
    (Core(vlen=256, spacemit="pr22863"), 128, False),  # the ideal library
])
def test_ggml_tiled_path_is_taken_where_the_measured_build_takes_it(core, sq, want):
    assert (lower(_attn(2, 1, sq, sq, 64), "rvv", core).meta.get("kernel") == TILED) == want
    # windows, sinks and non-causal attention: not expressed here
    assert not usable(core, sq, 64, True, 24, False) and not usable(core, sq, 64, True, 0, True)
    assert not usable(core, sq, 64, False, 0, False)
    assert usable(core, sq, 6, True, 0, False) == (want and 6 % F32_EPR == 0)  # DV % EPR


def test_ggml_tiled_work_is_the_sources_loops():
    """128 queries and keys, D 64, one head: Q tiles 0 and 1; tile (0, keys 64..127) is
    all masked (its mask converted, then skipped), three KV tiles visited. Per visited
    tile: K converted one element at a time into the transposed buffer, KQ and VKQ by
    simd_gemm's 7-row e32/m4 kernel (one vfmacc.vf per row, k and column block), one libm
    expf per row (all 64 rows, none skipped here), V converted one element at a time; the
    mask of every (Q tile, KV tile) pair converted once."""
    d, tiles = 64, 3
    prog = lower(_attn(1, 1, 128, 128, d), "rvv", PR22863)
    kn = PR22863.vlmax(32, 4)
    by = prog.counts().by_mnemonic

    def on(buf: str, op: str) -> int:
        return sum(k for i, k in prog.walk() if i.op == op and i.mem is not None
                   and i.mem.buf == buf)
    assert on("K", "flh") == on("V", "flh") == tiles * KV_TILE * d
    assert on("k32", "fsw") == on("v32", "fsw") == tiles * KV_TILE * d
    assert on("kq_mask", "flh") == 4 * Q_TILE * KV_TILE
    gemm = sum(k for i, k in prog.walk() if i.op == "vfmacc.vf" and i.vtype.lmul == 4)
    assert gemm == tiles * (Q_TILE * d * -(-KV_TILE // kn) + Q_TILE * KV_TILE * -(-d // kn))
    a_loads = on("q32", "flw") + on("kq", "flw") - tiles * Q_TILE * KV_TILE  # less vec_max
    assert a_loads == gemm  # one scalar A element per vfmacc.vf
    assert by["jal"] == tiles * Q_TILE  # expf(Mold - Mnew) per row per visited tile
    assert by["fdiv.s"] == 128  # 1/S per query row
    assert GEMM_RM == 7 and Q_TILE % GEMM_RM == 1  # nine 7-row blocks and one 1-row tail


def test_ggml_tiled_skips_rows_that_see_none_of_a_tile():
    """Causal with 20 cached keys (KV tiles of keys 0..63, 64..127, 128..147): Q tile 0
    (queries 0..63) sees keys up to 83, so KV tile 1 only from its row 44 and KV tile 2
    not at all (skipped after its mask); Q tile 1 sees KV tile 2 only from its row 44.
    Skipped rows cost no expf, no rescale, no soft_max and have their KQ row cleared."""
    sq, skv, d = 128, 148, 16
    row = _attn(1, 1, sq, skv, d)
    prog = lower(row, "rvv", PR22863)
    visited, skipped = 5, 44 + 44
    rows = visited * Q_TILE - skipped
    assert prog.counts().by_mnemonic["jal"] == rows

    def stored(lmul: int) -> int:
        return sum(k * i.vl for i, k in prog.walk() if i.op == "vse32.v"
                   and i.mem.buf == "kq" and i.vtype.lmul == lmul)
    assert stored(2) == rows * KV_TILE  # soft_max writes the rows it does not skip
    assert stored(4) == visited * Q_TILE * KV_TILE  # simd_gemm's KQ
    assert stored(1) == visited * Q_TILE * KV_TILE  # the mask added to the 64 query rows
    # memset before the GEMM, the skipped rows' clearing, ggml_vec_scale_f32 by the scale
    assert stored(8) == visited * Q_TILE * KV_TILE + skipped * KV_TILE \
        + visited * Q_TILE * KV_TILE
    r = check(row, "rvv", PR22863, seed=5)
    assert r.ok and r.counts_match, r


def test_ggml_tiled_with_the_scalar_simd_gemm_matches_torch_and_is_one_fma_per_mac():
    """simd-gemm.h's scalar loop (RISC-V builds before PR #20627): torch's SDPA still; per
    visited tile Q_TILE x KV_TILE x D multiply-adds for KQ and as many for VKQ, each one
    fmadd.s with a scalar load of A and of B (B down a column), no vector GEMM."""
    core = Core(vlen=256, library="llamacpp", spacemit="pr22863", fa_simd_gemm="scalar")
    row = _attn(2, 1, 70, 90, 16)
    r = check(row, "rvv", core, seed=11)
    assert r.ok and r.counts_match, r
    d = 64
    prog = lower(_attn(1, 1, 128, 128, d), "rvv", core)
    by = prog.counts().by_mnemonic
    tiles = 3
    assert by["fmadd.s"] - by["jal"] * 3 == tiles * 2 * Q_TILE * KV_TILE * d  # expf: 3 each
    assert not any(i.op == "vfmacc.vf" and i.vtype.lmul == 4 for i, _ in prog.walk())
    strided = sum(k for i, k in prog.walk() if i.op == "flw" and i.mem.buf in ("k32", "v32"))
    assert strided == tiles * 2 * Q_TILE * KV_TILE * d
