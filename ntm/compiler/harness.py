"""The compiled NTM run in lockstep with the machine: decode its configuration at every step, compare
state, heads and every tape cell with `turing.trace`, and record how far the saturated units leak
(construction and why it works: `ntm.compiler.construct`)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor

from turing import Machine, trace
from turing.machine import DELTA_HEAD
from turing.run import Configuration, Status, as_word
from ntm.compiler.construct import (DEFAULT_GAIN, DEFAULT_SHARPENING, compile_machine, decode_tensors,
                                    layout, leakage, load_input)
from ntm.models.ntm import NTM


@dataclass
class Lockstep:
    """The compiled NTM against the machine, step by step (`lockstep`).

    identical: every configuration of the machine's run (0..steps) equals the NTM's.
    steps_compared: configurations 0..steps_compared were compared.
    first_divergence: the first step whose configurations differ (None if none), and
        differences: how (one line each: state, head, cells).
    memory_exhausted: the step at which a tape would need more than N cells (the NTM's memory
        wraps around there, so the comparison stops), else None.
    status: the machine's status when the comparison ended ("halted", "step limit", ..., or
        "running" when it stopped at a difference or at the memory bound).
    leakage: per compared configuration, [weighting, memory, controller] (see `leakage`),
        a (steps_compared + 1, 3) float64 tensor.
    """
    machine: str
    word: tuple[str, ...]
    dtype: str
    memory_rows: int
    gain: float
    sharpening: float
    units: int
    identical: bool = False
    steps_compared: int = 0
    first_divergence: int | None = None
    differences: list[str] = field(default_factory=list)
    memory_exhausted: int | None = None
    status: str = ""
    seconds: float = 0.0
    leakage: Tensor | None = None

    def max_leakage(self) -> dict[str, float]:
        if self.leakage is None or not len(self.leakage):
            return {}
        top = self.leakage.amax(0).tolist()
        return {"weighting": top[0], "memory": top[1], "controller": top[2]}

    def to_dict(self) -> dict:
        """The JSON object of ``ntm compile --json`` (leakage as its maxima)."""
        return {"machine": self.machine, "input": " ".join(self.word) if any(len(a) > 1 for a in self.word)
                else "".join(self.word), "dtype": self.dtype, "memory_rows": self.memory_rows,
                "gain": self.gain, "sharpening": self.sharpening, "controller_units": self.units,
                "identical": self.identical, "steps_compared": self.steps_compared,
                "first_divergence": self.first_divergence, "differences": self.differences,
                "memory_exhausted": self.memory_exhausted, "status": self.status,
                "max_leakage": self.max_leakage(), "seconds": round(self.seconds, 3),
                "us_per_step": round(1e6 * self.seconds / max(1, self.steps_compared), 1)}

    def summary(self) -> str:
        """One line: identical for S steps, or where and how it first differs."""
        if self.first_divergence is not None:
            return (f"differs at step {self.first_divergence} (steps 0..{self.first_divergence - 1} "
                    f"identical): " + "; ".join(self.differences))
        if self.memory_exhausted is not None:
            return (f"identical for {self.steps_compared} steps, then memory exhausted: at step "
                    f"{self.memory_exhausted} a tape needs more than {self.memory_rows} cells "
                    f"(the head would wrap onto a row holding another cell)")
        return f"identical for {self.steps_compared} steps (machine: {self.status})"


@contextlib.contextmanager
def one_thread():
    """Run torch on one intra-op thread inside the block (restored after). Batch-1 steps are ~50
    tiny operations; on a loaded 2-core box extra threads made a step 20 ms instead of 0.3 ms."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _status(machine: Machine, state: str, steps: int, max_steps: int, stopped: bool) -> str:
    """The machine's status at its last compared configuration ("running" if the comparison
    stopped first, at a difference or the memory bound)."""
    if state in machine.accept:
        return str(Status.ACCEPTED)
    if state in machine.reject:
        return str(Status.REJECTED)
    if state in machine.halt:
        return str(Status.HALTED)
    if stopped:
        return "running"
    return str(Status.STEP_LIMIT if steps >= max_steps else Status.NO_TRANSITION)


def lockstep(machine: Machine, word: Sequence[str] | str = (), max_steps: int = 10_000, *,
             memory_rows: int = 64, dtype: torch.dtype = torch.float64, gain: float = DEFAULT_GAIN,
             sharpening: float = DEFAULT_SHARPENING, model: NTM | None = None) -> Lockstep:
    """Run the compiled NTM beside `turing.trace` and compare state, heads and every tape cell at
    every step, until the machine stops, `max_steps`, the first difference, or a tape outgrowing
    the N rows. Records the leakage statistics at each step.

    The NTM is `model` if given (its dtype and device are used; `gain` and `sharpening` are then
    only recorded), else `compile_machine(machine, memory_rows, dtype, gain=, sharpening=)`.
    Cost per step: one NTM step plus a few tensor ops (all N rows of every tape are compared),
    and `turing.trace`'s copy of the tape; one Python sync per step.

    Raises:
        InputError: the word has a symbol outside Σ. ConfigError: as `compile_machine`.
        ValueError: max_steps < 0.
    """
    model = model if model is not None else compile_machine(
        machine, memory_rows, dtype, gain=gain, sharpening=sharpening)
    word = as_word(machine, word)
    lay, N, n, k = layout(machine), model.config.N, len(word), machine.tapes
    dtype = model.r_bias.dtype
    result = Lockstep(machine.name or "machine", word, str(dtype).replace("torch.", ""), N,
                        float(gain), float(sharpening), len(lay.units))
    offsets = [n] + [0] * (k - 1)
    code = {machine.blank: 0, **{a: c + 1 for c, a in enumerate(lay.symbols)}}
    state_index = {q: j for j, q in enumerate(machine.states)}
    device = model.r_bias.device
    tape_rows = torch.zeros(k, N, dtype=torch.long, device=device)    # the machine's tapes, by row
    for p, a in enumerate(word):
        tape_rows[0, (p - offsets[0]) % N] = code[a]
    lows, highs = [0] * k, [max(n - 1, 0)] + [0] * (k - 1)
    stats = torch.zeros(min(max_steps + 1, 1 << 16), 3, dtype=torch.float64)  # grown by doubling
    zero = model.r_bias.new_zeros(1, lay.input_size)
    prev = None
    t0 = time.perf_counter()
    with torch.inference_mode(), one_thread():
        state = load_input(model, machine, word)
        for config in trace(machine, word, max_steps=max_steps):
            s = config.step
            if s:
                _, state = model.step(zero, state)
                for i in range(k):                               # the cell written by step s
                    p = prev.heads[i]
                    tape_rows[i, (p - offsets[i]) % N] = code[_cell(config, i, p)]
            prev = config
            for i in range(k):
                lows[i], highs[i] = min(lows[i], config.heads[i]), max(highs[i], config.heads[i])
            if any(hi - lo + 1 > N for lo, hi in zip(lows, highs)):
                result.memory_exhausted = s
                break
            q, rows, codes = decode_tensors(model, lay, state)
            want_rows = torch.tensor([(p - o) % N for p, o in zip(config.heads, offsets)], device=device)
            if s == len(stats):
                stats = torch.cat([stats, torch.zeros_like(stats)])
            stats[s] = leakage(lay, state).to("cpu", torch.float64)
            result.steps_compared = s
            bad = (q != state_index[config.state]) | (rows != want_rows).any() | (codes != tape_rows).any()
            if bool(bad):
                result.first_divergence = s
                result.differences = _differences(machine, lay, config, int(q), rows, codes, tape_rows,
                                                  offsets, lows)
                break
    result.seconds = time.perf_counter() - t0
    result.identical = result.first_divergence is None and result.memory_exhausted is None
    result.status = _status(machine, prev.state, prev.step, max_steps, not result.identical)
    result.leakage = stats[:result.steps_compared + 1].clone()
    if result.memory_exhausted is not None and result.memory_exhausted == 0:
        result.leakage = stats[:0].clone()
    return result


def _cell(config: Configuration, i: int, p: int) -> str:
    cells, origin = config.tapes[i], config.origins[i]
    return cells[p - origin] if 0 <= p - origin < len(cells) else config.blank


def _differences(machine, lay, config, q, rows, codes, tape_rows, offsets, lows) -> list[str]:
    """How the NTM's decoded configuration differs from the machine's, one line per kind."""
    N, names = codes.shape[1], (machine.blank,) + lay.symbols
    out = []
    if machine.states[q] != config.state:
        out.append(f"state: NTM {machine.states[q]!r}, machine {config.state!r}")
    for i in range(lay.k):
        tape = f"tape {i} " if lay.k > 1 else ""
        want = (config.heads[i] - offsets[i]) % N
        if int(rows[i]) != want:
            shift = (int(rows[i]) - want + N // 2) % N - N // 2
            out.append(f"{tape}head: NTM at {config.heads[i] + shift}, machine at {config.heads[i]}")
        bad = (codes[i] != tape_rows[i]).nonzero().flatten().tolist()
        if bad:
            # the row of position p is (p - offset) mod N; report positions in the machine's window
            pos = sorted(lows[i] + (r + offsets[i] - lows[i]) % N for r in bad)
            shown = ", ".join(f"{p}: NTM {names[int(codes[i, (p - offsets[i]) % N])]!r}, machine "
                              f"{names[int(tape_rows[i, (p - offsets[i]) % N])]!r}" for p in pos[:5])
            out.append(f"{tape}cells {shown}" + (f" (+{len(pos) - 5} more)" if len(pos) > 5 else ""))
    return out


def needed_rows(machine: Machine, word: Sequence[str] | str = (), max_steps: int = 10_000) -> int:
    """The fewest memory rows that hold the run of `max_steps` steps: the widest tape span
    (visited cells and, on tape 0, the input), at least 3."""
    word = as_word(machine, word)
    lows, highs = [0] * machine.tapes, [max(len(word) - 1, 0)] + [0] * (machine.tapes - 1)
    heads = [0] * machine.tapes
    state = machine.start
    tapes = [dict(enumerate(word))] + [{} for _ in range(machine.tapes - 1)]
    for _ in range(max_steps):               # the heads only: trace's tape copies are not needed
        if machine.is_halting(state):
            break
        reads = tuple(t.get(h, machine.blank) for t, h in zip(tapes, heads))
        act = machine.delta.get((state, reads if machine.tapes > 1 else reads[0]))
        if act is None:
            break
        writes, moves = (act.write, act.move) if machine.tapes > 1 else ((act.write,), (act.move,))
        for i in range(machine.tapes):
            tapes[i][heads[i]] = writes[i]
            heads[i] += DELTA_HEAD[moves[i]]
            lows[i], highs[i] = min(lows[i], heads[i]), max(highs[i], heads[i])
        state = act.next_state
    return max(3, max(hi - lo + 1 for lo, hi in zip(lows, highs)))


