"""The universal model against the machines it runs: named machines, held-out families, counterexamples.

`compare_machines` runs the model free (`ntm.analysis.trace_compare.free_run`: its own state fed
back, its own stop) on given machines and inputs and reports, per machine, the first diverging step
or "exact to the end" (the machine's halt or the step bound). `compare_family` does the same on
`samples` random machines of a `tasks.universal.UniversalTask` (held-out machines: another seed than
training's). `check_universal_example` is `ntm.analysis.verify.search`'s check for the universal
task: the (length, seed) input stands for one random machine and its input; a disagreement is
reported with the machine's table, the step, and both configurations there (`first_disagreement`;
`ntm.analysis.universal_shrink` then shrinks that machine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntm.analysis.trace_compare import free_run
from ntm.analysis.trace_verify import TraceCounterexample


def compare_machines(model, machines: list, words: list | None = None, max_steps: int = 10_000, seed: int = 0,
                     device=None, supervision: str = "trace") -> list[dict]:
    """One row per machine: name, states, machine steps (to the halt or `max_steps`), halted,
    first_divergence (None: exact to the end), tape_exact. The machines' states get random codes
    from `seed` (`tasks.universal.machine_batch`). `supervision`: the ladder level whose decisions
    are compared (`ntm.analysis.trace_compare.free_run`; "output" tells the model the step count)."""
    from tasks.universal import machine_batch
    words = words if words is not None else [()] * len(machines)
    batch = machine_batch(list(machines), list(words), np.random.default_rng(seed), max_steps, supervision,
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
                   chunk: int = 256, min_used: float = 0.0, regroup: bool = True) -> dict:
    """Step-exact fraction on `samples` random machines of `task` (inputs 1^n, n uniform in
    `lengths`, default the task's training lengths), drawn from `seed` (training draws from the
    trainer's own seed): step_exact, tape_exact, halted (fraction of machines that halt within
    the bound), machine_steps_median, median_first_divergence (over diverging runs), entries_used
    (mean fraction of a table's entries a run uses). With `min_used`, only machines whose runs use
    at least that fraction of their entries are kept (drawn until `samples` are found: most random
    machines fall into a short loop).

    The machines are drawn `chunk` at a time, so which machines (and state codes) a seed gives
    does not depend on how they are run. With `regroup` they are then run in batches of at most
    `chunk` machines of like span and run length (`run_groups`) instead of as drawn: a batch's memory
    has a row for every cell any of its machines visits and every step costs every row, so one
    machine that wanders 10^4 cells made the 31 beside it pay 10^4 rows a step for 10^4 steps.
    Each machine keeps the step bound its drawn batch gave it (`free_run`'s ``limits``), so the
    per-machine results are the drawn batches' (tests/test_universal.py checks it); only a model
    that has already diverged could then see its memory end at another row.
    """
    drawn, r = family_runs(model, task, samples, lengths, seed, device, chunk, min_used, regroup)
    first = r["first_divergence"]
    halted = np.concatenate([b.stopped for b in drawn])
    steps = np.concatenate([b.steps for b in drawn])
    used = np.concatenate([entries_used(b) for b in drawn])
    div = first[first >= 0]
    return {"samples": samples, "states": tuple(task.states), "max_steps": task.max_steps,
            "step_exact": float((first < 0).mean()), "tape_exact": float(np.mean(r["tape_exact"])),
            "halted": float(np.mean(halted)), "machine_steps_median": float(np.median(steps)),
            "entries_used": float(np.mean(used)), "min_used": min_used,
            "median_first_divergence": float(np.median(div)) if len(div) else None}


def family_runs(model, task, samples: int = 256, lengths=None, seed: int = 12345, device=None, chunk: int = 256,
                min_used: float = 0.0, regroup: bool = True) -> tuple[list, dict]:
    """`compare_family`'s runs: (the drawn batches, per machine in drawn order (samples,) arrays
    first_divergence, tape_exact, model_steps)."""
    drawn = _draw(task, samples, lengths, seed, chunk, min_used)
    out = {"first_divergence": np.zeros(samples, np.int64), "tape_exact": np.zeros(samples, bool),
           "model_steps": np.zeros(samples, np.int64)}
    def keep(idx, r):
        out["first_divergence"][idx], out["tape_exact"][idx], out["model_steps"][idx] = \
            r.first_divergence, r.tape_exact, r.model_steps
    if not regroup:
        at = 0
        for batch in drawn:
            keep(slice(at, at + batch.batch_size), free_run(model, batch, device))
            at += batch.batch_size
        return drawn, out
    return drawn, grouped_runs(model, drawn, task.max_steps, task.supervision, device, chunk)


def grouped_runs(model, drawn: list, max_steps: int, supervision: str = "trace", device=None,
                 chunk: int = 256) -> dict:
    """The model free on every machine of the batches `drawn`, run in batches of like span and run
    length (`run_groups`), each machine with its drawn batch's step bound. Returns, per machine in
    drawn order, (n,) arrays first_divergence (-1: exact to the end), tape_exact, model_steps."""
    from tasks.universal import machine_batch
    f = _footprints(drawn)
    n = len(f["steps"])
    out = {"first_divergence": np.zeros(n, np.int64), "tape_exact": np.zeros(n, bool),
           "model_steps": np.zeros(n, np.int64)}
    for g in run_groups(f["left"], f["right"], f["rows"], f["steps"], chunk):
        batch = machine_batch([f["machines"][i] for i in g], [f["words"][i] for i in g], np.random.default_rng(0),
                              max_steps, supervision, drawn[0].code_bits,
                              codes=[f["codes"][i] for i in g])          # the drawn codes replace this rng's
        r = free_run(model, batch, device, limits=f["limits"][g])
        out["first_divergence"][g], out["tape_exact"][g], out["model_steps"][g] = \
            r.first_divergence, r.tape_exact, r.model_steps
    return out


def compare_all_machines(model, states: int, max_steps: int = 1000, seed: int = 0, device=None,
                         chunk: int = 256, indices=None) -> dict:
    """The model free on every machine with `states` states (`tasks.universal.all_tables`: 20,736
    at 2 states), or on those at `indices` of that enumeration, each from the blank tape to its
    halt or `max_steps` steps. State codes are drawn from `seed`, `chunk` machines at a time.

    Returns:
        machines (n), states, max_steps, step_exact and tape_exact (fractions), halted (fraction
        halting within the bound), machine_steps_median, and diverging: every machine that
        diverges, as (index in `all_tables` order, first diverging step, its state codes).

    Raises:
        TaskError: too many machines to enumerate (`all_tables`).
    """
    from tasks.universal import all_tables, machine_batch
    tables = all_tables(states)
    index = np.arange(len(tables.states)) if indices is None else np.asarray(indices, np.int64)
    machines = [tables.machine(b, name=f"all{states}-{b}") for b in index]
    rng = np.random.default_rng(seed)
    drawn = [machine_batch(machines[i:i + chunk], [()] * len(machines[i:i + chunk]), rng, max_steps, "trace",
                           model.config.code_bits) for i in range(0, len(machines), chunk)]
    r = grouped_runs(model, drawn, max_steps, "trace", device, chunk)
    first = r["first_divergence"]
    codes = np.concatenate([b.codes[:, :states] for b in drawn])
    return {"machines": len(machines), "states": states, "max_steps": max_steps,
            "step_exact": float((first < 0).mean()), "tape_exact": float(r["tape_exact"].mean()),
            "halted": float(np.concatenate([b.stopped for b in drawn]).mean()),
            "machine_steps_median": float(np.median(np.concatenate([b.steps for b in drawn]))),
            "diverging": [(int(index[i]), int(first[i]), codes[i].tolist()) for i in np.flatnonzero(first >= 0)]}


def _draw(task, samples: int, lengths, seed: int, chunk: int, min_used: float) -> list:
    """The batches of machines `compare_family` compares, `chunk` at a time, as drawn from `seed`."""
    from tasks.universal import machine_batch
    lo, hi = lengths or task.train_lengths
    rng = np.random.default_rng(seed)
    out, n = [], 0
    while n < samples:
        B = min(chunk, samples - n)
        draw = 4 * chunk if min_used else B
        batch = task.sample(rng, draw, rng.integers(lo, hi + 1, size=draw))
        if min_used:
            keep = np.flatnonzero(entries_used(batch) >= min_used)[:B]
            if not len(keep):
                continue
            batch = machine_batch([batch.machines[i] for i in keep], [batch.input_symbols[i] for i in keep], rng,
                                  task.max_steps, task.supervision, task.code_bits)
        out.append(batch)
        n += batch.batch_size
    return out


def _footprints(drawn: list) -> dict:
    """Per machine of the drawn batches (in order): the machine, its word and codes, and what a batch
    pays for it: its steps, its table rows (2 x states), the leftmost and rightmost tape cells of its
    memory (cells visited or holding input, one blank either side; cell 0 is the input's first) and
    the step bound its drawn batch gave it (that batch's longest run + `free_run`'s extra steps)."""
    f = {k: [] for k in ("machines", "words", "codes", "steps", "rows", "left", "right", "limits")}
    for batch in drawn:
        S = int(batch.steps.max())
        for b, m in enumerate(batch.machines):
            s = int(batch.steps[b])
            cells = batch.heads[b, :s + 1, 0] + batch.origin
            f["machines"].append(m)
            f["words"].append(batch.input_symbols[b])
            f["codes"].append(batch.codes[b, :len(m.states)])
            f["steps"].append(s)
            f["rows"].append(int((batch.table[b, :, 0] >= 0).sum()))
            f["left"].append(min(0, int(cells.min())) - 1)
            f["right"].append(max(len(batch.input_symbols[b]) - 1, int(cells.max())) + 1)
            f["limits"].append(S + S // 4 + 8)
    return {k: v if k in ("machines", "words", "codes") else np.array(v, np.int64) for k, v in f.items()}


#: a step's fixed cost (Python, small tensor operations) in memory-row steps: about 0.46 ms against
#: 0.05 us a row of one sample (the shipped weights at batch 1-32, one thread, this project's box)
STEP_ROWS = 10_000


def run_groups(left, right, rows, steps, chunk: int) -> list:
    """Split machines into batches of at most `chunk` that are cheap to run together: a batch costs
    about (STEP_ROWS + its memory rows x its size) x its longest run, its memory rows being its tape
    cells (its leftmost to its rightmost cell) and its largest table (a machine that stops early
    costs the batch's longest run too: `free_run` lets stopped samples go only once a quarter of the
    batch has stopped, and keeps the rest of the batch waiting on them until then). The machines are
    ordered from the widest leftward through the narrow ones to the widest rightward (like widths
    by run length), and cut there into the contiguous batches of least total cost (dynamic
    programming). Returns index arrays. Only the time depends on it, never a result."""
    left, right, rows, steps = (np.asarray(x, np.int64) for x in (left, right, rows, steps))
    n = len(steps)
    key = np.where(-left > right, left, right)            # signed: the side a machine mostly goes
    order = np.lexsort((steps, key))                       # by key, then (like widths) by run length
    best, cut = np.full(n + 1, np.inf), np.zeros(n + 1, np.int64)
    best[0] = 0.0
    for j in range(1, n + 1):                              # best[j]: the first j machines, cut cheapest
        lo, hi, tab, longest = 0, 0, 0, 0
        for i in range(j - 1, max(j - chunk, 0) - 1, -1):  # the last batch is order[i:j]
            b = order[i]
            lo, hi = min(lo, left[b]), max(hi, right[b])
            tab, longest = max(tab, rows[b]), max(longest, steps[b])
            c = best[i] + (STEP_ROWS + (hi - lo + 1 + tab) * (j - i)) * (longest + 1)
            if c < best[j]:
                best[j], cut[j] = c, i
    groups, j = [], n
    while j > 0:
        groups.append(np.sort(order[cut[j]:j]))
        j = cut[j]
    return groups[::-1]


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
    found = first_disagreement(batch, r)
    if found is None:
        return None
    return UniversalCounterexample(int(length), int(seed), tuple(batch.input_symbols[0]), *found,
                                   table_text(batch.machines[0]))


def first_disagreement(batch, r) -> tuple | None:
    """Sample 0's first disagreement in a recorded free run (`free_run(..., record=True)`) on a
    `UniversalBatch`: (step, what, the machine's configuration there, the model's), states by name;
    step None and what ("tape",) when every decision agreed and the final tape did not (both tapes
    as cell classes, blanks trimmed). None when the model agreed."""
    first, wrong = int(r.first_divergence[0]), int(r.cells_wrong[0])
    if first < 0 and wrong == 0:
        return None
    if first < 0:
        tape = lambda row: " ".join(str(c) for c in row[:batch.tape_rows]).strip(" 0") or "(blank)"  # noqa: E731
        return None, ("tape",), {"tape": tape(batch.final_tape[0, 0])}, {"tape": tape(r.tape[0, 0])}
    m = batch.machines[0]
    names = {int(c): q for q, c in zip(m.states, batch.codes[0]) if c >= 0}
    what = tuple(("stop" if k == "halt" else k) for k, v in r.first_wrong.items() if int(v[0]) == first)
    return first, what, _machine_step(batch, first, names), _model_step(batch, r.history[first], names)


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
