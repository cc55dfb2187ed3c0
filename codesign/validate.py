"""The validation suite: predictions against published (or your own) measurements.

Cases are data: ``codesign/validation/<suite>_cases.json``, and any file a user passes
with ``codesign validate --cases FILE`` (``benchmarks/measure_gpu.py`` writes such files).
A file holds::

    {"format": "codesign-validation-cases/1",
     "cases": [{"name": ..., "target": "h100-sxm", "set": {"dotted.path": value},
                "row": {<trace row fields: kind, op, dtype, shape fields, flops, bytes>},
                "metric": "tflops" | "seconds" | "gbps" | "utilization" | "speedup",
                "measured": 467.0,
                "tolerance": 0.15, "source": "where the measurement comes from",
                "informational": false}],
     "rankings": [{"name": ..., "order": [case names, fastest first], "source": ...}]}

A file may also name ``"hosts"``: ``{"h200-3": {"set": {"launch.host_scale": 0.8},
"source": ...}}``; a case with ``"host": "h200-3"`` takes its host's ``set`` under its own.
A host profile is the machine that measured a case: its CPU and Python stack set the time
of every host-bound request (:data:`HOST_FITS`).

A case's prediction is its row, as a one-row trace, timed on ``target`` with the ``set``
overrides; the metric is taken from the row's time (launch overhead included). A case
passes when ``|predicted / measured - 1| <= tolerance``; an ``informational`` case is
reported but never fails. A ``speedup`` case also names a ``baseline`` (``target`` and
its ``set``): the metric is the baseline's time for the same row over the case's (a
paper's "N x faster than" claim). A ranking passes when the predicted metric strictly decreases
along ``order`` (by time, it increases for ``seconds``). A case marked ``"fitted": true``
is in the fitting set of a constant; every other case is a prediction.

An end-to-end case (suite ``gpu-e2e``) has, instead of ``row``, a ``model`` (a registered
name or a config.json path beside the case file), an ``engine`` and a ``scenario``
(``prompt``, ``output``, ``batch``, ``weight_dtype``, and where a GGUF's output matrix has
another format, ``output_weight_dtype``): a request timed by
:func:`codesign.generation.generate`, its metric one of :data:`E2E_METRICS` as the source
defines it. :data:`E2E_FITS` names every constant fitted on its rows
(``benchmarks/fit_gpu_e2e.py`` fits them).

How the GPU model was calibrated against the built-in suite (see also the GPU config):

- Hardware numbers are datasheet values (gpu.md §1); GEMM main-loop efficiency (0.80
  H100, 0.87 A100) and the 90% streaming efficiency are gpu.md §3's published figures, so
  the two GEMM cases check the tile/wave model at those efficiencies, not a fit.
- FlashAttention-2 has no fitted constant: mma.sync at 2/3 of the wgmma peak (FA3 paper),
  the GEMM main-loop efficiency, no softmax overlap, exp at 16/clk/SM.
- Three constants are fitted, each to the 16k point of one series (its plateau):
  ``attention.fa3.softmax_overlap`` (0.73; 0.71 before its 128 x 176 tile, issue #17),
  ``attention.cudnn.softmax_overlap`` (0.53) and
  ``attention.triton.mma_efficiency`` (0.75). The 512..8k points of those series are
  predictions of the per-CTA prologue/epilogue latency model (``attention.round_trips`` x
  ``memory.latency_ns``), not fits.
- The standard (eager PyTorch) series fixes two constants by a minimax fit over its five
  points: ``attention.eager_softmax_efficiency`` (0.46 of DRAM bandwidth) and
  ``attention.eager_softmax_row_ns`` (210 ns of SM time per softmax row).
- FlashAttention-2 at head dim 256 (gpu.md §2b) runs its main loop at
  ``attention.fa2.large_hdim_efficiency`` (0.732) of the head-dim 128 rate, fitted on the
  16k point of the non-causal series (refit unchanged with its real 64 x 64 tiles, two
  CTAs per SM, issue #17); the other five points and the causal series are predictions.
- The H200 suite (``gpu-h200``, measured by benchmarks/measure_gpu.py) fits two launch
  constants, each on one row: ``launch.gap_us`` on the CUDA-graph launch chain and the
  pytorch-eager engine's ``launch.host_launch_us`` on the eager one; and the engine's
  pre-launch host work of a GEMM, norm and attention call (``launch.host_gemm_us`` on the
  GEMV byte sweep, ``host_norm_us`` and ``host_attention_us`` on their host-bound rows):
  :data:`KERNEL_FITS`, benchmarks/fit_gpu_kernels.py. A check, not a fit: fitting
  ``efficiency.gemv`` jointly with the GEMM's host work on the sweep gives 0.830, the
  A100's value, so the GEMV class keeps one efficiency on every GPU.
- The H200's board power (``gpu-h200``: benchmarks/measure_gpu.py ``--groups power`` and
  measure_gpu_e2e.py, NVML's energy counter) fits three constants, each on one row
  (benchmarks/fit_energy.py): ``power.idle_w`` on the clocked idle row,
  ``power.active_w`` on the 1 GB GEMV run back to back and ``power.tensor_w`` on the
  8192^3 GEMM's time run back to back (the power limiter's clock, codesign.gpu.power);
  the GEMM, attention and copy power, the other sustained kernels' seconds and every
  request's power and joules per token are predictions. The power group's rows run for
  3 s (``"sustained": true`` in their scenario or probe params); the kernel rows are
  bursts of a few milliseconds and run at the full clock.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign import targets
from codesign.errors import CodesignError
from workloads.errors import WorkloadError
from workloads.schema import trace_from_rows

CASES_DIR = Path(__file__).resolve().parent / "validation"
FORMAT = "codesign-validation-cases/1"
KERNEL_METRICS = ("tflops", "seconds", "gbps", "utilization", "speedup")
# end-to-end metrics of a generation scenario (codesign.api.generate), as the sources define
# them: output tokens of every sequence over the wall time including the prefill; decode
# tokens/s (batch / mean time per output token: llama-bench tg, MLC decode); prompt
# tokens/s of the prefill (llama-bench pp); time to first token; end-to-end latency
E2E_METRICS = ("tokens_per_s", "decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s",
               "e2e_s")
# energy and area probes (suite ``energy``: codesign.energy_cases; a case names a
# ``probe`` and its ``params`` instead of a row)
ENERGY_METRICS = ("dp_gflops_per_w", "energy_share", "energy_ratio", "speed_ratio",
                  "area_mm2", "area_fraction", "j_per_token", "power_w")
METRICS = KERNEL_METRICS + E2E_METRICS + ENERGY_METRICS
SECONDS_METRICS = ("seconds", "ttft_s", "e2e_s")
# decode contexts an end-to-end case times at most (the interpolation bound is reported)
E2E_MAX_SAMPLES = 3

# The fitted constants of the end-to-end model and the gpu-e2e rows each is fitted on
# (benchmarks/fit_gpu_e2e.py fits them, in this order; the presets hold the results).
# Every other gpu-e2e row is a prediction.
E2E_FITS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    # the GPU's fixed cost of a dependent launch (codesign/gpu/config.py): gpt-fast runs
    # bf16 decode as one CUDA graph with next to no host work, so t0 shows there
    (("launch.t0_us",), ("gpt-fast-llama2-7b-bf16-a100",)),
    (("engine.step_us",),  # vllm.toml
     ("qwen2.5-0.5b-vllm-a100", "qwen2.5-1.5b-vllm-a100", "qwen2.5-3b-vllm-a100",
      "qwen2.5-14b-vllm-a100")),
    # instructions per weight of gpt-fast's dequantising GEMVs (gpt-fast.toml): on the A100
    # (about 5 CUDA-core instructions per byte of bandwidth) they bind its int8/int4 decode
    (("quant.int8_ops",), ("gpt-fast-llama2-7b-int8-a100",)),
    (("quant.int4_ops",), ("gpt-fast-llama2-7b-int4-a100",)),
    (("engine.prefill_step_us",), ("trtllm-llama7b-ttft-128-a100",)),  # tensorrt-llm.toml
    (("efficiency.kv_read",), ("trtllm-llama7b-b60-128-2048-a100",)),
    (("efficiency.gemv",), ("llamacpp-llama3-8b-f16-tg512-4090",)),  # rtx-4090.toml
    (("launch.host_launch_us",), ("qwen2.5-0.5b-hf-a100",)),  # hf-transformers.toml
)

# The constants fitted on rows of the kernel-level suites, (suite, constants, rows); every
# other row of those suites is a prediction. The H200's launch chains (benchmarks/
# measure_gpu.py) fit the CUDA-graph gap (codesign/gpu/config.py) and the pytorch-eager
# engine's host launch (codesign/presets/engines/pytorch-eager.toml); the FA3 paper's
# attention series fit one constant each at their 16k plateau (see the module docstring).
KERNEL_FITS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("gpu-h200", ("launch.gap_us",), ("measured-h200-launch-chain-graph",)),
    ("gpu-h200", ("launch.host_launch_us",), ("measured-h200-launch-chain-eager",)),
    # the pytorch-eager engine's pre-launch host work of a call by op family: F.linear on
    # the GEMV byte sweep (a GEMV's GPU time from 1 us to 0.3 ms under the same call),
    # F.rms_norm and SDPA on their host-bound (smallest) row
    ("gpu-h200", ("launch.host_gemm_us",),
     tuple(f"measured-h200-sweep-gemv-{k}k" for k in
           (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576))),
    ("gpu-h200", ("launch.host_norm_us",), ("measured-h200-rmsnorm-m1",)),
    ("gpu-h200", ("launch.host_attention_us",),
     ("measured-h200-attention-decode-b1-sq1-skv4096",)),
    ("gpu", ("attention.fa2.large_hdim_efficiency",), ("attn-fa2-h100-hdim256-s16k",)),
    ("gpu", ("attention.fa3.softmax_overlap",), ("attn-fa3-h100-hdim128-s16k",)),
    ("gpu", ("attention.cudnn.softmax_overlap",), ("attn-cudnn-h100-hdim128-s16k",)),
    ("gpu", ("attention.triton.mma_efficiency",), ("attn-triton-h100-hdim128-s16k",)),
    ("gpu", ("attention.eager_softmax_efficiency", "attention.eager_softmax_row_ns"),
     tuple(f"attn-standard-h100-hdim128-s{s}" for s in ("512", "1k", "2k", "4k", "8k"))),
)

# The host profiles of a case file and the row each one's ``launch.host_scale`` is fitted
# on, (suite, host, rows): the hf-transformers engine's host constants are fitted on the
# A100 host of Qwen's speed benchmark (engines/hf-transformers.toml), and the H200 requests
# ran on three machines whose CPUs and Python stacks differ by up to 25% on the same
# request (the suite's rows, benchmarks/results/h200-2026-12-04/README.md). Each machine's
# scale is fitted on its most host-bound request, Qwen3-0.6B at batch 1 (benchmarks/
# fit_gpu_e2e.py); its other requests, speed, power and joules per token, are predictions.
HOST_FITS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("gpu-h200", "h200-1", ("measured-h200-hf-qwen3-0.6b-b1-128-256",)),
    ("gpu-h200", "h200-2", ("measured-h200-hf-qwen3-0.6b-b1-128-256-h2",)),
    ("gpu-h200", "h200-3", ("measured-h200-hf-qwen3-0.6b-b1-128-256-h3",)),
)

# The H200's board power constants and the gpu-h200 row each is fitted on, in this order
# (benchmarks/fit_energy.py fits them; the h200 preset holds the results)
POWER_FITS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("gpu-h200", ("power.idle_w",), ("measured-h200-power-idle-clocked",)),
    ("gpu-h200", ("power.active_w",), ("measured-h200-power-gemv-1048576k",)),
    # the tensor cores' power at full clock: through the power limiter it sets the clock,
    # so the time, of a dense GEMM run back to back (codesign.gpu.power)
    ("gpu-h200", ("power.tensor_w",), ("measured-h200-power-gemm-8192-seconds",)),
)


@dataclass(frozen=True)
class Case:
    name: str
    target: str
    row: dict[str, Any]
    metric: str
    measured: float
    tolerance: float
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    informational: bool = False
    fitted: bool = False  # in the fitting set of a constant (else a prediction)
    model: str = ""  # end-to-end cases: the model (name, or config path beside the file)
    engine: str | None = None
    scenario: dict[str, Any] = field(default_factory=dict)  # prompt, output, batch, ...
    probe: str = ""  # energy/area cases: a codesign.energy_cases probe and its params
    params: dict[str, Any] = field(default_factory=dict)
    # speedup cases: the configuration the case is faster than (target, set)
    baseline: dict[str, Any] = field(default_factory=dict)
    host: str = ""  # the host profile of the machine that measured it (its set is applied)


@dataclass(frozen=True)
class Ranking:
    name: str
    order: tuple[str, ...]
    source: str


def suites() -> list[str]:
    """The built-in suites: ``codesign/validation/<suite>_cases.json``."""
    return sorted(p.name.removesuffix("_cases.json") for p in CASES_DIR.glob("*_cases.json"))


def suite_file(suite: str) -> Path:
    if suite not in suites():
        raise CodesignError(f"unknown validation suite {suite!r}; valid: {', '.join(suites())}")
    return CASES_DIR / f"{suite}_cases.json"


def _need(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise CodesignError(f"{where}: missing field {key!r}")
    return obj[key]


def _model_ref(model: str, path: Path) -> str:
    """A case's model: a registered name, or a config path relative to its case file."""
    beside = path.parent / model
    return str(beside) if model.endswith(".json") and beside.is_file() else model


def _hosts(doc: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """A case file's host profiles: name -> the ``set`` its cases take (see HOST_FITS)."""
    hosts = doc.get("hosts", {})
    if not isinstance(hosts, dict) or not all(
            isinstance(h, dict) and isinstance(h.get("set"), dict) for h in hosts.values()):
        raise CodesignError(f"{path.name}: 'hosts' must map each host name to a table with "
                            "a 'set' table")
    return {str(k): dict(v["set"]) for k, v in hosts.items()}


def _case(c: dict[str, Any], i: int, path: Path,
          hosts: dict[str, dict[str, Any]] | None = None) -> Case:
    where = f"{path.name} case {c.get('name', i)!r}"
    host = str(c.get("host", ""))
    if host and host not in (hosts or {}):
        raise CodesignError(f"{where}: unknown host {host!r}; valid: "
                            f"{', '.join(sorted(hosts or {})) or '(the file has no hosts)'}")
    metric = _need(c, "metric", where)
    if metric not in METRICS:
        raise CodesignError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
    try:
        measured = float(_need(c, "measured", where))
        tolerance = float(c.get("tolerance", 0.15))
    except (TypeError, ValueError):
        raise CodesignError(f"{where}: measured and tolerance must be numbers") from None
    if measured <= 0:
        raise CodesignError(f"{where}: measured must be positive")
    e2e = metric in E2E_METRICS
    row = c.get("row", {})
    if e2e and not isinstance(c.get("scenario"), dict):
        raise CodesignError(f"{where}: an end-to-end metric needs a 'scenario' table "
                            "(prompt, output, batch)")
    probe = str(c.get("probe", "")) if metric in ENERGY_METRICS else ""
    params = dict(c.get("params") or {})
    if metric in ENERGY_METRICS and not probe:
        raise CodesignError(f"{where}: metric {metric!r} needs a 'probe' (and its 'params')")
    if "model" in params:
        params["model"] = _model_ref(str(params["model"]), path)
    if not e2e and not probe and (not isinstance(row, dict) or "kind" not in row):
        raise CodesignError(f"{where}: row must be a table with at least 'kind'")
    baseline = c.get("baseline") or {}
    if metric == "speedup" and (not isinstance(baseline, dict) or "target" not in baseline
                                or not isinstance(baseline.get("set", {}), dict)):
        raise CodesignError(f"{where}: metric 'speedup' needs a 'baseline' table with a "
                            "'target' (and its 'set')")
    return Case(
        name=str(_need(c, "name", where)), target=str(_need(c, "target", where)),
        row=dict(row), metric=metric, measured=measured, tolerance=tolerance,
        source=str(c.get("source", "")),
        overrides={**(hosts or {}).get(host, {}), **dict(c.get("set", {}))},
        informational=bool(c.get("informational", False)),
        fitted=bool(c.get("fitted", False)),
        model=_model_ref(str(_need(c, "model", where)), path) if e2e else "",
        engine=c.get("engine"), scenario=dict(c.get("scenario", {})),
        probe=probe, params=params, baseline=dict(baseline), host=host,
    )


def load_cases(path: str | Path) -> tuple[list[Case], list[Ranking]]:
    """Read one case file; refuse malformed ones with a one-line reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CodesignError(f"case file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CodesignError(f"case file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CodesignError(f"case file {str(path)!r} lacks \"format\": \"{FORMAT}\"")
    hosts = _hosts(doc, path)
    cases = [_case(c, i, path, hosts) for i, c in enumerate(doc.get("cases", []))]
    rankings = [
        Ranking(name=str(_need(r, "name", path.name)),
                order=tuple(_need(r, "order", f"{path.name} ranking")),
                source=str(r.get("source", "")))
        for r in doc.get("rankings", [])
    ]
    return cases, rankings


def request(where: str, model: str, target: str, engine: str | None,
            overrides: dict[str, Any], scenario: dict[str, Any]) -> Any:
    """A generation scenario (``prompt``, ``output``, ``batch`` and the weight options) run
    as the suite's end-to-end cases run theirs: a :class:`codesign.result.GenerateResult`;
    a bad model or scenario is one error line starting with ``where``."""
    from codesign.generation import generate

    sc = dict(scenario)
    options = {k: sc.pop(k) for k in ("weight_dtype", "routing", "output_weight_dtype")
               if k in sc}
    try:
        return generate(model, target, prompt=int(sc.get("prompt", 1)),
                        output=int(sc.get("output", 1)), batch=int(sc.get("batch", 1)),
                        engine=engine, overrides=overrides, max_samples=E2E_MAX_SAMPLES,
                        **options)
    except WorkloadError as exc:
        raise CodesignError(f"{where}: {exc}") from None


def predict_e2e(case: Case) -> float:
    """An end-to-end case's metric from its generation scenario."""
    r = request(f"case {case.name!r}", case.model, case.target, case.engine, case.overrides,
                case.scenario)
    return {
        "tokens_per_s": r.output_tokens_per_s,
        "decode_tokens_per_s": r.batch / r.tpot_mean_s if r.tpot_mean_s > 0 else 0.0,
        "prefill_tokens_per_s": r.batch * r.prompt / r.ttft_s,
        "ttft_s": r.ttft_s,
        "e2e_s": r.e2e_s,
    }[case.metric]


def predict(case: Case) -> float:
    """The case's metric as the model predicts it."""
    if case.metric in E2E_METRICS:
        return predict_e2e(case)
    if case.probe:
        from codesign import energy_cases
        return energy_cases.predict(case.name, case.target, case.overrides, case.probe,
                                    case.params)
    try:
        trace = trace_from_rows([case.row], {"model": f"validate:{case.name}",
                                             "scenario": {"phase": "prefill",
                                                          **case.scenario}})
    except WorkloadError as exc:
        raise CodesignError(f"case {case.name!r}: bad row: {exc}") from None
    target = targets.resolve(case.target, case.overrides)
    seconds = _seconds(target, trace)
    row = trace.ops.iloc[0]
    if case.metric == "seconds":
        return seconds
    if case.metric == "speedup":
        base = targets.resolve(str(case.baseline["target"]), dict(case.baseline.get("set", {})))
        return _seconds(base, trace) / seconds
    if case.metric == "tflops":
        return float(row["flops"]) / seconds / 1e12
    if case.metric == "utilization":
        return float(row["flops"]) / seconds / _peak_flops(case, target, str(row["dtype"]))
    return float(row["bytes_read"] + row["bytes_written"]) / seconds / 1e9


def _seconds(target: Any, trace: Any) -> float:
    """The one-row ``trace``'s time on ``target``."""
    return float(target.simulate(trace).ops["seconds"].iloc[0])


def _peak_flops(case: Case, target: Any, dtype: str) -> float:
    """A RISC-V cluster's FMA peak in FLOP/s for ``dtype`` (every core's datapath): the
    denominator of ``utilization``, the FPU utilisation the vector papers report."""
    if target.family != "riscv":
        raise CodesignError(f"case {case.name!r}: metric 'utilization' is defined for "
                            f"RISC-V targets, not {target.family!r}")
    from codesign.riscv.replay import peak_flops_per_cycle
    cfg = target.config
    return peak_flops_per_cycle(cfg, dtype) * cfg.cluster.cores * cfg.freq_hz


def suite_files(suite: str | None) -> list[Path]:
    """The case files of ``suite`` (``all``: every built-in suite; None: none)."""
    if suite is None:
        return []
    if suite == "all":
        return [suite_file(s) for s in suites()]
    return [suite_file(suite)]


def run(suite: str | None = "gpu", extra: list[str | Path] | None = None) -> list[dict[str, Any]]:
    """Every case and ranking of ``suite`` plus the ``extra`` case files, as result rows:
    case, target, metric, predicted, measured, error, tolerance, ok, fitted, source."""
    files = suite_files(suite) + [Path(p) for p in extra or []]
    out: list[dict[str, Any]] = []
    for f in files:
        cases, rankings = load_cases(f)
        predicted: dict[str, float] = {}
        metrics: dict[str, str] = {}
        for c in cases:
            p = predict(c)
            predicted[c.name], metrics[c.name] = p, c.metric
            err = p / c.measured - 1.0
            out.append({
                "case": c.name, "target": c.target, "metric": c.metric, "predicted": p,
                "measured": c.measured, "error": err, "tolerance": c.tolerance,
                "ok": True if c.informational else abs(err) <= c.tolerance,
                "informational": c.informational, "fitted": c.fitted, "source": c.source,
            })
        for r in rankings:
            missing = [n for n in r.order if n not in predicted]
            if missing:
                raise CodesignError(
                    f"{f.name} ranking {r.name!r} names unknown cases: {', '.join(missing)}")
            # higher is better for rates, lower for seconds: compare as "speed"
            speed = [predicted[n] if metrics[n] not in SECONDS_METRICS else -predicted[n]
                     for n in r.order]
            ok = all(a > b for a, b in itertools.pairwise(speed))
            actual = sorted(r.order, key=lambda n: -speed[r.order.index(n)])
            out.append({
                "case": r.name, "target": "", "metric": "ranking",
                "predicted": " > ".join(_short(n) for n in actual),
                "measured": " > ".join(_short(n) for n in r.order),
                "error": None, "tolerance": None, "ok": ok, "informational": False,
                "fitted": False, "source": r.source,
            })
    return out


def _short(case_name: str) -> str:
    """attn-fa3-h100-hdim128-s512 -> fa3 (the part that differs within a ranking)."""
    parts = case_name.split("-")
    return parts[1] if len(parts) > 2 else case_name


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst |error| over the numeric cases, and how many failed; the median
    (of an even count, the mean of the middle two) and worst |error| of the predicted
    ones: neither fitted nor informational (a case shown for a cause the model leaves out
    on purpose, which cannot fail)."""
    errs = [(abs(r["error"]), r["case"]) for r in rows if r["error"] is not None]
    pred = sorted(abs(r["error"]) for r in rows if r["error"] is not None
                  and not r["fitted"] and not r.get("informational"))
    return {
        "predicted": len(pred),
        "informational": sum(1 for r in rows if r.get("informational")),
        "predicted_median_abs_error": statistics.median(pred) if pred else 0.0,
        "predicted_worst_abs_error": pred[-1] if pred else 0.0,
        "cases": len(rows),
        "failed": sum(1 for r in rows if not r["ok"]),
        "mean_abs_error": sum(e for e, _ in errs) / len(errs) if errs else 0.0,
        "worst_abs_error": max(errs)[0] if errs else 0.0,
        "worst_case": max(errs)[1] if errs else "",
    }
