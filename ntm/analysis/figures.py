"""Figures: learning curves, accuracy against length, the NTM paper's memory-use figure, and a
machine's space-time diagram.

Every function draws on its own `matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
global state, no display needed) and writes one PNG (or any format matplotlib knows from the
suffix). Nothing here is imported by `turing/` or `tasks/`: matplotlib loads only when a figure is
asked for.

- `learning_curve`: bits per sequence against sequences seen (log scale), from RUN/metrics.jsonl,
  as in the NTM paper's Figures 3, 7, 11, 14 and 16.
- `accuracy_by_length`: sequence and per-symbol accuracy against input length, training range
  shaded, memory size N marked (the generalisation picture of the paper's Figures 4–5 and of the
  Chomsky-hierarchy benchmark's range evaluation).
- `memory_use`: the paper's Figure 6 layout for one example: inputs, targets and model outputs,
  write and read weightings over time (memory models only).
- `spacetime`: a machine's tapes over its steps, heads marked, states beside each row.
- `plot_run`: all of a run directory's figures into RUN/plots/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ntm.errors import CheckpointError, ConfigError


def new_figure(width: float, height: float):
    """A matplotlib Figure (inches) on the Agg canvas: no pyplot, no global state, no display. Every
    figure of the project is made here."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path) -> Path:
    """Write `fig` to `path` (PNG, or any suffix matplotlib knows; its folder made) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# ---------------------------------------------------------------- learning curve
def read_metrics(path) -> list[dict]:
    """The rows of a metrics.jsonl file (one JSON object per evaluation).

    Raises:
        CheckpointError: the file is missing, or a line is not JSON (names the line).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: missing (is this a run directory made by `ntm train`?)")
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{path}:{i}: not valid JSON ({e.msg})") from None
    return rows


def learning_curve(metrics: Sequence[dict], path, title: str = "") -> Path:
    """Bits per sequence (evaluation error against the machine) against sequences seen, log y.

    Args:
        metrics: metrics.jsonl rows with ``sequences`` and ``bits_per_seq`` (and optionally
            ``rollbacks``: a rollback is marked by a dotted vertical line; ``polishing``: the
            rows scored on the polishing set are drawn in another colour, after a dashed line).
        path: the image file to write.

    Raises:
        ConfigError: no row carries ``bits_per_seq``.
    """
    rows = [r for r in metrics if r.get("bits_per_seq") is not None]
    if not rows:
        raise ConfigError("no evaluation rows (bits_per_seq) to plot: train for at least eval_every steps")
    x = np.array([r["sequences"] for r in rows], dtype=float)
    y = np.array([r["bits_per_seq"] for r in rows], dtype=float)
    floor = 1e-3  # a perfect evaluation (0 bits) cannot sit on a log axis: draw it at the floor
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    polish = np.array([bool(r.get("polishing")) for r in rows])
    ax.plot(x[~polish], np.maximum(y[~polish], floor), marker=".", lw=1.2, label="fixed evaluation set")
    if polish.any():  # another set (the longest training length), so another line, not a continuation
        ax.plot(x[polish], np.maximum(y[polish], floor), marker=".", lw=1.2, color="tab:green",
                label="polishing set (longest training length)")
        ax.axvline(x[polish][0], color="tab:green", ls="--", lw=1)
        ax.legend(fontsize=8, loc="upper right")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, not 2×10¹
    ax.yaxis.set_major_formatter(plain)
    shown = np.maximum(y, floor)
    ax.yaxis.set_minor_formatter(plain if shown.max() / shown.min() < 10 else NullFormatter())
    ax.set_xlabel("sequences seen")
    ax.set_ylabel("cost per sequence (bits)")
    prev = 0
    for r in rows:  # a rollback shows up as an increase in the running count
        if r.get("rollbacks", 0) > prev:
            ax.axvline(r["sequences"], color="tab:red", ls=":", lw=1)
            prev = r["rollbacks"]
    if (y < floor).any():
        ax.axhline(floor, color="0.6", lw=0.8, ls="--")
        ax.text(x[0], floor, " 0 bits drawn here", va="bottom", fontsize=8, color="0.4")
    ax.set_title(title or "learning curve (evaluation against the machine)")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


# ---------------------------------------------------------------- accuracy against length
def accuracy_by_length(rows: Sequence[dict], path, train_range: tuple[int, int] | None = None,
                       memory_rows: int | None = None, title: str = "") -> Path:
    """Sequence accuracy and per-symbol accuracy against input length.

    Args:
        rows: `ntm.analysis.compare.compare` rows (``length``, ``seq_accuracy``, ``symbol_accuracy``,
            optionally ``in_training_range``).
        train_range: (lo, hi) lengths seen in training, shaded; by default the span of the rows
            flagged ``in_training_range``.
        memory_rows: N, drawn as a dashed line (lengths beyond it cannot fit in memory).
    """
    if not rows:
        raise ConfigError("no comparison rows to plot")
    rows = sorted(rows, key=lambda r: r["length"])
    n = [r["length"] for r in rows]
    if train_range is None:
        inside = [r["length"] for r in rows if r.get("in_training_range")]
        train_range = (min(inside), max(inside)) if inside else None
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    if train_range is not None:
        ax.axvspan(train_range[0], train_range[1], color="tab:green", alpha=0.12,
                   label=f"training lengths {train_range[0]}–{train_range[1]}")
    if memory_rows is not None:
        ax.axvline(memory_rows, color="tab:red", ls="--", lw=1, label=f"memory size N = {memory_rows}")
    ax.plot(n, [r["seq_accuracy"] for r in rows], marker="o", label="sequence accuracy")
    ax.plot(n, [r["symbol_accuracy"] for r in rows], marker="s", ls="--", label="per-symbol accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("input length n")
    ax.set_ylabel("agreement with the machine")
    ax.set_title(title or "accuracy against length")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save_figure(fig, path)


# ---------------------------------------------------------------- the paper's Figure 6
def run_example(model, task, length: int, seed: int = 0) -> dict:
    """Run the model on one input of `length` (the batch `ntm.analysis.verify.draw_batch` gives for
    `seed`) and collect what `memory_use` draws.

    Returns:
        A dict: ``inputs`` (T_in, C_in), ``targets`` and ``outputs`` (T_out, C_out; outputs as
        probabilities), ``input_symbols``, ``machine_output``, ``model_output`` (decoded),
        ``length``, ``seed``, and for models with ``run_with_info`` (the NTM)
        ``write_weightings`` / ``read_weightings`` ((T_in + T_out, N): the first head of each kind).
    """
    import torch

    from .verify import draw_batch, model_device
    batch = draw_batch(task, length, seed)
    device = model_device(model)
    x, lens, T_out = batch.inputs.to(device), batch.input_lengths.to(device), batch.targets.shape[1]
    model.eval()
    info = None
    with torch.no_grad():
        if batch.online:   # dynamic N-grams: each prediction from the bits so far, no memory picture
            from ntm.models import online_logits
            logits = online_logits(model, x)
        elif hasattr(model, "run_with_info"):
            logits, info = model.run_with_info(x, T_out, lens)
        else:
            logits = model(x, T_out, lens, batch.output_lengths.to(device))
    logits = logits.float().cpu()
    probs = torch.sigmoid(logits) if task.loss_kind == "bce" else torch.softmax(logits, -1)
    example = {"length": int(length), "seed": int(seed), "inputs": batch.inputs[0].numpy(),
               "targets": batch.targets[0].numpy(), "outputs": probs[0].numpy(),
               "input_symbols": batch.input_symbols[0], "machine_output": batch.output_symbols[0],
               "model_output": task.decode(logits, batch.mask)[0]}
    if info is not None:
        example["write_weightings"] = info["write_weightings"][0, :, 0].float().cpu().numpy()  # (T, N)
        example["read_weightings"] = info["read_weightings"][0, :, 0].float().cpu().numpy()    # (T, N)
    return example


def memory_use(example: dict, path, title: str = "") -> Path:
    """The NTM paper's Figure 6 layout for one example, every panel on one time axis.

    Args:
        example: what `run_example` returns: ``inputs`` (T_in, C_in), ``targets`` and
            ``outputs`` (T_out, C_out; outputs as probabilities), and for memory models
            ``write_weightings`` and ``read_weightings`` ((T_in + T_out, N): the first head of
            each kind); optionally ``length``, ``machine_output`` and ``model_output`` (the title).
        path: the image file.

    Top row: inputs | targets (machine) | outputs (model), the outputs at the T_out steps after
    the input. Bottom row (memory models): write weightings | read weightings, memory location
    against time, as in the paper | the output bits where the model and the machine differ.
    Without weightings the wrong bits join the top row.
    """
    from matplotlib.ticker import MaxNLocator
    inputs, targets, outputs = (np.asarray(example[k], dtype=float) for k in ("inputs", "targets", "outputs"))
    T_in, T_out = inputs.shape[0], targets.shape[0]
    T = T_in + T_out
    wrong = np.abs((outputs > 0.5).astype(float) - (targets > 0.5))      # (T_out, C_out)
    ww, rw = example.get("write_weightings"), example.get("read_weightings")
    has_memory = ww is not None and rw is not None
    fig = new_figure(11, 6.5 if has_memory else 3.4)
    grid = fig.add_gridspec(2, 3) if has_memory else fig.add_gridspec(1, 4)
    panels = [("inputs", inputs, 0, "channel"), ("targets (machine)", targets, T_in, "channel"),
              ("outputs (model)", outputs, T_in, "channel")]
    if has_memory:
        panels += [("write weightings", np.asarray(ww, float), 0, "memory location"),
                   ("read weightings", np.asarray(rw, float), 0, "memory location")]
    panels.append((f"wrong output bits ({int(wrong.sum())})", wrong, T_in, "channel"))
    first = None
    for i, (name, data, t0, ylabel) in enumerate(panels):
        ax = fig.add_subplot(grid[divmod(i, 3)] if has_memory else grid[0, i], sharex=first)
        first = first or ax
        rows = data.shape[1]
        ax.imshow(data.T, cmap="Reds" if name.startswith("wrong") else "gray_r", vmin=0, vmax=1,
                  aspect="auto", interpolation="nearest",
                  extent=(t0 - 0.5, t0 + data.shape[0] - 0.5, rows - 0.5, -0.5))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axvline(T_in - 0.5, color="tab:blue", lw=0.8, ls=":")  # the input ends, the output begins
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("time step")
        ax.set_ylabel(ylabel)
    if not title and "model_output" in example:
        differ = sum(a != b for a, b in zip(example["model_output"], example["machine_output"]))
        title = (f"length {example.get('length', T_out)}: " + ("the model agrees with the machine" if not differ
                 else f"{differ} of {T_out} output symbols differ from the machine's"))
    fig.suptitle((title or "one example") + "   (dotted line: end of the input)", fontsize=11)
    return save_figure(fig, path)


# ---------------------------------------------------------------- machine space-time diagram
def _symbol_colors(alphabet: Sequence[str], blank: str):
    """One colour per tape symbol: white for the blank, a categorical map for up to 20 symbols,
    a continuous one beyond (the 256 symbols of 8-bit vectors)."""
    from matplotlib import colormaps
    data = [a for a in alphabet if a != blank]
    cmap = colormaps["tab20" if len(data) <= 20 else "viridis"]
    colors = {blank: (1.0, 1.0, 1.0, 1.0)}
    for i, a in enumerate(data):
        colors[a] = cmap(i % 20) if len(data) <= 20 else cmap(i / max(len(data) - 1, 1))
    return colors


def spacetime(machine, word: Sequence[str] = (), path="spacetime.png", max_steps: int = 200,
              title: str = "") -> Path:
    """A machine's space-time diagram: each row is one configuration (time runs down), each
    column one tape cell, coloured by its symbol; the head's cell is outlined, and the state
    is written (or coloured) beside each row. One panel per tape.

    Args:
        machine: a `turing.Machine`.
        word: the input word (symbols).
        max_steps: draw at most this many steps (the run may go on; the title says so).

    Raises:
        turing.errors.InputError: the word holds a symbol outside the input alphabet.
        ConfigError: max_steps < 0.
    """
    import turing

    if max_steps < 0:
        raise ConfigError(f"max_steps must be >= 0, got {max_steps}")
    configs = list(turing.trace(machine, tuple(word), max_steps=max_steps))
    final = turing.run(machine, tuple(word), max_steps=max_steps)
    T, k = len(configs), machine.tapes
    colors = _symbol_colors(machine.tape_alphabet, machine.blank)
    states = list(machine.states)
    state_colors = _symbol_colors(["\0"] + states, "\0")

    spans = []  # per tape, the cells that held a symbol or the head at some step
    for i in range(k):
        used = {c.heads[i] for c in configs}
        used |= {c.origins[i] + j for c in configs for j, a in enumerate(c.tapes[i]) if a != machine.blank}
        spans.append((min(used), max(used)))
    widths = [hi - lo + 1 for lo, hi in spans]
    cell = 0.22 if max(widths) * k < 60 else max(0.04, 12 / (sum(widths) + 1))
    row = 0.22 if T <= 40 else max(0.01, 9 / T)
    fig = new_figure(min(16, 1.6 + cell * sum(widths) + 1.2 * k), min(20, 1.8 + row * T))
    grid = fig.add_gridspec(1, k + 1, width_ratios=[*widths, max(2, sum(widths) // 12)])
    annotate = T <= 40 and max(widths) <= 40

    for i in range(k):
        ax = fig.add_subplot(grid[0, i])
        _tape_panel(ax, configs, i, spans[i], colors, machine.blank, annotate)
        ax.set_xlabel(f"tape {i} cell" if k > 1 else "tape cell")
        ax.set_ylabel("step" if i == 0 else "")
        if i:
            ax.tick_params(labelleft=False)
    _state_column(fig.add_subplot(grid[0, k]), configs, states, state_colors)
    shown = "" if final.halted else f", first {max_steps} steps"
    fig.suptitle(title or f"{machine.name or 'machine'}: {final.status} after {final.steps} steps{shown}",
                 fontsize=10)
    return save_figure(fig, path)


def _tape_panel(ax, configs: list, i: int, span: tuple[int, int], colors: dict, blank: str, annotate: bool) -> None:
    """`spacetime`'s panel for tape i: its cells lo..hi (span) over the configurations, coloured by
    symbol, the head outlined in red, the symbols written in when `annotate`."""
    from matplotlib.patches import Rectangle
    lo, hi = span
    T = len(configs)
    img = np.ones((T, hi - lo + 1, 4))
    for t, c in enumerate(configs):
        for j, a in enumerate(c.tapes[i]):
            if lo <= c.origins[i] + j <= hi:  # the tape list also holds blank cells beyond
                img[t, c.origins[i] + j - lo] = colors[a]
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(lo - 0.5, hi + 0.5, T - 0.5, -0.5))
    for t, c in enumerate(configs):
        ax.add_patch(Rectangle((c.heads[i] - 0.5, t - 0.5), 1, 1, fill=False, ec="red", lw=1.2))
        if annotate:
            for j, a in enumerate(c.tapes[i]):
                if a != blank:
                    ax.text(c.origins[i] + j, t, a, ha="center", va="center", fontsize=6)


def _state_column(ax, configs: list, states: list, state_colors: dict) -> None:
    """`spacetime`'s state of each configuration: a coloured column, the names written in for up to
    40 steps, else a legend."""
    from matplotlib.patches import Patch
    T = len(configs)
    img = np.array([[state_colors[c.state]] for c in configs])
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(-0.5, 0.5, T - 0.5, -0.5))
    ax.set_xticks([])
    ax.tick_params(labelleft=False)
    ax.set_xlabel("state")
    if T <= 40:
        for t, c in enumerate(configs):
            ax.text(0, t, c.state, ha="center", va="center", fontsize=6)
    else:
        handles = [Patch(color=state_colors[q], label=q) for q in states[:15]]
        ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)


# ---------------------------------------------------------------- a run's figures
def open_run(run_dir, device, out, log, length: int | None = None):
    """What every run's figures start from: (model, task, config, run directory, output folder,
    a title prefix, [learning_curve.png written from metrics.jsonl, when there is one]). `length`,
    when given, is checked against the task before anything is written.

    Raises:
        CheckpointError: the run cannot be loaded; ConfigError: out is not writable;
        tasks.errors.TaskError: a length the task does not take.
    """
    import os

    from ntm.training.run_dir import load_run, output_dir
    model, task, config = load_run(run_dir, device)
    if length is not None:
        task.check_lengths(1, int(length))
    run = Path(config["run_dir"])
    out = Path(out) if out is not None else output_dir(run, "plots")
    if out.parent.exists() and not os.access(out.parent, os.W_OK):
        raise ConfigError(f"{out.parent} is not writable; pass an output folder (--out DIR)")
    name = f"{task.name} · {config['model']['name']}"
    written = []
    if (run / "metrics.jsonl").exists():
        written.append(learning_curve(read_metrics(run / "metrics.jsonl"), out / "learning_curve.png",
                                      title=f"{name}: learning curve"))
    else:
        log(f"{run / 'metrics.jsonl'}: missing, no learning curve")
    return model, task, config, run, out, name, written


def plot_run(run_dir, device="cpu", out=None, length: int | None = None, seed: int = 0,
             log=print) -> list[Path]:
    """Write a run's figures: learning_curve.png (from metrics.jsonl), accuracy_by_length.png
    (from comparison.json, or computed with `ntm.analysis.compare.compare` when it is missing) and
    example.png (`memory_use` for one input of `length`, default the longest training length).

    Args:
        run_dir: a run directory (or a shipped run, see `ntm.training.run_dir.resolve_run`).
        out: the folder to write (default RUN/plots).

    Returns:
        The files written.

    Raises:
        CheckpointError: the run cannot be loaded; ConfigError: out is not writable.
    """
    from ntm.models import memory_rows
    from ntm.training import checkpoint as ckpt

    from .compare import compare, default_compare_lengths
    from .verify import model_device

    model, task, config, run, out, name, written = open_run(run_dir, device, out, log, length)
    if (run / "comparison.json").exists():
        rows = ckpt.read_json(run / "comparison.json")["lengths"]
    else:
        lengths = config.get("train", {}).get("compare_lengths") or default_compare_lengths(task)
        rows = compare(model, task, lengths, samples=256, device=model_device(model))
    written.append(accuracy_by_length(rows, out / "accuracy_by_length.png", train_range=tuple(task.train_lengths),
                                      memory_rows=memory_rows(model), title=f"{name}: accuracy against length"))
    n = task.train_lengths[1] if length is None else int(length)
    written.append(memory_use(run_example(model, task, n, seed), out / "example.png"))
    return written
