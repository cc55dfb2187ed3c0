"""Time whole generation requests in Hugging Face transformers (eager) on a real CUDA GPU
and write them as ``gpu-e2e`` validation cases.

    python benchmarks/measure_gpu_e2e.py --out measured_e2e.json     # on a machine with a GPU
    codesign validate --cases measured_e2e.json                      # then check the model

Each model is built from its registered config.json (``workloads/configs/``) with random
BF16 weights on the GPU (the weights do not change the time of a forward pass), then one
request runs as a user of the ``hf-transformers`` engine runs it: ``model.generate`` with
greedy decoding, ``prompt`` random input tokens, exactly ``output`` new tokens (no early
stop), the default SDPA attention and the dynamic KV cache. The metric is the one the
suite's Qwen cases use: output tokens / wall time of the whole request, prefill included
(``tokens_per_s``). One warm-up request of 8 new tokens precedes the timed ones; the
median of ``--repeats`` is kept.

Where ``pynvml`` (nvidia-ml-py) is installed, each timed request also reads NVML's board
energy counter (``nvmlDeviceGetTotalEnergyConsumption``) before and after, and the request
of median time writes two more cases: joules per output token (``j_per_token``) and the
average board power over the request (``power_w``), predicted by the energy suite's
``request_j_per_token`` and ``request_power_w`` probes (codesign/energy_cases.py).

The script imports neither codesign nor simpy (the GPU machine need not have them).
Without CUDA it says so and exits with status 0, unless ``--device cpu`` asks for a
functional dry run (tiny output lengths; nothing written unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FORMAT = "codesign-validation-cases/1"
CONFIGS = Path(__file__).resolve().parent.parent / "workloads" / "configs"
# (model, prompt, output, batch): dense families transformers has had for years, then the
# Qwen3.5 hybrid (Gated DeltaNet) models, which need transformers >= 5.2 (a machine whose
# transformers lacks them skips them, saying so).
REQUESTS = (
    ("qwen3-0.6b", 128, 256, 1),
    ("qwen2.5-7b", 128, 256, 1),
    ("llama-3.1-8b", 128, 256, 1),
    ("llama-3.1-8b", 128, 256, 8),
    ("llama-3.1-8b", 128, 256, 32),
    ("llama-3.1-8b", 128, 256, 64),
    ("mistral-7b", 128, 256, 1),
    ("qwen3-8b", 128, 256, 1),
    ("qwen3.5-0.8b", 128, 256, 1),
    ("qwen3.5-9b", 128, 256, 1),
)
MODELS = sorted({r[0] for r in REQUESTS})
PRESETS = (("H200", "h200"), ("H100", "h100-sxm"), ("A100", "a100-80gb"), ("B200", "b200"),
           ("L4", "l4"), ("4090", "rtx-4090"))


def build(torch: Any, transformers: Any, model: str, device: str) -> Any:
    """``model``'s causal LM with random BF16 weights on ``device``."""
    cfg = json.loads((CONFIGS / f"{model}.json").read_text())
    cfg = {k: v for k, v in cfg.items() if k != "_codesign"}
    config = transformers.AutoConfig.for_model(**cfg)
    with torch.device(device):
        lm = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    return lm.eval()


Row = tuple[str, int, int, int, float, float | None]  # model, prompt, output, batch, s, J


def energy_counter(torch: Any, device: str) -> Any:
    """A function returning the GPU board's energy counter in joules, or None where NVML
    cannot be read (no pynvml, or a CPU run)."""
    if device != "cuda":
        return None
    try:
        import pynvml  # type: ignore[import-not-found]
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
    except Exception as exc:
        print(f"measure_gpu_e2e: no energy counter ({exc}); timing only", flush=True)
        return None
    return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h) * 1e-3


def request(torch: Any, lm: Any, prompt: int, output: int, batch: int, device: str,
            joules: Any = None) -> tuple[float, float | None]:
    """Wall seconds of one greedy request of exactly ``output`` new tokens, and the board
    energy over it where ``joules`` reads the counter."""
    vocab = lm.config.vocab_size
    ids = torch.randint(0, vocab, (batch, prompt), device=device)
    mask = torch.ones_like(ids)
    if device == "cuda":
        torch.cuda.synchronize()
    e0 = joules() if joules else None
    t = time.perf_counter()
    with torch.inference_mode():
        out = lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=output,
                          min_new_tokens=output, do_sample=False, eos_token_id=None,
                          pad_token_id=0)
    if device == "cuda":
        torch.cuda.synchronize()
    sec = time.perf_counter() - t
    energy = joules() - e0 if joules and e0 is not None else None
    assert out.shape[1] == prompt + output, out.shape
    return sec, energy


def measure(torch: Any, transformers: Any, device: str, repeats: int, scale: int,
            models: set[str]) -> list[Row]:
    rows: list[Row] = []
    joules = energy_counter(torch, device)
    for model, prompt, full_output, batch in REQUESTS:
        if models and model not in models:
            continue
        output = max(2, full_output // scale)
        try:
            lm = build(torch, transformers, model, device)
        except (ValueError, KeyError, ImportError) as exc:  # transformers lacks the family
            print(f"measure_gpu_e2e: {model}: cannot build ({exc}); skipped", flush=True)
            continue
        request(torch, lm, prompt, 8 if scale == 1 else 2, batch, device)  # warm-up
        runs = sorted(request(torch, lm, prompt, output, batch, device, joules)
                      for _ in range(repeats))
        sec, energy = runs[(len(runs) - 1) // 2]  # the median request (lower of two)
        rate = batch * output / sec
        watts = f", {energy / sec:.1f} W, {energy / (batch * output):.4f} J/token" \
            if energy is not None else ""
        print(f"measure_gpu_e2e: {model} prompt {prompt} output {output} batch {batch}: "
              f"{sec:.3f} s, {rate:.2f} tok/s{watts}", flush=True)
        rows.append((model, prompt, output, batch, sec, energy))
        del lm
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def cases(target: str, device: str, meta: str, row: Row) -> list[dict[str, Any]]:
    """The validation cases of one measured request: its speed, and where the energy was
    read, its joules per output token and average board power."""
    model, prompt, output, batch, sec, energy = row
    name = f"measured-{target}-hf-{model}-b{batch}-{prompt}-{output}"
    scenario = {"prompt": prompt, "output": output, "batch": batch}
    source = f"benchmarks/measure_gpu_e2e.py on {device}; {meta}"
    out: list[dict[str, Any]] = [{
        "name": name, "target": target, "model": model, "engine": "hf-transformers",
        "scenario": scenario, "metric": "tokens_per_s", "measured": batch * output / sec,
        "tolerance": 0.15, "fitted": False,
        "source": f"{source}; speed = batch x output tokens / wall time including the prefill",
    }]
    if energy is not None:
        params = {"model": model, "engine": "hf-transformers", **scenario}
        for suffix, metric, value, what in (
                ("energy", "j_per_token", energy / (batch * output),
                 "board energy (NVML counter) over the request / batch x output tokens"),
                ("power", "power_w", energy / sec,
                 "board energy (NVML counter) over the request / its wall time")):
            out.append({"name": f"{name}-{suffix}", "target": target,
                        "probe": f"request_{metric}", "params": params, "metric": metric,
                        "measured": value, "tolerance": 0.25, "fitted": False,
                        "source": f"{source}; {what}"})
    return out


def write_cases(path: Path, target: str, device: str, meta: str, rows: list[Row]) -> None:
    doc = {
        "format": FORMAT,
        "description": f"Whole requests in Hugging Face transformers (eager) on {device}, "
                       "measured by benchmarks/measure_gpu_e2e.py",
        "cases": [c for row in rows for c in cases(target, device, meta, row)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="case file to write")
    ap.add_argument("--target", help="codesign GPU preset (default: from the device name)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                    help="cpu: a functional dry run with 1/64 of the output tokens")
    ap.add_argument("--models", default="",
                    help="comma-separated subset of: " + ", ".join(MODELS))
    args = ap.parse_args(argv)
    models = {m.strip() for m in args.models.split(",") if m.strip()}
    bad = sorted(models - set(MODELS))
    if bad:
        print(f"measure_gpu_e2e: unknown model {bad[0]!r}; valid: "
              f"{', '.join(MODELS)}", file=sys.stderr)
        return 2
    import torch
    import transformers
    if args.device == "cuda" and not torch.cuda.is_available():
        print("measure_gpu_e2e: no CUDA device; nothing measured")
        return 0
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    target = args.target or next((p for frag, p in PRESETS if frag in device), None)
    if target is None:
        print(f"measure_gpu_e2e: no preset matches {device!r}; pass --target", file=sys.stderr)
        return 2
    scale = 1 if args.device == "cuda" else 64
    meta = (f"torch {torch.__version__}, CUDA {torch.version.cuda}, transformers "
            f"{transformers.__version__}, random BF16 weights, SDPA, greedy, median of "
            f"{args.repeats} after a warm-up request, {datetime.date.today().isoformat()}")
    rows = measure(torch, transformers, args.device, args.repeats, scale, models)
    if args.out:
        write_cases(Path(args.out), target, device, meta, rows)
        print(f"measure_gpu_e2e: wrote {len(rows)} cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
