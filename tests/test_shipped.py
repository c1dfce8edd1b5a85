"""The shipped checkpoint (ntm/checkpoints/copy-w4-lstm) agrees with the machine on its training range.

It was trained by the two commands in its README (configs/copy_w4_lstm*.toml); the slow test below
repeats the first stage from scratch and checks that it converges.
"""

from pathlib import Path

import pytest

from ntm.training.run_dir import load_run, shipped_runs
from ntm.training import TrainConfig, train
from ntm.analysis.verify import assert_agrees

NAME = "copy-w4-lstm"


def test_shipped_run_is_listed_and_loads():
    assert NAME in shipped_runs()
    model, task, config = load_run(f"shipped:{NAME}")
    assert task.name == "copy" and task.train_lengths == (1, 10)


def test_shipped_model_agrees_with_the_machine_on_every_input_in_its_training_range():
    """Hypothesis (derandomized under CI) draws lengths 1–10 and inputs; the model's decoded output
    must equal the copy machine's output on every one."""
    model, task, _ = load_run(f"shipped:{NAME}")
    assert_agrees(model, task, min_length=1, max_length=10, max_examples=300, seed=0)


@pytest.mark.slow
def test_retraining_the_shipped_model_from_scratch_converges(tmp_path):
    """Stage 1 of the shipped checkpoint's recipe, from scratch: below 0.01 bits/seq (~5 min on 2 cores)."""
    cfg = TrainConfig.from_toml(Path(__file__).parents[1] / "configs" / "copy_w4_lstm.toml")
    cfg.device = "cpu"
    res = train(cfg, tmp_path / "run", progress=False, log=lambda *_: None)
    assert res.converged and res.best_bits < 0.01


def test_shipped_universal_interpreter_runs_machines_it_never_saw():
    """universal-s0 (trained on 2-4-state machines) follows BB(4) to its halt and the 6-state
    Antihydra for its first 300 steps exactly, and 32 held-out 5-6-state machines to 200 steps."""
    from ntm.analysis.universal_compare import compare_family, compare_machines
    from tasks.universal import UniversalTask
    from turing import library
    model, task, config = load_run("shipped:universal-s0")
    assert "universal-s0" in shipped_runs() and config["task"]["name"] == "universal"
    rows = compare_machines(model, [library.get("bb4"), library.get("antihydra")], max_steps=300)
    assert [r["first_divergence"] for r in rows] == [None, None] and rows[0]["halted"]
    assert compare_family(model, UniversalTask(states=(5, 6), max_steps=200), samples=32, seed=7)["step_exact"] == 1.0
