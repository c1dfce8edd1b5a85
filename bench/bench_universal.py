"""One learned interpreter for every machine (issue 22): train, then run held-out and named machines.

    python bench/bench_universal.py [--seeds 0,1,2] [--budget 900] [--long 16]
    python bench/bench_universal.py --hard RUN | --named RUN [--max-steps 100000] [--machines bb5,antihydra]
    python bench/bench_universal.py --families RUN [--samples 256] [--max-steps 10000] [--only "6 states"]
    python bench/bench_universal.py --all-machines RUN [--states 2] [--max-steps 100] [--code-seeds 0,1,2]
    python bench/bench_universal.py --ladder writes,moves,output [--seeds 0] [--budget 900]
    python bench/bench_universal.py --probe writes [--probe-steps 600]

Per seed: one `ntm.training.train` run of the ``universal`` task (random BB-style tables of 2–4
states, 2 symbols, inputs 1^n with n in 0–3, runs cut at 64 steps; the universal NTM; the trace
level; TrainConfig defaults: batch 32, lr 2e-3, Adam, evaluation every 100 steps on 256 fixed
machines, converged at 0 errors; no polishing; one torch thread), then, the model running free
(`ntm.analysis.universal_compare`):

- held-out random machines of the training size (2–4 states) and larger (5–6 states): 256 machines
  each (seed 12345, inputs 1^n, n in 0–3) to the halt or 1,000 steps, and `--long` machines each to
  the halt or 10,000 steps (the issue's bound; a machine that wanders for 10,000 steps needs 10,000
  memory rows, so these cost seconds each: 8 machines a family by default);
- BB(2), BB(3), BB(4) from the blank tape to the halt (6, 21, 107 steps);
- the same sets for `construct`'s hand-set weights (the exact reference, like `ntm compile`).

Also the cost of drawing a batch (32 random machines, engine runs with traces, memory layout)
against one training step. Writes bench/results/universal.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ntm.analysis.universal_compare import compare_all_machines, compare_family, compare_machines  # noqa: E402
from ntm.models.universal_ntm import UniversalNTM, construct  # noqa: E402
from ntm.training import TrainConfig, train  # noqa: E402
from ntm.training.objective import TraceObjective  # noqa: E402
from ntm.training.optimizer import clipped_step  # noqa: E402
from ntm.training.run_dir import load_run  # noqa: E402
from tasks.errors import TaskError  # noqa: E402
from tasks.trace import SUPERVISION  # noqa: E402
from tasks.universal import UniversalTask, check_enumerable  # noqa: E402
from turing import library  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def evaluate(model, long: int) -> dict:
    out = {}
    for label, states in (("train_size_2_4", (2, 4)), ("larger_5_6", (5, 6))):
        t0 = time.perf_counter()
        out[label] = compare_family(model, UniversalTask(states=states, max_steps=1000), samples=256)
        out[label + "_10k"] = compare_family(model, UniversalTask(states=states, max_steps=10_000), samples=long,
                                             chunk=long)
        out[label]["seconds"] = round(time.perf_counter() - t0, 1)
    out["busy_beavers"] = compare_machines(model, [library.get(n) for n in ("bb2", "bb3", "bb4")], max_steps=1000)
    return out


def cost(model) -> dict:
    """Median seconds of sampling a batch of 32 and of one training step on it (20 repeats)."""
    task, rng = UniversalTask(), np.random.default_rng(0)
    opt, objective = torch.optim.Adam(model.parameters(), lr=1e-9), TraceObjective()
    sample, step = [], []
    for _ in range(20):
        t0 = time.perf_counter()
        batch = task.sample(rng, 32, rng.integers(0, 4, size=32))
        t1 = time.perf_counter()
        loss = objective.loss(model.run(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sample.append(t1 - t0)
        step.append(time.perf_counter() - t1)
    return {"sample_seconds": float(np.median(sample)), "train_step_seconds": float(np.median(step))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--budget", type=float, default=900, help="training seconds per seed at most")
    p.add_argument("--long", type=int, default=8, help="machines per family run to 10,000 steps")
    p.add_argument("--out", help="the results file (default bench/results/universal.json; for --families "
                   "universal_families_MAXSTEPS[_SAMPLES].json)")
    p.add_argument("--hard", metavar="RUN", help="instead: RUN (and the hand-set weights) on machines whose runs use "
                   "most of their tables (writes bench/results/universal_hard.json)")
    p.add_argument("--named", metavar="RUN", help="instead: RUN (and the hand-set weights) on BB(5) and Antihydra "
                   "from the blank tape for --max-steps steps (writes bench/results/universal_named.json)")
    p.add_argument("--families", metavar="RUN", help="instead: RUN on --samples held-out machines of 2-4, 5 and 6 "
                   "states to the halt or --max-steps (writes bench/results/universal_families_MAXSTEPS.json)")
    p.add_argument("--all-machines", metavar="RUN", help="instead: RUN (and the hand-set weights) on every machine "
                   "of --states states from the blank tape to the halt or --max-steps (20,736 at 2 states; "
                   "writes bench/results/universal_all_STATES_MAXSTEPS.json)")
    p.add_argument("--ladder", metavar="LEVELS", help="instead: train at these supervision levels (comma-separated, "
                   "from trace, writes, moves, output) for --seeds within --budget, each measured at its level "
                   "(writes bench/results/universal_ladder.json)")
    p.add_argument("--probe", metavar="LEVEL", help="instead: train at LEVEL with plain Adam (seed 0) and print, every "
                   "100 steps, the teacher-forced accuracy of the write and move at step 0 and at every step on 128 "
                   "held-out machines, and the step-exact fraction running free (bench/results/universal_probe_LEVEL.json)")
    p.add_argument("--probe-steps", type=int, default=600, help="--probe: training steps (default 600)")
    p.add_argument("--states", type=int, default=2, help="--all-machines: states (default 2)")
    p.add_argument("--code-seeds", default="0", help="--all-machines: seeds of the state codes, comma-separated "
                   "(default 0)")
    p.add_argument("--samples", type=int, default=256, help="--families: machines a family (default 256)")
    p.add_argument("--only", default="2-4 states,5 states,6 states",
                   help="--families: which families, comma-separated (default all three); the rows of the "
                   "others already in the results file are kept")
    p.add_argument("--busy-beavers", action="store_true", help="--families: also BB(2)-BB(4) to the halt")
    p.add_argument("--max-steps", type=int, help="--named, --families: steps per machine (default 100,000); "
                   "--all-machines: default 100")
    p.add_argument("--machines", default="bb5,antihydra", help="--named: library machines (default bb5,antihydra)")
    p.add_argument("--weights", default="constructed,learned", help="--named, --all-machines: constructed, learned "
                   "or both (default both)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.hard:
        return hard(args.hard)
    if args.families:
        return families(args.families, args.samples, args.max_steps or 100_000, args.only.split(","), args.out,
                        args.busy_beavers)
    if args.named:
        return named(args.named, args.max_steps or 100_000, args.machines.split(","), args.weights.split(","), args.out)
    if args.all_machines:
        return _all_machines_from(p, args)
    if args.probe:
        if args.probe not in SUPERVISION:
            p.error(f"--probe: a level from {', '.join(SUPERVISION)}, got {args.probe!r}")
        return probe(args.probe, args.probe_steps)
    if args.ladder:
        levels = args.ladder.split(",")
        if not set(levels) <= set(SUPERVISION):
            p.error(f"--ladder: levels from {', '.join(SUPERVISION)}, got {args.ladder!r}")
        return ladder(levels, [int(x) for x in args.seeds.split(",")], args.budget,
                      Path(args.out) if args.out else RESULTS / "universal_ladder.json")
    return train_and_evaluate([int(x) for x in args.seeds.split(",")], args.budget, args.long,
                              Path(args.out) if args.out else RESULTS / "universal.json")


def train_and_evaluate(seeds: list, budget: float, long: int, out: Path) -> int:
    """The default mode: the hand-set weights, then one training run per seed (at most `budget`
    seconds), each evaluated (`evaluate`); writes `out` after every seed."""
    task = UniversalTask()
    exact = construct(UniversalNTM(task.input_size, task.output_size))
    report = {"host": platform.node(), "cpus": os.cpu_count(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "task": task.describe(),
              "constructed": evaluate(exact, long), "runs": []}
    print("constructed:", summary({"seed": "-", "converged": True, "steps": 0, "train_seconds": 0,
                                   **report["constructed"]}), flush=True)
    report["cost"] = cost(UniversalNTM(task.input_size, task.output_size))
    print("cost:", report["cost"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            cfg = TrainConfig(task="universal", model="universal_ntm", steps=100_000, polish_steps=0, seed=seed,
                              max_seconds=budget, threads=1)
            r = train(cfg, Path(tmp) / f"seed{seed}", progress=False, log=lambda *_: None)
            row = {"seed": seed, "converged": r.converged, "steps": r.steps, "sequences": r.sequences,
                   "train_seconds": round(r.seconds, 1)}
            row.update(evaluate(load_run(Path(tmp) / f"seed{seed}")[0], long))
            report["runs"].append(row)
            print(summary(row), flush=True)
            Path(out).write_text(json.dumps(report, indent=1) + "\n")
    Path(out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


def ladder(levels: list, seeds: list, budget: float, out: Path) -> int:
    """The supervision ladder (`tasks.trace.SUPERVISION`) for the universal task: per level and seed,
    one training run as the default mode's but with the loss seeing only that level's part of the
    trace (at most `budget` seconds), then the model running free on 256 held-out machines of 2-4 and
    of 5-6 states to the halt or 1,000 steps and on BB(2)-BB(4), compared at that level
    (`free_run`: below "trace" the state fed back is the model's own softmax and its names are not
    compared; at "output" the model is told the step count and only the tape is scored). Writes
    `out` after every run."""
    report = {"host": platform.node(), "cpus": os.cpu_count(), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "budget": budget, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            for seed in seeds:
                cfg = TrainConfig(task="universal", model="universal_ntm", task_params={"supervision": level},
                                  steps=100_000, polish_steps=0, seed=seed, max_seconds=budget, threads=1)
                load = os.getloadavg()[0]
                r = train(cfg, Path(tmp) / f"{level}-seed{seed}", progress=False, log=lambda *_: None)
                model = load_run(Path(tmp) / f"{level}-seed{seed}")[0]
                row = {"supervision": level, "seed": seed, "converged": r.converged, "steps": r.steps,
                       "sequences": r.sequences, "train_seconds": round(r.seconds, 1), "best_errors": r.best_bits,
                       "load_before": round(load, 2)}
                for label, states in (("train_size_2_4", (2, 4)), ("larger_5_6", (5, 6))):
                    row[label] = compare_family(model, UniversalTask(states=states, max_steps=1000, supervision=level),
                                                samples=256)
                row["busy_beavers"] = compare_machines(model, [library.get(n) for n in ("bb2", "bb3", "bb4")],
                                                       max_steps=1000, supervision=level)
                report["runs"].append(row)
                print(level, _ladder_summary(row), flush=True)
                out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def probe(level: str, steps: int) -> int:
    """Why a level does or does not learn: Adam (lr 2e-3, clipping 10) from seed 0's random weights on
    the universal task at `level`; every 100 steps, on 128 held-out machines, the teacher-forced
    accuracy of the step-0 write and move and of the writes and moves over all real steps, and the
    step-exact fraction running free. Writes bench/results/universal_probe_LEVEL.json."""
    from ntm.analysis.trace_compare import free_run
    torch.manual_seed(0)
    task = UniversalTask(supervision=level)
    model = UniversalNTM(task.input_size, task.output_size)
    opt, objective = torch.optim.Adam(model.parameters(), lr=2e-3), TraceObjective()
    rng, held = np.random.default_rng(0), task.eval_batch(2, 128)
    rows, S, sm = [], held.write.shape[1], torch.as_tensor(held.step_mask())
    right = lambda logits, want: logits.argmax(-1) == torch.as_tensor(want)  # noqa: E731
    for it in range(1, steps + 1):
        batch = task.sample(rng, 32, rng.integers(0, 4, size=32))
        loss = objective.loss(model.run(batch), batch)
        clipped_step(opt, loss, model.parameters(), 10)
        if it % 100 == 0:
            with torch.no_grad():
                o = model.run(held)
            every = lambda x: float((x.all(-1) & sm).sum() / sm.sum())  # noqa: E731
            rows.append({"step": it, "loss": round(loss.item(), 2),
                         "write_step0": float(right(o.write[:, 0], held.write[:, 0]).float().mean()),
                         "move_step0": float(right(o.move[:, 0], held.move[:, 0]).float().mean()),
                         "write_every_step": every(right(o.write[:, :S], held.write)),
                         "move_every_step": every(right(o.move[:, :S], held.move)),
                         "free_step_exact": float((free_run(model, held).first_divergence < 0).mean())})
            print(rows[-1], flush=True)
    (RESULTS / f"universal_probe_{level}.json").write_text(json.dumps(
        {"host": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "level": level,
         "load_before": os.getloadavg()[0], "rows": rows}, indent=1) + "\n")
    return 0


def _all_machines_from(p: argparse.ArgumentParser, args) -> int:
    """`all_machines` with the command line's options, checked first (one line, exit 2)."""
    weights = args.weights.split(",")
    if not set(weights) <= {"constructed", "learned"}:
        p.error(f"--weights: constructed, learned or both, got {args.weights!r}")
    try:
        check_enumerable(args.states)                      # too many tables: one line, not a traceback
    except TaskError as e:
        p.error(str(e))
    return all_machines(args.all_machines, args.states, args.max_steps or 100, weights,
                        [int(x) for x in args.code_seeds.split(",")], args.out)


def _load(run_dir: Path):
    from ntm.training.run_dir import load_run_model
    return load_run_model(run_dir)


def hard(run: str) -> int:
    """Most random machines fall into a short loop and use a few of their entries: here only machines
    whose runs (to 1,000 steps) use all their entries (2–4 states) or at least 3/4 of them (5–6
    states), 128 a family, drawn from seed 54321."""
    task = UniversalTask()
    report = {"host": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "run": run}
    for label, model in (("constructed", construct(UniversalNTM(task.input_size, task.output_size))),
                         ("learned", load_run(run)[0])):
        for states, min_used in (((2, 4), 1.0), ((5, 6), 0.75)):
            t0 = time.perf_counter()
            r = compare_family(model, UniversalTask(states=states, max_steps=1000), samples=128, seed=54321,
                               chunk=128, min_used=min_used)
            r["seconds"] = round(time.perf_counter() - t0, 1)
            report[f"{label}_{states[0]}_{states[1]}"] = r
            print(label, states, r, flush=True)
    (RESULTS / "universal_hard.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _report_and_models(run: str, **fields) -> tuple[dict, dict]:
    """A results file's head (host, date, run, `fields`, the load before) and the two weights by
    label, each built on first use: "constructed" (hand-set) and "learned" (RUN's)."""
    task = UniversalTask()
    report = {"host": platform.node(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "run": run,
              **fields, "load_before": os.getloadavg()[0], "rows": []}
    return report, {"constructed": lambda: construct(UniversalNTM(task.input_size, task.output_size)),
                    "learned": lambda: load_run(run)[0]}


def named(run: str, max_steps: int, machines: list, weights: list, out: Path | None = None) -> int:
    """Library machines from the blank tape, `max_steps` steps each, one machine at a time (one memory
    row per visited cell): by default BB(5) (47,176,870 steps to its halt; 568 cells in its first
    10^5 steps, 2,001 in 10^6) and Antihydra (a Cryptid: 6 states, one undefined entry, run as its
    completion). Writes `out` (default bench/results/universal_named_MAXSTEPS.json)."""
    report, models = _report_and_models(run, max_steps=max_steps)
    out = Path(out) if out else RESULTS / f"universal_named_{max_steps}.json"
    for label in weights:
        model = models[label]()
        for name in machines:
            t0 = time.perf_counter()
            row = compare_machines(model, [library.get(name)], max_steps=max_steps)[0]
            row.update(weights=label, seconds=round(time.perf_counter() - t0, 1))
            report["rows"].append(row)
            print(row, flush=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def all_machines(run: str, states: int, max_steps: int, weights: list, code_seeds: list,
                 out: Path | None = None) -> int:
    """Every machine of `states` states (`tasks.universal.all_tables`) from the blank tape to its
    halt or `max_steps`, per weights and seed of the state codes (`compare_all_machines`): the
    fraction step-exact and every diverging machine with its codes. Writes `out` (default
    bench/results/universal_all_STATES_MAXSTEPS.json) after each row."""
    report, models = _report_and_models(run, states=states, max_steps=max_steps)
    out = Path(out) if out else RESULTS / f"universal_all_{states}_{max_steps}.json"
    for label in weights:
        model = models[label]()
        for seed in code_seeds:
            t0 = time.perf_counter()
            row = compare_all_machines(model, states, max_steps=max_steps, seed=seed)
            row.update(weights=label, code_seed=seed, seconds=round(time.perf_counter() - t0, 1))
            report["rows"].append(row)
            print({k: v for k, v in row.items() if k != "diverging"}, "diverging:", row["diverging"][:10], flush=True)
            out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


FAMILIES = {"2-4 states": (2, 4), "5 states": (5, 5), "6 states": (6, 6)}


def families(run: str, samples: int, max_steps: int, only: list, out: str | None = None,
             busy_beavers: bool = False) -> int:
    """The issue's 10^4-step target at scale: `samples` held-out machines (seed 12345) of 2–4
    states (the training size), of 5 and of 6 states (those named in `only`), each to its halt or
    `max_steps`. Drawn 32 at a time (the same machines as before regrouping), run in batches of like
    span (`compare_family`). Writes bench/results/universal_families_MAXSTEPS.json, or
    ..._MAXSTEPS_SAMPLES.json when `samples` is not 64 (or `out`); a family not run keeps its row there.
    With `busy_beavers`, BB(2)-BB(4) from the blank tape to the halt too."""
    unknown = [f for f in only if f not in FAMILIES]
    if unknown:
        raise SystemExit(f"--only: unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    out = Path(out) if out else RESULTS / (f"universal_families_{max_steps}.json" if samples == 64 else
                                           f"universal_families_{max_steps}_{samples}.json")
    report = json.loads(out.read_text()) if out.exists() else {"run": run, "max_steps": max_steps, "samples": samples,
                                                               "families": {}}
    if (report["run"], report["max_steps"], report["samples"]) != (run, max_steps, samples):
        raise SystemExit(f"{out} holds another run, bound or sample count; move it away first")
    model = load_run(run)[0]
    for label in only:
        t0 = time.perf_counter()
        load = os.getloadavg()[0]
        r = compare_family(model, UniversalTask(states=FAMILIES[label], max_steps=max_steps), samples=samples,
                           chunk=32)
        r.update(seconds=round(time.perf_counter() - t0, 1), regrouped=True, host=platform.node(),
                 load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2),
                 date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        report["families"][label] = r
        print(label, r, flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    if busy_beavers:
        report["busy_beavers"] = compare_machines(model, [library.get(n) for n in ("bb2", "bb3", "bb4")],
                                                  max_steps=1000)
        print(report["busy_beavers"], flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def summary(row: dict) -> str:
    bb = _busy_beavers(row)
    f = lambda k: f"{row[k]['step_exact']:.4f}"  # noqa: E731
    return (f"seed {row['seed']}: converged {row['converged']} at step {row['steps']} ({row['train_seconds']} s); "
            f"step-exact 2-4 states {f('train_size_2_4')} (1k) {f('train_size_2_4_10k')} (10k), "
            f"5-6 states {f('larger_5_6')} (1k) {f('larger_5_6_10k')} (10k); {bb}")


def _busy_beavers(row: dict) -> str:
    """BB(2)-BB(4) of a row: "bb2:exact bb3:17 ..." (the first diverging step where not exact)."""
    return " ".join(f"{b['machine']}:{'exact' if b['first_divergence'] is None else b['first_divergence']}"
                    for b in row["busy_beavers"])


def _ladder_summary(row: dict) -> str:
    """A ladder row (`ladder`): held-out families to 1,000 steps only, step- and tape-exact."""
    bb = _busy_beavers(row)
    fam = lambda k: f"{row[k]['step_exact']:.4f} / {row[k]['tape_exact']:.4f}"  # noqa: E731
    return (f"seed {row['seed']}: converged {row['converged']} at step {row['steps']} ({row['train_seconds']} s); "
            f"step-exact / tape-exact 2-4 states {fam('train_size_2_4')}, 5-6 states {fam('larger_5_6')}; {bb}")


if __name__ == "__main__":
    sys.exit(main())
