"""``codesign kernel``: lower one op to an instruction program, count it, check it."""

from __future__ import annotations

import argparse

from codesign.cli._output import add_format_option, print_json, print_table

FLOAT_FIELDS = ("exponent", "value", "eps")  # pow exponent, fill value, norm epsilon
# Operands of a kind besides its shape fields (workloads.schema.KIND_FIELDS).
EXTRA_FIELDS = {"attention": ("causal",), "elementwise": ("exponent", "value"),
                "norm": ("eps",)}

EXAMPLES = """examples:
  codesign kernel softmax --isa rvv --shape M=1,N=4096
  codesign kernel softmax --isa rvv+xattn:vfexpsub --shape M=1,N=4096 --format json
  codesign kernel attention --isa rvv+xattn --shape B=1,Hq=4,Hkv=1,Sq=1,Skv=64,D=64 --check
  codesign kernel gemm --isa rvv --shape M=8,N=64,K=32 --asm
  codesign kernel linear_attention --op chunk_gated_delta_rule --isa rvv+xattn \
      --shape B=1,Hq=32,Sq=2048,D=128,Dv=128,chunk=64
  codesign kernel router --shape M=16,N=512,topk=10 --check
  codesign kernel elementwise --op pow --shape M=4,N=256,exponent=0.5 --check
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "kernel", help="lower one op to RVV / RVV+Xattn instructions; count and check it",
        description="Lower one trace op (KIND + shape) to an instruction program for an ISA, "
                    "print its dynamic instruction counts by unit class, optionally the "
                    "assembly (--asm) and a functional check against torch (--check).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    # (the kernel library is imported when the command runs; an unknown kind lists them)
    p.add_argument("kind", help="op kind: gemm, attention, linear_attention, softmax, norm, "
                   "activation, elementwise, rope, conv1d, router, embedding, ...")
    p.add_argument("--isa", default="rvv", help="rvv, rvv+xattn or rvv+xattn:SUBSET,... "
                   "(subsets: vfexp, vfexpsub, segred, mmacc, vfrec; -NAME excludes)")
    p.add_argument("--shape", default="", help="NAME=VALUE,... e.g. M=1,N=4096 or "
                   "B=1,Hq=16,Hkv=4,Sq=2048,Skv=2048,D=256,causal=1")
    p.add_argument("--op", default="", help="function within the kind (e.g. rmsnorm, swiglu)")
    p.add_argument("--vlen", type=int, default=512, help="VLEN bits (default 512)")
    p.add_argument("--dlen", type=int, default=0, help="DLEN bits (default min(256, VLEN))")
    p.add_argument("--dtype", default="bf16", help="bf16 (default) or fp32")
    p.add_argument("--asm", action="store_true", help="print the program as assembly")
    p.add_argument("--check", action="store_true",
                   help="execute on random data against torch; exit 1 over tolerance")
    p.add_argument("--seed", type=int, default=0, help="random seed of --check")
    add_format_option(p)
    p.set_defaults(func=run)


def shape_fields(kind: str) -> tuple[str, ...] | None:
    """The --shape names ``kind`` takes; None for a kind the trace schema does not know
    (a user's kernel: its fields are its own)."""
    from workloads.schema import KIND_FIELDS

    if kind not in KIND_FIELDS:
        return None
    return (*KIND_FIELDS[kind], *EXTRA_FIELDS.get(kind, ()))


def parse_shape(text: str, kind: str = "") -> dict[str, object]:
    from isa.errors import IsaError

    valid = shape_fields(kind)
    out: dict[str, object] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, eq, value = part.partition("=")
        if not eq or not name:
            raise IsaError(f"bad --shape item {part!r}; expected NAME=VALUE (e.g. M=1,N=4096)")
        if valid is not None and name not in valid:
            raise IsaError(f"unknown --shape field {name!r} for {kind}; valid: "
                           f"{', '.join(valid)}")
        if name == "causal":
            if value.lower() not in ("0", "1", "true", "false"):
                raise IsaError(f"bad causal={value!r}; valid: 0, 1, true, false")
            out[name] = value.lower() in ("1", "true")
            continue
        if name in FLOAT_FIELDS:  # scalar operands of an op, not shape fields
            try:
                out[name] = float(value)
            except ValueError:
                raise IsaError(f"bad --shape value {name}={value!r}: not a number") from None
            continue
        try:
            out[name] = int(value)
        except ValueError:
            raise IsaError(f"bad --shape value {name}={value!r}: not an integer") from None
    return out


def run(args: argparse.Namespace) -> int:
    from isa import UNITS, Core, IsaError, parse_isa
    from isa.kernels import KERNELS, check, lower

    if args.kind not in KERNELS:
        raise IsaError(f"unknown kernel kind {args.kind!r}; valid: {', '.join(KERNELS)}")
    isa = parse_isa(args.isa)
    core = Core(vlen=args.vlen, dlen=args.dlen, dtype=args.dtype)
    row: dict[str, object] = {"kind": args.kind, **parse_shape(args.shape, args.kind)}
    if args.op:
        row["op"] = args.op
    prog = lower(row, isa, core)
    counts = prog.counts()
    flops = _flops(row)
    by_class = {u: counts.by_unit.get(u, 0) for u in UNITS}
    result = None
    if args.check:
        result = check(row, isa, core, seed=args.seed)
    if args.format == "json":
        obj = {
            "kind": args.kind, "isa": isa.name, "shape": {k: v for k, v in row.items()
                                                         if k != "kind"},
            "vlen": core.vlen, "dlen": core.dlen, "dtype": core.dtype,
            "flops": flops,
            "instructions_total": counts.total,
            "instructions_by_class": by_class,
            "instructions_by_mnemonic": dict(sorted(counts.by_mnemonic.items())),
            "static_instructions": prog.static_size(),
        }
        if args.asm:
            obj["asm"] = prog.asm()
        if result is not None:
            obj["check"] = {"worst_abs_error": result.worst_abs,
                            "worst_rel_error": result.worst_rel,
                            "tolerance": result.tolerance, "ok": result.ok,
                            "counts_match_execution": result.counts_match}
        print_json(obj)
    else:
        if args.asm:
            print(prog.asm())
            print()
        print(f"{prog.name}  isa={isa.name}  VLEN={core.vlen} DLEN={core.dlen} "
              f"dtype={core.dtype}" + (f"  FLOPs={flops}" if flops is not None else ""))
        rows = [{"class": u, "instructions": n} for u, n in by_class.items() if n]
        rows.append({"class": "total", "instructions": counts.total})
        print_table(rows)
        if result is not None:
            verdict = "ok" if result.ok else "FAIL"
            print(f"check: worst error {result.worst_abs:.3g} (relative {result.worst_rel:.3g}, "
                  f"tolerance {result.tolerance:g}) {verdict}")
    if result is not None and not (result.ok and result.counts_match):
        return 1
    return 0


def _flops(row: dict[str, object]) -> int | None:
    """The op's FLOPs by the trace's counting (workloads.costs.KIND_FLOPS), with the
    shape fields not given as 0 and the kind's first op when none is given; None for a
    kind with no count."""
    from workloads import costs, schema

    kind = str(row["kind"])
    if kind not in costs.KIND_FLOPS:
        return None
    full = {f: 0 for f in schema.SHAPE_FIELDS} | {"op": schema.OPS[kind][0]} | row
    return costs.op_flops(full)
