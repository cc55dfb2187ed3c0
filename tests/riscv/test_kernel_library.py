"""kernel.library on RISC-V targets (ideal | llamacpp) and the +ime suffix: the choice
reaches the kernels, the result says which library ran, bad values are refused."""

from __future__ import annotations

import pytest

from codesign import targets
from codesign.cli import main
from codesign.errors import CodesignError
from workloads.schema import trace_from_rows

ROW = {"kind": "gemm", "op": "matmul", "M": 1, "N": 256, "K": 512, "dtype": "bf16",
       "weight_dtype": "q4_0", "name": "w", "flops": 2 * 256 * 512,
       "bytes_read": 512 * 2 + 256 * 512 * 18 // 32, "bytes_written": 512}


def _run(target: str, **overrides):
    trace = trace_from_rows([ROW], {"model": "t", "scenario": {"phase": "decode"}})
    return targets.resolve(target, overrides).simulate(trace)


def test_the_library_picks_the_kernels_and_the_result_names_it():
    ideal = _run("spacemit-x60-like")
    ggml = _run("spacemit-x60-like", **{"kernel.library": "llamacpp"})
    assert ideal.engine is None and ggml.engine == "llamacpp"
    assert ideal.config["kernel"]["library"] == "ideal"
    # ggml's vec-dot GEMV reduces every block of 32 to a scalar: it runs longer
    assert ggml.latency_s > ideal.latency_s
    assert ggml.ops["signature"].iloc[0] != ideal.ops["signature"].iloc[0]


def test_ime_targets_take_the_ime_kernel_and_never_beat_the_roofline():
    plain = _run("spacemit-x60-like")
    ime = _run("spacemit-x60-like+ime")
    assert ime.ops["signature"].iloc[0] != plain.ops["signature"].iloc[0]
    for res in (plain, ime):
        assert float(res.ops["seconds"].iloc[0]) >= float(res.ops["roofline_seconds"].iloc[0])


def test_a_bad_library_is_one_clear_error():
    with pytest.raises(CodesignError, match="unknown kernel library 'blis'; valid: ideal, "
                                            "llamacpp"):
        targets.resolve("c950-like", {"kernel.library": "blis"}).config.check()


def test_the_cli_refuses_it_in_one_line(capsys, tmp_path):
    code = main(["run", "qwen3-0.6b", "-t", "c950-like", "--set", "kernel.library=blis"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "blis" in err[0] and "llamacpp" in err[0]


def test_ime_targets_are_described_by_their_extension():
    from codesign import riscv
    assert "ime (SpacemiT IME1" in riscv.describe("c950-like+ime")
    assert "vfwmmacc.vv" in riscv.describe("c950-like+xattn+ime")


ATTN = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 4, "Hkv": 2, "Sq": 64, "Skv": 64,
        "D": 64, "causal": True, "dtype": "bf16", "name": "attn",
        "flops": 4 * 4 * 64 * 64 * 64 // 2, "bytes_read": 3 * 4 * 64 * 64 * 2,
        "bytes_written": 4 * 64 * 64 * 2}


def _attn(**overrides):
    trace = trace_from_rows([ATTN], {"model": "t", "scenario": {"phase": "prefill"}})
    return targets.resolve("spacemit-x60-like", overrides).simulate(trace)


def test_llamacpp_flash_attention_is_a_setting_that_reaches_the_attention_kernel():
    """kernel.llamacpp_flash_attn (llama-bench -fa): on, ggml's FLASH_ATTN_EXT (scalar
    online softmax, one libm expf per visible key) runs, slower than the ideal FA-2 and never
    faster than the roofline; off (-fa 0), ggml's KQ mul_mat / soft_max_ext / KQV mul_mat
    graph, which computes every masked score of a causal prefill too, but with SpacemiT's
    vector exponential (isa.kernels.ggml_kq) and its rows split over all 8 threads: faster
    than flash attention's scalar expf per key, never faster than the roofline."""
    ideal = _attn()
    fa = _attn(**{"kernel.library": "llamacpp"})
    off = _attn(**{"kernel.library": "llamacpp", "kernel.llamacpp_flash_attn": False})
    assert fa.config["kernel"]["llamacpp_flash_attn"] is True
    assert len({off.ops["signature"].iloc[0], fa.ops["signature"].iloc[0],
                ideal.ops["signature"].iloc[0]}) == 3
    # (this once read ">": it held only while the ways memo served -fa 0 flash
    # attention's head split, 4 heads on 8 cores, after flash attention had run)
    assert float(off.ops["seconds"].iloc[0]) < float(fa.ops["seconds"].iloc[0])
    assert float(off.ops["seconds"].iloc[0]) >= float(off.ops["roofline_seconds"].iloc[0])
    assert fa.ops["signature"].iloc[0] != ideal.ops["signature"].iloc[0]
    assert float(fa.ops["seconds"].iloc[0]) > float(ideal.ops["seconds"].iloc[0])
    assert float(fa.ops["seconds"].iloc[0]) >= float(fa.ops["roofline_seconds"].iloc[0])


def test_llamacpp_attention_without_flash_attn_pays_a_barrier_per_graph_node():
    """-fa 0 attention is three ggml graph nodes (KQ mul_mat, soft_max_ext, KQV mul_mat),
    each ending in ggml_barrier: its fixed cost is three of llama.cpp's per-op cost; flash
    attention, a window (ideal kernels) and every other library pay one."""
    from codesign.riscv.replay import fork_join_cycles, graph_nodes
    from workloads.schema import Op
    op = Op.from_row(ATTN)
    cfg = {k: targets.resolve("spacemit-k1", o).config for k, o in (
        ("ideal", {}), ("fa", {"kernel.library": "llamacpp"}),
        ("off", {"kernel.library": "llamacpp", "kernel.llamacpp_flash_attn": False}))}
    assert [graph_nodes(op, cfg[k]) for k in ("ideal", "fa", "off")] == [1, 1, 3]
    assert graph_nodes(Op.from_row({**ATTN, "window": 16}), cfg["off"]) == 1
    one = fork_join_cycles(4, cfg["off"])
    assert fork_join_cycles(4, cfg["off"], graph_nodes(op, cfg["off"])) == 3 * one > 0


def test_llamacpp_attention_without_flash_attn_splits_rows_over_every_thread():
    """ggml's threads split -fa 0 attention by rows (soft_max_ext's query rows of every
    head; the mul_mats' output chunks), not by heads: all four cores work even when the
    heads do not divide among them (Qwen2.5-0.5B: 14 query heads, 2 KV heads, which the
    head split runs on 2 cores); the shards read the same K and V, which a shared L2 holds
    once; decode (one row) splits the heads. Other libraries keep the head split."""
    from codesign import kinds
    from codesign.riscv.replay import candidate_ways
    from workloads.schema import Op
    op = Op.from_row({**ATTN, "Hq": 14, "Hkv": 2, "Sq": 512, "Skv": 512})
    off = targets.resolve("spacemit-k1", {"cluster.cores": 4, "cluster.clusters": 1,
                                          "kernel.library": "llamacpp",
                                          "kernel.llamacpp_flash_attn": False}).config
    ideal = targets.resolve("spacemit-k1", {"cluster.cores": 4,
                                            "cluster.clusters": 1}).config
    [(shard, cores)] = candidate_ways(op, off)
    assert cores == 4 and (shard.Hq, shard.Hkv, shard.Sq, shard.Skv) == (14, 2, 128, 512)
    assert kinds.sharing(op, shard) == (("K", 4), ("V", 4))
    assert max(c for _, c in candidate_ways(op, ideal)) == 2  # 7 query heads per group
    dec = Op.from_row({**ATTN, "Hq": 14, "Hkv": 2, "Sq": 1, "Skv": 129})
    [(shard, cores)] = candidate_ways(dec, off)
    assert cores == 4 and (shard.Hq, shard.Hkv, shard.Sq) == (4, 1, 1)
    assert kinds.sharing(dec, shard) == ()


def test_candidate_ways_memo_tells_flash_attention_on_from_off():
    # the ways are memoised per process: the same op with flash attention on first, then
    # off, must still get -fa 0's row split (a memo key without it served the head split)
    from codesign.riscv.replay import candidate_ways
    from workloads.schema import Op
    op = Op.from_row({**ATTN, "Hq": 14, "Hkv": 6, "Sq": 384, "Skv": 384})
    base = {"cluster.cores": 4, "cluster.clusters": 1, "kernel.library": "llamacpp"}
    on, off = (targets.resolve("spacemit-k1", {**base, "kernel.llamacpp_flash_attn": fa}
                               ).config for fa in (True, False))
    assert {s.Sq for s, _ in candidate_ways(op, on)} == {384}
    [(shard, cores)] = candidate_ways(op, off)
    assert cores == 4 and shard.Sq == 96


@pytest.mark.parametrize("m,n,want", [
    (512, 2048, (128, 2048, 4)),   # 4 chunks of 128 rows: one each, every column
    (128, 1024, (128, 256, 4)),    # one chunk: max_nc = 1024 / 4 = 256 columns each
    (128, 1000, (128, 256, 4)),    # max_nc 250 rounded up to 16: 256, 4 blocks
    (128, 8, (128, 8, 1)),         # max_nc 2 -> 16 > N: one thread has all of it
    (1024, 2048, (256, 2048, 4)),  # 8 chunks, two consecutive ones per thread
    (384, 2048, None),             # 3 x 2 tasks: a thread's two are no block
])
def test_llamacpp_ime_gemms_split_as_ggml_hands_out_tasks(m, n, want):
    """ggml spacemit ime.cpp (PR #15288): tasks of 128 rows x nc columns (nc = N unless
    ceil(N x ceil(M / 128) / threads) is less, then that rounded up to 16), each thread
    ``ceil(tasks / threads)`` consecutive ones, row chunks first; hand-counted on 4."""
    from isa.kernels.ime import ggml_thread_split
    assert ggml_thread_split(m, n, 4) == want


@pytest.mark.parametrize("m,n,want", [
    (128, 1024, (32, 1024, 4)),     # 1024 / 128 = 8 <= 64: 16-row tasks, 8 of them;
                                    # max_nc = 1024 x 8 / 4 >= N: every column, 2 each
    (128, 8319, (32, 8319, 4)),     # 8319 / 128 = 64 (integer): still 16-row tasks
    (128, 9000, (128, 2256, 4)),    # 9000 / 128 = 70 > 64: one task of every row;
                                    # max_nc 2250 rounded up to 16: 2256, 4 blocks
    (512, 2048, (128, 2048, 4)),    # 32 tasks of 16 rows, 8 consecutive ones each
    (48, 2048, None),               # 3 x 2 tasks (nc 1536): a thread's two are no block
    (1, 4096, (1, 1024, 4)),        # one row: 4096 > 64, one task row, a quarter each
])
def test_llamacpp_rewritten_spacemit_backend_splits_in_16_row_tasks(m, n, want):
    """ggml spacemit ime.cpp as rewritten (PR #22863, forward_mul_mat without TCM):
    gemm_m_stride = N / M > 64 ? M : 16, then the same nc and consecutive tasks as PR
    #15288; hand-counted on 4 threads."""
    from isa.kernels.ime import ggml_task_rows, ggml_thread_split
    assert ggml_thread_split(m, n, 4, "pr22863") == want
    assert ggml_task_rows(m, n, "pr22863") == (m if n // m > 64 else 16)
    assert ggml_task_rows(m, n) == 128  # the default, PR #15288 commit 6f8d979


def test_llamacpp_rewritten_spacemit_split_reaches_the_kernel():
    """With kernel.llamacpp_spacemit = pr22863 the K1's IME GEMM of 128 tokens runs as
    ggml's rewrite hands it out: each of 4 threads 32 rows (two 16-row tasks) and every
    column, the task rows told to the kernel where the shard's own shape would say
    otherwise (N / 32 > 64); the default keeps 128 rows and a quarter of the columns; an
    unknown version is refused naming the valid ones."""
    from codesign.errors import CodesignError
    from codesign.riscv.replay import candidate_ways
    from isa.kernels.ime import TASK_ROWS_FIELD
    from workloads.schema import Op
    over = {"cluster.cores": 4, "cluster.clusters": 1, "kernel.library": "llamacpp"}
    new = targets.resolve("spacemit-k1+ime", {**over, "kernel.llamacpp_spacemit": "pr22863"}
                          ).config
    old = targets.resolve("spacemit-k1+ime", over).config
    op = Op(kind="gemm", dtype="bf16", weight_dtype="q4_0", M=128, N=3072, K=1024, G=1)
    [(shard, cores)] = candidate_ways(op, new)
    assert (shard.M, shard.N, cores, shard[TASK_ROWS_FIELD]) == (32, 3072, 4, 16)
    [(shard, cores)] = candidate_ways(op.replace(N=1024), new)
    assert (shard.M, shard.N, cores) == (32, 1024, 4) and TASK_ROWS_FIELD not in shard
    assert [(s.M, s.N, c) for s, c in candidate_ways(op, old)] == [(128, 768, 4)]
    with pytest.raises(CodesignError, match="pr15288, pr22863"):
        targets.resolve("spacemit-k1+ime", {**over, "kernel.llamacpp_spacemit": "v2"})


def test_llamacpp_ime_gemm_runs_ggmls_split_and_other_targets_keep_theirs():
    """On the K1's IME cluster llama.cpp's Q4_0 GEMM of 512 tokens takes ggml's split
    (each of 4 threads 128 rows, every column) as its one way; the same op without the
    IME (plain RVV: ggml's vec-dot) or with one token keeps the kind's ways."""
    from codesign.riscv.replay import candidate_ways
    from workloads.schema import Op
    over = {"cluster.cores": 4, "cluster.clusters": 1, "kernel.library": "llamacpp"}
    op = Op(kind="gemm", dtype="bf16", weight_dtype="q4_0", M=512, N=2048, K=2048, G=1)
    ime = targets.resolve("spacemit-k1+ime", over).config
    plain = targets.resolve("spacemit-k1", over).config
    ways = candidate_ways(op, ime)
    assert [(s.M, s.N, c) for s, c in ways] == [(128, 2048, 4)]
    assert len(candidate_ways(op, plain)) > 1  # the kind's grids on all 4 cores
    one = op.replace(M=1)
    assert all(s.M == 1 and c == 4 for s, c in candidate_ways(one, ime))


def test_the_ime1_m4_probe_times_both_programs_and_refuses_a_bad_shape(capsys, bench_script):
    """benchmarks/ime1_m4_probe.py (issue #16's diagnostic of the K1 pp128 rows): one line
    per program with cycles per 4 x 16 x 32 block; a shape off the M4 kernel's grid is one
    error line and status 2."""
    probe = bench_script("ime1_m4_probe")
    assert probe.main(["4", "16", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split("  ")[0] for ln in lines] == ["ggml ime1 M4", "library ime"]
    assert all(float(ln.split("block")[1].split()[0]) > 0 for ln in lines)
    assert probe.main(["5", "16", "64"]) == 2
    err = capsys.readouterr().err
    assert "shape [5, 16, 64]" in err and err.count("\n") == 1


def test_llamacpp_simd_gemm_setting_reaches_the_kernels_and_rejects_other_values():
    """kernel.llamacpp_simd_gemm picks the tiled flash attention's simd_gemm (issue #16);
    a value not in isa.core.FA_SIMD_GEMMS is one error line naming the valid ones."""
    over = {"cluster.cores": 4, "cluster.clusters": 1, "kernel.library": "llamacpp",
            "kernel.llamacpp_spacemit": "pr22863"}
    cfg = targets.resolve("spacemit-k1+ime", {**over, "kernel.llamacpp_simd_gemm": "scalar"}
                          ).config
    assert cfg.core().fa_simd_gemm == "scalar"
    assert targets.resolve("spacemit-k1+ime", over).config.core().fa_simd_gemm == "rvv"
    with pytest.raises(CodesignError, match="rvv, scalar"):
        targets.resolve("spacemit-k1+ime", {**over, "kernel.llamacpp_simd_gemm": "neon"})
