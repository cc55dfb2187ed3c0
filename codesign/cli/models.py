"""``codesign models``: the registered models with their family, parameter counts and the
source of their config."""

from __future__ import annotations

import argparse

from codesign.cli._output import add_format_option, print_json, print_table
from workloads.registry import load_config, model_names, param_counts


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="list the registered models",
        description="List the registered models (Qwen3.5, Qwen3, Qwen3-Next, Qwen2, Llama, "
                    "Mistral, Mixtral): family, total and active parameters, decoder "
                    "layers by type, and where the config's numbers come from. Any other "
                    "config.json of a supported model_type can be passed by path wherever "
                    "a model name is taken.",
        epilog="example: codesign models --format json",
    )
    add_format_option(p)
    p.set_defaults(func=run)


def rows() -> list[dict]:
    out = []
    for name in model_names():
        cfg = load_config(name)
        pc = param_counts(cfg)
        out.append({
            "model": name,
            "family": cfg.family,
            "type": cfg.model_type,
            "total_params_b": round(pc.total / 1e9, 3),
            "active_params_b": round(pc.active / 1e9, 3),
            "layers": cfg.layers,
            "full_attention": pc.layers_by_type.get("full_attention", 0),
            "sliding_attention": pc.layers_by_type.get("sliding_attention", 0),
            "linear_attention": pc.layers_by_type.get("linear_attention", 0),
            "moe": "yes" if cfg.is_moe else "no",
            "source": cfg.source,
        })
    return out


def run(args: argparse.Namespace) -> int:
    data = rows()
    if args.format == "json":
        print_json(data)
    else:
        print_table(data)
    return 0
