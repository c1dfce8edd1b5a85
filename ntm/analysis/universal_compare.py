"""The universal model against the machines it runs: named machines, held-out families, counterexamples.

`compare_machines` runs the model free (`ntm.analysis.trace_compare.free_run`: its own state fed
back, its own stop) on given machines and inputs and reports, per machine, the first diverging step
or "exact to the end" (the machine's halt or the step bound). `compare_family` does the same on
`samples` random machines of a `tasks.universal.UniversalTask` (held-out machines: another seed than
training's). `check_universal_example` is `ntm.analysis.verify.search`'s check for the universal
task: the (length, seed) input stands for one random machine and its input; a disagreement is
reported with the machine's table, the step, and both configurations there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntm.analysis.trace_compare import free_run
from ntm.analysis.trace_verify import TraceCounterexample


def compare_machines(model, machines: list, words: list | None = None, max_steps: int = 10_000, seed: int = 0,
                     device=None) -> list[dict]:
    """One row per machine: name, states, machine steps (to the halt or `max_steps`), halted,
    first_divergence (None: exact to the end), tape_exact. The machines' states get random codes
    from `seed` (`tasks.universal.machine_batch`)."""
    from tasks.universal import machine_batch
    words = words if words is not None else [()] * len(machines)
    batch = machine_batch(list(machines), list(words), np.random.default_rng(seed), max_steps, "trace",
                          model.config.code_bits)
    r = free_run(model, batch, device, extra_steps=8)
    return [{"machine": m.name or f"machine{b}", "states": sum(not m.is_halting(q) for q in m.states),
             "machine_steps": int(batch.steps[b]), "halted": bool(batch.stopped[b]),
             "first_divergence": None if r.first_divergence[b] < 0 else int(r.first_divergence[b]),
             "tape_exact": bool(r.tape_exact[b])} for b, m in enumerate(machines)]


def entries_used(batch) -> np.ndarray:
    """(B,) the fraction of each machine's table entries its run uses (within the bound)."""
    out = np.zeros(batch.batch_size)
    for b, m in enumerate(batch.machines):
        s = int(batch.steps[b])
        used = len(set(zip(batch.state[b, :s].tolist(), batch.read[b, :s, 0].tolist())))
        out[b] = used / (2 * sum(not m.is_halting(q) for q in m.states))
    return out


def compare_family(model, task, samples: int = 256, lengths=None, seed: int = 12345, device=None,
                   chunk: int = 256, min_used: float = 0.0) -> dict:
    """Step-exact fraction on `samples` random machines of `task` (inputs 1^n, n uniform in
    `lengths`, default the task's training lengths), drawn from `seed` (training draws from the
    trainer's own seed): step_exact, tape_exact, halted (fraction of machines that halt within
    the bound), machine_steps_median, median_first_divergence (over diverging runs), entries_used
    (mean fraction of a table's entries a run uses). With `min_used`, only machines whose runs use
    at least that fraction of their entries are kept (drawn until `samples` are found: most random
    machines fall into a short loop)."""
    from tasks.universal import machine_batch
    lo, hi = lengths or task.train_lengths
    rng = np.random.default_rng(seed)
    first, tape_ok, halted, steps, used = [], [], [], [], []
    while len(first) < samples:
        B = min(chunk, samples - len(first))
        draw = 4 * chunk if min_used else B
        batch = task.sample(rng, draw, rng.integers(lo, hi + 1, size=draw))
        if min_used:
            keep = np.flatnonzero(entries_used(batch) >= min_used)[:B]
            if not len(keep):
                continue
            batch = machine_batch([batch.machines[i] for i in keep], [batch.input_symbols[i] for i in keep], rng,
                                  task.max_steps, task.supervision, task.code_bits)
        used += entries_used(batch).tolist()
        r = free_run(model, batch, device)
        first += r.first_divergence.tolist()
        tape_ok += r.tape_exact.tolist()
        halted += batch.stopped.tolist()
        steps += batch.steps.tolist()
    first = np.array(first)
    div = first[first >= 0]
    return {"samples": samples, "states": tuple(task.states), "max_steps": task.max_steps,
            "step_exact": float((first < 0).mean()), "tape_exact": float(np.mean(tape_ok)),
            "halted": float(np.mean(halted)), "machine_steps_median": float(np.median(steps)),
            "entries_used": float(np.mean(used)), "min_used": min_used,
            "median_first_divergence": float(np.median(div)) if len(div) else None}


# ---------------------------------------------------------------- counterexamples

def table_text(m) -> str:
    """A machine's table, one entry a line: ``A 0 -> 1 R B``."""
    return "\n".join(f"    {q} {a} -> {act.write} {act.move} {act.next_state}" for (q, a), act in sorted(m.delta.items()))


@dataclass(frozen=True)
class UniversalCounterexample(TraceCounterexample):
    """A `TraceCounterexample` whose machine is drawn too: its table is printed with it."""
    table: str = ""

    def __str__(self) -> str:
        return super().__str__() + "\n  machine table (state read -> write move next):\n" + self.table


def check_universal_example(model, task, length: int, seed: int) -> UniversalCounterexample | None:
    """Run the random machine and input that (length, seed) stand for (``task.sample(default_rng(seed),
    1, length)``), the model free; the first disagreement, or None."""
    batch = task.sample(np.random.default_rng(seed), 1, int(length))
    r = free_run(model, batch, record=True)
    first, wrong = int(r.first_divergence[0]), int(r.cells_wrong[0])
    if first < 0 and wrong == 0:
        return None
    m, word = batch.machines[0], tuple(batch.input_symbols[0])
    names = {int(c): q for q, c in zip(m.states, batch.codes[0]) if c >= 0}
    if first < 0:
        tape = lambda row: " ".join(str(c) for c in row[:batch.tape_rows]).strip(" 0") or "(blank)"  # noqa: E731
        return UniversalCounterexample(int(length), int(seed), word, None, ("tape",), {"tape": tape(batch.final_tape[0, 0])},
                                       {"tape": tape(r.tape[0, 0])}, table_text(m))
    what = tuple(("stop" if k == "halt" else k) for k, v in r.first_wrong.items() if int(v[0]) == first)
    return UniversalCounterexample(int(length), int(seed), word, first, what, _machine_step(batch, first, names),
                                   _model_step(batch, r.history[first], names), table_text(m))


def _machine_step(batch, t: int, names: dict) -> dict:
    out = {"state": names[int(batch.state[0, t])], "head": int(batch.heads[0, t, 0]) + batch.origin}
    if t >= int(batch.steps[0]):
        return out | {"stop": bool(batch.stopped[0])}
    return out | {"read": int(batch.read[0, t, 0]), "write": int(batch.write[0, t, 0]),
                  "move": "LSR"[int(batch.move[0, t, 0])], "next": names[int(batch.state[0, t + 1])], "stop": False}


def _model_step(batch, h: dict, names: dict) -> dict:
    head = int(h["heads"][0, 0])
    code = int(h["state"][0])
    return {"head": head + batch.origin, "read": int(h["tape"][0, 0, head]), "write": int(h["write"][0, 0]),
            "move": "LSR"[int(h["move"][0, 0])], "next": names.get(code, f"code {code}"), "stop": bool(h["halt"][0])}
