"""The figure functions plot the numbers of the Results: bar heights, stacks, roofline
points and roofs are checked against values computed here from the Results' ops."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from codesign import report
from codesign.errors import CodesignError
from codesign.report import inputs as I


def _bars(fig):
    return [t for t in fig.data if t.type == "bar"]


def test_speedup_bars_are_latency_and_kind_ratios(gpu_results, riscv_results):
    results = [*riscv_results, *gpu_results]
    base = results[0]
    fig = report.speedup(results)
    bars = {b.name: dict(zip(b.x, b.y, strict=True)) for b in _bars(fig)}
    assert set(bars) == {r.target for r in results[1:]}
    base_kind = base.ops.groupby("kind")["total_seconds"].sum()
    for r in results[1:]:
        # the end-to-end bar is the latency ratio
        assert bars[r.target]["end to end"] == pytest.approx(base.latency_s / r.latency_s)
        theirs = r.ops.groupby("kind")["total_seconds"].sum()
        for kind, secs in base_kind.items():
            if secs > 0 and theirs.get(kind, 0) > 0:
                assert bars[r.target][kind] == pytest.approx(secs / theirs[kind])
    assert "c950-like" in report.caption(fig) and "seq 32" in report.caption(fig)


def test_speedup_baseline_option_and_errors(gpu_results, riscv_results):
    fig = report.speedup([*riscv_results, *gpu_results], baseline="h100-sxm")
    names = {b.name for b in _bars(fig)}
    assert "h100-sxm" not in names and "c950-like" in names
    e2e = {b.name: b.y[0] for b in _bars(fig)}
    h100 = gpu_results[0]
    assert e2e["c950-like"] == pytest.approx(h100.latency_s / riscv_results[0].latency_s)
    with pytest.raises(CodesignError, match="not among the results"):
        report.speedup(gpu_results, baseline="nope")
    with pytest.raises(CodesignError, match="at least two"):
        report.speedup(gpu_results[:1])


def test_speedup_refuses_different_scenarios(gpu_results, tiny_trace):
    from codesign import api

    other = tiny_trace.ops.copy()
    tr = type(tiny_trace)(ops=other, meta={**tiny_trace.meta,
                                           "scenario": {**tiny_trace.meta["scenario"],
                                                        "seq": 64}})
    with pytest.raises(CodesignError, match="different scenarios"):
        report.speedup([gpu_results[0], api.simulate(tr, "l4")])


def test_breakdown_stacks_sum_to_busy_time_by_kind(gpu_results, riscv_results):
    results = [*riscv_results, *gpu_results]
    fig = report.breakdown(results)
    stacks = {b.name: dict(zip(b.x, b.y, strict=True)) for b in _bars(fig)}
    for r in results:
        by_kind = r.ops.groupby("kind")["total_seconds"].sum() * 1e3
        for kind, ms in by_kind.items():
            assert stacks[kind][r.target] == pytest.approx(ms)
        total = sum(stacks[k][r.target] for k in stacks)
        assert total == pytest.approx(r.ops["total_seconds"].sum() * 1e3)
    marks = next(t for t in fig.data if t.type == "scatter")
    assert list(marks.y) == pytest.approx([r.latency_s * 1e3 for r in results])
    share = report.breakdown(results, normalize=True)
    for target in (r.target for r in results):
        assert sum(dict(zip(b.x, b.y, strict=True))[target] for b in _bars(share)) \
            == pytest.approx(100.0)
    assert fig.layout.yaxis.title.text == "time (ms)"


@pytest.mark.parametrize("which", ["gpu", "riscv"])
def test_roofline_places_every_op_at_its_intensity(which, gpu_results, riscv_results):
    r = (gpu_results if which == "gpu" else riscv_results)[0]
    fig = report.roofline(r)
    placed = [t for t in fig.data if t.mode == "markers"]
    xs = np.concatenate([np.asarray(t.x, float) for t in placed])
    ys = np.concatenate([np.asarray(t.y, float) for t in placed])
    ops = r.ops[(r.ops.flops > 0) & (r.ops.bytes > 0)]
    assert len(xs) == len(ops) > 20
    expected = sorted(zip(ops.flops / ops.bytes, ops.flops / ops.seconds, strict=True))
    placed_points = sorted(zip(xs, ys, strict=True))
    # flat lists: pytest 9.2's approx refuses nested tuples
    assert np.ravel(placed_points).tolist() == pytest.approx(np.ravel(expected).tolist())
    # no op sits above the roofline the model bounds it by
    roofs = report.roofs(r)
    peak = max(roofs.compute.values())
    bw = max([roofs.bandwidth, *roofs.other_bandwidths.values()])
    assert np.all(ys <= np.minimum(peak, bw * xs) * (1 + 1e-9))
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert "FLOP/byte" in fig.layout.xaxis.title.text


def test_roofs_from_config_match_hand_values_and_the_ops(gpu_results, riscv_results):
    h100 = report.roofs(gpu_results[0])
    c = gpu_results[0].config
    assert h100.bandwidth == pytest.approx(c["memory"]["dram_gbps"] * 1e9)
    assert h100.compute["tensor cores (bf16)"] == pytest.approx(
        c["sm"]["count"] * c["sm"]["clock_mhz"] * 1e6 * c["sm"]["tc_fp16_flops_per_clk"])
    for r in riscv_results:
        # the peak recovered from the ops' roofline bounds equals the config's peak
        cfg, derived = report.roofs(r), I._derived_roofs(r.ops)
        assert max(derived.compute.values()) == pytest.approx(max(cfg.compute.values()))
        assert cfg.bandwidth == pytest.approx(r.config["dram"]["bandwidth_gbps"] * 1e9)


def test_a_user_familys_roofs_are_asked_and_its_absence_falls_back(gpu_results,
                                                                   monkeypatch):
    import sys
    import types

    r = gpu_results[0]
    toy = types.ModuleType("codesign.toyfam")
    toy.roofs = lambda config: (123e9, {"toy peak": 4.5e12})  # the older tuple protocol
    monkeypatch.setitem(sys.modules, "codesign.toyfam", toy)
    monkeypatch.setattr(r, "family", "toyfam")
    got = report.roofs(r)
    assert (got.bandwidth, got.compute, got.source) == (123e9, {"toy peak": 4.5e12},
                                                        "the toyfam config")
    monkeypatch.setattr(r, "family", "nosuchfamily")  # no module: the ops' bounds
    assert report.roofs(r).source == I._derived_roofs(r.ops).source


def test_derived_roofs_recover_known_peaks():
    P, BW = 2e12, 1e11
    flops = np.array([1e6, 1e9, 5e9, 0.0])
    nbytes = np.array([1e6, 1e6, 1e7, 1e4])
    ops = pd.DataFrame({"flops": flops, "bytes": nbytes, "kind": ["a", "gemm", "gemm", "c"],
                        "roofline_seconds": np.maximum(flops / P, nbytes / BW)})
    roofs = I._derived_roofs(ops)
    assert roofs.bandwidth == pytest.approx(BW)
    assert list(roofs.compute.values()) == pytest.approx([P])


def test_cost_expressions_and_pareto_front():
    df = pd.DataFrame({"vector.vlen": [256, 512, 1024, 512], "vector.lanes": [1, 2, 2, 4],
                       "latency_s": [4.0, 2.0, 1.5, 2.5]})
    assert list(I.cost(df, "vector.vlen*vector.lanes")) == [256, 1024, 2048, 2048]
    assert list(I.cost(df, "log2(vector.vlen) + 1")) == [9, 10, 11, 10]
    for bad, msg in (("vector.vlenn", "unknown column"), ("__import__('os')", "unknown column"),
                     ("vector.vlen +", "not a valid"), ("area", "no area"),
                     ("vector.vlen.real", "unknown column"), ("3", "names no column")):
        with pytest.raises(CodesignError, match=msg):
            I.cost(df, bad)
    assert list(I.pareto_mask([1, 2, 3, 3], [4, 2, 1.5, 2.5])) == [True, True, True, False]
    fig = report.pareto(df, cost="vector.vlen*vector.lanes")
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert list(front.x) == [256, 1024, 2048] and list(front.y) == pytest.approx([4e3, 2e3,
                                                                                   1.5e3])
    assert "3 on the front" in report.caption(fig)


def test_pareto_tells_targets_apart_by_marker():
    df = pd.DataFrame({"target": ["a", "b", "a", "b"], "vector.vlen": [256, 256, 512, 512],
                       "latency_s": [4.0, 3.0, 2.0, 2.5]})
    fig = report.pareto(df, cost="vector.vlen")
    pts = next(t for t in fig.data if t.name == "design points")
    assert list(pts.marker.symbol) == ["circle", "square", "circle", "square"]
    legend = {t.name: t.marker.symbol for t in fig.data if t.name.startswith("target ")}
    assert legend == {"target a": "circle", "target b": "square"}
    assert "4 design points" in report.caption(fig)
    one = report.pareto(df[df["target"] == "a"], cost="vector.vlen")
    assert not any(t.name.startswith("target ") for t in one.data)


def test_pareto_of_results_uses_config_paths(gpu_results):
    fig = report.pareto(gpu_results, cost="sm.count*sm.clock_mhz")
    pts = next(t for t in fig.data if t.name == "design points")
    expected = [r.config["sm"]["count"] * r.config["sm"]["clock_mhz"] for r in gpu_results]
    assert list(pts.x) == pytest.approx(expected)
    assert list(pts.y) == pytest.approx([r.latency_s * 1e3 for r in gpu_results])


def test_heatmap_places_each_value_in_its_cell():
    rows = [{"vector.vlen": v, "memory.bw": b, "latency_s": v / 1000 + 1 / b}
            for v in (256, 512, 1024) for b in (10.0, 20.0)]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter
    fig = report.heatmap(df, x="vector.vlen", y="memory.bw")
    hm = fig.data[0]
    assert list(hm.x) == ["256", "512", "1024"] and list(hm.y) == ["10", "20"]
    for i, b in enumerate((10.0, 20.0)):
        for j, v in enumerate((256, 512, 1024)):
            assert hm.z[i][j] == pytest.approx((v / 1000 + 1 / b) * 1e3)
    rel = report.heatmap(df, x="vector.vlen", y="memory.bw", relative=True).data[0]
    corner = 256 / 1000 + 1 / 10.0
    assert rel.z[1][2] == pytest.approx(corner / (1024 / 1000 + 1 / 20.0))
    with pytest.raises(CodesignError, match="several rows"):
        report.heatmap(pd.concat([df, df]), x="vector.vlen", y="memory.bw")


def test_timeline_expands_repeats_back_to_back(gpu_results):
    r = gpu_results[0]
    sp = report.spans(r)
    assert len(sp) == int(r.ops["repeat"].sum())
    ends = sp["start_s"] + sp["dur_s"]
    # back to back in trace order: each op starts where the previous one ended
    assert np.allclose(sp["start_s"].iloc[1:].to_numpy(), ends.iloc[:-1].to_numpy())
    assert ends.iloc[-1] == pytest.approx(r.latency_s)  # the GPU runs ops in one stream
    body = r.ops[r.ops["repeat"] > 1]
    n = int(body["repeat"].iloc[0])
    labels = sp[sp["layer"] == body["layer"].iloc[0]]["layer_label"].unique()
    listed = [int(x) for x in str(body["layers"].iloc[0]).split(",")]
    assert len(labels) == n and [int(x.split()[0][1:]) for x in labels] == listed
    # the instances follow the model's layer order (a hybrid model interleaves its types)
    order = [int(x.split()[0][1:]) for x in sp["layer_label"].drop_duplicates()
             if x.startswith("L")]
    assert order == sorted(order) and len(order) == len(set(order))
    fig = report.timeline(r)
    assert sum(len(t.x) for t in fig.data) == len(sp)
    assert fig.layout.xaxis.title.text == "time (ms)"
    assert not math.isnan(ends.max())


def test_timeline_uses_schedule_start_times(gpu_results):
    from codesign.result import Result

    ops = pd.DataFrame({
        "op_id": [0, 1, 2, 3], "layer": [-1, 0, 0, 5], "layer_type": ["model", "a", "a", "b"],
        "module": ["m"] * 4, "kind": ["embedding", "gemm", "gemm", "norm"], "op": ["x"] * 4,
        "name": ["e", "g0", "g1", "n"], "repeat": [1, 3, 3, 1],
        "layers": ["", "0,1,2", "0,1,2", "5"],
        "flops": [0.0, 8.0, 8.0, 1.0], "bytes": [4.0] * 4, "cycles": [1.0] * 4,
        "seconds": [1.0, 2.0, 2.0, 1.0], "roofline_seconds": [0.5] * 4,
        "bound": ["memory"] * 4, "start_s": [0.0, 1.0, 1.0, 3.0], "core": [0, 0, 1, 0]})
    ops["total_seconds"] = ops["seconds"] * ops["repeat"]
    ops["achieved_flops"] = ops["flops"] / ops["seconds"]
    ops["achieved_gbps"] = ops["bytes"] / ops["seconds"] / 1e9
    r = Result("toy", ops, latency_s=8.0, trace_meta=gpu_results[0].trace_meta, family="riscv")
    sp = report.spans(r)
    got = list(zip(sp["name"], sp["start_s"], sp["track"], strict=True))
    # the two-core body runs 3 times (1..3, 3..5, 5..7); the last op moves behind it
    assert got == [("e", 0.0, 0), ("g0", 1.0, 0), ("g1", 1.0, 1), ("g0", 3.0, 0),
                   ("g1", 3.0, 1), ("g0", 5.0, 0), ("g1", 5.0, 1), ("n", 7.0, 0)]


def test_result_plot_accessor(gpu_results):
    r = gpu_results[1]
    assert r.plot.roofline().layout.title.text == f"Roofline: {r.target}"
    assert r.plot.timeline().layout.title.text == f"Per-layer timeline: {r.target}"
    fig = r.plot.speedup(gpu_results[0])
    assert [b.name for b in _bars(fig)] == [gpu_results[0].target]
    assert fig.data[0].y[0] == pytest.approx(r.latency_s / gpu_results[0].latency_s)
    assert r.plot.chrome_trace()["traceEvents"]


def test_cost_numbers_with_exponents_are_numbers_not_column_names():
    """Before: the 'e3' of 1e3 was read as a column name."""
    from codesign.report.inputs import cost

    df = pd.DataFrame({"vector.dlen": [128.0, 256.0], "cluster.cores": [1.0, 2.0]})
    assert list(cost(df, "vector.dlen*1e3 + 2.5e-3*cluster.cores")) == [128000.0025,
                                                                        256000.005]
