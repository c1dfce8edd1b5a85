"""`ntm sweep`: a tiny grid runs, resumes without rerunning, and tabulates medians over seeds."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ntm.cli import main
from ntm.errors import ConfigError
from ntm.sweep import run_sweep
from ntm.sweep.grid import Cell, cell_config, parse_seeds, plan, split_workers
from ntm.sweep.protocol import CHOMSKY_EVAL_LENGTHS, CHOMSKY_TASKS
from ntm.sweep.results import read_rows
from ntm.sweep.table import cell_score, format_markdown, summarize

TINY = """steps = 4
eval_every = 2
eval_samples = 8
checkpoint_every = 2
polish_steps = 0
batch_size = 4
compare_lengths = [2, 4, 6, 8]
[task_params]
train_lengths = [1, 4]
{extra}
[model_params]
hidden_size = 8
"""
GRID = dict(tasks="copy,reverse", models="lstm", seeds="0-1")
CELLS = ["copy-lstm-seed0", "copy-lstm-seed1", "reverse-lstm-seed0", "reverse-lstm-seed1"]


def _recipes(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "copy.toml").write_text(TINY.format(extra="width = 2"))
    (d / "reverse.toml").write_text(TINY.format(extra=""))
    return d


def _quiet(*_):
    pass


def _sweep(out, recipes, **kw):
    return run_sweep(**{**GRID, **kw.pop("grid", {})}, out=out, config_dir=recipes, device="cpu",
                     progress=False, log=_quiet, **{"workers": 1, **kw})


def _mtimes(out: Path) -> dict:
    return {c: (out / "cells" / c / "comparison.json").stat().st_mtime_ns for c in CELLS}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The grid run once, in two spawned worker processes."""
    base = tmp_path_factory.mktemp("sweep")
    recipes = _recipes(base / "recipes")
    res = _sweep(base / "out", recipes, workers=2)
    return base / "out", recipes, res


@pytest.fixture
def copy_of(swept, tmp_path):
    out, recipes, _ = swept
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out", recipes


# ---------------------------------------------------------------- a grid runs
def test_grid_writes_one_row_per_cell_a_table_and_plots(swept):
    out, _, res = swept
    assert sorted(res.ran) == CELLS and not res.failed and not res.reused
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["cell"] for r in rows) == CELLS
    for r in rows:
        train = json.loads((out / "cells" / r["cell"] / "config.json").read_text())["train"]
        assert r["config_hash"] == hashlib.sha256(json.dumps(train, sort_keys=True).encode()).hexdigest()
        assert (r["task"], r["model"], r["seed"]) == (train["task"], train["model"], train["seed"])
        assert r["steps"] == 4 and r["train_lengths"] == [1, 4]
        assert [c["length"] for c in r["comparison"]] == [2, 4, 6, 8]
        assert r["converged"] == (r["sequences_to_target"] is not None)
        assert train["kernel_threads"] == split_workers(2, 4)[1]
    table = (out / "table.md").read_text()
    assert "## copy" in table and "## reverse" in table and "scored at 6, 8" in table
    assert (out / "plots" / "copy.png").stat().st_size > 0 and (out / "plots" / "reverse.png").exists()


def test_a_cell_is_an_ordinary_run_directory(swept, capsys):
    out, _, _ = swept
    assert main(["compare", str(out / "cells" / "copy-lstm-seed0"), "--lengths", "3"]) == 0
    assert "3" in capsys.readouterr().out


# ---------------------------------------------------------------- resuming
def test_a_second_run_runs_no_cell(copy_of):
    out, recipes = copy_of
    before = _mtimes(out)
    res = _sweep(out, recipes)
    assert res.ran == [] and sorted(res.reused) == CELLS and res.stale == {}
    assert _mtimes(out) == before and sorted(r["cell"] for r in read_rows(out / "results.jsonl")) == CELLS


def test_finished_cells_under_another_config_are_kept_and_named(copy_of):
    out, recipes = copy_of
    (recipes / "copy.toml").write_text(TINY.format(extra="width = 2").replace("batch_size = 4", "batch_size = 5"))
    said = []
    res = run_sweep(**GRID, out=out, config_dir=recipes, device="cpu", progress=False, log=said.append, workers=1)
    assert res.ran == [] and res.stale == {"copy-lstm-seed0": ["batch_size"], "copy-lstm-seed1": ["batch_size"]}
    assert any("2 finished cells were trained under another config (batch_size differ)" in m for m in said)


def test_a_deleted_comparison_reruns_only_that_cell(copy_of):
    out, recipes = copy_of
    before = _mtimes(out)
    (out / "cells" / "reverse-lstm-seed1" / "comparison.json").unlink()
    res = _sweep(out, recipes)
    assert res.ran == ["reverse-lstm-seed1"]
    after = _mtimes(out)
    assert [c for c in CELLS if after[c] != before[c]] == ["reverse-lstm-seed1"]
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(ln)["cell"] for ln in lines) == CELLS


def test_an_interrupted_sweep_finishes_with_one_row_per_cell(tmp_path):
    recipes = _recipes(tmp_path / "recipes")
    out = tmp_path / "out"
    _sweep(out, recipes, grid={"seeds": "0"})                 # stopped after half the grid
    _sweep(out, recipes, grid={"tasks": "copy", "seeds": "1"}, steps=2)   # a cell stopped mid-way ...
    (out / "cells" / "copy-lstm-seed1" / "comparison.json").unlink()    # ... before its comparison
    with open(out / "results.jsonl", "a") as f:
        f.write('{"cell": "copy-lstm-seed0", "torn')                      # a line torn by a kill
    res = _sweep(out, recipes)
    assert sorted(res.ran) == ["copy-lstm-seed1", "reverse-lstm-seed1"]
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(ln)["cell"] for ln in lines) == CELLS
    resumed = [json.loads(ln) for ln in lines if json.loads(ln)["cell"] == "copy-lstm-seed1"][0]
    assert resumed["steps"] == 4                                # resumed from step 2 to the new limit
    assert "resumed" in (out / "cells" / "copy-lstm-seed1" / "sweep.log").read_text()


def _kill_sweep_when(ready, out: Path, recipes: Path, workers: int, steps: int, wait: float):
    """Start the tiny grid in a child process, SIGKILL it once ready(proc) holds (or after `wait`
    seconds); returns what ready returned last."""
    code = (f"from ntm.sweep import run_sweep; run_sweep('copy,reverse', 'lstm', '0-1', out={str(out)!r}, "
            f"config_dir={str(recipes)!r}, device='cpu', workers={workers}, progress=False, steps={steps})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + wait
        while not (seen := ready(proc)) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return seen


def test_a_killed_sweep_started_again_has_one_row_per_cell(tmp_path):
    recipes = _recipes(tmp_path / "recipes")
    out = tmp_path / "out"
    second = out / "cells" / "copy-lstm-seed1" / "config.json"     # killed mid-way through the second cell (or later)
    _kill_sweep_when(lambda proc: second.exists(), out, recipes, workers=1, steps=40, wait=60)
    assert sum((out / "cells" / c / "comparison.json").exists() for c in CELLS) < len(CELLS)   # it was killed mid-grid
    res = _sweep(out, recipes, steps=40)
    assert not res.failed and sorted(res.ran + res.reused) == CELLS
    assert sorted(r["cell"] for r in read_rows(out / "results.jsonl")) == CELLS
    assert len((out / "results.jsonl").read_text().splitlines()) == 4


def _children(pid: int) -> list[int]:
    """The pool workers of process pid (Linux /proc): children running multiprocessing's spawn_main."""
    found = []
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid \
                    and b"spawn_main" in (d / "cmdline").read_bytes():
                found.append(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_a_killed_sweep_leaves_no_worker_training(tmp_path):
    """SIGKILL the sweep while two pool workers train: both end within seconds instead of training
    the cells queued to them (a restarted sweep would train those cells twice)."""
    recipes = _recipes(tmp_path / "recipes")
    out = tmp_path / "out"
    second = out / "cells" / "copy-lstm-seed1" / "config.json"

    def both_training(proc):
        found = _children(proc.pid)
        return found if len(found) == 2 and second.exists() else None
    workers = _kill_sweep_when(both_training, out, recipes, workers=2, steps=100000, wait=120)
    assert workers, "the two workers did not start"
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{w}").exists() and "Z" not in _state(w) for w in workers):
        assert time.monotonic() < deadline, f"workers {workers} still running after the sweep was killed"
        time.sleep(0.2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing made
@pytest.mark.parametrize("args, says", [
    (["--tasks", "nope", "--models", "lstm", "--seeds", "0"], "no task named 'nope'"),
    (["--tasks", "copy", "--models", "nope", "--seeds", "0"], "no model named 'nope'"),
    (["--tasks", "copy", "--models", "lstm", "--seeds", "3-1"], "ends below its start"),
    (["--tasks", "copy", "--models", "lstm", "--seeds", "0", "--protocol", "chomsky"], "not 'copy'"),
    (["--tasks", "copy", "--models", "lstm", "--seeds", "0", "--steps", "0"], "steps must be >= 1"),
    (["--tasks", "copy", "--models", "lstm", "--seeds", "0", "--config-dir", "/nonexistent"], "not a directory"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, says):
    assert main(["sweep", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "out").exists()


def test_a_bad_recipe_fails_before_any_cell(tmp_path):
    recipes = _recipes(tmp_path / "recipes")
    (recipes / "reverse-lstm.toml").write_text("[model_params]\nhidden_size = -3\n")
    with pytest.raises(ConfigError, match="reverse"):
        _sweep(tmp_path / "out", recipes)
    assert not (tmp_path / "out").exists()


def test_seed_ranges():
    assert parse_seeds("0-2,7") == [0, 1, 2, 7] and parse_seeds("5") == [5] and parse_seeds("2,0,2") == [0, 2]
    for bad in ("3-1", "-1", "a", "1-", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_the_recipe_for_task_and_model_wins_and_overrides_apply(tmp_path):
    recipes = _recipes(tmp_path)
    (recipes / "copy-gru.toml").write_text("lr = 0.01\n")
    gru = cell_config(Cell("copy", "gru", 3), config_dir=recipes, steps=7, max_seconds=2.5, device="cpu")
    lstm = cell_config(Cell("copy", "lstm", 3), config_dir=recipes)
    assert (gru.lr, gru.steps, gru.max_seconds, gru.seed, gru.task_params) == (0.01, 7, 2.5, 3, {})
    assert lstm.task_params == {"width": 2, "train_lengths": [1, 4]} and lstm.steps == 4


def test_every_shipped_recipe_gives_a_valid_config_and_model():
    """configs/sweep/: each TASK-MODEL.toml loads under the protocol it was chosen with and builds
    its model (an edited recipe with a mistyped option fails here, not in a sweep's first cell)."""
    from ntm.models import build_model
    from ntm.sweep.grid import RECIPES
    from ntm.training.run import model_options
    from tasks.registry import get_task
    files = sorted(RECIPES.glob("*-*.toml"))
    assert len(files) >= 20
    for path in files:
        task, model = path.stem.rsplit("-", 1)
        cfg = cell_config(Cell(task, model, 0), config_dir=RECIPES,
                          protocol="chomsky" if task in CHOMSKY_TASKS else None, steps=1)
        t = get_task(task, **cfg.task_params)
        build_model(model, t.input_size, t.output_size, **model_options(cfg, t))


def test_the_chomsky_protocol_sets_the_papers_training_and_our_evaluation_lengths():
    cells, _ = plan("reverse,duplicate", "lstm", "0", protocol="chomsky", steps=10)
    for _, cfg in cells:
        assert cfg.task_params["train_lengths"] == [1, 40] and cfg.clip_norm == 1.0 and cfg.optimizer == "adam"
        assert cfg.compare_lengths == [40, *CHOMSKY_EVAL_LENGTHS] and min(CHOMSKY_EVAL_LENGTHS) == 41


def test_the_chomsky_protocol_gives_stack_tape_and_ntm_a_cell_per_evaluated_symbol(tmp_path):
    """A 30-cell stack, a 40-cell tape or the NTM's 128 rows cannot hold an input of 500: the
    protocol sizes the stack and tape (not their weights) to the longest evaluated length, unless the
    recipe sets them; the NTM trains with its own rows and is compared with that many."""
    (tmp_path / "reverse-tape_rnn.toml").write_text("[model_params]\ntape_size = 64\n")
    cells, _ = plan("reverse", "lstm,stack_rnn,tape_rnn,ntm", "0", protocol="chomsky", steps=10, config_dir=tmp_path)
    params = {cell.model: cfg.model_params for cell, cfg in cells}
    rows = {cell.model: cfg.compare_memory_rows for cell, cfg in cells}
    assert params["stack_rnn"]["stack_size"] == max(CHOMSKY_EVAL_LENGTHS) + 1
    assert "N" not in params["ntm"] and rows["ntm"] == max(CHOMSKY_EVAL_LENGTHS) + 1
    assert params["tape_rnn"]["tape_size"] == 64 and "stack_size" not in params["lstm"]
    assert rows["lstm"] is rows["stack_rnn"] is rows["tape_rnn"] is None


# ---------------------------------------------------------------- the table
def _row(model, seed, beyond, at_hi, converged, seqs=None):
    comp = [{"length": 4, "seq_accuracy": 1.0, "symbol_accuracy": 1.0, "bit_errors_per_seq": at_hi}]
    comp += [{"length": n, "seq_accuracy": a, "symbol_accuracy": a / 2, "bit_errors_per_seq": 9.0}
             for n, a in zip((6, 8), beyond)]
    return {"task": "copy", "model": model, "seed": seed, "cell": f"copy-{model}-seed{seed}", "train_lengths": [1, 4],
            "comparison": comp, "converged": converged, "sequences_to_target": seqs, "budget_steps": 4,
            "batch_size": 4, "max_seconds": None}


def test_the_table_reports_medians_and_maxima_over_seeds():
    rows = [_row("lstm", 0, (0.2, 0.4), 1.0, False), _row("lstm", 1, (0.9, 0.7), 3.0, True, 800),
            _row("lstm", 2, (0.5, 0.5), 0.5, True, 400), _row("ntm", 0, (1.0, 1.0), 0.0, True, 100)]
    assert cell_score(rows[0]) == pytest.approx(0.3)
    lstm, ntm = summarize(rows)
    assert lstm["median_score"] == pytest.approx(0.5) and lstm["max_score"] == pytest.approx(0.8)
    assert lstm["median_errors"] == 1.0 and lstm["reached"] == 2 and lstm["median_sequences_to_target"] == 600
    assert lstm["lengths"] == [6, 8] and ntm["seeds"] == 1
    assert summarize(rows, "chomsky")[0]["median_score"] == pytest.approx(0.25)
    md = format_markdown([lstm, ntm])
    assert "| lstm | 50.0 | 80.0 | 1.000 | 2/3 | 600 |" in md and "scored at 6, 8" in md


# ---------------------------------------------------------------- learning rates and chosen recipes
def test_learning_rates_parse_and_bad_ones_are_one_clear_error():
    from ntm.sweep.grid import parse_lrs
    assert parse_lrs("1e-3, 3e-4,1e-3") == [1e-3, 3e-4] and parse_lrs(None) is None and parse_lrs(" ") is None
    for bad in ("0", "-1e-3", "fast", "inf", "nan", "1e-3,x"):
        with pytest.raises(ConfigError, match="--lrs"):
            parse_lrs(bad)


def test_an_lr_axis_makes_one_cell_per_lr_and_sets_it_over_the_recipe(tmp_path):
    recipes = _recipes(tmp_path)
    (recipes / "copy-gru.toml").write_text("lr = 0.01\n")
    cells, _ = plan("copy", "lstm,gru", "0-1", lrs="1e-3,3e-4", config_dir=recipes)
    assert [c.name for c, _ in cells][:4] == ["copy-lstm-lr0.001-seed0", "copy-lstm-lr0.001-seed1",
                                              "copy-lstm-lr0.0003-seed0", "copy-lstm-lr0.0003-seed1"]
    assert sorted({(c.model, cfg.lr) for c, cfg in cells}) == [("gru", 3e-4), ("gru", 1e-3), ("lstm", 3e-4), ("lstm", 1e-3)]
    assert all(cfg.lr == c.lr for c, cfg in cells) and Cell("copy", "lstm", 0).name == "copy-lstm-seed0"


def _lr_row(model, lr, seed, beyond):
    return {**_row(model, seed, beyond, 0.0, False), "lr": lr, "lr_axis": lr,
            "cell": f"copy-{model}-lr{lr:g}-seed{seed}"}


def test_the_table_gives_each_lr_a_row_and_names_the_best_by_median_not_best_seed():
    from ntm.sweep.table import best_lrs
    rows = [_lr_row("lstm", 1e-3, s, b) for s, b in enumerate([(1.0, 1.0), (0.0, 0.0), (0.0, 0.0)])]   # one lucky seed
    rows += [_lr_row("lstm", 3e-4, s, (0.5, 0.5)) for s in range(3)]
    rows += [_lr_row("ntm", lr, 0, (0.2, 0.2)) for lr in (1e-3, 3e-4)]                                 # a tie
    sums = summarize(rows)
    assert [s["label"] for s in sums] == ["lstm lr 0.001", "lstm lr 0.0003", "ntm lr 0.001", "ntm lr 0.0003"]
    best = best_lrs(sums)
    assert best[("copy", "lstm")]["lr"] == 3e-4 and best[("copy", "ntm")]["lr"] == 1e-3
    text = format_markdown(sums)
    assert "| lstm lr 0.0003 |" in text and "## Best learning rate" in text and "| copy | lstm | 0.0003 | 50.0 |" in text
    assert best_lrs(summarize([_row("lstm", 0, (1.0, 1.0), 0.0, True)])) == {}


def test_written_recipes_keep_the_cells_recipe_and_set_the_best_lr(tmp_path):
    from ntm.sweep.recipes import write_recipes
    from ntm.training.config import TrainConfig
    recipes = _recipes(tmp_path / "src")
    rows = [_lr_row("lstm", lr, s, (a, a)) for lr, a in ((1e-3, 0.1), (3e-4, 0.9)) for s in range(2)]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "copy-lstm.toml").write_text("lr = 5.0\n")                 # replaced
    [path] = write_recipes(summarize(rows), tmp_path / "out", recipes)
    cfg = TrainConfig.from_toml(path)
    assert path.name == "copy-lstm.toml" and cfg.lr == 3e-4
    assert cfg.task_params == {"width": 2, "train_lengths": [1, 4]} and cfg.model_params == {"hidden_size": 8}
    assert path.read_text().startswith("# Chosen by `ntm sweep --lrs`") and "0.0003: 90.0" in path.read_text()
    with pytest.raises(ConfigError, match="--write-recipes"):
        write_recipes(summarize(rows), path, recipes)


def test_write_recipes_needs_an_lr_axis_and_a_tiny_lr_sweep_writes_them(tmp_path):
    recipes = _recipes(tmp_path / "recipes")
    with pytest.raises(ConfigError, match="--lrs"):
        _sweep(tmp_path / "a", recipes, grid=dict(tasks="copy", seeds="0"), write_recipes=tmp_path / "r")
    assert not (tmp_path / "a").exists()
    res = _sweep(tmp_path / "b", recipes, grid=dict(tasks="copy", seeds="0"), lrs=[1e-2, 1e-3],
                 write_recipes=tmp_path / "r")
    assert sorted(res.ran) == ["copy-lstm-lr0.001-seed0", "copy-lstm-lr0.01-seed0"] and not res.failed
    assert [p.name for p in res.recipes] == ["copy-lstm.toml"]
    assert "## Best learning rate" in res.table.read_text()


def test_the_table_says_which_lengths_were_beyond_a_models_memory():
    row = _row("ntm", 0, (1.0, 0.0), 0.0, True)
    row["comparison"][2]["exceeds_memory"] = True                                  # length 8
    [s] = summarize([row])
    assert s["beyond_memory"] == [8]
    assert "Scored beyond the model's memory" in format_markdown([s]) and "ntm at 8" in format_markdown([s])
    assert "beyond the model's memory" not in format_markdown(summarize([_row("lstm", 0, (1.0, 1.0), 0.0, True)]))


def test_the_best_lr_tie_goes_to_fewer_errors_and_a_bad_recipe_dir_fails_before_any_cell(tmp_path):
    from ntm.sweep.table import best_lrs
    a, b = _lr_row("lstm", 1e-2, 0, (0.0, 0.0)), _lr_row("lstm", 1e-3, 0, (0.0, 0.0))
    a["comparison"][0]["bit_errors_per_seq"], b["comparison"][0]["bit_errors_per_seq"] = 80.0, 70.0
    assert best_lrs(summarize([a, b]))[("copy", "lstm")]["lr"] == 1e-3
    recipes = _recipes(tmp_path / "recipes")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="--write-recipes"):
        _sweep(tmp_path / "out", recipes, grid=dict(tasks="copy", seeds="0"), lrs=[1e-3], write_recipes=tmp_path / "file")
    assert not (tmp_path / "out").exists()
