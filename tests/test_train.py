"""The trainer: resume is exact, the rules act as configured, NaN never reaches a checkpoint, bad
options get clear errors before anything is written. The rules' own unit tests: tests/test_policies.py."""

import json
import math

import pytest
import torch

from ntm.training import checkpoint as ckpt
from ntm.errors import CheckpointError, ConfigError
from ntm.training import TrainConfig, masked_loss, resume, train
from ntm.training.evaluation import Evaluator

SMALL = dict(task="copy", task_params={"width": 4}, model="lstm", model_params={"hidden_size": 32},
             batch_size=8, eval_every=5, eval_samples=16, checkpoint_every=5, compare_lengths=[2, 4],
             target_bits=-1.0, device="cpu")


def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("curriculum", [{}, {"draw_ahead": True}, {"curriculum": "adaptive",
                                             "curriculum_params": {"start": 1, "threshold": 100.0, "patience": 2}}])
def test_resume_continues_exactly(tmp_path, curriculum):
    """Stopping at step 10 and resuming to 20 gives the same curve as running to 20 at once
    (with the adaptive curriculum too: its level is part of the checkpoint; with batches drawn
    ahead: the checkpoint keeps the rng as if none had been)."""
    full = tmp_path / "full"
    train(TrainConfig(**SMALL, **curriculum, steps=20), full, progress=False, log=lambda *_: None)
    part = tmp_path / "part"
    train(TrainConfig(**SMALL, **curriculum, steps=10), part, progress=False, log=lambda *_: None)
    resume(part, steps=20, progress=False, log=lambda *_: None)
    a, b = _metrics(full), _metrics(part)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [5, 10, 15, 20]
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6)
        assert ra["bits_per_seq"] == rb["bits_per_seq"]
        assert ra["max_length"] == rb["max_length"]
    if "curriculum" in curriculum:  # a threshold of 100 bits is met at once: L rises after every 2nd batch
        assert [r["max_length"] for r in a] == [3, 5, 8, 10]
    for name in ("model", "averaged"):                    # the moving average resumes too
        wa = ckpt.load_tensors(full / "checkpoint" / f"{name}.safetensors")
        wb = ckpt.load_tensors(part / "checkpoint" / f"{name}.safetensors")
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k])


def test_run_directory_is_self_describing(tmp_path):
    run = tmp_path / "run"
    res = train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    for name in ("config.json", "weights.safetensors", "metrics.jsonl", "comparison.json",
                 "checkpoint/state.json", "checkpoint/model.safetensors", "checkpoint/optimizer.safetensors"):
        assert (run / name).exists(), name
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["task"]["name"] == "copy" and cfg["model"]["name"] == "lstm"
    assert [r["length"] for r in res.comparison] == [2, 4]


def test_existing_run_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    before = (run / "weights.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    assert (run / "weights.safetensors").read_bytes() == before


class Scripted(Evaluator):
    """An evaluator that returns these bits per sequence, in order, and records what it scored (the
    configs that use it turn the moving average off: it would be a second evaluation)."""

    def __init__(self, errors, task_width=4, polish_set=((20, 40),)):
        self.errors, self.calls, self.polish_set = iter(errors), [], list(polish_set)

    def __call__(self, model, polishing):
        self.calls.append((model, polishing, {n: v.clone() for n, v in model.state_dict().items()}))
        return next(self.errors), 0.0


def test_the_moving_average_is_scored_and_kept_when_better(tmp_path):
    """Each evaluation scores the weights and their moving average; the better one is logged and
    kept as the best weights (ties: the later)."""
    seen = []

    class Average(Scripted):                                  # the first call scores the trained model
        def __call__(self, model, polishing):
            seen.append((model, {n: v.clone() for n, v in model.state_dict().items()}))
            return (10.0 if model is seen[0][0] else 5.0), 0.0
    run = tmp_path / "run"
    res = train(TrainConfig(**{**SMALL, "eval_every": 2}, steps=6, ema_decay=0.9), run, progress=False,
                log=lambda *_: None, evaluator=Average([]))
    assert len(seen) == 6 and [m is seen[0][0] for m, _ in seen] == [True, False] * 3
    assert [r["averaged"] for r in _metrics(run)] == [True] * 3 and res.best_bits == 5.0
    best = ckpt.load_tensors(run / "weights.safetensors")
    raw, avg = seen[-2][1], seen[-1][1]
    assert any(not torch.equal(raw[k], avg[k]) for k in raw)       # an average, not a copy
    for k in avg:
        torch.testing.assert_close(best[k], avg[k], rtol=0, atol=0)


def test_rollback_only_on_a_real_collapse_and_lr_floor(tmp_path):
    """A rise counts as a collapse only if it exceeds the best by collapse_bits AND is more than
    collapse_ratio times the best; each rollback multiplies lr by rollback_lr_factor, not below min_lr."""
    #         best 30   10   19 (< 2*10): no  26: yes  26: yes (lr at the floor)  9: new best
    cfg = TrainConfig(**{**SMALL, "eval_every": 1, "ema_decay": 0}, steps=6, lr=1e-3, min_lr=4e-4)
    res = train(cfg, tmp_path / "run", progress=False, log=lambda *_: None,
                evaluator=Scripted([30.0, 10.0, 19.0, 26.0, 26.0, 9.0]))
    rows = _metrics(tmp_path / "run")
    # a row shows the state the steps before it ran with: the rollbacks after evaluations 4 and 5
    assert [r["rollbacks"] for r in rows] == [0, 0, 0, 0, 1, 2]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 4e-4])
    assert res.best_bits == 9.0 and res.rollbacks == 2


@pytest.mark.parametrize("polish_steps", [0, 2])
def test_training_goes_on_polish_steps_after_converging(tmp_path, polish_steps):
    """Converged at the second evaluation (below target_bits); then polish_steps more steps, from
    the best weights at polish_lr, scored on the polishing set (the best weights are the last of
    equal errors on that set)."""
    scripted = Scripted([30.0, 0.005, 0.04, 0.04, 0.05])      # with polishing, the 3rd scores the converged weights
    cfg = TrainConfig(**{**SMALL, "eval_every": 1, "ema_decay": 0, "target_bits": 0.01}, steps=6,
                      polish_steps=polish_steps, polish_lr=3e-4, polish_samples=40)
    messages = []
    res = train(cfg, tmp_path / "run", progress=False, log=messages.append, evaluator=scripted)
    rows = _metrics(tmp_path / "run")
    polishing = [p for _, p, _ in scripted.calls]
    assert res.converged and res.steps == 2 + polish_steps
    assert any(m.startswith("converged at step 2 (16 sequences)") for m in messages)
    assert polishing[:2] == [False, False]                    # the fixed set while searching
    if polish_steps == 0:
        assert res.best_bits == 0.005 and len(polishing) == 2
        assert not any(r["polishing"] for r in rows)
    else:
        assert polishing[2:] == [True] * 3                    # then the polishing set
        best_at_2 = scripted.calls[1][2]                      # polishing starts from the best weights
        for k, v in scripted.calls[2][2].items():
            torch.testing.assert_close(v, best_at_2[k], rtol=0, atol=0)
        assert res.best_bits == 0.04                           # the polishing score; later ties win:
        assert any("best 0.0400 bits/seq on the polishing set at step 3" in m for m in messages)
        assert [r["polishing"] for r in rows] == [False, False, True, True]
        assert [r["lr"] for r in rows][2:] == pytest.approx([3e-4, 3e-4])
        assert any("polishing 2 steps at lr 0.0003" in m for m in messages)


def test_resume_while_polishing_continues_exactly(tmp_path):
    """Converged at the first evaluation (a target no model misses), polishing to step 15; stopping
    at step 10 and resuming gives the same curve, on the polishing set, as the run without a stop."""
    cfg = dict(**{**SMALL, "target_bits": 1e9}, polish_steps=10, polish_samples=8)
    full, part = tmp_path / "full", tmp_path / "part"
    train(TrainConfig(**cfg, steps=30), full, progress=False, log=lambda *_: None)
    train(TrainConfig(**cfg, steps=10), part, progress=False, log=lambda *_: None)
    resume(part, steps=30, progress=False, log=lambda *_: None)
    a, b = _metrics(full), _metrics(part)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [5, 10, 15]
    assert [r["polishing"] for r in a] == [False, True, True]
    for ra, rb in zip(a, b):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-6)
        assert (ra["bits_per_seq"], ra["lr"]) == (rb["bits_per_seq"], rb["lr"])


def test_lr_drops_once_below_lr_drop_bits(tmp_path):
    cfg = TrainConfig(**{**SMALL, "eval_every": 1, "ema_decay": 0}, steps=4, lr=1e-3, lr_drop_bits=5.0, lr_drop_factor=0.5)
    train(cfg, tmp_path / "run", progress=False, log=lambda *_: None, evaluator=Scripted([30.0, 4.0, 3.0, 1.0]))
    # the row logs the lr the steps before it used; the drop applies from the next step on
    assert [r["lr"] for r in _metrics(tmp_path / "run")] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4])


def test_a_stalled_run_restarts_from_new_weights(tmp_path):
    """Still above restart_bits restart_steps steps into an attempt: new random weights, the
    learning rate and the best error start again; at most max_restarts times."""
    messages = []
    tiny_ntm = {"model": "ntm", "model_params": {"controller_size": 8, "N": 8, "M": 4}}
    cfg = TrainConfig(**{**SMALL, **tiny_ntm, "eval_every": 1, "ema_decay": 0}, steps=5, restart_steps=2, restart_bits=10.0,
                      max_restarts=1)
    res = train(cfg, tmp_path / "run", progress=False, log=messages.append,
                evaluator=Scripted([30.0, 20.0, 25.0, 15.0, 14.0]))
    assert [r["restarts"] for r in _metrics(tmp_path / "run")] == [0, 0, 1, 1, 1]
    assert res.restarts == 1 and res.best_bits == 14.0      # the second attempt's best
    assert sum("restarting from new random weights" in m for m in messages) == 1
    # a model without memory has no memory algorithm to find: it never restarts
    res = train(TrainConfig(**{**SMALL, "eval_every": 1, "ema_decay": 0}, steps=5, restart_steps=2, restart_bits=10.0),
                tmp_path / "lstm", progress=False, log=messages.append, evaluator=Scripted([30.0, 20.0, 25.0, 15.0, 14.0]))
    assert res.restarts == 0


def test_checkpoint_with_nan_is_never_written(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    ckpt.save_checkpoint(tmp_path, model=model, best_weights=None, optimizer=opt, state={"step": 1})
    good = (tmp_path / "checkpoint" / "model.safetensors").read_bytes()
    with torch.no_grad():
        model.weight[0, 0] = math.nan
    with pytest.raises(CheckpointError, match="NaN"):
        ckpt.save_checkpoint(tmp_path, model=model, best_weights=None, optimizer=opt, state={"step": 2})
    assert (tmp_path / "checkpoint" / "model.safetensors").read_bytes() == good
    assert ckpt.load_checkpoint(tmp_path)["state"]["step"] == 1


def test_run_weights_are_the_best_weights_once_there_are_any(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    ckpt.save_checkpoint(tmp_path, model=model, best_weights=None, optimizer=opt, state={"step": 1})
    latest = ckpt.load_tensors(tmp_path / "weights.safetensors")
    torch.testing.assert_close(latest["weight"], model.weight.detach(), rtol=0, atol=0)
    best = {k: v.detach() + 1.0 for k, v in model.state_dict().items()}
    ckpt.save_checkpoint(tmp_path, model=model, best_weights=best, optimizer=opt, state={"step": 2})
    written = ckpt.load_tensors(tmp_path / "weights.safetensors")
    for k in best:
        torch.testing.assert_close(written[k], best[k], rtol=0, atol=0)
    torch.testing.assert_close(ckpt.load_checkpoint(tmp_path)["model"]["weight"], model.weight.detach(), rtol=0, atol=0)


def test_optimizer_state_round_trips_without_pickle(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    tensors, meta = ckpt.optimizer_to_files(opt)
    ckpt.save_tensors(tmp_path / "o.safetensors", tensors)
    meta = json.loads(json.dumps(meta))
    opt2 = torch.optim.Adam(model.parameters(), lr=0.5)
    ckpt.optimizer_from_files(opt2, ckpt.load_tensors(tmp_path / "o.safetensors"), meta)
    for (pa, a), (pb, b) in zip(opt.state.items(), opt2.state.items()):
        for k in a:
            torch.testing.assert_close(torch.as_tensor(a[k]), torch.as_tensor(b[k]))
    assert opt2.param_groups[0]["lr"] == 0.01


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(CheckpointError, match="model.safetensors"):
        ckpt.load_checkpoint(tmp_path)


@pytest.mark.parametrize("field,value", [("steps", 0), ("batch_size", 0), ("lr", -1.0), ("optimizer", "sgdx"),
                                         ("device", "tpu"), ("threads", 0), ("kernel_threads", 0),
                                         ("kernel_threads", 1.5), ("polish_steps", -1),
                                         ("polish_lr", 0.0), ("polish_lr", True), ("polish_lr", float("inf")),
                                         ("polish_samples", 0),
                                         ("ema_decay", 1.0), ("ema_decay", -0.5), ("betas", [0.9]),
                                         ("betas", [0.9, 1.0])])
def test_bad_options_raise_config_error(field, value):
    cfg = TrainConfig(**{field: value})
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        cfg.validate()


@pytest.mark.parametrize("eval_lengths,expect", [(None, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), ([4, 2, 4], [2, 4])])
def test_eval_lengths_choose_the_evaluation_set(tmp_path, monkeypatch, eval_lengths, expect):
    """The training-time evaluation runs at `eval_lengths` (eval_samples split evenly), or spread
    over the training range (copy width 4: lengths 1-10, every one of them) when it is None."""
    import ntm.training.evaluation as evaluation
    calls = []
    real = evaluation.compare

    def spy(model, task, lengths, samples=256, **k):
        calls.append((list(lengths), samples))
        return real(model, task, lengths, samples=samples, **k)
    monkeypatch.setattr(evaluation, "compare", spy)
    train(TrainConfig(**{**SMALL, "task_params": {"width": 4, "train_lengths": [1, 10]}, "eval_samples": 20},
                      steps=5, ema_decay=0, eval_lengths=eval_lengths), tmp_path / "run", progress=False,
          log=lambda *_: None)
    assert calls[0] == (expect, 20 // len(expect))          # the evaluation at step 5


def test_the_polishing_set_is_the_longest_training_length():
    from tasks.registry import get_task
    ev = Evaluator(get_task("copy"), TrainConfig(polish_samples=40), "cpu")
    assert ev.polish_set == [(20, 40)] and len(ev.fixed_set) == 10       # copy trains on 1-20


@pytest.mark.parametrize("bad", [[], [0], [3, 2.5], [True], [10_000_000], 20, "20"])
def test_bad_eval_lengths_are_a_clear_error_and_write_nothing(tmp_path, bad):
    with pytest.raises(ConfigError, match="eval_lengths"):
        train(TrainConfig(**SMALL, steps=1, eval_lengths=bad), tmp_path / "run", progress=False, log=lambda *_: None)
    assert not (tmp_path / "run").exists()


def test_unknown_toml_key(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('task = "copy"\nlearning_rate = 0.1\n')
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_toml(p)


def test_masked_loss_ignores_masked_positions():
    logits = torch.randn(2, 3, 4)
    targets = (torch.rand(2, 3, 4) > 0.5).float()
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    a = masked_loss(logits, targets, mask, "bce")
    logits2 = logits.clone()
    logits2[0, 2] = 100.0
    logits2[1, 1:] = -100.0
    assert masked_loss(logits2, targets, mask, "bce") == pytest.approx(a.item())


def test_init_from_starts_from_another_runs_weights(tmp_path):
    src = tmp_path / "src"
    train(TrainConfig(**SMALL, steps=5), src, progress=False, log=lambda *_: None)
    cfg = TrainConfig(**{**SMALL, "lr": 1e-12}, steps=1, init_from=str(src))  # lr ~0: weights barely move
    train(cfg, tmp_path / "dst", progress=False, log=lambda *_: None)
    a = ckpt.load_tensors(src / "weights.safetensors")
    b = ckpt.load_tensors(tmp_path / "dst" / "checkpoint" / "model.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", ["ntm", "lstm", "gru", "rnn", "bilstm", "dnc", "stack_rnn", "tape_rnn"])
@pytest.mark.parametrize("task", ["copy", "repeat_copy", "sort", "associative_recall", "reverse"])
def test_every_model_trains_on_every_task(tmp_path, model, task):
    """Two steps and the comparison, for each pair: the trainer knows models and tasks only by their shapes."""
    small = {"ntm": {"controller_size": 16, "N": 16, "M": 4},
             "dnc": {"controller_size": 16, "N": 8, "W": 4, "read_heads": 2},
             "stack_rnn": {"hidden_size": 16, "stack_size": 8, "stack_cell_size": 4},
             "tape_rnn": {"hidden_size": 16, "tape_size": 8, "tape_cell_size": 4, "mlp_size": 8},
             }.get(model, {"hidden_size": 16})
    cfg = TrainConfig(task=task, model=model, model_params=small, steps=2, batch_size=4, eval_every=2,
                      eval_samples=8, compare_lengths=[2], device="cpu")
    res = train(cfg, tmp_path / "run", progress=False, log=lambda *_: None)
    assert res.steps == 2 and res.skipped == 0 and math.isfinite(res.best_bits)
    assert res.comparison[0]["length"] == 2


@pytest.mark.parametrize("model, params", [
    ("dnc", {"controller_size": 8, "N": 6, "W": 4, "read_heads": 2}),
    ("stack_rnn", {"hidden_size": 8, "stack_size": 5, "stack_cell_size": 3}),
    ("tape_rnn", {"hidden_size": 8, "tape_size": 5, "tape_cell_size": 3, "mlp_size": 8}),
])
def test_memory_models_save_and_resume_exactly(tmp_path, model, params):
    """The DNC, Stack-RNN and Tape-RNN checkpoint and resume like the others: 2 steps + 2 resumed
    give the weights and curve of 4 at once."""
    cfg = {**SMALL, "model": model, "model_params": params, "eval_every": 2, "checkpoint_every": 2}
    train(TrainConfig(**cfg, steps=4), tmp_path / "full", progress=False, log=lambda *_: None)
    train(TrainConfig(**cfg, steps=2), tmp_path / "part", progress=False, log=lambda *_: None)
    resume(tmp_path / "part", steps=4, progress=False, log=lambda *_: None)
    a, b = _metrics(tmp_path / "full"), _metrics(tmp_path / "part")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [2, 4]
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], rel=1e-6)
    wa = ckpt.load_tensors(tmp_path / "full" / "checkpoint" / "model.safetensors")
    wb = ckpt.load_tensors(tmp_path / "part" / "checkpoint" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k])


def test_resuming_a_finished_run_says_so(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    messages = []
    res = resume(run, progress=False, log=messages.append)
    assert res.steps == 5 and any("nothing to train" in m and "--steps" in m for m in messages)
    assert any(m.endswith("0 rollbacks, 0 restarts, 0 skipped steps") for m in messages)


# ---------------------------------------------------------------- what a new user ran into (each failed before the rebuild)

def _files(run):
    return {name: (run / name).read_bytes() for name in ("weights.safetensors", "metrics.jsonl", "checkpoint/state.json")}


def test_resume_without_steps_keeps_the_runs_own_limit(tmp_path, capsys):
    """`ntm train --out RUN --resume` on a run that stopped at its step limit trains nothing and
    changes nothing (it once raised the limit to the default 10,000 and overwrote the weights)."""
    from ntm.cli import main
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=10), run, progress=False, log=lambda *_: None)
    before = _files(run)
    assert main(["train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert "nothing to train: the run is at its step limit (10)" in capsys.readouterr().out
    assert _files(run) == before


@pytest.mark.parametrize("flags,needle", [(["--steps", "5"], "below the run's own limit"),
                                          (["--lr", "0.1"], "--lr: a resumed run keeps its own config")])
def test_resume_refuses_flags_it_would_ignore(tmp_path, capsys, flags, needle):
    from ntm.cli import main
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=10), run, progress=False, log=lambda *_: None)
    assert main(["train", "--out", str(run), "--resume", "--quiet", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


@pytest.mark.parametrize("line,field", [('steps = "100"', "steps"), ('lr = "0.001"', "lr"), ('seed = "0"', "seed"),
                                        ("steps = true", "steps"), ("batch_size = 3.5", "batch_size"),
                                        ("lr = nan", "lr"), ('task_params = "width"', "task_params")])
def test_a_config_value_of_the_wrong_type_is_one_line_and_writes_nothing(tmp_path, capsys, line, field):
    from ntm.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'task = "copy"\ndevice = "cpu"\n{line}\n')
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cfg) in err[0] and f"{field} must be" in err[0], err
    assert not run.exists()


def test_a_bad_name_writes_nothing(tmp_path):
    """Every look-up (task, model, curriculum) happens before the run directory is made."""
    from tasks.errors import TaskError
    for bad in ({"curriculum": "nope"}, {"model_params": {"nope": 1}}, {"task_params": {"width": 0}}):
        with pytest.raises((ConfigError, TaskError)):
            train(TrainConfig(**{**SMALL, **bad}, steps=1), tmp_path / "run", progress=False, log=lambda *_: None)
        assert not (tmp_path / "run").exists()


def test_the_polishing_message_says_how_many_steps_the_limit_leaves(tmp_path):
    messages = []
    cfg = TrainConfig(**{**SMALL, "eval_every": 1, "ema_decay": 0, "target_bits": 0.01}, steps=5, polish_steps=4000)
    train(cfg, tmp_path / "run", progress=False, log=messages.append, evaluator=Scripted([30.0, 0.005, 0.04, 0.04, 0.04, 0.04]))
    assert any("converged; polishing 3 steps (of 4,000: the step limit is 5) at lr" in m for m in messages), messages


def test_the_first_run_says_the_kernels_are_compiling(tmp_path, monkeypatch):
    from ntm.models import kernels
    tiny = {"model": "ntm", "model_params": {"controller_size": 8, "N": 8, "M": 4}}
    for cached, said in ((False, True), (True, False)):
        monkeypatch.setattr(kernels, "cached", lambda: cached)
        messages = []
        train(TrainConfig(**{**SMALL, **tiny}, steps=1), tmp_path / str(cached), progress=False, log=messages.append)
        assert any("compiling the NTM's numba kernels" in m for m in messages) == said


def test_a_one_hot_task_counts_symbols_and_says_so(tmp_path):
    messages = []
    train(TrainConfig(**{**SMALL, "task": "reverse", "task_params": {}}, steps=1), tmp_path / "run",
          progress=False, log=messages.append)
    table = next(m for m in messages if m.startswith("length"))
    assert "sym err/seq" in table and "bit err/seq" not in table


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    """config.json written, no checkpoint yet: --resume starts the same run over (it once refused,
    and so did a fresh run in the same directory)."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    train(TrainConfig(**SMALL, steps=10), full, progress=False, log=lambda *_: None)
    train(TrainConfig(**SMALL, steps=10), killed, progress=False, log=lambda *_: None)
    import shutil
    shutil.rmtree(killed / "checkpoint")
    (killed / "metrics.jsonl").write_text('{"step": 5, "torn')                 # a torn first line
    messages = []
    resume(killed, progress=False, log=messages.append)
    assert any("starting the run over from step 0" in m for m in messages)
    assert [r["bits_per_seq"] for r in _metrics(killed)] == [r["bits_per_seq"] for r in _metrics(full)]


def test_a_damaged_state_is_one_clear_error(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    path = run / "checkpoint" / "state.json"
    for key, value in (("step", "many"), ("lr", -1), ("phase", "dancing"), ("rng", {"nope": 1})):
        state = json.loads(path.read_text())
        path.write_text(json.dumps({**state, key: value}))
        with pytest.raises(CheckpointError, match="state.json"):
            resume(run, steps=10, progress=False, log=lambda *_: None)
        path.write_text(json.dumps(state))


def _quiet(*_):
    pass


def test_train_runs_in_another_process(tmp_path):
    """`train` takes only picklable values (the sweep runs cells in worker processes)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        res = pool.submit(train, TrainConfig(**SMALL, steps=5), tmp_path / "run", progress=False, log=_quiet).result()
    assert res.steps == 5 and (tmp_path / "run" / "weights.safetensors").exists()


def test_a_raised_limit_is_the_runs_own_from_then_on(tmp_path, capsys):
    from ntm.cli import main
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    assert main(["train", "--out", str(run), "--resume", "--steps", "10", "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 10
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume"]) == 0           # progress bar on: nothing to draw
    out = capsys.readouterr().out
    assert "at its step limit (10)" in out and "━" not in out
    assert main(["train", "--out", str(run), "--resume", "--steps", "7", "--quiet"]) == 2


def test_config_mistakes_name_their_file(tmp_path, capsys):
    from ntm.cli import main
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "copy"\ndevice = "cpu"\n[model_params]\ncontroler_size = 8\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "controler_size" in err
    cfg.write_text('task = "copy"\ndevice = "cpu"\ninit_from = "runs/nowhere"\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err and "init_from" in err and not (tmp_path / "r").exists()
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume", "--task", "copy"]) == 2
    assert "no run to resume" in capsys.readouterr().err


def test_weight_files_get_the_runs_permissions(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**SMALL, steps=5), run, progress=False, log=lambda *_: None)
    mode = (run / "config.json").stat().st_mode & 0o777
    assert (run / "weights.safetensors").stat().st_mode & 0o777 == mode
    assert (run / "checkpoint" / "model.safetensors").stat().st_mode & 0o777 == mode


def test_a_callback_sees_every_evaluation(tmp_path):
    from ntm.training import Callback

    class Rows(Callback):
        def __init__(self):
            self.rows, self.closed = [], False

        def on_metrics(self, trainer, row):
            self.rows.append(row["step"])

        def close(self):
            self.closed = True
    cb = Rows()
    train(TrainConfig(**SMALL, steps=10), tmp_path / "run", progress=False, log=lambda *_: None, callbacks=[cb])
    assert cb.rows == [5, 10] and cb.closed


@pytest.mark.parametrize("task, unit", [("copy", "bits/seq"), ("reverse", "symbols/seq"),
                                        ("ngrams", "excess bits/seq"), ("trace:binary_increment", "errors/seq")])
def test_messages_name_what_the_error_counts(task, unit):
    """The trainer's messages and progress bar say bits for bit-vector tasks, symbols for symbol
    tasks (a fresh-clone user saw "bits/seq" on reverse beside a table of "sym err/seq")."""
    from ntm.training.evaluation import error_unit
    from tasks.registry import get_task
    assert error_unit(get_task(task)) == unit


def test_a_symbol_tasks_run_reports_symbols_per_sequence(tmp_path):
    cfg = TrainConfig(task="reverse", model="lstm", model_params={"hidden_size": 8, "layers": 1},
                      task_params={"train_lengths": [1, 3]}, steps=2, eval_every=1, eval_samples=8,
                      polish_steps=0, compare_lengths=[3], seed=0)
    messages = []
    train(cfg, tmp_path / "run", progress=False, log=messages.append)
    assert any(" symbols/seq at step " in m for m in messages) and not any("bits/seq" in m for m in messages)


def test_freed_memory_is_reused_without_page_faults():
    """After `keep_freed_memory` (which train calls), an array freed and allocated again comes back
    from the heap: no page faults. Without it glibc maps such an array afresh or grows the heap
    again, a fault per 4 KiB (1,953 for these 8 MB): what cost up to 16 % of a training step."""
    resource = pytest.importorskip("resource")
    import numpy as np
    from ntm.training.run import keep_freed_memory
    if not keep_freed_memory():
        pytest.skip("no glibc mallopt here: the setting does not apply")

    def faults_of_a_fresh_array() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a = np.ones(2_000_000, np.float32)                       # 8 MB, written throughout
        del a
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    faults_of_a_fresh_array()                                    # the first may grow the heap
    assert faults_of_a_fresh_array() < 100


def test_drawing_batches_ahead_trains_the_same_run(tmp_path):
    """`draw_ahead` (the next batch drawn on a background thread) changes no number of a run: the
    same metrics (but the seconds), weights and final rng state."""
    runs = {}
    for ahead in (False, True):
        runs[ahead] = tmp_path / str(ahead)
        train(TrainConfig(**SMALL, steps=12, draw_ahead=ahead), runs[ahead], progress=False, log=lambda *_: None)
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}             # noqa: E731
    assert [strip(r) for r in _metrics(runs[False])] == [strip(r) for r in _metrics(runs[True])]
    wa, wb = (ckpt.load_tensors(r / "weights.safetensors") for r in (runs[False], runs[True]))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    sa, sb = (json.loads((r / "checkpoint" / "state.json").read_text())["rng"] for r in (runs[False], runs[True]))
    assert sa == sb


def test_a_batch_drawn_ahead_for_a_step_that_does_not_follow_is_given_back():
    """BatchSource: the batches of steps 0, 1, then 5 (a rule moved the state) are what drawing
    them one by one gives; the rng ends where it would have; the sampler's error reaches `take`."""
    import numpy as np
    from ntm.training.loop import BatchSource

    class Curriculum:
        def lengths(self, rng, B, at):
            return int(rng.integers(1, 5))

    def sample(rng, B, n):
        if n == "boom":
            raise ValueError("the sampler failed")
        return (n, rng.random(B).tolist())

    cfg = TrainConfig(batch_size=3, steps=10)
    plain, ahead = (BatchSource(cfg, Curriculum(), sample, np.random.default_rng(7), ahead=a) for a in (False, True))
    for step in (0, 1, 5):
        assert ahead.take(step, step / 10) == plain.take(step, step / 10)
        assert ahead.rng_state == plain.rng.bit_generator.state
    ahead.settle()
    assert ahead.rng.bit_generator.state == plain.rng.bit_generator.state

    class Broken(Curriculum):
        def lengths(self, rng, B, at):
            return "boom"
    source = BatchSource(cfg, Broken(), sample, np.random.default_rng(0), ahead=True)
    with pytest.raises(ValueError, match="sampler failed"):
        source.take(0, 0.0)


def test_the_trainer_s_rng_state_ignores_the_batch_drawn_ahead():
    """Mid-run, with a batch pending on the background thread, the state a checkpoint saves is the
    rng's after this step's batch, as without drawing ahead; a sampler that fails on the background
    thread raises in the step that wanted its batch."""
    import numpy as np
    from ntm.training.loop import Trainer
    from ntm.training.run import _assemble

    def trainer(ahead, sample=None):
        cfg = TrainConfig(**SMALL, steps=20, draw_ahead=ahead)
        parts = _assemble(cfg)
        return Trainer(cfg, parts.model, make_model=None, sample=sample or parts.task.sample,
                       curriculum=parts.curriculum, evaluator=parts.evaluator, rng=np.random.default_rng(3),
                       device=parts.device, log=lambda *_: None)
    plain, ahead = trainer(False), trainer(True)
    for _ in range(3):
        plain.train_step()
        ahead.train_step()
        assert ahead.batches.pending is not None
        assert ahead.batches.rng_state == plain.batches.rng_state == plain.rng.bit_generator.state

    calls = []

    def failing(rng, B, lengths):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("the machine failed")
        return plain.sample(rng, B, lengths)
    broken = trainer(True, failing)
    broken.train_step()                                      # its batch drawn here, the next one behind
    with pytest.raises(ValueError, match="machine failed"):
        broken.train_step()
