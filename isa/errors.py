"""The one error type of the ``isa`` package."""


class IsaError(ValueError):
    """An invalid ISA string, instruction, operand or program. The message is the whole story."""
