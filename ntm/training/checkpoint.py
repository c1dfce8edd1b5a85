"""Run directories and checkpoints: safetensors for tensors, JSON for everything else.

Loading never unpickles: tensors come from safetensors, whose header is checked by hand first
(`check_layout`: offsets in bounds, not overlapping, covering the data), the rest from JSON.
Every write goes to a temporary name first and is moved into place with `os.replace`, so a crash
leaves either the old checkpoint or the new one, never half of one; the resume checkpoint is a
directory swapped in whole.

A run directory is self-describing::

    RUN/config.json            the TrainConfig, the model's config and the task's parameters
    RUN/weights.safetensors    the best weights so far, the latest before the first evaluation
                               (what compare/verify/plot load)
    RUN/checkpoint/            everything --resume needs: model.safetensors, best.safetensors,
                               averaged.safetensors (the weights' moving average, if kept),
                               optimizer.safetensors, state.json (step, RNG states, optimizer
                               hyperparameters, best score, rollbacks)
    RUN/metrics.jsonl          one JSON object per evaluation
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ntm.errors import CheckpointError

_UMASK = os.umask(0o022)          # read once (os.umask can only be read by setting it), then restored
os.umask(_UMASK)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically (a temporary name, then `os.replace`)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path):
    """A JSON file of a run directory.

    Raises:
        CheckpointError: missing, not UTF-8, not JSON, or nested too deep to read (names the file).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (is this a run directory made by `ntm train`?)") from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text (byte {e.start}); not a file `ntm train` wrote") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: nested too deep to be a file `ntm train` wrote") from None


def _check_finite(tensors: dict[str, torch.Tensor], what: str) -> None:
    for k, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"refusing to write {what}: tensor {k!r} holds NaN or Inf")


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write tensors atomically; refuses NaN/Inf (a checkpoint with NaN is never written). The file
    gets the permissions of the run's other files (safetensors writes it owner-only)."""
    # copies: tensors that are views into one buffer (ntm.training.optimizer) would share memory, which
    # safetensors refuses
    tensors = {k: v.detach().to("cpu", copy=True, memory_format=torch.contiguous_format) for k, v in tensors.items()}
    _check_finite(tensors, str(path))
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


# Bytes per element of each safetensors dtype (the format's names; github.com/huggingface/safetensors).
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_MAX_HEADER = 100 * 1024 * 1024       # the safetensors library's own limit on the JSON header


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        seen: set = set()
        dup = next(k for k in keys if k in seen or seen.add(k))
        raise ValueError(f"the header names {dup!r} twice")
    return dict(pairs)


def check_layout(path: Path) -> None:
    """The safetensors file's header read by hand and checked against the format before any tensor
    is loaded: an 8-byte little-endian length, then a JSON object mapping each tensor's name to its
    dtype, shape and `data_offsets` [begin, end) in the byte buffer that follows. Each tensor's
    range must lie in the buffer and hold exactly its shape × dtype bytes; the ranges must not
    overlap (two tensors sharing bytes) and must cover the buffer with no gap and nothing after the
    last, as the format requires. A file `save_file` wrote always passes; the checks do not depend
    on which safetensors version is installed.

    Raises:
        CheckpointError: names the file and the tensor (both tensors, for an overlap).
    """
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: {why}; not a safetensors file `ntm train` wrote")

    header, buffer = _read_header(path, bad)
    spans = sorted(_tensor_spans(header, buffer, bad))
    reach, holder = 0, None                     # the furthest end so far, and whose it is
    for begin, end, name in spans:              # overlaps first: the worse fault
        if begin < reach and begin < end:
            raise bad(f"tensors {holder!r} and {name!r} overlap (both hold bytes {begin:,}–"
                      f"{min(end, reach):,} of the data)")
        if end > reach:
            reach, holder = end, name
    covered = 0
    for begin, end, name in spans:
        if begin > covered:
            raise bad(f"bytes {covered:,}–{begin:,} of the data belong to no tensor (a gap before {name!r})")
        covered = max(covered, end)
    if covered != buffer:
        raise bad(f"bytes {covered:,}–{buffer:,} of the data belong to no tensor")


def _read_header(path: Path, bad) -> tuple[dict, int]:
    """`check_layout`'s first part: the header as a dict, and the data buffer's size in bytes.
    `bad(why)` makes the error to raise."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            n = int.from_bytes(head, "little")
            raw = f.read(n) if len(head) == 8 and n <= min(_MAX_HEADER, size - 8) else b""
    except OSError as e:
        raise bad(f"cannot be read ({e.strerror or e})") from None
    if len(head) < 8:
        raise bad(f"{size} bytes, too short for a header")
    if n > _MAX_HEADER:
        raise bad(f"its header length ({n:,} bytes) is over the format's 100 MB")
    if 8 + n > size:
        raise bad(f"its header length ({n:,} bytes) runs past the end of the file ({size:,} bytes)")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as e:
        raise bad(f"its header is not UTF-8 (byte {8 + e.start})") from None
    except (ValueError, RecursionError) as e:          # JSONDecodeError is a ValueError
        raise bad(f"its header is not valid JSON ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    return header, size - 8 - n


def _tensor_spans(header: dict, buffer: int, bad) -> list[tuple[int, int, str]]:
    """`check_layout`'s second part: each tensor's (begin, end, name), its dtype, shape and offsets
    checked, its range within the `buffer` bytes and holding exactly shape x dtype bytes."""
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise bad("its __metadata__ is not a map of strings")
            continue
        if not (isinstance(info, dict) and info.get("dtype") in _DTYPE_BYTES
                and isinstance(info.get("shape"), list) and isinstance(info.get("data_offsets"), list)
                and len(info["data_offsets"]) == 2
                and all(type(x) is int and x >= 0 for x in info["shape"] + info["data_offsets"])):
            raise bad(f"tensor {name!r} has no valid dtype, shape and data_offsets")
        begin, end = info["data_offsets"]
        if not begin <= end <= buffer:
            raise bad(f"tensor {name!r}: data_offsets [{begin}, {end}] lie outside the "
                      f"{buffer:,}-byte data")
        want = math.prod(info["shape"]) * _DTYPE_BYTES[info["dtype"]]
        if end - begin != want:
            raise bad(f"tensor {name!r}: data_offsets [{begin}, {end}] hold {end - begin:,} bytes, its "
                      f"{info['dtype']} shape {info['shape']} needs {want:,}")
        spans.append((begin, end, name))
    return spans


def load_tensors(path: Path, device="cpu") -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, its layout checked first (`check_layout`).

    Raises:
        CheckpointError: missing, not safetensors, or a header that breaks the format (names the file).
    """
    if not Path(path).exists():
        raise CheckpointError(f"{path}: missing (is this a run directory made by `ntm train`?)")
    check_layout(path)
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def check_tensors(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], path) -> None:
    """Weights read from `path` against what the model expects (`want`, its state dict): the same
    names, shapes and dtypes, and finite values. A file edited by hand (a dtype relabelled, a
    tensor reshaped, NaN written in) is refused here rather than loaded.

    Raises:
        CheckpointError: names the file and the first tensor that does not fit.
    """
    missing, unexpected = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing or unexpected:
        raise CheckpointError(f"{path}: does not fit the model in config.json "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    for k, w in want.items():
        g = got[k]
        if g.shape != w.shape or g.dtype != w.dtype:
            raise CheckpointError(f"{path}: does not fit the model in config.json (tensor {k!r} is {g.dtype} "
                                  f"{tuple(g.shape)}, the model needs {w.dtype} {tuple(w.shape)})")
        if g.is_floating_point() and not torch.isfinite(g).all():
            raise CheckpointError(f"{path}: tensor {k!r} holds NaN or Inf")


# ---------------------------------------------------------------- optimizer state without pickle
def optimizer_to_files(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state_dict into tensors (for safetensors) and JSON (the rest)."""
    sd = opt.state_dict()
    tensors, state_json = {}, {}
    for pid, st in sd["state"].items():
        entry = {}
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
            else:
                entry[k] = v
        state_json[str(pid)] = entry
    return tensors, {"state": state_json, "param_groups": sd["param_groups"]}


def optimizer_from_files(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Load what `optimizer_to_files` split. Raises CheckpointError when the JSON part is damaged."""
    try:
        state: dict = {int(pid): dict(v) for pid, v in meta["state"].items()}
        for key, t in tensors.items():
            pid, k = key.split(".", 1)
            state.setdefault(int(pid), {})[k] = t
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        for group in opt.param_groups:                        # what Adam/RMSprop read at every step
            if not all(isinstance(group.get(k), (int, float)) and not isinstance(group.get(k), bool)
                       for k in ("lr", "eps", "weight_decay")):
                raise TypeError("a hyperparameter is not a number")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"checkpoint/state.json: its 'optimizer' entry is damaged ({e}); "
                              "start the run again with a new --out") from None


# ---------------------------------------------------------------- the resume checkpoint
def save_checkpoint(run_dir: Path, *, model, best_weights: dict | None, optimizer, state: dict,
                    averaged: dict | None = None) -> None:
    """Write RUN/checkpoint/ atomically (a new directory swapped in whole), then RUN/weights.safetensors
    (the weights a finished run is loaded with: best_weights, or the model's own while there are none).

    Raises:
        CheckpointError: a tensor holds NaN or Inf (nothing is written).
    """
    run_dir = Path(run_dir)
    weights = model.state_dict()
    _check_finite(weights, "a checkpoint")
    tmp = run_dir / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_tensors(tmp / "model.safetensors", weights)
    if best_weights is not None:
        save_tensors(tmp / "best.safetensors", best_weights)
    if averaged is not None:
        save_tensors(tmp / "averaged.safetensors", averaged)
    opt_tensors, opt_meta = optimizer_to_files(optimizer)
    save_tensors(tmp / "optimizer.safetensors", opt_tensors)
    write_json(tmp / "state.json", {**state, "optimizer": opt_meta})
    final, old = run_dir / "checkpoint", run_dir / "checkpoint.old"
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    save_tensors(run_dir / "weights.safetensors", weights if best_weights is None else best_weights)


def load_checkpoint(run_dir: Path, device="cpu") -> dict:
    """Read RUN/checkpoint/ (or the previous one, if a crash interrupted the swap).

    Returns a dict with ``model``, ``best`` and ``averaged`` (or None), ``optimizer`` (tensors) and
    ``state`` (JSON).

    Raises:
        CheckpointError: no checkpoint, or a file in it is missing or corrupt.
    """
    run_dir = Path(run_dir)
    ck = run_dir / "checkpoint"
    if not ck.exists() and (run_dir / "checkpoint.old").exists():
        ck = run_dir / "checkpoint.old"
    if not ck.exists():
        raise CheckpointError(f"{ck}: no checkpoint to resume from")
    best, averaged = ck / "best.safetensors", ck / "averaged.safetensors"
    return {"model": load_tensors(ck / "model.safetensors", device),
            "best": load_tensors(best, device) if best.exists() else None,
            "averaged": load_tensors(averaged, device) if averaged.exists() else None,
            "optimizer": load_tensors(ck / "optimizer.safetensors", device),
            "state": read_json(ck / "state.json")}


def clean_float(x: float) -> float | None:
    """JSON has no NaN: write None instead."""
    return None if x is None or not math.isfinite(x) else float(x)
