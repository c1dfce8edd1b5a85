"""The CPU kernels against an earlier version of themselves, in one run (issue 21).

    python bench/bench_kernels.py                          # against ec6b300 (before the rewrite)
    python bench/bench_kernels.py --baseline REV --rounds 3 --iters 10 --out bench/results/kernels.json
    python bench/bench_kernels.py --main-job [--seed 0] [--new-first]   # `ntm train --task copy` end to end, old then new (each cached first)
    python bench/bench_kernels.py --episode [--batches 32] [--steps 41]  # the two kernels alone, us per sample and step
    python bench/bench_kernels.py --phases [--batches 1]  # the training step by phase, us per step
    python bench/bench_kernels.py --blas --batches 16 32 64 --steps 23  # a thread's weight-gradient products: MKL and OpenBLAS

Training throughput of the copy NTM (the paper's setup: LSTM 100, memory 128 x 20, one read and one
write head; the trainer's step: forward + backward + clipping + its optimizer, `bench_model.run_case`,
this tree's harness on both sides) in the trainer's regime:
one batch of each length 1..20 per iteration, lengths 1..20 once each ("20/b"). Each case runs in a
fresh process, alternately from this tree and from the baseline (a `git archive` of REV unpacked in
a temporary folder, imported first on sys.path), `--rounds` times each; the medians of the two sides
and their ratio are reported, so both see the same box in the same minutes, and the median of the
rounds' own ratios ("paired": each old process against the new one right after it, which a load
that comes and goes disturbs less).

FLOP per sequence (`flops_per_sequence`): the dense products counted exactly (2 m n k), the
memory's addressing, read and writes estimated per element (below), the backward pass as twice the
forward. GFLOP/s = seq/s x FLOP per sequence. The ceiling beside it: numpy's float32 product
(32 x 130) @ (130 x 400) on one thread, times the cores. Writes JSON and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")    # the ceiling is one thread's (set before numpy loads)
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "ec6b300"          # main before the kernel rewrite of issue 21


def flops_per_step(U=100, M=20, N=128, R=1, W=1, S=3, inputs=10, outputs=8, output_step=False) -> dict:
    """FLOP of one forward step of the copy NTM, split into dense products and memory work.
    Products: input projection 2 C 4U, recurrent 2 (RM + U) 4U, heads 2 U P, output layer
    2 (U + RM) outputs at output steps. Memory: norms 2MN; per head the similarity 2MN + 2N, the
    softmaxes and interpolation ~11N, the shift 2SN, the log N; reads 2MN each; erase 3MN and add 2MN
    per write head (an exp or log counts as one)."""
    H = R + W
    P = H * M + 3 * H + H * S + 2 * W * M
    dense = 2 * inputs * 4 * U + 2 * (R * M + U) * 4 * U + 2 * U * P
    dense += 2 * (U + R * M) * outputs if output_step else 0
    memory = 2 * M * N + H * (2 * M * N + (13 + 2 * S) * N) + R * 2 * M * N + W * 5 * M * N
    return {"dense": dense, "memory": memory}


def flops_per_sequence(lengths=range(1, 21)) -> dict:
    """Forward + backward (twice the forward) FLOP per copy sequence, averaged over the lengths."""
    total = {"dense": 0, "memory": 0}
    for L in lengths:
        for t in range(2 * L + 1):
            for k, v in flops_per_step(output_step=t > L).items():
                total[k] += 3 * v
    n = len(list(lengths))
    return {k: v / n for k, v in total.items()}


def ceiling_gflops() -> float:
    """numpy's float32 (32 x 130) @ (130 x 400) on one thread, GFLOP/s (median of 200 products)."""
    a = np.random.default_rng(0).standard_normal((32, 130)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((130, 400)).astype(np.float32)
    times = []
    for _ in range(200):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * 32 * 130 * 400 / statistics.median(times) / 1e9


def openblas() -> dict:
    """Which BLAS kernels the runs use: the OPENBLAS_CORETYPE the children inherit ("unset": each
    OpenBLAS picks by CPU model) and what threadpoolctl reports for numpy's and scipy's OpenBLAS in
    this process (scipy's is the one numba's np.dot calls in the kernels). A forced older core
    changes the products' speed and rounding (bench/README.md, "The eighth pass")."""
    found = {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset")}
    try:
        import scipy.linalg  # noqa: F401 - loads scipy's OpenBLAS, so that threadpoolctl sees it
        from threadpoolctl import threadpool_info
    except ImportError:                                   # threadpoolctl comes with the dev extra
        return found
    for lib in threadpool_info():
        if lib.get("internal_api") == "openblas":
            owner = "scipy" if "scipy.libs" in lib["filepath"] else "numpy" if "numpy.libs" in lib["filepath"] else lib["prefix"]
            found[f"{owner}_openblas"] = f"{lib['version']} {lib.get('architecture')}"
    return found


def unpack(rev: str, into: Path) -> Path:
    """The tree at rev, from `git archive`, unpacked into a folder (no worktree left behind)."""
    tar = into / "tree.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(tar), rev], cwd=ROOT, check=True)
    with tarfile.open(tar) as t:
        t.extractall(into / "tree", filter="data")
    return into / "tree"


def child(tree: Path, args: list) -> dict:
    """`python *args` in a fresh process that imports tree's ntm package (first on its path; this
    tree's bench/ helpers through NTM_TREE and NTM_BENCH), one OpenMP thread: the JSON of its last
    line. Raises RuntimeError with the end of its stderr if it fails."""
    env = dict(os.environ, PYTHONPATH=str(tree), NTM_TREE=str(tree), NTM_BENCH=str(ROOT / "bench"),
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=tree, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} in {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(tree: Path, case: dict, iters: int) -> dict:
    """One case in a fresh process: this tree's bench/bench_model.py (the same harness for both
    sides: the trainer's step, optimizer and clipping) importing that tree's ntm package."""
    return child(tree, [str(ROOT / "bench" / "bench_model.py"), "--case", json.dumps(case),
                        "--length", "20", "--iters", str(iters)])


_EPISODE = """
import inspect, json, statistics, sys, time
import numpy as np, torch
from ntm.models import build_model, kernels
from ntm.models.inputs import array
torch.manual_seed(0); torch.set_num_threads(1); kernels.set_threads(1)
net, B, T = build_model("ntm", 10, 8), int(sys.argv[1]), int(sys.argv[2])
cfg, P = net.config, net.heads.out_features
U, R, W, M, N, S = cfg.controller_size, net.R, net.W, cfg.M, cfg.N, net.S
rng = np.random.default_rng(0)
gx = rng.standard_normal((T, B, 4 * U)).astype(np.float32)
keep = np.zeros((T, B), bool)
mem0 = np.full((B, M, N), 1e-6, np.float32)
w0 = np.zeros((B, R + W, N), np.float32); w0[:, :, 0] = 1
r0 = np.zeros((B, R, M), np.float32)
weights = [array(t.detach()) for t in (net.controller.weight_rh[0].t(), net.heads.weight.t(), net.heads.bias)]
back = [array(t.detach()) for t in (net.controller.weight_rh[0], net.heads.weight)]
in_place = "b0" in inspect.signature(kernels.episode_forward.py_func).parameters   # the fifth pass's signature
def forward():
    saved, handle = kernels.saved_arrays(T, B, U, P, R, W, M, N, np.float32, True)
    head = (gx, keep, 0) if in_place else (gx, keep)
    return kernels.episode_forward(*head, mem0, w0, r0, *weights, 20.0, R, S, saved, True), saved, handle
(Hs, Rs), saved, handle = forward()
dH, dR = np.ones_like(Hs), np.ones_like(Rs)
head = (dH, dR, 0, keep, 0) if in_place else (dH, dR, keep)
times = {"forward": [], "backward": []}
for i in range(8):
    t = time.perf_counter(); _, saved, handle = forward(); times["forward"].append(time.perf_counter() - t)
    t = time.perf_counter(); kernels.episode_backward(*head, saved, *back, 20.0, R, S)
    times["backward"].append(time.perf_counter() - t); kernels.release(handle)
print(json.dumps({k: 1e6 * statistics.median(v[1:]) / (B * T) for k, v in times.items()}))
"""


def episode(tree: Path, batch: int, steps: int = 41) -> dict:
    """`episode_forward` (saving for the gradient) and `episode_backward` alone, one thread, float32,
    `steps` steps (41: copy length 20): microseconds per sample and step, median of 7."""
    return child(tree, ["-c", _EPISODE, str(batch), str(steps)])


_PHASES = """
import json, os, statistics, sys, time
import torch
sys.path.insert(0, os.environ["NTM_BENCH"])
from bench_model import batch_of_bits, keep_trainer_memory, trainer_parts
from ntm.models import build_model, kernels
torch.manual_seed(0); torch.set_num_threads(1); kernels.set_threads(int(sys.argv[2]))
keep_trainer_memory()
net, B = build_model("ntm", 10, 8), int(sys.argv[1])
zero, clip, step = trainer_parts(net)
gen = torch.Generator().manual_seed(1)
data = [batch_of_bits(gen, B, n, False, "cpu") for n in range(1, 21)]
names = ["forward", "loss", "backward", "clip", "optimizer"]
times = {k: [] for k in names + ["step"]}
for i in range(13):
    for x, lengths, y, mask in data:
        t0 = time.perf_counter()
        logits = net(x, y.shape[1], None); t1 = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[mask], y[mask]); t2 = time.perf_counter()
        zero(); loss.backward(); t3 = time.perf_counter()
        clip(); t4 = time.perf_counter()
        step(); t5 = time.perf_counter()
        if i >= 3:                     # 3 warm-up iterations
            for k, a, b in zip(names + ["step"], (t0, t1, t2, t3, t4, t0), (t1, t2, t3, t4, t5, t5)):
                times[k].append(b - a)
print(json.dumps({k: round(1e6 * statistics.mean(v), 1) for k, v in times.items()}))
"""


def phases(tree: Path, batch: int, kernel_threads: int = 1) -> dict:
    """The harness's training step split into its phases (forward, loss, zeroing + backward,
    clipping, optimizer), one torch thread and `kernel_threads` kernel threads, lengths 1..20 one
    batch each: mean microseconds per step over 10 iterations after 3 of warm-up."""
    return child(tree, ["-c", _PHASES, str(batch), str(kernel_threads)])


def print_phases(args) -> int:
    """--phases: the step's phases, old and new alternating, medians over the rounds (printed; JSON
    with --out)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = unpack(args.baseline, Path(tmp))
        for batch in args.batches:
            for kt in [k for k in args.kernel_threads or [1] if batch > 1 or k == 1]:
                runs = {"old": [], "new": []}
                for _ in range(args.rounds):
                    for side, tree in (("old", old_tree), ("new", ROOT)):
                        runs[side].append(phases(tree, batch, kt))
                med = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()}
                rows.append(dict(batch=batch, kernel_threads=kt, old_us=med["old"], new_us=med["new"], runs=runs))
                print(f"batch {batch}, {kt} kernel thread(s): us per step, old -> new: " + ", ".join(
                    f"{k} {med['old'][k]:.0f} -> {med['new'][k]:.0f}" for k in med["new"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"benchmark": "the harness's training step by phase, old and new",
                                        "baseline": args.baseline, "openblas": openblas(),
                                        "statistic": f"median over {args.rounds} "
                                        "processes per side (alternating) of the mean of 10 iterations",
                                        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=1) + "\n")
    return 0


def weight_grad_products(batch: int, steps: int, reps: int = 50) -> list[dict]:
    """The products that form a part's weight gradients in `fused.numba_backward` (dZ^T X, draw^T Hs,
    dgx^T x for `batch` samples over `steps` steps, the copy NTM's shapes) through torch (MKL, as
    shipped) and through scipy's OpenBLAS (what numba's np.dot calls), one thread each: median
    microseconds of `reps` calls, GFLOP/s, and whether the two give the same bits."""
    import scipy.linalg.blas as blas
    import torch
    from bench_traces import median_seconds

    from ntm.models import build_model
    torch.set_num_threads(1)
    net = build_model("ntm", 10, 8)
    U, RM, P = net.config.controller_size, net.R * net.config.M, net.heads.out_features
    rows, gen = batch * steps, torch.Generator().manual_seed(0)
    out = []
    for name, k1, k2 in (("dZ^T X", 4 * U, RM + U), ("draw^T Hs", P, U), ("dgx^T x", 4 * U, 10)):
        a, b = torch.randn(rows, k1, generator=gen), torch.randn(rows, k2, generator=gen)
        runs = {"mkl": lambda: a.t() @ b, "openblas": lambda: blas.sgemm(1.0, a.numpy(), b.numpy(), trans_a=True)}
        us = {lib: 1e6 * median_seconds(f, reps)[0] for lib, f in runs.items()}
        same = bool(np.array_equal(runs["mkl"]().numpy(), runs["openblas"]()))
        flop = 2 * rows * k1 * k2
        out.append(dict(product=name, shape=[k1, rows, k2], us=us, same_bits=same,
                        gflops={lib: flop / t / 1e3 for lib, t in us.items()}))
    return out


def print_blas(args) -> int:
    """--blas: `weight_grad_products` for each of --batches (a part's samples) at --steps."""
    rows = []
    for batch in args.batches:
        for r in weight_grad_products(batch, args.steps):
            rows.append(dict(batch=batch, steps=args.steps, **r))
            print(f"{batch} samples x {args.steps} steps, {r['product']} {r['shape']}: MKL {r['us']['mkl']:.0f} us "
                  f"({r['gflops']['mkl']:.0f} GFLOP/s), OpenBLAS {r['us']['openblas']:.0f} us "
                  f"({r['gflops']['openblas']:.0f}), same bits: {r['same_bits']}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"benchmark": "the weight gradients' products, torch (MKL) and scipy (OpenBLAS)",
                                        "openblas": openblas(), "cpu": platform.processor() or platform.machine(),
                                        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=1) + "\n")
    return 0


def main_job(old_tree: Path, seed: int, new_config: Path | None = None, new_first: bool = False) -> list[dict]:
    """The README's main job (`ntm train --task copy --seed S`, polishing included) from each tree in
    turn, old first: wall clock, sequences and the run's own summary. Where the two trees' kernels
    round differently the trajectories differ (another convergence step, other sequence counts):
    then seq/s over the whole run is the like-for-like figure, else the seconds. Each tree first
    trains one step (untimed), so that both sides run with numba's kernels cached, as a user's
    second run does: the baseline is unpacked afresh, and until 2026-12-07 its side also timed the
    ~20-25 s compile of its kernels (bench/README.md, "The fifth pass"). new_config: a TOML config
    for the new side's timed run only (`ntm train --config`), e.g. bench/draw_ahead.toml. new_first:
    the new tree first (the box drifts over minutes: a pair in each order shows how much that
    weighs; bench/README.md, "The tenth pass")."""
    rows = []
    sides = [("old", old_tree), ("new", ROOT)]
    for side, tree in (sides[::-1] if new_first else sides):
        with tempfile.TemporaryDirectory() as out:
            env = dict(os.environ, PYTHONPATH=str(tree))
            subprocess.run([sys.executable, "-m", "ntm", "train", "--task", "copy", "--steps", "1", "--polish-steps",
                            "0", "--out", f"{out}/warm", "--quiet"], cwd=tree, env=env, check=True, capture_output=True)
            extra = ["--config", str(new_config.resolve())] if new_config and side == "new" else []
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "ntm", "train", "--task", "copy", "--seed", str(seed),
                                   "--out", f"{out}/run", "--quiet", *extra], cwd=tree, env=env, check=True,
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t
        # "... after N sequences, S s" (before 2026-12-06) or "...; N sequences in all, S s"
        pattern = re.compile(r"([\d,]+) sequences(?: in all)?, [\d.]+ s")
        summary = next(line for line in done.stdout.splitlines() if pattern.search(line))
        sequences = int(pattern.search(summary).group(1).replace(",", ""))
        rows.append(dict(side=side, seconds=round(wall, 1), sequences=sequences,
                         seq_per_s=round(sequences / wall, 1), summary=summary.strip()))
        print(rows[-1], flush=True)
    return rows


def record_main_job(args) -> int:
    """--main-job: both trees' main job, written to JSON."""
    out = args.out or ROOT / "bench" / "results" / "kernels_main_job.json"
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = main_job(unpack(args.baseline, Path(tmp)), args.seed, args.new_config, args.new_first)
    order = "new then old" if args.new_first else "old then new"
    out.write_text(json.dumps({"benchmark": f"ntm train --task copy end to end, {order}", "baseline": args.baseline,
                               "seed": args.seed, "new_config": args.new_config and str(args.new_config),
                               "openblas": openblas(),
                               "load_average_before": round(load, 2),
                               "load_average_after": round(os.getloadavg()[0], 2),
                               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=1) + "\n")
    seconds = {row["side"]: row["seconds"] for row in rows}
    print(f"ratio {seconds['old'] / seconds['new']:.2f} in seconds; wrote {out}")
    return 0


def print_episodes(args) -> int:
    """--episode: the two kernels alone, old then new, per batch size (printed)."""
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = unpack(args.baseline, Path(tmp))
        for batch in args.batches:
            runs = {side: [episode(tree, batch, args.steps) for _ in range(args.rounds)]
                    for side, tree in (("old", old_tree), ("new", ROOT))}
            med = {side: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for side, rs in runs.items()}
            print(f"batch {batch}, {args.steps} steps: us per sample and step, forward {med['old']['forward']:.2f} -> "
                  f"{med['new']['forward']:.2f}, backward {med['old']['backward']:.2f} -> {med['new']['backward']:.2f}")
    return 0


def throughput_table(args) -> int:
    """The default: seq/s of both trees per batch size and kernel threads, alternating processes."""
    out = args.out or ROOT / "bench" / "results" / "kernels.json"
    flop = flops_per_sequence()
    flop_seq = flop["dense"] + flop["memory"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ceiling = ceiling_gflops()
    load = os.getloadavg()[0]
    print(f"FLOP per sequence {flop_seq / 1e6:.2f} M ({flop['dense'] / flop_seq:.0%} dense products); "
          f"ceiling {ceiling:.0f} GFLOP/s a core x {cores}; load {load:.2f}")
    print(f"{'batch':>5s} {'k.thr':>5s} {'old seq/s':>10s} {'new seq/s':>10s} {'ratio':>6s} {'paired':>6s} "
          f"{'new GFLOP/s':>11s} {'of ceiling':>10s}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = unpack(args.baseline, Path(tmp))
        for batch in args.batches:
            for kt in [k for k in args.kernel_threads if batch > 1 or k == 1]:   # one sample is not split
                case = dict(model="ntm", batch=batch, engine="numba", threads=1, mixed=False, per_batch=True,
                            kernel_threads=kt)
                seqs, faults = {"old": [], "new": []}, {"old": [], "new": []}
                for _ in range(args.rounds):
                    for side, tree in (("old", old_tree), ("new", ROOT)):
                        row = run(tree, case, args.iters)
                        seqs[side].append(row["seq_per_s"])
                        faults[side].append(row.get("page_faults_per_iter"))
                old, new = statistics.median(seqs["old"]), statistics.median(seqs["new"])
                paired = statistics.median(n / o for o, n in zip(seqs["old"], seqs["new"]))   # each round's pair
                gflops = new * flop_seq / 1e9
                rows.append(dict(batch=batch, kernel_threads=kt, old_seq_per_s=old, new_seq_per_s=new,
                                 ratio=round(new / old, 2), paired_ratio=round(paired, 2), new_gflops=round(gflops, 1),
                                 old_gflops=round(old * flop_seq / 1e9, 1),
                                 of_ceiling=round(gflops / (ceiling * kt), 3), runs=seqs,
                                 page_faults_per_iter=faults))
                print(f"{batch:5d} {kt:5d} {old:10.0f} {new:10.0f} {new / old:6.2f} {paired:6.2f} {gflops:11.1f} "
                      f"{gflops / (ceiling * kt):10.1%}", flush=True)
    result = {"benchmark": "copy NTM training throughput, this tree against a baseline revision, one run",
              "baseline": args.baseline, "regime": "one batch of each length 1..20 per iteration (20/b)",
              "flop_per_sequence": flop, "ceiling_gflops_per_core": round(ceiling, 1), "cores": cores,
              "statistic": f"median over {args.rounds} processes per side (alternating) of the median of "
                           f"{args.iters} timed iterations",
              "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
              "openblas": openblas(),
              "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 128])
    parser.add_argument("--kernel-threads", type=int, nargs="+", default=None,
                        help="default 2 1 (--phases: 1)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per case and side, alternating")
    parser.add_argument("--iters", type=int, default=8, help="timed iterations per process")
    parser.add_argument("--main-job", action="store_true", help="time `ntm train --task copy` end to end instead")
    parser.add_argument("--new-first", action="store_true", help="--main-job: run the new tree first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--new-config", type=Path, default=None,
                        help="--main-job: a TOML config for the new side's run only (e.g. bench/draw_ahead.toml)")
    parser.add_argument("--episode", action="store_true", help="time the two kernels alone instead")
    parser.add_argument("--steps", type=int, default=41,
                        help="--episode, --blas: steps per episode (41: copy length 20; 23: the mean over 1..20)")
    parser.add_argument("--phases", action="store_true",
                        help="time the training step's phases instead (one kernel thread unless --kernel-threads)")
    parser.add_argument("--blas", action="store_true",
                        help="time the weight gradients' products through MKL and OpenBLAS instead, 50 calls each "
                        "(--batches: the samples of one kernel thread's part of a batch; --rounds, --iters unused)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.blas:
        return print_blas(args)
    if args.main_job:
        return record_main_job(args)
    if args.phases:
        return print_phases(args)
    args.kernel_threads = args.kernel_threads or [2, 1]
    return print_episodes(args) if args.episode else throughput_table(args)


if __name__ == "__main__":
    sys.exit(main())
