"""``codesign targets``: the hardware a trace can be timed on, and each one's config."""

from __future__ import annotations

import argparse
import importlib
import re
import tomllib
from pathlib import Path
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


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def preset_file(target: Any) -> Path | None:
    """The preset file a target was built from (its family's ``PRESET_DIR``/NAME.toml)."""
    for m in targets.FAMILY_MODULES:
        module = importlib.import_module(m)
        if _family_name(module) == target.family and hasattr(module, "PRESET_DIR"):
            path = Path(module.PRESET_DIR) / f"{target.name.partition('+')[0]}.toml"
            return path if path.is_file() else None
    return None


def _comment(lines: list[str], no: int) -> str:
    """The comment on line ``no`` (1-based) and on the comment-only lines that continue it."""
    def after_hash(raw: str) -> str | None:
        i = _STRING.sub(lambda m: " " * len(m.group()), raw).find("#")
        return raw[i + 1:].strip() if i >= 0 else None

    first = after_hash(lines[no - 1])
    if not first:
        return ""
    out = [first]
    for raw in lines[no:]:
        if not raw.startswith((" ", "\t")) or not raw.strip().startswith("#"):
            break
        out.append(raw.strip().lstrip("#").strip())
    return " ".join(out)


def preset_sources(target: Any) -> dict[str, str]:
    """For each field the target's preset file sets: its source, cited from the file (the
    comment on the value's line, the ``[meta] assumed`` reason, the ``unverified`` tag).
    A field whose value is not the file's (``isa`` of NAME+xattn) comes from the name."""
    from codesign.report.inputs import flatten
    from codesign.sweep.spec import key_lines

    path = preset_file(target)
    if path is None:
        return {}
    text = path.read_text()
    data = tomllib.loads(text)
    meta = data.pop("meta", {})
    assumed = {a.partition("=")[0]: a.partition(":")[2].strip()
               for a in meta.get("assumed", []) if isinstance(a, str)}
    unverified = set(meta.get("unverified", []))
    lines, where = text.splitlines(), key_lines(text)
    out = {}
    for field in flatten(data):
        no = where.get(tuple(field.split(".")))
        note = _comment(lines, no) if no else ""
        if field in assumed and (not note or note.startswith("assumed")):
            note = f"assumed: {assumed[field]}"
        tag = "[M] " if field in unverified and not note.startswith("[M]") else ""
        out[field] = f"{path.name}: {tag}{note}" if note else \
            f"{path.name} (no source on its line)"
    from_file = C.from_dict(type(target.config), data)
    for field, _, value in C.paths(target.config):
        if value != C.get(from_file, field):  # e.g. the ISA of c950-like+xattn
            out[field] = f"the target name {target.name!r}"
    return out


def run(args: argparse.Namespace) -> int:
    if args.fields:
        target = targets.resolve(args.fields)
        sources = preset_sources(target)
        rows = [{**r, "source": sources.get(r["path"], r["source"])}
                for r in C.describe(target.config)]
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
        if any(r["family"] == "gpu" for r in rows):
            from codesign import gpu

            print(f"\nGPU targets run a serving engine: --engine NAME (default "
                  f"{gpu.DEFAULT_ENGINE}; engines: {', '.join(gpu.engines())})")
    return 0


def _show(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v)
    return str(v)
