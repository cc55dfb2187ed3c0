"""Host time per decoder layer of Hugging Face transformers' eager decode, on this CPU.

    python benchmarks/hf_host_profile.py qwen3-0.6b qwen3.5-0.8b

A host-bound HF request (``hf-transformers`` engine at small batch) is as fast as the
Python that issues its kernels. This script measures that Python on the CPU, with no GPU:
each model family is built from its registered config with tiny dimensions (hidden 64,
4 heads, vocabulary 256: the compute is negligible, the Python is the family's own), and
one decode step is timed at 4 and at 12 decoder layers; the difference over 8 is the host
time of one layer (the layer pattern's mix, e.g. Qwen3.5's three Gated DeltaNet layers to
one attention layer), beside the aten ops one layer dispatches (views excluded). The
absolute times describe this CPU; the ratios between families are what a GPU host shares.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parent.parent / "workloads" / "configs"
TINY = {"hidden_size": 64, "intermediate_size": 128, "vocab_size": 256,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "linear_key_head_dim": 16, "linear_value_head_dim": 16}


def tiny_model(torch: Any, transformers: Any, name: str, layers: int) -> Any:
    cfg = {k: v for k, v in json.loads((CONFIGS / f"{name}.json").read_text()).items()
           if k != "_codesign"}
    cfg.update({k: v for k, v in TINY.items() if k in cfg or not k.startswith("linear_")},
               num_hidden_layers=layers)
    config = transformers.AutoConfig.for_model(**cfg)
    return transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def decode_step(torch: Any, lm: Any, steps: int) -> tuple[float, int]:
    """Seconds of one decode step (the mean over ``steps``, after 20 warm-up steps) and
    the non-view aten ops it dispatches."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                               kwargs: dict | None = None) -> Any:
            self.n += 0 if func.is_view else 1
            return func(*args, **(kwargs or {}))

    ids = torch.randint(0, TINY["vocab_size"], (1, 16))
    with torch.inference_mode():
        pkv = lm(input_ids=ids, use_cache=True).past_key_values
        nxt = ids[:, -1:]
        for _ in range(20):
            pkv = lm(input_ids=nxt, past_key_values=pkv, use_cache=True).past_key_values
        t = time.perf_counter()
        for _ in range(steps):
            pkv = lm(input_ids=nxt, past_key_values=pkv, use_cache=True).past_key_values
        sec = (time.perf_counter() - t) / steps
        with Count() as count:
            lm(input_ids=nxt, past_key_values=pkv, use_cache=True)
    return sec, count.n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="registered model names (workloads/configs)")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args(argv)
    bad = [m for m in args.models if not (CONFIGS / f"{m}.json").is_file()]
    if bad:
        valid = ", ".join(sorted(p.stem for p in CONFIGS.glob("*.json")))
        print(f"hf_host_profile: unknown model {bad[0]!r}; valid: {valid}", file=sys.stderr)
        return 2
    import torch
    import transformers

    torch.set_num_threads(1)
    for name in args.models:
        (s4, n4), (s12, n12) = (decode_step(torch, tiny_model(torch, transformers, name, n),
                                            args.steps) for n in (4, 12))
        per_layer, ops = (s12 - s4) / 8 * 1e6, (n12 - n4) / 8
        print(f"{name}: {per_layer:.0f} us of host time per layer, {ops:.1f} aten ops per "
              f"layer, {per_layer / ops:.2f} us per op", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
