"""Figures are written headless, from hand-made data, from a run directory, and for machines."""

import argparse
import json

import numpy as np
import pytest

from ntm import cli
from ntm.analysis import figures as plots
from ntm.errors import CheckpointError, ConfigError
from ntm.training import TrainConfig, train

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """(width, height) in pixels from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_learning_curve_from_metrics(tmp_path):
    metrics = [{"step": s, "sequences": 32 * s, "bits_per_seq": b, "rollbacks": r}
               for s, b, r in [(100, 40.0, 0), (200, 12.0, 0), (300, 30.0, 1), (400, 0.5, 1), (500, 0.0, 1)]]
    path = tmp_path / "lc.png"
    assert plots.learning_curve(metrics, path) == path
    assert _png_size(path)[0] > 100


def test_learning_curve_draws_the_polishing_rows_as_their_own_line(tmp_path, monkeypatch):
    """Rows scored on the polishing set are another set's error: a second line, not a continuation."""
    from matplotlib.axes import Axes
    lines, real = [], Axes.plot

    def spy(self, x, y, *a, **k):
        lines.append((list(x), k.get("label")))
        return real(self, x, y, *a, **k)
    monkeypatch.setattr(Axes, "plot", spy)
    metrics = [{"step": s, "sequences": 32 * s, "bits_per_seq": b, "polishing": s > 200}
               for s, b in [(100, 40.0), (200, 0.005), (300, 0.2), (400, 0.0)]]
    plots.learning_curve(metrics, tmp_path / "lc.png")
    assert lines == [([3200.0, 6400.0], "fixed evaluation set"),
                     ([9600.0, 12800.0], "polishing set (longest training length)")]


def test_learning_curve_needs_rows(tmp_path):
    with pytest.raises(ConfigError, match="no evaluation rows"):
        plots.learning_curve([{"step": 1, "sequences": 1, "loss": 3.0}], tmp_path / "x.png")


def test_read_metrics_names_the_bad_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1}) + "\n{oops\n")
    with pytest.raises(CheckpointError, match="metrics.jsonl:2"):
        plots.read_metrics(path)
    with pytest.raises(CheckpointError, match="missing"):
        plots.read_metrics(tmp_path / "none.jsonl")


def test_accuracy_by_length(tmp_path):
    rows = [{"length": n, "seq_accuracy": a, "symbol_accuracy": s, "in_training_range": n <= 20}
            for n, a, s in [(1, 1.0, 1.0), (20, 0.9, 0.99), (50, 0.2, 0.7), (120, 0.0, 0.3)]]
    plots.accuracy_by_length(rows, tmp_path / "a.png", memory_rows=64)
    plots.accuracy_by_length(rows, tmp_path / "b.png", train_range=(1, 20))
    assert _png_size(tmp_path / "a.png") == _png_size(tmp_path / "b.png")


def test_memory_use_with_and_without_weightings(tmp_path):
    T_in, T_out, N = 6, 5, 16
    example = {"inputs": np.eye(T_in, 5), "targets": np.eye(T_out, 4), "outputs": np.full((T_out, 4), 0.3),
               "write_weightings": np.eye(T_in + T_out, N), "read_weightings": np.eye(T_in + T_out, N)}
    with_memory = _png_size(plots.memory_use(example, tmp_path / "m.png"))
    del example["write_weightings"], example["read_weightings"]
    without = _png_size(plots.memory_use(example, tmp_path / "n.png"))
    assert with_memory[1] > without[1]  # the weightings add a row


# ---------------------------------------------------------------- machines
def test_spacetime_of_library_machines(tmp_path):
    from turing import library
    plots.spacetime(library.get("bb2"), (), tmp_path / "bb2.png")
    plots.spacetime(library.get("copy", width=2), ("01", "10", "11"), tmp_path / "copy.png")
    plots.spacetime(library.get("loop"), (), tmp_path / "loop.png", max_steps=60)  # never halts: 60 steps drawn
    for name in ("bb2", "copy", "loop"):
        assert _png_size(tmp_path / f"{name}.png")[0] > 100


def test_spacetime_rejects_a_bad_input(tmp_path):
    from turing import library
    from turing.errors import InputError
    with pytest.raises(InputError):
        plots.spacetime(library.get("copy", width=2), ("2",), tmp_path / "x.png")
    with pytest.raises(ConfigError, match="max_steps"):
        plots.spacetime(library.get("bb2"), (), tmp_path / "x.png", max_steps=-1)


def test_machine_plot_command(tmp_path, capsys):
    from ntm.cli.machine import register_plot as register_machine_plot
    parser = argparse.ArgumentParser()
    register_machine_plot(parser.add_subparsers(dest="c", required=True))
    out = tmp_path / "bb.png"
    args = parser.parse_args(["plot", "library:binary_add", "--input", "101+11", "-o", str(out)])
    assert args.func(args) == 0
    assert "wrote" in capsys.readouterr().out and _png_size(out)


# ---------------------------------------------------------------- a run's figures
@pytest.fixture(scope="module")
def ntm_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "run"
    cfg = TrainConfig(task="copy", task_params={"width": 3}, model="ntm",
                      model_params={"N": 12, "M": 4, "controller_size": 12}, steps=4, batch_size=4,
                      eval_every=2, eval_samples=8, compare_lengths=[2, 5], target_bits=-1.0, device="cpu")
    train(cfg, path, progress=False, log=lambda *_: None)
    return path


def test_run_example_has_the_ntm_weightings(ntm_run):
    from ntm.training.run_dir import load_run
    model, task, _ = load_run(ntm_run)
    ex = plots.run_example(model, task, 5, seed=1)
    assert ex["inputs"].shape == (6, 4) and ex["targets"].shape == ex["outputs"].shape == (5, 3)
    assert ex["write_weightings"].shape == ex["read_weightings"].shape == (11, 12)
    np.testing.assert_allclose(ex["write_weightings"].sum(1), 1, rtol=1e-4)  # a weighting sums to 1
    assert len(ex["model_output"]) == len(ex["machine_output"]) == 5


def test_plot_command_writes_into_the_run(ntm_run, monkeypatch, capsys):
    (ntm_run / "comparison.json").unlink()  # computed instead when missing
    assert cli.main(["plot", str(ntm_run), "--device", "cpu", "--length", "4"]) == 0
    for name in ("learning_curve", "accuracy_by_length", "example"):
        assert _png_size(ntm_run / "plots" / f"{name}.png")[0] > 100
    assert capsys.readouterr().out.count("wrote") == 3
