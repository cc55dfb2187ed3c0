"""Errors that reach the user as one line (the CLI prints them and exits with code 2).

``USER_ERRORS`` is built on first use: importing this module imports neither ``isa`` nor
``workloads`` (``codesign --help`` stays fast)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class CodesignError(ValueError):
    """A bad target, override, config or results file. The message is the whole story."""


if TYPE_CHECKING:
    # Every exception class the CLI reports as a user error rather than a bug.
    USER_ERRORS: tuple[type[Exception], ...]


def __getattr__(name: str) -> Any:
    if name == "USER_ERRORS":
        from isa.errors import IsaError
        from workloads.errors import WorkloadError

        value = (CodesignError, WorkloadError, IsaError)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
