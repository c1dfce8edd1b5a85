"""Figures of trace runs: the learned run beside the machine's as space-time diagrams, and
step-exact / tape-exact fractions against length (`ntm plot` on a trace run); for a universal run,
its runs of BB(4) and of a held-out random machine beside the machine's (`plot_universal_run`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ntm.analysis.figures import _symbol_colors, new_figure, open_run, save_figure
from ntm.analysis.trace_compare import free_run


def machine_tapes(batch, b: int = 0) -> np.ndarray:
    """(steps + 1, k, N) the machine's tapes (cell classes) before each step of run b, from the
    batch's initial tape and its writes (a short loop: for figures)."""
    tape, n = batch.tape[b].copy(), int(batch.steps[b])
    out = [tape.copy()]
    for t in range(n):
        for i, row in enumerate(batch.heads[b, t]):
            tape[i, row] = batch.write[b, t, i]
        out.append(tape.copy())
    return np.stack(out)


def spacetime_pair(model, task, length: int, seed: int = 0, path="trace_spacetime.png",
                   max_steps: int = 400) -> Path:
    """The machine's run and the model's free run on one input as space-time diagrams (`draw_pair`).

    Args:
        length, seed: the input (``task.sample(default_rng(seed), 1, length)``).
        max_steps: draw at most this many steps.
    """
    batch = task.sample(np.random.default_rng(seed), 1, int(length))
    names = (task.machine.blank,) + task.symbols
    return draw_pair(model, batch, names, f"{task.name}, length {length}", path, max_steps)


def draw_pair(model, batch, names: tuple, title: str, path, max_steps: int = 400) -> Path:
    """Run 0 of a trace batch, the machine's beside the model's free run, as space-time diagrams
    (time runs down, one column per tape row, one colour per symbol (`names`: the cell classes'
    symbols, the blank first), the head outlined), a panel pair per tape, the first step where they
    part marked with a red line. A universal batch's table rows are not drawn (``tape_rows``)."""
    from matplotlib.patches import Rectangle

    r = free_run(model, batch, record=True)
    N = getattr(batch, "tape_rows", 0) or batch.rows
    want = machine_tapes(batch)[:max_steps + 1, :, :N]                         # (Tm, k, N)
    got = np.stack([h["tape"][0] for h in r.history])[:max_steps + 1, :, :N]   # (Tg, k, N)
    heads_m = batch.heads[0, :len(want)]
    heads_g = np.stack([h["heads"][0] for h in r.history])[:len(got)]
    first = int(r.first_divergence[0])
    colors = _symbol_colors(names, names[0])
    palette = np.array([colors[a] for a in names])                         # class -> RGBA
    T, k = max(len(want), len(got)), want.shape[1]
    fig = new_figure(min(16, 2 + 0.12 * N * 2 * k), min(18, 2 + (0.2 if T <= 60 else 12 / T) * T))
    for i in range(k):
        for j, (label, tapes, heads) in enumerate((("machine", want, heads_m), ("model", got, heads_g))):
            ax = fig.add_subplot(1, 2 * k, 2 * i + j + 1)
            ax.imshow(palette[tapes[:, i]], aspect="auto", interpolation="nearest",
                      extent=(batch.origin - 0.5, batch.origin + N - 0.5, len(tapes) - 0.5, -0.5))
            if T <= 200:
                for t, h in enumerate(heads[:, i]):
                    ax.add_patch(Rectangle((h + batch.origin - 0.5, t - 0.5), 1, 1, fill=False, ec="black", lw=0.6))
            if 0 <= first < len(tapes):
                ax.axhline(first, color="red", lw=1.2)
            ax.set_ylim(T - 0.5, -0.5)
            ax.set_title(f"{label}" + (f", tape {i}" if k > 1 else ""), fontsize=8)
            ax.set_xlabel("tape cell")
            if i or j:
                ax.tick_params(labelleft=False)
            else:
                ax.set_ylabel("step")
    verdict = "step-exact" if first < 0 else f"parts from the machine at step {first}"
    tape = "tape-exact" if r.cells_wrong[0] == 0 else f"{int(r.cells_wrong[0])} cells wrong at the end"
    width = max(30, int(fig.get_figwidth() * 13))                         # characters at fontsize 9
    fig.suptitle(textwrap.fill(f"{title}: {int(batch.steps[0])} machine steps; the model {verdict}, {tape}", width),
                 fontsize=9)
    return save_figure(fig, path)


def exact_by_length(rows: list[dict], path, train_range: tuple[int, int], title: str = "") -> Path:
    """Step-exact and tape-exact fractions against input length (comparison rows of
    `ntm.analysis.trace_compare.compare_trace`), the training range shaded."""
    fig = new_figure(5, 3.2)
    ax = fig.add_subplot()
    xs = [r["length"] for r in rows]
    ax.plot(xs, [r["step_exact"] for r in rows], "o-", label="step-exact")
    ax.plot(xs, [r["seq_accuracy"] for r in rows], "s--", label="tape-exact")
    ax.axvspan(max(train_range[0], 0.5), train_range[1], color="0.9", label="training lengths")
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("input length")
    ax.set_ylabel("fraction of runs")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_trace_run(run_dir, device="cpu", out=None, length: int | None = None, seed: int = 0,
                   log=print) -> list[Path]:
    """A trace run's figures (`ntm plot` on a trace run): learning_curve.png, exact_by_length.png
    (from comparison.json, or computed) and spacetime.png, the learned run beside the machine's at
    `length` (default: the shortest compared length where some run leaves the machine, else 4x the
    longest training length), into RUN/plots. The example is input `seed` of that length: at a
    length where most runs are exact it may be an exact one (`ntm verify` finds one that is not).

    Raises:
        CheckpointError: the run cannot be loaded; ConfigError: out is not writable.
    """
    from ntm.training import checkpoint as ckpt

    from .trace_compare import compare_trace
    model, task, config, run, out, name, written = open_run(run_dir, device, out, log, length)
    rows = (ckpt.read_json(run / "comparison.json")["lengths"] if (run / "comparison.json").exists()
            else compare_trace(model, task))
    diverging = [r["length"] for r in rows if r["step_exact"] < 1 or r["seq_accuracy"] < 1]
    n = int(length) if length is not None else min(diverging, default=max(1, 4 * task.train_lengths[1]))
    return written + [exact_by_length(rows, out / "exact_by_length.png", tuple(task.train_lengths),
                                      f"{name}: against the machine"),
                      spacetime_pair(model, task, n, seed, out / "spacetime.png")]


def plot_universal_run(run_dir, device="cpu", out=None, length: int | None = None, seed: int = 0,
                       log=print) -> list[Path]:
    """A universal run's figures (`ntm plot` on a universal run), into RUN/plots: learning_curve.png,
    spacetime_bb4.png (the model running BB(4) from the blank tape to its halt, 107 steps, beside
    the machine) and spacetime_random.png (held-out random machine `seed`, drawn from seed 12345 +
    `seed` as `ntm.analysis.universal_compare` draws them, on input 1^length, default the longest
    training length, to the halt or the task's step bound).

    Raises:
        CheckpointError: the run cannot be loaded; ConfigError: out is not writable.
    """
    from tasks.universal import machine_batch
    from turing import library
    model, task, config, run, out, name, written = open_run(run_dir, device, out, log, length)
    bb4 = library.get("bb4")
    batch = machine_batch([bb4], [()], np.random.default_rng(seed), 1000, "trace", model.config.code_bits)
    written.append(draw_pair(model, batch, _names(bb4), f"{name}: BB(4) from the blank tape",
                             out / "spacetime_bb4.png"))
    n = int(length) if length is not None else task.train_lengths[1]
    batch = task.sample(np.random.default_rng(12345 + seed), 1, n)
    m = batch.machines[0]
    written.append(draw_pair(model, batch, _names(m), f"{name}: held-out machine {seed} "
                             f"({sum(not m.is_halting(q) for q in m.states)} states), input 1^{n}",
                             out / "spacetime_random.png"))
    return written


def _names(machine) -> tuple:
    """The two cell classes' symbols of a 2-symbol machine: (blank, the other)."""
    return (machine.blank,) + tuple(a for a in machine.tape_alphabet if a != machine.blank)
