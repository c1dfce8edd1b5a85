"""Hostile and careless run directories: every command that opens one (`ntm compare`, `verify`,
`plot`, `train --resume`) answers a damaged one with one line on stderr and exit 2, never a
traceback and never a silent load of bad data."""

import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import save_file

from ntm.cli import main
from ntm.errors import CheckpointError
from ntm.training import TrainConfig, train
from ntm.training import checkpoint as ckpt

TINY = dict(task="copy", task_params={"width": 2, "train_lengths": [1, 4]}, model="ntm",
            model_params={"controller_size": 8, "N": 8, "M": 4}, batch_size=4, eval_every=2, eval_samples=8,
            checkpoint_every=2, compare_lengths=[2], target_bits=-1.0, device="cpu", steps=4)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    train(TrainConfig(**TINY), run, progress=False, log=lambda *_: None)
    return run


def _json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _weights(path, change):
    tensors = ckpt.load_tensors(path)
    change(tensors)
    save_file(tensors, str(path))


def _first(tensors):
    return next(iter(sorted(tensors)))


def _header(path, change):
    """Edit a safetensors file's JSON header by hand, leaving its data bytes as they are."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = change(header, raw[8 + n:])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + (raw[8 + n:] if data is None else data))


def _sharing(header):
    """The largest tensor and a smaller one (by bytes): the second can be laid over the first."""
    size = {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"}
    big = max(sorted(size), key=size.get)
    return big, next(k for k in sorted(size) if 0 < size[k] < size[big])


def _share_bytes(header, data):
    """A smaller tensor's data_offsets moved onto the largest tensor's bytes: the two share them."""
    big, small = _sharing(header)
    begin, end = header[small]["data_offsets"]
    start = header[big]["data_offsets"][0]
    header[small]["data_offsets"] = [start, start + end - begin]


def _relabel_f32_i32(header, data):
    """One float32 tensor's dtype rewritten as int32: the same bytes, read as integers."""
    header[_first([k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32"])]["dtype"] = "I32"


DAMAGE = {
    "config not UTF-8": lambda r: (r / "config.json").write_bytes(b"\xff\xfe{}"),
    "config nested 1,000 deep": lambda r: (r / "config.json").write_text('{"a": ' * 1000 + "1" + "}" * 1000),
    "config a list": lambda r: (r / "config.json").write_text("[1, 2]"),
    "memory N = 10^9": lambda r: _json(r / "config.json", lambda c: c["model"].update(N=10 ** 9)),
    "task width 10^6": lambda r: _json(r / "config.json", lambda c: c["task"].update(width=10 ** 6)),
    "weights relabelled int": lambda r: _weights(r / "weights.safetensors",
                                                 lambda t: t.update({_first(t): t[_first(t)].to(torch.int32)})),
    "NaN weights": lambda r: _weights(r / "weights.safetensors",
                                      lambda t: t.update({_first(t): torch.full_like(t[_first(t)], float("nan"))})),
    "weights of another shape": lambda r: _weights(r / "weights.safetensors",
                                                   lambda t: t.update({_first(t): torch.zeros(3, 3)})),
    "weights not safetensors": lambda r: (r / "weights.safetensors").write_bytes(pickle.dumps({"a": 1})),
    "header relabelled F32 as I32": lambda r: _header(r / "weights.safetensors", _relabel_f32_i32),
    "overlapping data offsets": lambda r: _header(r / "weights.safetensors", _share_bytes),
    "data offsets past the end": lambda r: _header(r / "weights.safetensors", lambda h, d: d[:-4]),
    "bytes after the last tensor": lambda r: _header(r / "weights.safetensors", lambda h, d: d + b"\0" * 8),
    "header length past the end": lambda r: (r / "weights.safetensors").write_bytes(
        (10 ** 6).to_bytes(8, "little") + b"{}"),
    "weights a directory": lambda r: ((r / "weights.safetensors").unlink(), (r / "weights.safetensors").mkdir()),
}

RESUME_DAMAGE = {
    "steps = 'many'": lambda r: _json(r / "config.json", lambda c: c["train"].update(steps="many")),
    "state.json is pickle": lambda r: (r / "checkpoint" / "state.json").write_bytes(pickle.dumps({"step": 1})),
    "garbage rng": lambda r: _json(r / "checkpoint" / "state.json", lambda s: s.update(rng={"state": "x"})),
    "garbage lr": lambda r: _json(r / "checkpoint" / "state.json", lambda s: s.update(lr="fast")),
    "garbage optimizer": lambda r: _json(r / "checkpoint" / "state.json", lambda s: s.update(optimizer=[1, 2])),
    "optimizer lr a string": lambda r: _json(r / "checkpoint" / "state.json",
                                             lambda s: s["optimizer"]["param_groups"][0].update(lr="x")),
    "checkpoint tensor of another shape": lambda r: _weights(r / "checkpoint" / "model.safetensors",
                                                             lambda t: t.update({_first(t): torch.zeros(2, 2)})),
    "NaN in the moving average": lambda r: _weights(
        r / "checkpoint" / "averaged.safetensors",
        lambda t: t.update({k: torch.full_like(v, float("nan")) for k, v in t.items() if k != "n_averaged"})),
    "overlapping data offsets in the checkpoint": lambda r: _header(r / "checkpoint" / "model.safetensors",
                                                                    _share_bytes),
}


def _one_line_exit_2(args, capsys):
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("ntm: error:"), (code, err)
    return err[0]


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_run_is_one_line_for_every_command(base, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(base, run)
    DAMAGE[name](run)
    for command in (["compare", str(run), "--device", "cpu"], ["verify", str(run), "--max-examples", "2"],
                    ["plot", str(run), "--device", "cpu"]):
        line = _one_line_exit_2(command, capsys)
        assert "run" in line


@pytest.mark.parametrize("name", RESUME_DAMAGE)
def test_a_damaged_checkpoint_is_one_line_on_resume(base, tmp_path, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(base, run)
    before = (run / "metrics.jsonl").read_bytes()
    RESUME_DAMAGE[name](run)
    _one_line_exit_2(["train", "--out", str(run), "--resume", "--steps", "6", "--quiet"], capsys)
    assert (run / "metrics.jsonl").read_bytes() == before         # nothing was trained or rewritten


def test_overlapping_offsets_name_the_file_and_both_tensors(base, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(base, run)
    weights = run / "weights.safetensors"
    header = json.loads(weights.read_bytes()[8:8 + int.from_bytes(weights.read_bytes()[:8], "little")])
    a, b = _sharing(header)
    _header(weights, _share_bytes)
    line = _one_line_exit_2(["compare", str(run), "--device", "cpu"], capsys)
    assert str(weights) in line and repr(a) in line and repr(b) in line and "overlap" in line
    with pytest.raises(CheckpointError, match="overlap"):
        ckpt.load_tensors(weights)


def test_a_relabelled_dtype_is_refused_by_name(base, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(base, run)
    DAMAGE["header relabelled F32 as I32"](run)
    line = _one_line_exit_2(["compare", str(run), "--device", "cpu"], capsys)
    assert "torch.int32" in line and "torch.float32" in line


def test_the_layout_check_accepts_what_safetensors_writes(tmp_path):
    tensors = {"a": torch.zeros(3, 2), "b": torch.arange(5), "c": torch.ones(()), "d": torch.zeros(0, 4),
               "e": torch.ones(7, dtype=torch.float64), "f": torch.zeros(3, dtype=torch.bfloat16)}
    save_file(tensors, str(tmp_path / "t.safetensors"), metadata={"format": "pt"})
    ckpt.check_layout(tmp_path / "t.safetensors")
    assert set(ckpt.load_tensors(tmp_path / "t.safetensors")) == set(tensors)
