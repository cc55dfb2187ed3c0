"""GEMMs of quantised weights on the SpacemiT IME (isa.kernels.ime), against torch: to BF16
rounding against a reference that quantises A to Q8_0 blocks as the kernel does, and
within the check's tolerance against the exact product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa import Core
from isa.executor import execute
from isa.instructions import ime_geometry
from isa.kernels import as_stored, check, lower, random_inputs
from isa.kernels.ime import IME_FORMATS, MC, PANEL_TILES
from isa.kernels.reference import dequantise_tiles, gemm_q8_0, q8_0_activations

ISA = "rvv+ime"


def _row(fmt: str, m: int, n: int, kk: int, g: int = 1) -> dict:
    return {"kind": "gemm", "M": m, "N": n, "K": kk, "G": g, "weight_dtype": fmt}


def _run(row: dict, core: Core, seed: int = 0):
    prog = lower(row, ISA, core)
    inp = random_inputs(prog, row, np.random.default_rng(seed))
    res = execute(prog, inp)
    seen = as_stored(prog, inp)
    return prog, res, seen


@settings(max_examples=30, deadline=None)
@given(fmt=st.sampled_from(IME_FORMATS), g=st.integers(1, 2), m=st.integers(1, 10),
       panels=st.integers(1, 3), blocks=st.integers(1, 4),
       vlen=st.sampled_from([128, 256, 512, 1024]), seed=st.integers(0, 2**16))
def test_ime_gemm_is_the_q8_0_product_to_bf16_rounding(fmt, g, m, panels, blocks, vlen, seed):
    """Exact up to the output's BF16 rounding against torch on A quantised to Q8_0 (and B
    decoded from the packed tiles): the kernel does that arithmetic and nothing else."""
    core = Core(vlen=vlen, weight_group=64)
    t = ime_geometry(vlen)
    kk = 64 * blocks if fmt == "int4" else 32 * blocks
    row = _row(fmt, m, panels * PANEL_TILES * t.n, kk, g)
    prog, res, seen = _run(row, core, seed)
    assert prog.meta["kernel"] == "ime" and prog.counts().by_mnemonic["smt.vmadot"] > 0
    b = dequantise_tiles(fmt, seen["Bqi"], seen["Bs"], seen.get("Bz"))
    want = gemm_q8_0(seen["A"], b)
    got = np.asarray(res.buffers["C"], dtype=np.float64)
    scale = np.abs(want).max() or 1.0
    assert np.abs(got - want).max() <= 2.0 ** -8 * scale + 1e-6, fmt


@settings(max_examples=12, deadline=None)
@given(fmt=st.sampled_from(IME_FORMATS), m=st.integers(1, 9), panels=st.integers(1, 2),
       vlen=st.sampled_from([256, 512]))
def test_ime_gemm_passes_the_library_check(fmt, m, panels, vlen):
    """The library's own check (torch, exact B, unquantised A) within its tolerance, and
    the dynamic counts the loop nest predicts."""
    t = ime_geometry(vlen)
    row = _row(fmt, m, panels * PANEL_TILES * t.n, 128)
    r = check(row, ISA, Core(vlen=vlen, weight_group=64))
    assert r.ok and r.counts_match, r


@pytest.mark.parametrize("m", [1, 8])
def test_q4_1_on_the_ime_subtracts_each_columns_zero_point(m):
    """The SpacemiT backend's Q4_1: d (q - z), a zero-point byte per block and column
    (19 bytes per 32 weights). Against Q4_0: per block one zero-point load and a gather
    per tile (ggml ime1 SQ4BIT_KERNEL_LOAD_ZP_16X1), and vsub.vv for the vadd.vi -8."""
    core = Core(vlen=256, library="llamacpp")
    t = ime_geometry(256)
    n, kk = 2 * PANEL_TILES * t.n, 128
    q40 = lower(_row("q4_0", m, n, kk), ISA, core)
    q41 = lower(_row("q4_1", m, n, kk), ISA, core)
    c0, c1 = q40.counts().by_mnemonic, q41.counts().by_mnemonic
    block_panels = (-(-m // t.m)) * (n // (PANEL_TILES * t.n)) * (kk // 32)
    assert c1["vrgather.vv"] == PANEL_TILES * block_panels
    assert c1["vsub.vv"] == c0["vadd.vi"] - c1.get("vadd.vi", 0) + PANEL_TILES * block_panels
    assert c1["smt.vmadot"] == c0["smt.vmadot"]
    nbytes = {k: b.size * b.eew // 8 for k, b in q41.buffers.items()}
    assert nbytes["Bqi"] + nbytes["Bs"] + nbytes["Bz"] == n * kk * 19 // 32
    r = check(_row("q4_1", m, n, kk), ISA, core)
    assert r.ok and r.counts_match, r


def test_q8_0_activations_are_ggmls_blocks():
    """amax/127 scales, codes in [-127, 127] with the block maximum at +-127, round half
    to even; an all-zero block gives scale 0 and codes 0."""
    a = np.zeros((2, 64), np.float32)
    a[0, :32] = np.linspace(-3.0, 1.5, 32)
    a[1, 32:] = 0.5
    codes, d = q8_0_activations(a)
    assert d[0, 0] == pytest.approx(3.0 / 127, rel=1e-6) and d[0, 1] == 0.0
    assert codes[0, 0] == -127 and np.abs(codes).max() == 127
    assert codes[1, 32:].tolist() == [127.0] * 32 and not codes[0, 32:].any()


def test_the_ime_kernel_quantises_a_as_the_reference_does():
    core = Core(vlen=256)
    _, res, seen = _run(_row("q8_0", 5, 8, 64), core, 3)
    codes, d = q8_0_activations(seen["A"][0])
    t = ime_geometry(256)
    aq = res.buffers["Aq"].reshape(-1, 64 // t.k, t.m, t.k)  # [row block, k-step, row, k]
    rows = aq.transpose(0, 2, 1, 3).reshape(-1, 64)[:5]
    assert rows.tolist() == codes.astype(int).tolist()
    ad = res.buffers["Ad"].reshape(-1, 2, t.m).transpose(0, 2, 1).reshape(-1, 2)
    assert np.allclose(ad[:5], d, rtol=0, atol=0)


def test_one_row_runs_the_m1_form():
    """Decode (M = 1): only row 0 of each C tile is kept: no scale pattern built."""
    prog = lower(_row("q4_0", 1, 64, 256), ISA, Core(vlen=256))
    by = prog.counts().by_mnemonic
    assert "vslideup.vx" not in by
    assert by["smt.vmadot"] == (64 // 4) * (256 // 8)  # one per tile and k-step


def _loaded(prog, buf: str) -> int:
    return sum(count * ins.vl * ins.mem.eew // 8 for ins, count in prog.walk()
               if ins.mem is not None and ins.mem.buf == buf and count
               and ins.defn.exec_kind == "vload")


def _loop_vars(nodes, depth=0, out=None):
    from isa.program import Loop
    out = [] if out is None else out
    for node in nodes:
        if isinstance(node, Loop):
            out.append((depth, node.var))
            _loop_vars(node.body, depth + 1, out)
    return out


@pytest.mark.parametrize("library", ["ideal", "llamacpp"])
def test_each_row_block_streams_the_panel_and_each_panel_the_rows(library):
    """Every row block meets every panel once: the codes are loaded once per row block,
    the A tiles once per panel. llama.cpp's order: per chunk of MC rows, panel by panel,
    every row block (the panel stays in L1 across them); the ideal library's: per block
    of panels sized to stay in L2, row block by row block, its panels (A in L1)."""
    m, n, kk = 2 * MC + 8, 32, 256
    prog = lower(_row("q4_0", m, n, kk), ISA, Core(vlen=256, library=library))
    row_blocks, panels = m // 4, n // (PANEL_TILES * 4)
    assert _loaded(prog, "Bqi") == row_blocks * n * kk // 2
    assert _loaded(prog, "Aq") == panels * m * kk
    order = [v for _, v in _loop_vars(prog.body)]
    if library == "llamacpp":
        assert order.index("mc") < order.index("j") < order.index("i") < order.index("kg")
    else:
        assert order.index("i") < order.index("j") < order.index("kg")


def test_the_l2_block_of_panels_fits_the_budget_with_its_a_traffic():
    from isa.kernels.ime import _Shape, panel_columns
    from isa.kernels.quant import FORMATS
    core = Core(vlen=256)
    for kk in (896, 4864):
        sh = _Shape(1, 512, 4864, kk, FORMATS["q4_0"], ime_geometry(256), 256)
        nc = panel_columns(core, sh)
        used = nc * FORMATS["q4_0"].nbytes(1, kk) + (nc // sh.cols) * 4 * kk * 3 // 2
        assert nc % sh.cols == 0 and used <= core.gemm_kc * core.gemm_nc * 2
        assert (nc + sh.cols) * FORMATS["q4_0"].nbytes(1, kk) + \
            ((nc + sh.cols) // sh.cols) * 4 * kk * 3 // 2 > core.gemm_kc * core.gemm_nc * 2


@pytest.mark.parametrize("fmt,n,kk", [("q8_0", 12, 64), ("int8", 16, 48)])
def test_shapes_it_cannot_tile_fall_back_to_rvv(fmt, n, kk):
    """N not a multiple of the panel, K not of the 32-block: the RVV kernel, still right."""
    prog = lower(_row(fmt, 4, n, kk), ISA, Core(vlen=256))
    assert check(_row(fmt, 4, n, kk), ISA, Core(vlen=256)).ok
    assert prog.meta.get("kernel") != "ime" and "smt.vmadot" not in prog.counts().by_mnemonic


def test_bf16_weights_and_plain_rvv_never_use_it():
    row = {"kind": "gemm", "M": 4, "N": 16, "K": 64}
    assert "smt.vmadot" not in lower(row, ISA, Core(vlen=256)).counts().by_mnemonic
    assert lower(_row("q4_0", 4, 16, 64), "rvv", Core(vlen=256)).meta.get("kernel") != "ime"


def _trips(nodes, out=None):
    from isa.program import Loop
    out = {} if out is None else out
    for node in nodes:
        if isinstance(node, Loop):
            out.setdefault(node.var, []).append(node.trip)
            _trips(node.body, out)
    return out


@pytest.mark.parametrize("n,groups,tail", [(48, 3, 0), (40, 2, 1)])
def test_llamacpp_takes_16_columns_per_row_block(n, groups, tail):
    """ggml's M4 kernel: 4 rows x NB_COLS = 16 columns per call (two 8-column panels at
    VLEN 256, back to back for each row block), the columns left over as a narrower last
    group; B's codes are still loaded once per row block and A's once per panel, and the
    result is the product's."""
    from isa.kernels.ime import NB_COLS
    m, kk = 12, 64
    row = _row("q4_0", m, n, kk)
    core = Core(vlen=256, library="llamacpp")
    prog = lower(row, ISA, core)
    trips = _trips(prog.body)
    assert NB_COLS == 16 and trips["s"] == [NB_COLS // (PANEL_TILES * 4)]
    assert trips["j"] == [groups] and trips["i"] == [m // 4] * (1 + tail)
    order = [v for _, v in _loop_vars(prog.body)]
    assert "mc" not in order  # one chunk of MC rows: straight-line
    assert order.index("j") < order.index("i") < order.index("s") < order.index("kg")
    assert _loaded(prog, "Bqi") == (m // 4) * n * kk // 2
    assert _loaded(prog, "Aq") == n // 8 * m * kk
    assert check(row, ISA, core).ok


@pytest.mark.parametrize("spacemit,task_rows,mc", [
    ("pr15288", 0, None),   # one 128-row task: straight-line
    ("pr22863", 0, 4),      # N / M = 0 <= 64: tasks of 16 rows, 64 / 16 = 4
    ("pr22863", 32, 2),     # a thread's share told its tasks: 64 / 32 = 2
])
def test_llamacpp_tasks_of_the_spacemit_backend_version(spacemit, task_rows, mc):
    """llama.cpp's order runs the GEMM in tasks of its backend's gemm_m_stride rows (PR
    #15288: 128; the rewrite, PR #22863: 16 unless N / M > 64), or the rows an op row's
    ``ime_task_rows`` names: per task every 16-column group and, in each, the task's row
    blocks; B's codes are still loaded once per row block, and the result is the
    product's."""
    from isa.errors import IsaError
    from isa.kernels.ime import TASK_ROWS_FIELD
    m, n, kk = 64, 32, 64
    row = {**_row("q4_0", m, n, kk), **({TASK_ROWS_FIELD: task_rows} if task_rows else {})}
    core = Core(vlen=256, library="llamacpp", spacemit=spacemit)
    prog = lower(row, ISA, core)
    trips = _trips(prog.body)
    if mc is None:
        assert "mc" not in trips and trips["i"] == [m // 4]
    else:
        assert trips["mc"] == [mc] and trips["i"] == [m // mc // 4]
        order = [v for _, v in _loop_vars(prog.body)]
        assert order.index("mc") < order.index("j") < order.index("i")
    assert _loaded(prog, "Bqi") == (m // 4) * n * kk // 2
    assert check(row, ISA, core).ok
    with pytest.raises(IsaError, match="pr15288, pr22863"):
        Core(vlen=256, library="llamacpp", spacemit="v2")


def _scalar_loaded(prog, buf: str) -> int:
    return sum(count * ins.mem.eew // 8 for ins, count in prog.walk()
               if ins.mem is not None and ins.mem.buf == buf and count
               and ins.op == "flw")


def test_a_scales_are_one_float_per_row_and_block_as_ggml_keeps_them():
    """ggml's quantize_a_4row_i8 stores 4 x (4 + 32) bytes per 4 rows and 32-block (one
    FP32 scale per row, ``fsw``) and its M4 kernel loads them with 4 ``flw`` per block:
    M = 8, K = 128, N = 16 at VLEN 256 (4-row tiles): Ad holds 8 x 4 floats (128 B), and
    each of the 2 row blocks x 2 panels x 4 blocks loads its 4 rows' scales (16 B): 256 B,
    against 1 KiB for a 16-lane row pattern per block."""
    m, n, kk = 8, 16, 128
    prog = lower(_row("q4_0", m, n, kk), ISA, Core(vlen=256, library="llamacpp"))
    ad = prog.buffers["Ad"]
    assert ad.size * ad.eew // 8 == m * (kk // 32) * 4
    assert _scalar_loaded(prog, "Ad") == (m // 4) * (n // 8) * (kk // 32) * 4 * 4
    assert _loaded(prog, "Ad") == 0
    stored = sum(count for ins, count in prog.walk()
                 if ins.mem is not None and ins.mem.buf == "Ad" and ins.op == "fsw")
    assert stored == m * (kk // 32)
