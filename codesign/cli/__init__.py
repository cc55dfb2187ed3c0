"""The ``codesign`` command line. Each subcommand lives in its own module of this package.

A subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` as the parser default. User errors (bad names, values, files) are
raised as :data:`codesign.errors.USER_ERRORS` and printed here as one line, exit code 2;
Ctrl-C is one line too, exit code 130 (128 + SIGINT, as shells report it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from codesign import errors

# Subcommand modules, in the order `codesign --help` lists them.
COMMANDS: tuple[str, ...] = (
    "codesign.cli.models",
    "codesign.cli.trace",
    "codesign.cli.kernel",
    "codesign.cli.targets",
    "codesign.cli.run",
    "codesign.cli.sweep",
    "codesign.cli.explore",
    "codesign.cli.density",
    "codesign.cli.validate",
    "codesign.cli.report",
    "codesign.cli.cache",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, as for every user error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codesign")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="codesign",
        description="Time Qwen, Llama, Mistral and Mixtral models on RISC-V vector cores "
                    "(RVV, RVV+Xattn) and GPUs.",
        epilog="example:\n  codesign run qwen3.5-9b --phase prefill --seq 2048 --target c950-like "
               "--target c950-like+xattn --target h100-sxm -o out/results.parquet\n"
               "  codesign report out/results.*.parquet --baseline c950-like "
               "-o out/report.html\n\n`codesign COMMAND --help` shows each command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codesign {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for mod in COMMANDS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `codesign ... | head`
        return 0
    except errors.USER_ERRORS as exc:  # looked up (isa, workloads imported) only on error
        print(f"codesign {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: files are written atomically, so none is half done
        print(f"codesign {args.command}: interrupted", file=sys.stderr)
        return 130


# whether this process is the ``codesign`` command (:func:`entry`): it ends after one
# command, so what a command keeps alive needs no garbage collection (:func:`frozen_heap`)
_ENTRY = [False]


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """In the ``codesign`` command only (not in a caller of :func:`main`): no cyclic
    garbage collection within the block, and every object alive at its end moved out of
    the collector's reach (``gc.freeze``) before it is back on, so that the collections
    of what follows skip it (a cold run's torch and transformers, issue #12). Freezing
    before the collector is back matters: the first collection after a block without one
    traverses everything the block allocated (~0.25 CPU-s after a trace extraction)."""
    if not _ENTRY[0]:
        yield
        return
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def entry() -> NoReturn:
    """The ``codesign`` command (and ``python -m codesign``): :func:`main`, then a fast
    exit. Everything a command writes is written and closed when it returns; the exit
    handlers run (worker pools, logging) and the streams are flushed, but the
    interpreter's teardown, freeing every module's objects (pandas, torch: 0.1-0.2 CPU-s
    of a warm run), is skipped. With a non-daemon thread still running, the exit is the
    ordinary one, which waits for it."""
    import atexit
    import contextlib
    import os
    import threading

    _ENTRY[0] = True
    code = main()
    workers = sys.modules.get("codesign.sweep.pool")
    if workers is not None:  # no later sweep in this process: its workers end now
        workers.discard(wait=True)
    if any(t is not threading.main_thread() and not t.daemon and t.is_alive()
           for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a reader gone (`| head`) or a closed stream: nothing left to deliver
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
