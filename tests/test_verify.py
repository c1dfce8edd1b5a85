"""Counterexample search: none for the machine itself, a shrunk one for a wrong model, replayed
from the hypothesis database; `ntm verify`'s output and exit codes."""

import re

import pytest
import torch
from hypothesis.database import DirectoryBasedExampleDatabase, InMemoryExampleDatabase
from torch import nn

from ntm import cli
from ntm.errors import ConfigError
from ntm.training import TrainConfig, train
from ntm.analysis.verify import assert_agrees, check_example, draw_batch, find_counterexample, search
from tasks.registry import get_task

W = 4


class CopyMachine(nn.Module):
    """The copy machine as a model: its input vectors back as logits ±10 (see test_compare.py).

    wrong(inputs (T_in, C_in), T_out) -> an output position whose bit 0 to flip, or None."""

    def __init__(self, wrong=None):
        super().__init__()
        self.wrong = wrong

    def forward(self, inputs, T_out, input_lengths=None, output_lengths=None):
        logits = 20 * inputs[:, -T_out - 1:-1, :W] - 10          # (B, T_out, W)
        if self.wrong is not None:
            logits = logits.clone()
            for b in range(inputs.shape[0]):
                t = self.wrong(inputs[b], T_out)
                if t is not None:
                    logits[b, t, 0] *= -1
        return logits


def from_length(n0, position=-1):
    """Wrong (bit 0 of output `position`) on every input of length >= n0."""
    return CopyMachine(lambda x, T: (position % T) if T >= n0 else None)


@pytest.fixture(scope="module")
def task():
    return get_task("copy", width=W)


def test_the_machine_as_model_has_no_counterexample(task):
    assert find_counterexample(CopyMachine(), task, max_examples=30, seed=0) is None
    assert_agrees(CopyMachine(), task, min_length=1, max_length=40, max_examples=30)


def test_a_wrong_model_gives_the_minimal_counterexample(task):
    c = find_counterexample(from_length(4), task, min_length=1, max_length=20, max_examples=50, seed=1)
    assert c is not None
    assert c.length == 4 and c.seed == 0                     # shrunk to the shortest failing input
    assert c.differing_positions == (3,)
    assert c.machine_output == c.input_symbols == draw_batch(task, 4, 0).input_symbols[0]
    assert c.model_output[:3] == c.machine_output[:3] and c.model_output[3] != c.machine_output[3]
    text = str(c)
    for part in ("length 4", "machine output", "model output", "differs at:     3"):
        assert part in text


def test_assert_agrees_raises_with_the_counterexample(task):
    with pytest.raises(AssertionError, match=r"(?s)disagrees.*counterexample \(length 2, seed 0\)"):
        assert_agrees(from_length(2, position=0), task, min_length=1, max_length=10, max_examples=30)


def test_check_example_agrees_with_draw_batch(task):
    assert check_example(CopyMachine(), task, 7, 123) is None
    c = check_example(from_length(1, position=2), task, 7, 123)
    assert c.differing_positions == (2,) and c.input_symbols == draw_batch(task, 7, 123).input_symbols[0]


def test_counterexamples_are_replayed_from_the_database(task, tmp_path):
    db = DirectoryBasedExampleDatabase(tmp_path / "hypothesis")
    first = find_counterexample(from_length(5), task, max_examples=50, seed=0, database=db)
    assert (first.length, first.seed) == (5, 0)
    # a model wrong on that one input only: random search misses it (2**32 seeds)...
    trigger = draw_batch(task, first.length, first.seed).inputs[0]
    narrow = CopyMachine(lambda x, T: 0 if x.shape == trigger.shape and torch.equal(x, trigger) else None)
    assert find_counterexample(narrow, task, max_examples=20, seed=3, database=None) is None
    # ...but the database hands it back first
    r = search(narrow, task, max_examples=1, seed=3, database=db)
    assert r.counterexample is not None and r.counterexample.input_symbols == first.input_symbols


def test_bad_search_options_are_config_errors(task):
    with pytest.raises(ConfigError, match="min_length <= max_length"):
        find_counterexample(CopyMachine(), task, min_length=5, max_length=2)
    with pytest.raises(ConfigError, match="max_examples"):
        find_counterexample(CopyMachine(), task, max_examples=0)
    with pytest.raises(ConfigError, match=str(task.max_length)):
        find_counterexample(CopyMachine(), task, max_length=task.max_length + 1)


def test_search_runs_on_an_untrained_ntm(task):
    """Any model type: an untrained NTM disagrees at once, and the search says where."""
    from ntm.models import build_model
    torch.manual_seed(0)
    model = build_model("ntm", task.input_size, task.output_size, N=8, M=4, controller_size=8)
    c = find_counterexample(model, task, min_length=1, max_length=6, max_examples=10, seed=0,
                            database=InMemoryExampleDatabase())
    assert c is not None and c.length == 1


# ---------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run"
    cfg = TrainConfig(task="copy", task_params={"width": W}, model="lstm", model_params={"hidden_size": 8},
                      steps=1, batch_size=2, eval_every=1, eval_samples=4, compare_lengths=[2],
                      target_bits=-1.0, device="cpu")
    train(cfg, path, progress=False, log=lambda *_: None)
    return path


def test_verify_cli_prints_the_counterexample_and_keeps_it(run, capsys):
    code = cli.main(["verify", str(run), "--max-examples", "10", "--max-length", "6", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 1
    assert "counterexample (length 1" in out and "machine output" in out and "differs at" in out
    assert any((run / "hypothesis").rglob("*"))
    assert cli.main(["verify", str(run), "--max-examples", "1", "--max-length", "6", "--device", "cpu"]) == 1
    assert capsys.readouterr().out.splitlines()[:4] == out.splitlines()[:4]


def test_verify_cli_exit_0_when_the_model_agrees(run, capsys, monkeypatch):
    import ntm.training.run_dir
    real = ntm.training.run_dir.load_run

    def machine_instead(run_dir, device="cpu"):
        _, task, config = real(run_dir, device)
        return CopyMachine(), task, config

    monkeypatch.setattr(ntm.training.run_dir, "load_run", machine_instead)
    assert cli.main(["verify", str(run), "--max-examples", "15", "--seed", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert re.match(r"no counterexample in \d+ examples \(task copy, lengths 1–20, seed 2\)", out), out


def test_verify_on_a_shipped_run_keeps_counterexamples_in_the_users_cache(tmp_path, monkeypatch, capsys):
    """A shipped run lives inside the installed package: its counterexamples go to the cache
    (``$XDG_CACHE_HOME/ntm-playground/hypothesis/NAME``), never into the package."""
    from ntm.training.run_dir import SHIPPED
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    package_db = SHIPPED / "copy-w4-lstm" / "hypothesis"
    assert not package_db.exists()
    # beyond its training range (1-10) the shipped LSTM fails at once: a counterexample is saved
    code = cli.main(["verify", "shipped:copy-w4-lstm", "--min-length", "14", "--max-length", "16",
                     "--max-examples", "5", "--device", "cpu"])
    assert code == 1 and not package_db.exists()
    cache = tmp_path / "ntm-playground" / "hypothesis" / "copy-w4-lstm"
    assert any(cache.rglob("*")) and str(cache) in capsys.readouterr().out
