"""The device choice, shared by training, analysis and the command line (torch loads on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ntm.errors import ConfigError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str) -> "torch.device":
    """``auto``: CUDA, then MPS, then CPU; otherwise the named device (``cuda:1`` too).

    Raises:
        ConfigError: the asked device is missing (the message names the fix).
    """
    import torch
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise ConfigError("device mps asked for, but it is not available; use --device cpu or auto")
    return torch.device(name)


def _mps_available() -> bool:
    import torch
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
