"""Errors that reach the user as one line (the CLI prints them and exits with code 2)."""

from isa.errors import IsaError
from workloads.errors import WorkloadError


class CodesignError(ValueError):
    """A bad target, override, config or results file. The message is the whole story."""


# Every exception class the CLI reports as a user error rather than a bug.
USER_ERRORS: tuple[type[Exception], ...] = (CodesignError, WorkloadError, IsaError)
