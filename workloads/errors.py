"""The error every bad workload input raises: one clear line for the user."""


class WorkloadError(ValueError):
    """A bad model name, config, scenario or trace file. The message is the whole story."""
