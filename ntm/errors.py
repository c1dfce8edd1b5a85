"""Errors raised by `ntm` (models, training, checkpoints, comparison)."""


class NTMError(Exception):
    """Base class of every error raised by `ntm`."""


class ConfigError(NTMError, ValueError):
    """A model or training option is out of range or unknown (names the option and the fix)."""


class CheckpointError(NTMError):
    """A run directory or checkpoint is missing, incomplete or inconsistent (names the file)."""


class DivergenceError(NTMError):
    """Training produced NaN or Inf (names the step); no checkpoint holds the bad weights."""


class ClusterError(NTMError):
    """A sweep's Ray cluster cannot be used: Ray is not installed, or the address is malformed or
    unreachable (names the address and the fix)."""
