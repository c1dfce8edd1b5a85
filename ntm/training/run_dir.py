"""Load a trained model back from its run directory, on any machine and any device.

A run directory is self-describing (DESIGN.md): RUN/config.json names the task and its
parameters and the model and its configuration; RUN/weights.safetensors holds the weights.
`load_run` rebuilds the task from the registry and the model from `ntm.models.build_model`, then
loads the weights onto the asked device. Nothing in it depends on where the run was made: paths
are not stored, tensors are mapped to the device at load time (a run trained on a GPU loads on a
CPU and the other way round), and nothing is unpickled.

Runs shipped inside the package (``ntm/checkpoints/NAME/``, the same layout) load the same way:
pass the directory, or ``shipped:NAME`` (or just NAME when no such path exists here).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from ntm.training import checkpoint as ckpt
from ntm.errors import CheckpointError, ConfigError

#: where runs shipped with the package live (one run directory per name)
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"


def output_dir(run_dir, kind: str) -> Path:
    """Where files made from a run go (``kind``: "hypothesis" for `ntm verify`'s counterexamples,
    "plots" for `ntm plot`): RUN/KIND, or, for a run shipped inside the package or a run directory
    this user cannot write, the user's cache (``$XDG_CACHE_HOME``, default ~/.cache,
    ``/ntm-playground/KIND/NAME``): never the installed package's folder."""
    import os
    run = Path(run_dir).resolve()
    if run.is_relative_to(SHIPPED.resolve()) or not os.access(run, os.W_OK):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "ntm-playground" / kind / run.name
    return run / kind


def shipped_runs() -> list[str]:
    """Names of the run directories shipped inside the package."""
    if not SHIPPED.is_dir():
        return []
    return sorted(p.name for p in SHIPPED.iterdir() if (p / "config.json").exists())


def resolve_run(spec) -> Path:
    """The run directory a RUN argument names.

    ``shipped:NAME`` is ``ntm/checkpoints/NAME``; any other value is a path, and a bare NAME that
    is no path here but is a shipped run's name resolves to that run.

    Raises:
        CheckpointError: no such directory, or it holds no config.json (names the choices).
    """
    text = str(spec)
    if text.startswith("shipped:"):
        path = SHIPPED / text.split(":", 1)[1]
    else:
        path = Path(text)
        if not path.exists() and "/" not in text and (SHIPPED / text).is_dir():
            path = SHIPPED / text
    if not path.is_dir():
        shipped = ", ".join(f"shipped:{n}" for n in shipped_runs()) or "none"
        raise CheckpointError(f"{spec}: no such run directory (runs shipped with the package: {shipped})")
    if not (path / "config.json").exists():
        raise CheckpointError(f"{path}: not a run directory (no config.json; made by `ntm train`?)")
    return path


def read_config(run_dir) -> dict:
    """RUN/config.json: ``{"train": TrainConfig fields, "task": {"name", **params},
    "model": {"name", "input_size", "output_size", **model config}}``.

    Raises:
        CheckpointError: missing, not JSON, or without the task/model sections.
    """
    path = Path(run_dir) / "config.json"
    config = ckpt.read_json(path)
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(config).__name__}")
    for section in ("task", "model"):
        if not isinstance(config.get(section), dict) or "name" not in config[section]:
            raise CheckpointError(f"{path}: no {section!r} section with a 'name' (made by an older `ntm train`?)")
    return config


def build_task(config: dict):
    """The task a run's config names (the registry rebuilds it from its name and parameters).

    Raises:
        tasks.errors.TaskError: unknown task or bad parameter (the registry's message).
    """
    from tasks.registry import get_task
    params = {k: v for k, v in config["task"].items() if k != "name"}
    return get_task(config["task"]["name"], **params)


def build_model_from_config(config: dict, task):
    """An untrained model as the run's config describes it, checked against the task's sizes.

    Raises:
        CheckpointError: the stored sizes differ from the task's (the task changed since training).
        ConfigError: the model name or an option is unknown (`build_model`'s message).
    """
    from ntm.models import build_model
    m = dict(config["model"])
    name = m.pop("name")
    input_size, output_size = m.pop("input_size", task.input_size), m.pop("output_size", task.output_size)
    if (input_size, output_size) != (task.input_size, task.output_size):
        raise CheckpointError(
            f"the run's model has input/output sizes {input_size}/{output_size} but task "
            f"{task.name!r} now has {task.input_size}/{task.output_size}: the task changed since training")
    return build_model(name, input_size, output_size, **m)


def load_run(run_dir, device="cpu", memory_rows: int | None = None):
    """Rebuild a run's task and model and load its weights.

    Args:
        run_dir: a run directory, ``shipped:NAME``, or a shipped run's NAME (see `resolve_run`).
        device: where the model goes: a torch.device, "cpu", "cuda", "mps" or "auto"
            (CUDA, then MPS, then CPU). The weights are mapped there whatever device trained them.
        memory_rows: rebuild a memory model with this memory size (N rows, or stack/tape cells:
            `ntm.models.MEMORY_SIZE`) instead of the trained one; its weights must not depend on it
            (the defaults'), else the weights do not fit and CheckpointError names them.

    Returns:
        ``(model, task, config)``: the model in eval mode on `device`, the `tasks.Task`, and the
        parsed config.json (its ``"run_dir"`` key is added: the resolved directory).

    Raises:
        CheckpointError: missing or corrupt files, or weights that do not fit the model
            (names the file and the first mismatched tensors).
        ConfigError: an unavailable device, an unknown model option, or `memory_rows` for a model
            without memory.
        tasks.errors.TaskError: the task cannot be rebuilt.
    """
    from ntm.device import pick_device
    run_dir = resolve_run(run_dir)
    device = device if isinstance(device, torch.device) else pick_device(str(device))
    config = read_config(run_dir)
    if memory_rows is not None:
        _resize_memory(config, memory_rows)
    task, model = build(config, run_dir / "config.json")
    model = model.to(device)
    path = run_dir / "weights.safetensors"
    weights = ckpt.load_tensors(path, device)
    ckpt.check_tensors(weights, model.state_dict(), path)
    model.load_state_dict(weights)
    model.eval()
    config["run_dir"] = str(run_dir)
    return model, task, config


def _resize_memory(config: dict, rows: int) -> None:
    """Set the memory size in a run's config (its "model" section) to `rows`.

    Raises:
        ConfigError: the model has no memory size to set, or `rows` is not a positive integer.
    """
    from ntm.models import memory_size_option
    option = memory_size_option(config["model"]["name"], "--memory-rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError(f"--memory-rows must be an integer >= 1, got {rows!r}")
    config["model"][option] = rows


def build(config: dict, source) -> tuple:
    """(task, untrained model) as a run's config describes them.

    Raises:
        CheckpointError: an unknown name, a bad option, or a task or model too large to build here
            (a config edited by hand, say); names the file.
    """
    with buildable(source, CheckpointError):
        task = build_task(config)
        return task, build_model_from_config(config, task)


@contextlib.contextmanager
def buildable(source, error=CheckpointError):
    """While building a task or model from a config: a bad name or option (ConfigError, TaskError) and
    an allocation the machine cannot make (MemoryError, torch's RuntimeError) become `error`, one
    line that starts with `source` (the file the config came from)."""
    from tasks.errors import TaskError
    try:
        yield
    except (ConfigError, TaskError) as e:
        raise error(f"{source}: {e}") from None
    except (MemoryError, RuntimeError) as e:
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        raise error(f"{source}: the task or model it describes cannot be built here ({detail}); "
                    "check its sizes") from None
