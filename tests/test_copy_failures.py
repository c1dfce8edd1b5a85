"""bench/copy_failures.py counts what the model gets wrong, split by all-zero input vectors; the
oracle is the task's own words (the machine's input symbols) and `evaluate.sequence_errors`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from ntm.analysis.compare import sequence_errors
from ntm.training.run_dir import load_run
from ntm.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def test_copy_failures_counts_match_an_independent_count(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(task="copy", task_params={"width": 4}, model="lstm", model_params={"hidden_size": 16},
                      steps=3, batch_size=8, eval_every=3, eval_samples=8, compare_lengths=[2], device="cpu"),
          run, progress=False, log=lambda *_: None)
    env = {**os.environ, "OUT": str(tmp_path / "out")}
    subprocess.run([sys.executable, str(ROOT / "bench" / "copy_failures.py"), str(run), "--samples", "300",
                    "--lengths", "3,9", "--seed", "5"], check=True, env=env, cwd=ROOT, capture_output=True)
    got = json.loads((tmp_path / "out" / "copy_failures.json").read_text())["lengths"]

    model, task = load_run(run)[:2]
    model.eval()
    rng = np.random.default_rng(5)
    for row, n in zip(got, (3, 9)):
        want = {k: {"sequences": 0, "wrong": 0, "total_failures": 0} for k in ("with_zero_vector", "without")}
        for size in (256, 300 - 256):                         # the script's batches
            b = task.sample(rng, size, n)
            with torch.no_grad():
                errors, _ = sequence_errors(model(b.inputs, b.targets.shape[1], b.input_lengths), b.targets,
                                            b.mask, task.loss_kind)
            for word, e in zip(b.input_symbols, errors.tolist()):
                c = want["with_zero_vector" if "0000" in word else "without"]
                c["sequences"] += 1
                c["wrong"] += e > 0
                c["total_failures"] += e > n
        assert row == {"length": n, **want}
    assert sum(r["with_zero_vector"]["sequences"] for r in got) > 0      # the split is exercised
