"""Trace replay on a cluster: splitting ops over cores, repeat, the Result table."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import codesign as cd
from codesign import config as C
from codesign import kinds
from codesign.kinds import splits
from codesign.result import REQUIRED_COLUMNS, Result
from codesign.riscv import make
from codesign.riscv.core import busy_floor
from codesign.riscv.replay import UTIL_COLUMNS, lower, shard_floor, split, time_op, time_program
from workloads.schema import Op


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["gemm", "norm", "activation", "conv1d", "attention",
                             "linear_attention", "softmax"]),
       m=st.integers(1, 300), n=st.integers(1, 5000), g=st.integers(1, 20),
       b=st.integers(1, 3), hkv=st.integers(1, 8), grp=st.integers(1, 8),
       cores=st.integers(1, 16))
def test_shards_cover_the_work_without_idle_shards(kind, m, n, g, b, hkv, grp, cores):
    row = {"kind": kind, "M": m, "N": n, "G": g, "B": b, "Hkv": hkv, "Hq": hkv * grp}
    shard, c = split(row, cores, 512)
    assert 1 <= c <= cores
    units = {"gemm": ("G", "M", "N"), "norm": ("M",), "softmax": ("M",), "conv1d": ("N",),
             "activation": ("M", "N"), "attention": ("B", "Hq"),
             "linear_attention": ("B", "Hq")}[kind]
    whole = 1
    part = 1
    for f in units:
        whole *= row[f]
        part *= shard[f]
    assert part * c >= whole  # every unit of work is in some shard
    if kind == "gemm":
        # a grid: shards per dimension multiply to c, the last one in each is not empty
        per = [-(-row[f] // shard[f]) for f in units]
        assert per[0] * per[1] * per[2] == c
        assert all((k - 1) * shard[f] < row[f] for k, f in zip(per, units, strict=True))
    elif kind in ("attention", "linear_attention") and shard["B"] == 1 and b > 1:
        # split by sequence, then heads: each sequence's shards are all non-empty
        assert c % b == 0
        assert shard["Hq"] * (c // b - 1) < row["Hq"]
    else:
        assert part * (c - 1) < whole  # no shard is empty
    if kind == "attention":
        assert shard["Hq"] % shard["Hkv"] == 0  # whole GQA groups per shard
        assert shard["Hq"] // shard["Hkv"] <= grp


def test_gemm_splits_by_columns_in_vector_multiples():
    shard, c = split({"kind": "gemm", "M": 1, "N": 4096, "G": 1}, 8, 512)
    assert (shard["N"], c) == (512, 8)
    shard, c = split({"kind": "gemm", "M": 1, "N": 100, "G": 1}, 8, 512)
    assert (shard["N"], c) == (64, 2)
    shard, c = split({"kind": "gemm", "M": 4, "N": 64, "G": 16}, 8, 512)
    assert (shard["G"], shard["N"], c) == (2, 64, 8)


def test_a_small_gemm_is_split_over_rows_too():
    # Ara2's case (arXiv 2311.07493): a 32^3 GEMM on eight cores whose vectors hold 32
    # columns; by columns alone it ran on one core
    shard, c = split({"kind": "gemm", "M": 32, "N": 32, "K": 32, "G": 1}, 8, 256)
    assert (shard["M"], shard["N"], c) == (4, 32, 8)
    # a prefill GEMM: the grid whose shard reads the fewest elements ranks first
    ways = splits({"kind": "gemm", "M": 256, "N": 1536, "K": 4096, "G": 1}, 8, 512)
    assert [(s.M, s.N, c) for s, c in ways[:4]] == [
        (256, 192, 8), (128, 384, 8), (64, 768, 8), (32, 1536, 8)]
    # every core count up to the cluster's is offered, most cores first
    assert {c for _, c in ways} == set(range(1, 9))
    assert [c for _, c in ways] == sorted((c for _, c in ways), reverse=True)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(m=st.integers(1, 96), n=st.integers(1, 700), k=st.integers(1, 300),
       target=st.sampled_from(["spatz-like", "spacemit-x60-like+xattn", "c950-like+ime",
                               "spacemit-k1", "c950-like+xattn", "x280-like"]),
       weights_cached=st.booleans(), mode=st.sampled_from(["steady", "steady", "full"]),
       interval=st.sampled_from([1, 1, 6]))
def test_no_split_is_simulated_faster_than_its_floor(m, n, k, target, weights_cached, mode,
                                                      interval):
    """The search over splits stops on shard_floor and skips programs on busy_floor: both
    must bound the simulation from below (timed as time_op times it: with the data its
    shards share, weights in the caches or not, a host issuing a vector instruction
    every cycle or every 6 as Ara's CVA6), or the fastest split could be skipped."""
    cfg = make(target, {"memory.weights_cached": weights_cached,
                        "vector.issue_interval": interval}).config
    op = Op.from_row({"kind": "gemm", "op": "matmul", "M": m, "N": n, "K": k, "G": 1,
                      "dtype": "bf16"})
    for shard, c in splits(op, cfg.cluster.cores, cfg.vector.vlen)[:6]:
        shared = kinds.sharing(op, shard)
        floor = shard_floor(kinds.get("gemm").work(shard), shard, c, cfg, shared)
        for nc in cfg.gemm_nc_choices(c):
            prog = lower(shard, cfg, nc)
            t = time_program(prog, cfg, c, mode, sharing=shared)
            assert floor <= t["cycles"]
            assert busy_floor(prog, cfg) <= t["cycles"]


@settings(max_examples=12, deadline=None, derandomize=True)
@given(m=st.integers(1, 64), n=st.integers(1, 600), k=st.integers(1, 200),
       target=st.sampled_from(["c950-like+xattn", "spacemit-x60-like", "x280-like+xattn"]))
def test_the_split_search_finds_the_fastest_way(m, n, k, target):
    """Skipping ways on their bounds loses nothing: time_op keeps the fastest of every
    way and blocking, the first of them (in the bounds' order) among equals."""
    cfg = make(target, {"sim.split_candidates": 64}).config
    op = Op.from_row({"kind": "gemm", "op": "matmul", "M": m, "N": n, "K": k, "G": 1,
                      "dtype": "bf16"})
    ways = splits(op, cfg.cluster.cores, cfg.vector.vlen)
    work = kinds.get("gemm").work
    order = sorted(range(len(ways)), key=lambda i: (shard_floor(
        work(ways[i][0]), ways[i][0], ways[i][1], cfg, kinds.sharing(op, ways[i][0])), i))
    every = [(time_program(lower(s, cfg, nc), cfg, c, sharing=kinds.sharing(op, s))["cycles"],
              pos, c) for pos, i in enumerate(order) for s, c in [ways[i]]
             for nc in cfg.gemm_nc_choices(c)]
    cycles, _, cores = min(every)
    timed = []

    def record(prog, *args, **kw):
        timed.append(prog)
        return time_program(prog, *args, **kw)

    with mock.patch("codesign.riscv.replay.time_program", record):
        t = time_op(op, cfg, C.fingerprint(cfg))
    assert (t["cycles"], t["cores"]) == (cycles, cores)
    # best-first: no program is simulated whose own bound exceeds the fastest way
    assert all(busy_floor(prog, cfg) <= cycles for prog in timed)


def test_result_table(tiny_prefill):
    res = cd.simulate(tiny_prefill, "x280-like+xattn")
    assert isinstance(res, Result) and res.family == "riscv"
    ops = res.ops
    for col in (*REQUIRED_COLUMNS, *UTIL_COLUMNS, "modelled", "cores"):
        assert col in ops.columns, col
    assert len(ops) == len(tiny_prefill.ops)
    assert set(ops["bound"]) <= {"compute", "memory", "issue", "latency"}
    freq = res.config["scalar"]["freq_ghz"] * 1e9
    assert ops["seconds"].to_numpy() == pytest.approx(ops["cycles"].to_numpy() / freq)
    assert ops["total_seconds"].to_numpy() == pytest.approx(
        (ops["seconds"] * ops["repeat"]).to_numpy())
    assert res.latency_s == pytest.approx(ops["total_seconds"].sum())
    assert ((ops[list(UTIL_COLUMNS)] >= 0) & (ops[list(UTIL_COLUMNS)] <= 1 + 1e-9)).all().all()
    assert res.summary()["tokens_per_s"] > 0


def test_repeat_multiplies_and_never_resimulates(tiny_prefill):
    tr = tiny_prefill
    one = tr.ops.copy()
    one["repeat"] = 1
    many = tr.ops.copy()
    many["repeat"] = 1000
    t = make("spatz-like")
    from workloads.schema import Trace
    r1 = t.simulate(Trace(one, tr.meta))
    r2 = make("spatz-like", {"sim.window": 3}).simulate(Trace(many, tr.meta))
    # a fresh config (window 3) simulates every distinct op once, whatever the repeat
    distinct = r2.ops.drop_duplicates(["signature", "cores"])  # a program per core count
    assert (r2.ops["simulated_instructions"] > 0).sum() <= len(distinct)
    r3 = t.simulate(Trace(many, tr.meta))
    assert r3.latency_s == pytest.approx(1000 * r1.latency_s)
    assert (r3.ops["simulated_instructions"] == 0).all()  # all memoized


def test_missing_kernels_policy(tiny_prefill):
    """An op no kernel covers (an int8 elementwise add) is timed at its roofline and
    marked unmodelled, or refused with sim.missing_kernels = "error"."""
    from workloads.schema import trace_from_rows

    rows = tiny_prefill.ops.to_dict("records")
    rows.append({**rows[-1], "kind": "elementwise", "op": "add", "name": "int8_add",
                 "dtype": "int8", "weight_dtype": "", "M": 4, "N": 64, "K": 0, "G": 1,
                 "flops": 256, "bytes_read": 512, "bytes_written": 256, "repeat": 1})
    tr = trace_from_rows(rows, tiny_prefill.meta)
    res = make("x280-like").simulate(tr)
    missing = res.ops[~res.ops["modelled"]]
    assert missing["name"].tolist() == ["int8_add"]
    assert missing["seconds"].to_numpy() == pytest.approx(
        missing["roofline_seconds"].to_numpy())
    assert res.ops["modelled"].sum() == len(tiny_prefill.ops)  # every traced op has a kernel
    with pytest.raises(cd.CodesignError, match=r"no kernel|no RISC-V kernel"):
        make("x280-like", {"sim.missing_kernels": "error"}).simulate(tr)


def test_more_cores_run_a_parallel_op_faster():
    row = {"kind": "gemm", "op": "matmul", "M": 1, "N": 4096, "K": 512, "G": 1,
           "dtype": "bf16", "causal": False}
    # a kernel timed alone: its 4 MiB of weights start in the caches (in a forward pass
    # they stream from DRAM, which eight cores share: then the op is DRAM-bound)
    c1 = make("c950-like", {"cluster.cores": 1, "memory.weights_cached": True}).config
    c8 = make("c950-like", {"memory.weights_cached": True}).config
    t1 = time_op(row, c1, C.fingerprint(c1))
    t8 = time_op(row, c8, C.fingerprint(c8))
    assert t8["cores"] == 8
    assert t8["cycles"] < t1["cycles"] / 4


def test_xattn_speeds_up_attention_decode():
    row = {"kind": "attention", "op": "sdpa", "B": 1, "Hq": 4, "Hkv": 1, "Sq": 1,
           "Skv": 1024, "D": 128, "dtype": "bf16", "causal": False}
    rvv = make("c950-like").config
    xat = make("c950-like+xattn").config
    assert time_op(row, xat, C.fingerprint(xat))["cycles"] < \
        time_op(row, rvv, C.fingerprint(rvv))["cycles"]


def _row_by_row(ops, cfg):
    """The replay table as one dict per row, then finish_ops: the reference the column-wise
    replay must reproduce exactly (issue #12)."""
    import pandas as pd

    from codesign.result import TRACE_COLUMNS, finish_ops
    from codesign.riscv.replay import WORK_COLUMNS, RowTimings, cluster_peak, roofline_seconds

    timings, freq, peak, rows = RowTimings(cfg), cfg.freq_hz, cluster_peak(cfg), []
    for rec in ops.to_dict("records"):
        t = timings(Op.from_row(rec))
        flops, nbytes = float(rec["flops"]), float(rec["bytes_read"] + rec["bytes_written"])
        rows.append({
            **{c: rec[c] for c in TRACE_COLUMNS}, "flops": flops, "bytes": nbytes,
            "cycles": t["cycles"], "seconds": t["cycles"] / freq,
            "roofline_seconds": roofline_seconds(
                flops, min(nbytes, t["beyond_l1_bytes"] * t["cores"]), cfg,
                t["cold_level"] == "dram", peak),
            "bound": t["bound"], "cores": t["cores"], "modelled": t["modelled"],
            "note": t.get("note", ""), "instructions": t["instructions"],
            "vector_instructions": t["vector_instructions"],
            "simulated_instructions": 0 if t.get("cached") else t["simulated_instructions"],
            "sim_seconds": 0.0 if t.get("cached") else t["sim_seconds"],
            "signature": t["signature"], **{u: t[u] for u in UTIL_COLUMNS},
            **{c: t[c] * t["cores"] for c in WORK_COLUMNS},
            "cluster_instructions": t["instructions"] * t["cores"]})
        t["cached"] = True
    return finish_ops(pd.DataFrame(rows))


def test_replay_table_is_the_row_by_row_table(tiny_prefill):
    """The column-wise replay (a record per distinct row content, shapes memoized across
    replays) builds exactly the table of the row-by-row construction, warm and with an
    unmodelled row, whose note names the first op of its shape (issue #12)."""
    import pandas as pd

    from codesign.riscv.replay import replay

    ops = tiny_prefill.ops
    extra = ops.iloc[[-1, -1]].assign(kind="elementwise", op="add", dtype="int8",
                                      weight_dtype="", name=["int8_a", "int8_b"], M=4, N=64)
    ops = pd.concat([ops, extra], ignore_index=True)
    cfg = make("x280-like+xattn", {"vector.vlen": 1024}).config
    first = replay(ops, cfg)  # fills the memo where it was cold
    for _ in range(2):  # warm: the cross-replay shape memo is used the second time
        pd.testing.assert_frame_equal(replay(ops, cfg), _row_by_row(ops, cfg),
                                      check_exact=True)
    pd.testing.assert_frame_equal(first.drop(columns=["simulated_instructions", "sim_seconds"]),
                                  replay(ops, cfg).drop(columns=["simulated_instructions",
                                                                 "sim_seconds"]),
                                  check_exact=True)
    notes = replay(ops, cfg)["note"].tolist()[-2:]
    assert "int8_a" in notes[0] and notes[0] == notes[1]
