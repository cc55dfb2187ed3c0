"""Energy and area validation probes (issue #17): suite ``energy`` of ``codesign validate``.

A case of this suite has a ``probe`` (a name in :data:`PROBES`) and its ``params``; the
probe computes the case's metric from simulated work (:mod:`codesign.riscv.energy`,
:mod:`codesign.gpu.power`) or from the area model (:mod:`codesign.riscv.area`):

- ``dp_gflops_per_w``: a GEMM timed on a RISC-V target; FP32 FLOPs counted as DP FLOPs of
  the same datapath bits (x 32/64: the kernel library has no FP64 kernels, and energy is
  charged per datapath bit); the cluster's energy without L2 and DRAM (the published
  figures measure the cluster with its data in its L1/TCDM).
- ``energy_share``: the named energy parts' share of that cluster energy on a row.
- ``energy_ratio``: energy of an op on ``base`` over its energy on ``target``;
  ``speed_ratio``: its latency on ``base`` over its latency on ``target`` (the speed-up a
  paper that reports an energy ratio reports beside it: energy ratio = speed ratio x the
  ratio of average powers, so the two rows together say whether a miss is in time or in
  power).
- ``area_mm2``: the sum of the named area components; ``area_fraction``: their share of
  the listed components (``of``).
- ``j_per_token``: a model's serving step on a GPU target, joules / batch (each of the
  ``batch`` running sequences yields one output token per step); ``power_w``: its average
  board power (joules / seconds). With ``prompt`` and ``output`` the step is a
  continuously batched server's steady-state mean step (:mod:`codesign.serving`: the
  decode plus the prefill of the prompts admitted in place of finished requests);
  without, the decode step alone.
- ``idle_power_w``: a GPU's board power with no kernel running (``power.idle_w``);
  ``kernel_power_w``: the board power of one trace ``row`` (a kernel run back to back;
  ``sustained``: for longer than the power limiter's window, :mod:`codesign.gpu.power`),
  both measured by benchmarks/measure_gpu.py's
  ``power`` group.
- ``request_j_per_token`` and ``request_power_w``: a whole generation request
  (:func:`codesign.generation.generate`: ``model``, ``engine``, ``prompt``, ``output``,
  ``batch``), its board energy over ``batch x output`` tokens and over its wall time, as
  benchmarks/measure_gpu_e2e.py measures them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codesign import targets
from codesign.errors import CodesignError
from workloads.schema import trace_from_rows

CLUSTER = ("instructions", "int", "fma", "fdiv", "reduction", "permute", "exp", "load",
           "store", "matrix", "vrf", "l1", "clock")  # energy parts inside a cluster (no L2,
# DRAM; its leakage without the L2 is added by _cluster_energy)


def _result(target: str, overrides: dict[str, Any], row: dict[str, Any],
            sustained: bool = False) -> Any:
    trace = trace_from_rows([row], {"model": "validate:energy",
                                    "scenario": {"phase": "prefill", "sustained": sustained}})
    return targets.resolve(target, overrides).simulate(trace)


def _cluster_energy(res: Any, cfg: Any) -> float:
    from codesign.riscv.energy import static_power_w
    dyn = sum(v for k, v in res.energy_parts.items() if k in CLUSTER)
    return dyn + static_power_w(cfg, with_l2=False) * res.latency_s


def dp_gflops_per_w(target: str, overrides: dict[str, Any], row: dict[str, Any]) -> float:
    res = _result(target, overrides, row)
    cfg = targets.resolve(target, overrides).config
    bits = 32 if row.get("dtype") == "fp32" else 16
    dp_flops = 2.0 * row["M"] * row["N"] * row["K"] * bits / 64
    return dp_flops / _cluster_energy(res, cfg) / 1e9


def energy_share(target: str, overrides: dict[str, Any], row: dict[str, Any],
                 parts: list[str]) -> float:
    """The named parts' share of the cluster's energy (as :func:`dp_gflops_per_w` counts
    it) on ``row``."""
    res = _result(target, overrides, row)
    total = _cluster_energy(res, targets.resolve(target, overrides).config)
    return sum(res.energy_parts.get(p, 0.0) for p in parts) / total


def energy_ratio(target: str, overrides: dict[str, Any], row: dict[str, Any],
                 base: str) -> float:
    cfg = targets.resolve(target, overrides).config
    e_base = _cluster_energy(_result(base, overrides, row),
                             targets.resolve(base, overrides).config)
    return e_base / _cluster_energy(_result(target, overrides, row), cfg)


def speed_ratio(target: str, overrides: dict[str, Any], row: dict[str, Any],
                base: str) -> float:
    return float(_result(base, overrides, row).latency_s
                 / _result(target, overrides, row).latency_s)


def area_mm2(target: str, overrides: dict[str, Any], parts: list[str],
             per_core: bool = False) -> float:
    from codesign.riscv.area import area_parts
    cfg = targets.resolve(target, overrides).config
    a = area_parts(cfg)
    return sum(a.get(p, 0.0) for p in parts) / (cfg.cluster.cores if per_core else 1)


def area_fraction(target: str, overrides: dict[str, Any], parts: list[str],
                  of: list[str]) -> float:
    return area_mm2(target, overrides, parts) / area_mm2(target, overrides, of)


def serving_step(target: str, overrides: dict[str, Any], model: str, batch: int,
                 context: int, engine: str | None, prompt: int = 0, output: int = 0) -> Any:
    """A server's steady-state mean step (:func:`codesign.serving.steady_state`): ``batch``
    sequences decoding over ``context`` cached tokens, and the prefill of the prompts
    admitted in place of finished requests (none when ``prompt`` is 0)."""
    from codesign.serving import steady_state
    ov = dict(overrides)
    if engine:
        ov["engine"] = engine
    res = steady_state(targets.resolve(target, ov), model, batch, context, prompt,
                       max(output, 1))
    if res.energy_j is None:
        raise CodesignError(f"target {target!r} models no energy")
    return res


def j_per_token(target: str, overrides: dict[str, Any], model: str, batch: int,
                context: int, engine: str | None = None, prompt: int = 0,
                output: int = 0) -> float:
    """Joules per output token: the mean step's energy over the ``batch`` tokens it
    yields."""
    res = serving_step(target, overrides, model, batch, context, engine, prompt, output)
    return float(res.energy_j / batch)


def power_w(target: str, overrides: dict[str, Any], model: str, batch: int,
            context: int, engine: str | None = None, prompt: int = 0,
            output: int = 0) -> float:
    """Average board power: the mean step's joules over its seconds."""
    return float(serving_step(target, overrides, model, batch, context, engine, prompt,
                              output).power_w)


def idle_power_w(target: str, overrides: dict[str, Any]) -> float:
    """A GPU board's power with no kernel running."""
    return float(_gpu(target, overrides).config.power.idle_w)


def kernel_power_w(target: str, overrides: dict[str, Any], row: dict[str, Any],
                   sustained: bool = False) -> float:
    """A GPU board's power while ``row``'s kernel runs back to back: ``sustained``, for
    longer than the power limiter's window (:mod:`codesign.gpu.power`), or a burst."""
    _gpu(target, overrides)
    return float(_result(target, overrides, row, sustained).ops["power_w"].iloc[0])


def request(target: str, overrides: dict[str, Any], model: str,
            engine: str | None = None, **scenario: Any) -> Any:
    """One whole generation request (a :class:`codesign.result.GenerateResult`) with its
    energy, run as the end-to-end cases run theirs (:func:`codesign.validate.request`)."""
    from codesign import validate
    res = validate.request(f"request of {model!r}", model, target, engine, overrides,
                           scenario)
    if res.energy_j is None:
        raise CodesignError(f"target {target!r} models no energy")
    return res


def request_j_per_token(target: str, overrides: dict[str, Any], **params: Any) -> float:
    """Board joules of a request over its ``batch x output`` tokens."""
    return float(request(target, overrides, **params).j_per_token)


def request_power_w(target: str, overrides: dict[str, Any], **params: Any) -> float:
    """A request's average board power: its joules over its wall time."""
    return float(request(target, overrides, **params).power_w)


def _gpu(target: str, overrides: dict[str, Any]) -> Any:
    tgt = targets.resolve(target, overrides)
    if tgt.family != "gpu":
        raise CodesignError(f"target {target!r} is not a GPU (its family is "
                            f"{tgt.family!r}); board power probes need one")
    return tgt


PROBES: dict[str, Callable[..., float]] = {
    "dp_gflops_per_w": dp_gflops_per_w, "energy_share": energy_share,
    "energy_ratio": energy_ratio, "speed_ratio": speed_ratio,
    "area_mm2": area_mm2, "area_fraction": area_fraction, "j_per_token": j_per_token,
    "power_w": power_w, "idle_power_w": idle_power_w, "kernel_power_w": kernel_power_w,
    "request_j_per_token": request_j_per_token, "request_power_w": request_power_w,
}


def predict(name: str, target: str, overrides: dict[str, Any], probe: str,
            params: dict[str, Any]) -> float:
    """The metric of case ``name`` from its probe; one line naming a bad probe or params."""
    fn = PROBES.get(probe)
    if fn is None:
        raise CodesignError(f"case {name!r}: unknown probe {probe!r}; valid: "
                            f"{', '.join(PROBES)}")
    try:
        return float(fn(target, overrides, **params))
    except TypeError as exc:
        raise CodesignError(f"case {name!r}: bad params for probe {probe!r}: {exc}") from None
