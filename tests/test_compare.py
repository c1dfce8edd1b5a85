"""Comparison with the machine: the metrics' arithmetic on hand-made models, `load_run` on moved
and shipped run directories, and `ntm compare`."""

import json
import shutil
import types

import numpy as np
import pytest
import torch
from torch import nn

from ntm import cli
from ntm.errors import CheckpointError, ConfigError
from ntm.analysis.compare import compare, format_table, score
from ntm.training.run_dir import load_run, resolve_run
from ntm.training import TrainConfig, train
from tasks.registry import get_task

W = 4  # bits per vector: small tables, fast batches


class CopyMachine(nn.Module):
    """The copy machine as a model: it emits its input vectors back as logits ±10.

    Copy's inputs are right-aligned: n vectors, then the delimiter step, so the n vectors are the
    T_out steps before the last one (tasks/copy_task.py)."""

    def __init__(self, width=W, flip_at=None):
        super().__init__()
        self.width, self.flip_at = width, flip_at  # flip_at: output position whose bit 0 is flipped

    def forward(self, inputs, T_out, input_lengths=None, output_lengths=None):
        bits = inputs[:, -T_out - 1:-1, :self.width]            # (B, T_out, W)
        logits = 20 * bits - 10
        if self.flip_at is not None:
            logits = logits.clone()
            logits[:, self.flip_at(T_out), 0] *= -1
        return logits


@pytest.fixture(scope="module")
def task():
    return get_task("copy", width=W)


# ---------------------------------------------------------------- the arithmetic
def test_the_machine_as_model_scores_zero_errors(task):
    rows = compare(CopyMachine(), task, [1, 5, 12], samples=64)
    for r in rows:
        assert r["bit_errors_per_seq"] == 0
        assert r["symbol_accuracy"] == 1.0 and r["seq_accuracy"] == 1.0
        assert r["median_first_divergence"] is None


@pytest.mark.parametrize("where", ["first", "last"])
def test_one_flipped_bit_per_sequence_is_one_bit_error(task, where):
    flip = (lambda T: 0) if where == "first" else (lambda T: T - 1)
    rows = compare(CopyMachine(flip_at=flip), task, [1, 4, 9], samples=40)
    for r in rows:
        n = r["length"]
        assert r["bit_errors_per_seq"] == 1.0
        assert r["seq_accuracy"] == 0.0
        assert r["symbol_accuracy"] == pytest.approx(1 - 1 / n)
        assert r["median_first_divergence"] == (0 if where == "first" else n - 1)


def test_score_on_hand_worked_values():
    """Two sequences of 3 steps, 2 channels; sample 1's last step is padding (masked)."""
    targets = torch.tensor([[[1., 0.], [0., 1.], [1., 1.]],
                            [[0., 0.], [1., 1.], [0., 0.]]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    logits = 20 * targets - 10
    logits[0, 1] *= -1                   # sample 0: both bits of step 1 wrong
    logits[1, 2, 0] *= -1                # sample 1: a wrong bit on a padding step (ignored)
    s = score(logits, targets, mask, "bce")
    assert s["errors"].tolist() == [2, 0]
    assert s["bit_errors_per_seq"] == 1.0
    assert s["symbol_accuracy"] == pytest.approx(1 - 1 / 5)
    assert s["seq_accuracy"] == 0.5
    assert s["median_first_divergence"] == 1
    ce = score(logits, targets, mask, "ce")  # one-hot reading: argmax per step
    assert ce["errors"].tolist() == [1, 0]


def test_lengths_beyond_memory_are_flagged(task):
    model = CopyMachine()
    model.has_memory, model.config = True, types.SimpleNamespace(N=5)   # a memory model's two markers
    rows = compare(model, task, [4, 5, 6], samples=8)
    assert [r["exceeds_memory"] for r in rows] == [False, False, True]
    assert "exceeds memory N" in format_table(rows).splitlines()[-1]
    assert [r["in_training_range"] for r in rows] == [True, True, True]


# ---------------------------------------------------------------- run directories
SMALL = dict(task="copy", task_params={"width": W}, model="lstm", model_params={"hidden_size": 16},
             steps=2, batch_size=4, eval_every=2, eval_samples=8, checkpoint_every=2,
             compare_lengths=[2, 3], target_bits=-1.0, device="cpu")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run"
    train(TrainConfig(**SMALL), path, progress=False, log=lambda *_: None)
    return path


def _compare_json(capsys, *args):
    capsys.readouterr()
    assert cli.main(["compare", *map(str, args), "--json", "--device", "cpu"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compare_json_has_every_length(run, capsys):
    out = _compare_json(capsys, run, "--lengths", "1,3,7", "--samples", "16")
    assert [r["length"] for r in out["lengths"]] == [1, 3, 7]
    for r in out["lengths"]:
        for key in ("bit_errors_per_seq", "symbol_accuracy", "seq_accuracy", "median_first_divergence"):
            assert key in r
        assert 0 <= r["symbol_accuracy"] <= 1 and 0 <= r["seq_accuracy"] <= 1
    assert out["task"] == "copy" and out["model"] == "lstm" and out["memory_rows"] is None


def test_a_moved_run_directory_gives_the_same_comparison(run, tmp_path, capsys):
    before = _compare_json(capsys, run, "--lengths", "2,5", "--samples", "32")
    moved = tmp_path / "elsewhere" / "r"
    shutil.copytree(run, moved)
    after = _compare_json(capsys, moved, "--lengths", "2,5", "--samples", "32")
    assert before["lengths"] == after["lengths"]


def test_compare_table_and_plot(run, tmp_path, capsys):
    png = tmp_path / "acc.png"
    assert cli.main(["compare", str(run), "--lengths", "2,4", "--samples", "8", "--plot", str(png),
                     "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "bit err/seq" in out and "seq acc" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_run_rebuilds_model_and_task(run):
    model, task, config = load_run(run, "cpu")
    assert task.name == "copy" and task.input_size == W + 1
    assert not model.training
    batch = task.eval_batch(3, 4)
    assert model(batch.inputs, batch.targets.shape[1], batch.input_lengths).shape == batch.targets.shape


def test_a_shipped_run_loads_by_name(run, tmp_path, monkeypatch):
    from ntm.training import run_dir
    shutil.copytree(run, tmp_path / "copy-tiny")
    monkeypatch.setattr(run_dir, "SHIPPED", tmp_path)
    assert resolve_run("shipped:copy-tiny") == tmp_path / "copy-tiny"
    assert resolve_run("copy-tiny") == tmp_path / "copy-tiny"
    model, task, _ = load_run("shipped:copy-tiny")
    assert task.name == "copy"


def test_missing_or_broken_runs_raise_checkpoint_errors(run, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="no such run directory"):
        load_run(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "weights.safetensors").unlink()
    with pytest.raises(CheckpointError, match="weights.safetensors: missing"):
        load_run(broken)
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="config.json:1"):
        load_run(broken)
    assert cli.main(["compare", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ntm: error:") and len(err.strip().splitlines()) == 1


def test_weights_of_another_model_are_refused(run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    config = json.loads((other / "config.json").read_text())
    config["model"]["hidden_size"] = 8
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_run(other)


def test_bad_lengths_are_config_errors(run):
    from ntm.cli.compare import parse_lengths
    with pytest.raises(ConfigError, match="--lengths"):
        parse_lengths("1,x")
    with pytest.raises(ConfigError, match="--lengths"):
        parse_lengths("-1,3")
    assert parse_lengths("0,3") == [0, 3]          # the empty input: a trace task's busy beaver takes it
    assert cli.main(["compare", str(run), "--lengths", "0,3", "--device", "cpu"]) == 2      # copy's minimum is 1
    assert cli.main(["compare", str(run), "--lengths", "100000", "--device", "cpu"]) == 2


@pytest.mark.parametrize("name", ["ntm", "lstm", "gru", "rnn", "bilstm", "dnc", "stack_rnn", "tape_rnn"])
def test_compare_works_for_every_model_type(task, name):
    from ntm.models import build_model
    params = {"ntm": {"N": 8, "M": 4, "controller_size": 8}, "dnc": {"N": 8, "W": 4, "controller_size": 8},
              "stack_rnn": {"hidden_size": 8, "stack_size": 8},
              "tape_rnn": {"hidden_size": 8, "tape_size": 8}}.get(name, {"hidden_size": 8})
    torch.manual_seed(0)
    model = build_model(name, task.input_size, task.output_size, **params)
    rows = compare(model, task, [2, 9], samples=8)
    assert [r["length"] for r in rows] == [2, 9]
    if model.has_memory:                                    # 8 rows, stack cells or tape cells
        assert [r["exceeds_memory"] for r in rows] == [False, True]


@pytest.mark.parametrize("name, params", [("ntm", {"N": 8, "M": 4, "controller_size": 8}),
                                          ("tape_rnn", {"hidden_size": 8, "tape_size": 8})])
def test_memory_rows_compares_a_memory_model_with_a_larger_memory(name, params, tmp_path, capsys):
    """No weight depends on the memory's size, so lengths beyond the trained memory can be scored."""
    path = tmp_path / name
    train(TrainConfig(**{**SMALL, "model": name, "model_params": params}), path, progress=False, log=lambda *_: None)
    small = _compare_json(capsys, path, "--lengths", "4,12", "--samples", "8")
    large = _compare_json(capsys, path, "--lengths", "4,12", "--samples", "8", "--memory-rows", "32")
    assert (small["memory_rows"], large["memory_rows"]) == (8, 32)
    assert [r["exceeds_memory"] for r in small["lengths"]] == [False, True]
    assert [r["exceeds_memory"] for r in large["lengths"]] == [False, False]


def test_compare_memory_rows_scores_the_final_comparison_and_compare_with_that_memory(tmp_path, capsys):
    """TrainConfig.compare_memory_rows: trained with 8 rows, the run's comparison (comparison.json) and
    `ntm compare RUN` use 32; the weights are those trained, and training is the same as without it."""
    params = {"N": 8, "M": 4, "controller_size": 8}
    plain, wide = tmp_path / "plain", tmp_path / "wide"
    base = {**SMALL, "model": "ntm", "model_params": params, "compare_lengths": [4, 12]}
    train(TrainConfig(**base), plain, progress=False, log=lambda *_: None)
    train(TrainConfig(**base, compare_memory_rows=32), wide, progress=False, log=lambda *_: None)
    assert (plain / "weights.safetensors").read_bytes() == (wide / "weights.safetensors").read_bytes()
    rows = lambda run: json.loads((run / "comparison.json").read_text())["lengths"]  # noqa: E731
    assert [r["exceeds_memory"] for r in rows(plain)] == [False, True]
    assert [r["exceeds_memory"] for r in rows(wide)] == [False, False]
    assert _compare_json(capsys, wide, "--lengths", "4,12", "--samples", "8")["memory_rows"] == 32
    assert _compare_json(capsys, wide, "--lengths", "4", "--samples", "8", "--memory-rows", "8")["memory_rows"] == 8


def test_compare_memory_rows_is_refused_before_training_where_it_cannot_apply(tmp_path):
    for model, params, message in (("lstm", {"hidden_size": 8}, "no memory size to set"),
                                   ("ntm", {"N": 8, "M": 4, "controller_size": 8, "memory_init": "learned"}, "M_bias")):
        with pytest.raises(ConfigError, match=message):
            train(TrainConfig(**{**SMALL, "model": model, "model_params": params, "compare_memory_rows": 32}),
                  tmp_path / model, progress=False, log=lambda *_: None)
        assert not (tmp_path / model).exists()
    with pytest.raises(ConfigError, match="compare_memory_rows must be >= 1"):
        TrainConfig(compare_memory_rows=0).validate()


def test_memory_rows_refuses_models_without_memory_and_weights_that_depend_on_it(run, tmp_path, capsys):
    assert cli.main(["compare", str(run), "--memory-rows", "32", "--device", "cpu"]) == 2       # an LSTM
    assert "no memory size to set" in capsys.readouterr().err
    learned = tmp_path / "learned"          # a learned M_0 is (N, M): trained at N = 8, it fits no other N
    train(TrainConfig(**{**SMALL, "model": "ntm", "model_params": {"N": 8, "M": 4, "controller_size": 8,
                                                                   "memory_init": "learned"}}),
          learned, progress=False, log=lambda *_: None)
    assert cli.main(["compare", str(learned), "--memory-rows", "32", "--device", "cpu"]) == 2
    assert "M_bias" in capsys.readouterr().err
    assert cli.main(["compare", str(learned), "--memory-rows", "0", "--device", "cpu"]) == 2


# ---------------------------------------------------------------- where the heads go (ntm.analysis.heads)
def _tape(task, n, N=64, start=5, shift=1, read_offset=0, stall_at=None, rewrite=False, lag=None):
    """One-hot weightings of a model that walks its memory like a tape: the write head at row
    start + shift i for symbol i (stalling from symbol stall_at on), the read head on the row of the
    symbol each output step repeats (plus read_offset); on duplicate with rewrite, the symbols are
    written again during the first copy and the second copy reads those rows. While the input is
    read, the read head follows the write head lag rows behind, or (lag None) waits on one row."""
    from ntm.analysis.heads import SOURCE
    T_out = 2 * n if task == "duplicate" else n
    T_in, T = n, n + T_out
    wpos = [(start + shift * min(i, stall_at if stall_at is not None else i)) % N for i in range(n)]
    write, read = np.zeros((T, N)), np.zeros((T, N))
    for i, p in enumerate(wpos):
        write[i, p] = 1
        read[i, (p - shift * lag) % N if lag is not None else N // 2] = 1    # following, or parked
    for j in range(T_out):
        i = SOURCE[task](j, n)
        row = wpos[i]
        if rewrite and j >= n:
            row = (start + shift * (n + i)) % N
        if rewrite and j < n:
            write[T_in + j, (start + shift * (n + j)) % N] = 1
        else:
            write[T_in + j, N // 2] = 1                      # idle, far from every row used
        read[T_in + j, (row + read_offset) % N] = 1
    return write, read, T_in, n


@pytest.mark.parametrize("task", ["copy", "reverse", "duplicate"])
def test_head_alignment_of_a_tape_walker(task):
    from ntm.analysis.heads import alignment, format_heads
    r = alignment(*_tape(task, 12), task)
    assert (r["write_shift"], r["write_steady"], r["write_first_off"], r["write_focus"]) == (1, 1.0, None, 1.0)
    assert (r["read_on_row"], r["read_offset"], r["read_focus"]) == (1.0, 0, 1.0)
    r = alignment(*_tape(task, 12, shift=-1, read_offset=5), task)        # backwards, reading 5 rows off
    assert (r["write_shift"], r["read_on_row"], r["read_offset"]) == (-1, 0.0, 5)
    r = alignment(*_tape(task, 12, stall_at=7), task)                       # the write head stops moving
    assert r["write_first_off"] == 8 and r["write_steady"] == pytest.approx(6 / 10)
    assert r["read_lockstep"] == 0.0                                        # it waited
    r = alignment(*_tape(task, 12, shift=-1, lag=2), task)                  # it followed, 2 rows behind
    assert (r["read_lockstep"], r["read_on_row"]) == (1.0, 1.0)
    r = alignment(*_tape(task, 12, shift=0, lag=0), task)                   # nothing moves: nothing to follow
    assert (r["write_shift"], r["read_lockstep"]) == (0, None)
    assert format_heads([{**r, "length": 12, "wrong": 0}]).splitlines()[1].split()[6] == "-"


def test_head_alignment_counts_a_rewritten_copy_as_the_symbols_row():
    from ntm.analysis.heads import alignment
    r = alignment(*_tape("duplicate", 10, rewrite=True), "duplicate")
    assert (r["read_on_row"], r["read_offset"]) == (1.0, 0)
    write, read, T_in, n = _tape("duplicate", 10, rewrite=True)
    r = alignment(write, read, T_in, n, "reverse")                          # the same heads judged as reverse
    assert r["read_on_row"] < 0.5
    with pytest.raises(ValueError, match="not 'sort'"):
        alignment(write, read, T_in, n, "sort")
    with pytest.raises(ValueError, match="do not fit"):
        alignment(write, read[:5], T_in, n, "duplicate")


def test_compare_heads_for_an_ntm_and_one_line_for_other_models(run, tmp_path, capsys):
    path = tmp_path / "ntm"
    params = {"N": 16, "M": 4, "controller_size": 8}
    train(TrainConfig(**{**SMALL, "model": "ntm", "model_params": params}), path, progress=False, log=lambda *_: None)
    out = _compare_json(capsys, path, "--lengths", "3,6", "--samples", "8", "--heads")
    assert [h["length"] for h in out["heads"]] == [3, 6]
    for h in out["heads"]:
        assert 0 <= h["read_on_row"] <= 1 and 0 < h["read_focus"] <= 1 and 0 <= h["write_steady"] <= 1
        assert h["read_lockstep"] is None or 0 <= h["read_lockstep"] <= 1
        assert 0 <= h["wrong"] <= h["length"]
    assert cli.main(["compare", str(path), "--lengths", "3", "--samples", "8", "--heads", "--device", "cpu"]) == 0
    assert "read: lockstep  on row" in capsys.readouterr().out
    assert cli.main(["compare", str(run), "--lengths", "3", "--heads", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--heads: head alignment measures an NTM on copy, reverse, duplicate, not LSTM" in err
    assert len(err.strip().splitlines()) == 1
