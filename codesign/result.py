"""The Result of timing a trace on a target: one schema for RISC-V cores and GPUs.

``Result.ops`` has one row per trace row (collapsed layers keep their ``repeat``):

==================  ==================================================================
op_id ... repeat    copied from the trace (op_id, layer, layers, layer_type, module, kind,
                    op, name, repeat)
flops, bytes        one instance's FLOPs and bytes moved (read + written)
cycles              one instance's cycles at the target's clock
seconds             one instance's time
total_seconds       seconds x repeat
achieved_flops      FLOP/s of one instance (flops / seconds)
achieved_gbps       GB/s of one instance (bytes / seconds / 1e9)
roofline_seconds    the instance's lower bound: max(flops / peak FLOP/s, bytes / peak BW)
bound               what limits the op: "compute", "memory", "issue", "latency" or
                    "overhead" (GPU launch)
util_<unit>         busy fraction of a functional unit or resource over the op (0..1)
==================  ==================================================================

``latency_s`` is the end-to-end time of the forward pass as the target's schedule sees
it (ops of different cores may overlap, so it need not equal ``ops.total_seconds.sum()``).

``memory`` compares what the pass holds resident (weights, KV cache, recurrent state; see
:func:`workloads.registry.footprint`) with the target's memory capacity, where the target
declares one (``capacity_bytes``): a latency of a model that does not fit is flagged, not
silently reported as if it could run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from codesign.errors import CodesignError
from codesign.outputs import write_atomically
from workloads.schema import Scenario, dtype_bytes

RESULT_SCHEMA_VERSION = 1

TRACE_COLUMNS = (
    "op_id", "layer", "layers", "layer_type", "module", "kind", "op", "name", "repeat",
)
REQUIRED_COLUMNS = (
    *TRACE_COLUMNS, "flops", "bytes", "cycles", "seconds", "total_seconds",
    "achieved_flops", "achieved_gbps", "roofline_seconds", "bound",
)
GB = 1e9  # capacities are datasheet (decimal) gigabytes


@dataclass(frozen=True)
class MemoryUse:
    """Bytes a pass holds resident against the target's capacity (None: not declared)."""

    weights: int
    kv_cache: int
    state: int
    capacity: float | None

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.state

    @property
    def fits(self) -> bool | None:
        """Whether the resident bytes fit the capacity; None when the target has none."""
        return None if self.capacity is None else self.total <= self.capacity

    def text(self) -> str:
        """``812 GB (weights 794 + KV cache 17.2 + state 0.6) exceed the 80 GB memory``."""
        parts = f"weights {_gb(self.weights)} + KV cache {_gb(self.kv_cache)}" \
            + (f" + recurrent state {_gb(self.state)}" if self.state else "")
        need = f"{_gb(self.total)} GB ({parts})"
        if self.capacity is None:
            return f"{need}; the target declares no memory capacity"
        verb = "fit in" if self.fits else "exceed"
        return f"{need} {verb} the {_gb(self.capacity)} GB memory"


def _gb(n: float) -> str:
    """Gigabytes to 4 significant digits; large values in full (186,173, not 1.862e+05)."""
    return f"{n / GB:,.0f}" if n >= 1e4 * GB else f"{n / GB:.4g}"


def memory_use(trace_meta: dict[str, Any], capacity: float | None) -> MemoryUse | None:
    """The footprint of a traced pass (tokens in the KV cache at its end) against
    ``capacity`` bytes; None for a trace that records no model config."""
    from workloads.registry import config_from_fields, footprint

    fields, scen = trace_meta.get("config"), trace_meta.get("scenario")
    if not isinstance(fields, dict) or not isinstance(scen, dict):
        return None
    s = Scenario.of(scen)
    tokens = s.seq if s.phase == "prefill" else s.context + 1
    fp = footprint(config_from_fields(str(trace_meta.get("model", "?")), fields), s.batch,
                   tokens, dtype_bytes(s.weight_dtype), dtype_bytes(s.dtype),
                   dtype_bytes(s.expert_weight_dtype) if s.expert_weight_dtype else None,
                   dtype_bytes(s.output_weight_dtype) if s.output_weight_dtype else None)
    return MemoryUse(fp.weights, fp.kv_cache, fp.state, capacity)


def engine_of(config: dict[str, Any]) -> str | None:
    """The engine a target config names (GPU ``engine.name``), or its non-default kernel
    library (RISC-V ``kernel.library``, e.g. ``llamacpp``); None for neither."""
    eng = config.get("engine")
    if isinstance(eng, dict) and eng.get("name"):
        return str(eng["name"])
    kernel = config.get("kernel")
    lib = kernel.get("library") if isinstance(kernel, dict) else None
    return str(lib) if lib and lib != "ideal" else None


@dataclass
class Result:
    """Per-op timing of one trace on one target, plus the scenario it came from."""

    target: str
    ops: pd.DataFrame
    latency_s: float
    trace_meta: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)  # the target's full config
    fingerprint: str = ""  # config fingerprint (memoization and sweeps)
    family: str = ""  # "riscv" or "gpu"
    capacity_bytes: float | None = None  # the target's memory capacity, if it declares one
    # joules of the pass by part (codesign.riscv.energy / codesign.gpu.power), and mm^2
    # by component (RISC-V targets: codesign.riscv.area); empty when not modelled
    energy_parts: dict[str, float] = field(default_factory=dict)
    area_parts: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.ops.columns]
        if missing:
            raise CodesignError(f"result for {self.target} lacks columns {missing}")

    # ---- scenario --------------------------------------------------------------------
    @property
    def scenario(self) -> dict[str, Any]:
        return dict(self.trace_meta.get("scenario", {}))

    @property
    def new_tokens(self) -> int:
        return Scenario.of(self.scenario).new_tokens

    @property
    def memory(self) -> MemoryUse | None:
        """Resident bytes of the pass against the target's capacity (None: no model config
        in the trace)."""
        return memory_use(self.trace_meta, self.capacity_bytes)

    @property
    def engine(self) -> str | None:
        """The software the target ran: a GPU target's serving engine, a RISC-V target's
        kernel library when it is not the default one (``kernel.library``); else None."""
        return engine_of(self.config)

    # ---- energy and area (issue #17) ------------------------------------------------
    @property
    def energy_j(self) -> float | None:
        """Joules of the pass (dynamic + static); None when the target models no energy."""
        return float(sum(self.energy_parts.values())) if self.energy_parts else None

    @property
    def power_w(self) -> float | None:
        """Average power over the pass (energy / latency)."""
        e = self.energy_j
        return e / self.latency_s if e is not None and self.latency_s > 0 else None

    @property
    def tokens_per_j(self) -> float | None:
        """New tokens of the pass per joule (the inverse of energy per token)."""
        e = self.energy_j
        return self.new_tokens / e if e else None

    @property
    def area_mm2(self) -> float | None:
        """Silicon area of the target (RISC-V clusters); None for targets without one."""
        return float(sum(self.area_parts.values())) if self.area_parts else None

    def energy_by_kind(self) -> dict[str, float]:
        """Dynamic joules by op kind (rows' ``energy_j`` x repeat), largest first."""
        if "energy_j" not in self.ops.columns:
            return {}
        e = (self.ops["energy_j"] * self.ops["repeat"]).groupby(self.ops["kind"], sort=False)
        return {str(k): float(v) for k, v in e.sum().sort_values(ascending=False).items()}

    def unmodelled(self) -> pd.DataFrame:
        """The op rows timed at their roofline bound instead of a simulated kernel (no
        kernel for them yet: sim.missing_kernels = "roofline"): name, kind, why, seconds."""
        cols = ["name", "kind", "note", "total_seconds"]
        if "modelled" not in self.ops.columns:
            return pd.DataFrame(columns=cols)
        rows = self.ops[~self.ops["modelled"].astype(bool)]
        if "note" not in rows.columns:
            rows = rows.assign(note="")
        return rows[cols].reset_index(drop=True)

    def unmodelled_share(self) -> float:
        """The fraction of the busy seconds spent in :meth:`unmodelled` ops."""
        busy = float(self.ops["total_seconds"].sum())
        return float(self.unmodelled()["total_seconds"].sum()) / busy if busy > 0 else 0.0

    # ---- summary ---------------------------------------------------------------------
    def seconds_by_kind(self) -> dict[str, float]:
        """Busy seconds by op kind (sum of total_seconds; overlapping ops both count)."""
        s = self.ops.groupby("kind", sort=False)["total_seconds"].sum()
        return {str(k): float(v) for k, v in s.sort_values(ascending=False).items()}

    def summary(self, by_kind_energy: bool = True) -> dict[str, Any]:
        """Latency and throughput of the pass: TTFT for prefill, TPOT and tokens/s for decode
        (``by_kind_energy`` false leaves ``energy_by_kind`` out: a sweep row has no column
        for it)."""
        s = self.scenario
        phase = s.get("phase")
        out: dict[str, Any] = {
            "target": self.target,
            "family": self.family,
            "model": self.trace_meta.get("model"),
            "phase": phase,
            "batch": s.get("batch"),
            "seq": s.get("seq"),
            "context": s.get("context"),
            "engine": self.engine,
            "latency_s": self.latency_s,
            "tokens_per_s": self.new_tokens / self.latency_s if self.latency_s > 0 else 0.0,
            "gflop": float((self.ops["flops"] * self.ops["repeat"]).sum()) / 1e9,
            "gbytes": float((self.ops["bytes"] * self.ops["repeat"]).sum()) / 1e9,
            "fingerprint": self.fingerprint,
        }
        mem = self.memory
        out["memory_gb"] = mem.total / GB if mem else None
        out["capacity_gb"] = self.capacity_bytes / GB if self.capacity_bytes else None
        out["fits_memory"] = mem.fits if mem else None
        if phase == "prefill":
            out["ttft_s"] = self.latency_s
        else:
            out["tpot_s"] = self.latency_s
        out["seconds_by_kind"] = self.seconds_by_kind()
        out["energy_j"], out["power_w"] = self.energy_j, self.power_w
        out["tokens_per_j"] = self.tokens_per_j
        out["j_per_token"] = self.energy_j / self.new_tokens \
            if self.energy_j is not None and self.new_tokens else None
        out["area_mm2"] = self.area_mm2
        out["energy_parts"] = dict(self.energy_parts)
        out["area_parts"] = dict(self.area_parts)
        if by_kind_energy:
            out["energy_by_kind"] = self.energy_by_kind()
        return out

    # ---- plots -----------------------------------------------------------------------
    @property
    def plot(self) -> Any:
        """Figures of this Result: ``res.plot.roofline()``, ``.timeline()``, ``.breakdown()``,
        ``.speedup(others)`` (see :mod:`codesign.report`; plotly is imported on use)."""
        from codesign.report.accessor import ResultPlot

        return ResultPlot(self)

    # ---- persistence -----------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "schema_version": RESULT_SCHEMA_VERSION, "target": self.target,
            "latency_s": self.latency_s, "trace_meta": self.trace_meta,
            "config": self.config, "fingerprint": self.fingerprint, "family": self.family,
            "capacity_bytes": self.capacity_bytes,
            "energy_parts": self.energy_parts, "area_parts": self.area_parts,
        }

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], ops: pd.DataFrame) -> Result:
        return cls(
            target=meta["target"], ops=ops, latency_s=meta["latency_s"],
            trace_meta=meta["trace_meta"], config=meta.get("config", {}),
            fingerprint=meta.get("fingerprint", ""), family=meta.get("family", ""),
            capacity_bytes=meta.get("capacity_bytes"),
            energy_parts=dict(meta.get("energy_parts") or {}),
            area_parts=dict(meta.get("area_parts") or {}),
        )

    def save(self, path: str | Path) -> Path:
        return _save_with_meta(self.ops, RESULT_KEY, self._meta(), path)

    @classmethod
    def load(cls, path: str | Path) -> Result:
        table, meta = _load_with_meta(path, RESULT_KEY, "result")
        return cls._from_meta(meta, table.to_pandas())

    def __repr__(self) -> str:
        s = self.summary()
        return (f"Result({self.target}: {s['model']} {s['phase']}, "
                f"latency {s['latency_s'] * 1e3:.3f} ms, {s['tokens_per_s']:.1f} tok/s)")


RESULT_KEY = b"codesign.result"
GENERATE_KEY = b"codesign.generate"


def _save_with_meta(ops: pd.DataFrame, key: bytes, meta: dict[str, Any],
                    path: str | Path) -> Path:
    """``ops`` as Parquet at ``path`` (atomically), with ``meta`` as JSON under ``key``."""
    table = pa.Table.from_pandas(ops, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), key: json.dumps(meta).encode()})
    return write_atomically(path, lambda f: pq.write_table(table, f))


def _load_with_meta(path: str | Path, key: bytes, what: str) -> tuple[pa.Table, dict]:
    """The table and the ``key`` metadata of a file written by :func:`_save_with_meta`;
    one line naming the file when it is not one (or of another schema version)."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CodesignError(f"{str(path)!r} is not a readable Parquet {what} ({exc})") from None
    raw = (table.schema.metadata or {}).get(key)
    if raw is None:
        raise CodesignError(f"{str(path)!r} is not a codesign {what} file")
    meta = json.loads(raw)
    if meta.get("schema_version") != RESULT_SCHEMA_VERSION:
        raise CodesignError(
            f"{str(path)!r} has result schema version {meta.get('schema_version')}; "
            f"this codesign reads version {RESULT_SCHEMA_VERSION}"
        )
    return table, meta


def finish_ops(ops: pd.DataFrame) -> pd.DataFrame:
    """Fill the derived columns (total_seconds, achieved rates) from seconds, flops, bytes."""
    ops = ops.copy()
    ops["total_seconds"] = ops["seconds"] * ops["repeat"]
    sec = ops["seconds"].where(ops["seconds"] > 0)
    ops["achieved_flops"] = (ops["flops"] / sec).fillna(0.0)
    ops["achieved_gbps"] = (ops["bytes"] / sec / 1e9).fillna(0.0)
    return ops


def finish_columns(seconds: np.ndarray, repeat: np.ndarray, flops: np.ndarray,
                   nbytes: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`finish_ops`' derived columns from float arrays (the same arithmetic), for a
    table being built column by column (:func:`codesign.riscv.replay.replay`)."""
    sec = np.where(seconds > 0, seconds, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"total_seconds": seconds * repeat, "achieved_flops": flops / sec,
               "achieved_gbps": nbytes / sec / 1e9}
    for c in ("achieved_flops", "achieved_gbps"):
        out[c][np.isnan(out[c])] = 0.0
    return out


@dataclass
class GenerateResult:
    """One request's generation on a target (:func:`codesign.api.generate`): a prefill of
    ``prompt`` tokens, then ``output - 1`` decode steps, for ``batch`` sequences.

    ``step_seconds`` holds each decode step's time (interpolated between the ``sampled``
    contexts; ``bound_s`` bounds the error of their sum, see :mod:`codesign.generation`);
    ``breakdown`` is seconds by op kind over the whole request (``host``: the engine's
    step on the CPU; ``softmax`` includes the sampler)."""

    target: str
    family: str
    engine: str
    model: str
    prompt: int
    output: int
    batch: int
    prefill: Result
    step_seconds: np.ndarray
    sampled: dict[int, float]
    bound_s: float
    breakdown: dict[str, float]
    gflop: float = 0.0  # the request's work: prefill + every decode step (interpolated)
    gbytes: float = 0.0
    # joules of the request: the prefill's + every decode step's (interpolated between the
    # sampled contexts as the step times are); None when the target models no energy
    energy_j: float | None = None

    @property
    def ttft_s(self) -> float:
        """Time to first token: the prefill pass (it yields the first output token)."""
        return self.prefill.latency_s

    @property
    def decode_s(self) -> float:
        return float(self.step_seconds.sum())

    @property
    def e2e_s(self) -> float:
        return self.ttft_s + self.decode_s

    @property
    def tpot_mean_s(self) -> float:
        """Mean time per output token after the first (0 when there is one token)."""
        return float(self.step_seconds.mean()) if len(self.step_seconds) else 0.0

    @property
    def tpot_last_s(self) -> float:
        """The last decode step (the longest context)."""
        return float(self.step_seconds[-1]) if len(self.step_seconds) else 0.0

    @property
    def output_tokens_per_s(self) -> float:
        """Output tokens of every sequence over the end-to-end time (prefill included)."""
        return self.batch * self.output / self.e2e_s if self.e2e_s > 0 else 0.0

    @property
    def power_w(self) -> float | None:
        """Average power over the request (energy / end-to-end time)."""
        return self.energy_j / self.e2e_s if self.energy_j is not None and self.e2e_s > 0 \
            else None

    @property
    def j_per_token(self) -> float | None:
        """Joules per output token of every sequence (the prefill included, as energy
        leaderboards count it)."""
        return self.energy_j / (self.batch * self.output) if self.energy_j is not None \
            else None

    def summary(self) -> dict[str, Any]:
        mem = self.prefill.memory
        return {
            "target": self.target, "family": self.family, "engine": self.engine or None,
            "model": self.model, "phase": "generate", "prompt": self.prompt,
            "output": self.output, "batch": self.batch, "ttft_s": self.ttft_s,
            "tpot_mean_s": self.tpot_mean_s, "tpot_last_s": self.tpot_last_s,
            "e2e_s": self.e2e_s, "output_tokens_per_s": self.output_tokens_per_s,
            "decode_s": self.decode_s, "interpolation_bound_s": self.bound_s,
            "gflop": self.gflop, "gbytes": self.gbytes,
            "sampled_contexts": sorted(self.sampled),
            "memory_gb": mem.total / GB if mem else None,
            "capacity_gb": self.prefill.capacity_bytes / GB
            if self.prefill.capacity_bytes else None,
            "fits_memory": mem.fits if mem else None,
            "fingerprint": self.prefill.fingerprint,
            "seconds_by_kind": self.breakdown,
            "energy_j": self.energy_j, "power_w": self.power_w,
            "j_per_token": self.j_per_token,
            "tokens_per_j": 1.0 / self.j_per_token if self.j_per_token else None,
            "area_mm2": self.prefill.area_mm2,
        }

    # ---- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """One Parquet file: the prefill's per-op table, with the request (every decode
        step's seconds, the sampled contexts, the breakdown) in its metadata."""
        meta = {
            "schema_version": RESULT_SCHEMA_VERSION, "target": self.target,
            "family": self.family, "engine": self.engine, "model": self.model,
            "prompt": self.prompt, "output": self.output, "batch": self.batch,
            "step_seconds": [float(x) for x in self.step_seconds],
            "sampled": [[int(c), float(v)] for c, v in self.sampled.items()],
            "bound_s": self.bound_s, "breakdown": self.breakdown,
            "gflop": self.gflop, "gbytes": self.gbytes, "prefill": self.prefill._meta(),
            "energy_j": self.energy_j,
        }
        return _save_with_meta(self.prefill.ops, GENERATE_KEY, meta, path)

    @classmethod
    def load(cls, path: str | Path) -> GenerateResult:
        table, meta = _load_with_meta(path, GENERATE_KEY, "generation result")
        return cls(
            target=meta["target"], family=meta["family"], engine=meta["engine"],
            model=meta["model"], prompt=meta["prompt"], output=meta["output"],
            batch=meta["batch"], prefill=Result._from_meta(meta["prefill"], table.to_pandas()),
            step_seconds=np.asarray(meta["step_seconds"], dtype=float),
            sampled={int(c): float(v) for c, v in meta["sampled"]},
            bound_s=meta["bound_s"], breakdown=meta["breakdown"],
            gflop=meta["gflop"], gbytes=meta["gbytes"], energy_j=meta.get("energy_j"),
        )

    def __repr__(self) -> str:
        return (f"GenerateResult({self.target}: {self.model} prompt {self.prompt}, "
                f"output {self.output}, batch {self.batch}: TTFT {self.ttft_s * 1e3:.2f} ms, "
                f"TPOT {self.tpot_mean_s * 1e3:.3f} ms, {self.output_tokens_per_s:.1f} tok/s)")
