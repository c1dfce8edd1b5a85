"""Turing machine -> NTM weights (`construct`), the harness that runs them in lockstep with the
machine (`harness`), and its figure (`figures`). ``ntm compile`` is the command line.

The public names load their module on first use (so ``ntm --help`` loads no torch).
"""

import importlib

#: saturation of every gate, gain and shift logit: off values ~ e^(-G/2) ~ 1.4e-11
DEFAULT_GAIN = 50.0
#: sharpening exponent gamma (eq. 9): 50 * 36.8 > 745, so off-focus weights underflow to 0 in float64
DEFAULT_SHARPENING = 50.0

_NAMES = {**dict.fromkeys(["DTYPES", "MAX_UNITS", "Layout", "compile_machine", "decode_tensors", "encode_input",
                           "layout", "leakage", "load_input", "normalize", "trace_compiled"], "construct"),
          **dict.fromkeys(["Lockstep", "lockstep", "needed_rows", "one_thread"], "harness"), "plot_leakage": "figures"}
__all__ = ["DEFAULT_GAIN", "DEFAULT_SHARPENING", *_NAMES]


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
