"""``codesign targets``: the hardware a trace can be timed on, and each one's config."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from codesign import config as C
from codesign import targets
from codesign.cli._output import add_format_option, print_json, print_table
from codesign.errors import CodesignError

EXAMPLES = """examples:
  codesign targets                         every target, family by family
  codesign targets --family gpu            only the GPUs
  codesign targets --fields h100-sxm       h100-sxm's config: dotted paths, values, units,
                                           help and sources (the paths --set accepts)
  codesign targets --format json
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "targets", help="list targets, or one target's config fields",
        description="List the targets (name, family, description), or with --fields the "
                    "config of one target: every dotted path you can --set, its value, "
                    "unit, help and source.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", metavar="F", help="only this family (e.g. gpu, riscv)")
    p.add_argument("--fields", metavar="TARGET", help="show TARGET's config fields")
    add_format_option(p)
    p.set_defaults(func=run)


def _family_name(module: Any) -> str:
    return str(getattr(module, "FAMILY", module.__name__.rsplit(".", 1)[-1]))


def _description(module: Any, name: str) -> str:
    return str(module.describe(name))


def listing(family: str | None = None) -> list[dict[str, str]]:
    """One row per target: name, family, description."""
    modules = [importlib.import_module(m) for m in targets.FAMILY_MODULES]
    families = [_family_name(m) for m in modules]
    if family is not None and family not in families:
        raise CodesignError(f"unknown family {family!r}; valid: {', '.join(families)}")
    return [
        {"name": n, "family": f, "description": _description(m, n)}
        for m, f in zip(modules, families, strict=True) if family in (None, f)
        for n in m.names()
    ]


def run(args: argparse.Namespace) -> int:
    if args.fields:
        target = targets.resolve(args.fields)
        rows = C.describe(target.config)
        if args.format == "json":
            print_json(rows)
        else:
            print(f"{target.name} ({target.family}), fingerprint {target.fingerprint}")
            print_table([{**r, "value": _show(r["value"])} for r in rows])
        return 0
    rows = listing(args.family)
    if args.format == "json":
        print_json(rows)
    else:
        print_table(rows)
    return 0


def _show(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v)
    return str(v)
