"""Sweep specs: axes, ranges, sampling, derived metrics, and one-line errors naming the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codesign.cli import main
from codesign.errors import CodesignError
from codesign.sweep import load_spec
from codesign.sweep.spec import key_lines

from .conftest import TINY_CONFIG

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def spec_text(axes: str, sampling: str = "", extra: str = "",
              workloads: str = 'trace = "TRACE"') -> str:
    return f"""\
name = "t"

[workloads]
{workloads}

[axes]
{axes}
{sampling}
{extra}"""


def load(write_spec, tiny_trace, axes, **kw):
    text = spec_text(axes, **kw).replace("TRACE", str(tiny_trace))
    return load_spec(write_spec(text))


def test_grid_is_the_cross_product_of_targets_and_axes(write_spec, tiny_trace):
    spec = load(write_spec, tiny_trace, 'target = ["h100-sxm", "l4"]\n'
                '"memory.dram_gbps" = [100.0, 200.0, 300.0]\n'
                '"efficiency.dram_stream" = [0.8, 0.9]\n')
    assert len(spec.points) == 2 * 3 * 2
    assert {p.target for p in spec.points} == {"h100-sxm", "l4"}
    combos = {(p.target, dict(p.overrides)["memory.dram_gbps"],
               dict(p.overrides)["efficiency.dram_stream"]) for p in spec.points}
    assert len(combos) == 12
    assert spec.axis_types == {"memory.dram_gbps": "float", "efficiency.dram_stream": "float"}


def test_ranges_are_inclusive_linear_and_geometric(write_spec, tiny_trace):
    spec = load(write_spec, tiny_trace, 'target = ["h100-sxm"]\n'
                '"sm.count" = {start = 16, stop = 64, step = 16}\n'
                '"gemm.k_tile" = {start = 16, stop = 128, factor = 2}\n')
    by_path = {a.path: a.values for a in spec.axes}
    assert by_path["sm.count"] == (16, 32, 48, 64)
    assert by_path["gemm.k_tile"] == (16, 32, 64, 128)
    assert spec.axis_types["sm.count"] == "int"


def test_workload_lists_cross_and_model_paths_resolve_against_the_spec(write_spec, tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "tiny.json").write_text(TINY_CONFIG.read_text())
    text = spec_text('target = ["h100-sxm"]\n"memory.dram_gbps" = [100.0]\n',
                     workloads='model = "cfg/tiny.json"\nphase = ["prefill", "decode"]\n'
                               'batch = [1, 2]\nseq = [16]\n'
                               'context = {start = 64, stop = 256, factor = 2}')
    spec = load_spec(write_spec(text))
    got = sorted((w.phase, w.batch, w.seq, w.context) for w in spec.workloads)
    assert got == sorted([("prefill", b, 16, 0) for b in (1, 2)]
                         + [("decode", b, 0, c) for b in (1, 2) for c in (64, 128, 256)])
    assert all(w.model == str(tmp_path / "cfg" / "tiny.json") for w in spec.workloads)


def test_latin_hypercube_puts_one_sample_in_every_stratum(write_spec, tiny_trace):
    n = 16
    spec = load(write_spec, tiny_trace,
                'target = ["h100-sxm", "l4"]\n'
                '"memory.dram_gbps" = {min = 100.0, max = 1700.0}\n'
                '"sm.count" = {min = 8, max = 136}\n',
                sampling=f'[sampling]\nmethod = "lhs"\nsamples = {n}\nseed = 7\n')
    hw = sorted({p.overrides for p in spec.points})
    assert len(hw) == n and len(spec.points) == 2 * n  # every sample on every target
    bw = np.array([dict(o)["memory.dram_gbps"] for o in hw])
    strata = np.floor((bw - 100.0) / (1600.0 / n)).astype(int)
    assert sorted(strata) == list(range(n))
    assert all(isinstance(dict(o)["sm.count"], int) for o in hw)  # int field: rounded
    again = load(write_spec, tiny_trace,
                 'target = ["h100-sxm", "l4"]\n'
                 '"memory.dram_gbps" = {min = 100.0, max = 1700.0}\n'
                 '"sm.count" = {min = 8, max = 136}\n',
                 sampling=f'[sampling]\nmethod = "lhs"\nsamples = {n}\nseed = 7\n')
    assert [p.overrides for p in again.points] == [p.overrides for p in spec.points]


def test_random_sampling_stays_in_range_and_depends_on_the_seed(write_spec, tiny_trace):
    def pts(seed):
        s = load(write_spec, tiny_trace, 'target = ["h100-sxm"]\n'
                 '"memory.dram_gbps" = {min = 10.0, max = 1000.0, log = true}\n',
                 sampling=f'[sampling]\nmethod = "random"\nsamples = 20\nseed = {seed}\n')
        return [dict(p.overrides)["memory.dram_gbps"] for p in s.points]

    a, b = pts(1), pts(2)
    assert all(10.0 <= v <= 1000.0 for v in a) and a != b and a == pts(1)


def test_skip_invalid_drops_combinations_a_config_rejects(write_spec, tiny_trace):
    axes = ('target = ["h100-sxm"]\n"gemm.k_tile" = [16, 32]\n'
            '"gemm.stages" = [0, 2]\n')  # stages = 0 is rejected by the GPU config's check
    with pytest.raises(CodesignError, match=r"skip_invalid"):
        load(write_spec, tiny_trace, axes)
    spec = load(write_spec, tiny_trace, axes, sampling="[sampling]\nskip_invalid = true\n")
    assert spec.skipped == 2 and len(spec.points) == 2


def test_derived_baseline_outside_the_target_axis_adds_its_preset(write_spec, tiny_trace):
    spec = load(write_spec, tiny_trace, 'target = ["h100-sxm"]\n'
                '"memory.dram_gbps" = [100.0, 200.0]\n',
                extra='[derived.vs_l4]\nspeedup_over = "l4"\n')
    refs = [p for p in spec.points if p.reference]
    assert [(p.target, p.overrides) for p in refs] == [("l4", ())]
    assert spec.derived[0].at == "preset"


def test_key_lines_finds_tables_keys_and_array_entries():
    text = ('name = "x"\n\n[workloads]\nmodel = "a"\n\n[axes]\n"vector.vlen" = [1,\n 2]\n'
            'target = ["a"]\n[[more]]\nk = 1\n[[more]]\nk = 2\n')
    lines = key_lines(text)
    assert lines[("name",)] == 1
    assert lines[("workloads", "model")] == 4
    assert lines[("axes", "vector.vlen")] == 7
    assert lines[("axes", "target")] == 9
    assert lines[("more", 0, "k")] == 11 and lines[("more", 1, "k")] == 13
    # brackets inside strings and comments do not open a multi-line value
    tricky = ('a = "x#["  # [c\n[axes]\ntarget = [\n  "a",  # (x [y)\n  "b#]",\n]\n'
              '"v.w" = {start = 1, stop = 2}  # {\nk = 1\n')
    assert key_lines(tricky) == {("a",): 1, ("axes",): 2, ("axes", "target"): 3,
                                 ("axes", "v.w"): 7, ("axes", "k"): 8}


# ---- bad specs: one line naming the spec line and the valid choices, before any work ----
BAD = {
    "unknown path": ('target = ["h100-sxm"]\n"memory.dram_gbs" = [1.0]\n', 8,
                     "unknown config path 'memory.dram_gbs'", "memory.dram_gbps"),
    "wrong type": ('target = ["h100-sxm"]\n"sm.count" = ["many"]\n', 8,
                   "expected an integer, got 'many'", "sm.count"),
    "empty axis": ('target = ["h100-sxm"]\n"sm.count" = []\n', 8,
                   "empty axis", "sm.count"),
    "empty target axis": ('target = []\n', 7, "empty axis", "h100-sxm"),
    "unknown target": ('target = ["h100-sxm", "h900"]\n', 7,
                       "unknown target 'h900'", "a100-80gb"),
    "unknown axis key": ('target = ["h100-sxm"]\n"sm.count" = {from = 1, to = 2}\n', 8,
                         "a range table takes one of", "start, stop, step"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_axes_fail_naming_the_line(case, write_spec, tiny_trace, tmp_path, capsys):
    axes, line, message, choice = BAD[case]
    spec = write_spec(spec_text(axes).replace("TRACE", str(tiny_trace)))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{spec}:{line}:" in err and message in err and choice in err
    assert not out.exists()  # no work started


def test_unknown_model_names_the_line_and_the_models(write_spec, tmp_path, capsys):
    spec = write_spec(spec_text('target = ["h100-sxm"]\n',
                                workloads='model = "qwen9-7b"\nphase = "decode"\n'
                                          'context = [64]'))
    assert main(["sweep", str(spec), "-o", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{spec}:4:" in err and "unknown model 'qwen9-7b'" in err and "qwen3.5-9b" in err


@pytest.mark.parametrize(("text", "line", "message"), [
    ('name = "t"\ntarget = "h100-sxm"\nsweeps = 3\n[workloads]\ntrace = "TRACE"\n', 3,
     "unknown key 'sweeps'; valid: name, description, target"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\nbatch = 2\n', 4,
     "'batch' does not apply to a saved trace"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[sampling]\nmethod = "sobol"\n', 5,
     "unknown method 'sobol'; valid: grid, random, lhs"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[derived.s]\nspeedup_over = "l4"\n'
     'metric = "energy"\n', 6, "unknown metric 'energy'; valid: latency_s"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[derived.latency_s]\n'
     'speedup_over = "l4"\n', 4, "'latency_s' is already a column"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[derived.s]\nspeedup_over = "l4"\n'
     'at = "point"\n', 5, "baseline 'l4' is not a target of this sweep"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[set]\n"sm.count" = 1.5\n', 5,
     "expected an integer, got 1.5"),
    ('target = "h100-sxm"\n[workloads]\ntrace = "TRACE"\n[axes]\n'
     '"memory.dram_gbps" = {min = 1.0, max = 2.0}\n', 5, "is sampled"),
    ('target = "h100-sxm"\n[workloads]\nmodel = "qwen3.5-9b"\nphase = "decode"\n', 2,
     'phase "decode" needs context = N'),
])
def test_other_bad_keys_name_the_line(text, line, message, write_spec, tiny_trace):
    spec = write_spec(text.replace("TRACE", str(tiny_trace)))
    with pytest.raises(CodesignError) as info:
        load_spec(spec)
    assert str(info.value).startswith(f"{spec}:{line}:") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_check_validates_without_running(write_spec, tiny_trace, capsys):
    spec = write_spec(spec_text('target = ["h100-sxm", "l4"]\n"sm.count" = [66, 132]\n')
                      .replace("TRACE", str(tiny_trace)))
    assert main(["sweep", str(spec), "--check"]) == 0
    assert "ok: 4 points x 1 workloads = 4 rows" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["sweep_vlen_dlen.toml", "sweep_context.toml"])
def test_experiment_specs_validate(name):
    spec = load_spec(EXPERIMENTS / name)
    assert spec.workloads and all(w.label == "qwen3.5-9b" and w.phase == "decode"
                                  for w in spec.workloads)
    assert "c950-like" in spec.targets and "c950-like+xattn" in spec.targets
    assert {"vector.vlen", "vector.dlen"} <= set(spec.axis_paths)
    assert any(d.name == "xattn_speedup" and d.baseline == "c950-like" for d in spec.derived)
    if name == "sweep_context.toml":
        assert sorted(w.context for w in spec.workloads) == [1024 * 2**i for i in range(8)]
    else:
        assert all(dict(p.overrides)["vector.dlen"] <= dict(p.overrides)["vector.vlen"]
                   for p in spec.points if not p.reference)


def test_the_documented_example_spec_is_valid(write_spec):
    import textwrap

    from codesign.sweep import spec as spec_module  # (codesign.sweep is the function)

    doc = spec_module.__doc__
    example = doc[doc.index("::\n") + 3:doc.index("Relative paths")]
    spec = load_spec(write_spec(textwrap.dedent(example)))
    assert spec.method == "lhs" and spec.fixed == {"cluster.cores": 4}
    hardware = {p.overrides for p in spec.points}
    assert len(spec.points) == 2 * len(hardware)  # every sample on both targets
    for hw in map(dict, hardware):
        assert hw["vector.dlen"] <= hw["vector.vlen"] and hw["cluster.cores"] == 4
        assert 25.6 <= hw["dram.bandwidth_gbps"] <= 204.8
