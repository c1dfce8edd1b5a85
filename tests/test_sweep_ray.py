"""`ntm sweep --address`: the Ray path. Bad input is one line and exit 2 without Ray installed;
the slow test runs a grid on a local Ray cluster that loses a node mid-cell (needs the cluster
extra: ``pip install -e '.[cluster]'``; ``python -m pytest -m slow tests/test_sweep_ray.py``)."""

import json
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import ntm.sweep.sweep
from ntm.cli import build_parser, main
from ntm.errors import ClusterError, DivergenceError
from ntm.sweep import run_sweep
from ntm.sweep.cluster import RETRIES, _error, host_port

GRID = ["--tasks", "copy", "--models", "lstm", "--seeds", "0"]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails(tmp_path, capsys, *args) -> str:
    """The one stderr line of a sweep that must fail before writing anything."""
    assert main(["sweep", *GRID, *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ntm: error: ")
    assert not (tmp_path / "out").exists()
    return err


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing made
def test_without_ray_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)               # `import ray` raises ImportError
    for address in ("local", f"127.0.0.1:{_closed_port()}"):    # before the network is tried
        assert "install the cluster extra: pip install -e '.[cluster]'" in _fails(tmp_path, capsys, "--address", address)


def test_an_unreachable_address_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace())     # Ray present: the network is checked
    port = _closed_port()           # the check's bound is CONNECT_TIMEOUT (3 s); no wall-clock assert here
    assert f"cannot reach 127.0.0.1:{port}" in _fails(tmp_path, capsys, "--address", f"127.0.0.1:{port}")


@pytest.mark.parametrize("address", ["nohost", "host:99999", "host:", ":6379", "ray://host"])
def test_a_malformed_address_is_named(tmp_path, capsys, address):
    assert "expected HOST:PORT, ray://HOST:PORT, auto or local" in _fails(tmp_path, capsys, "--address", address)


def test_ray_init_refusing_is_one_line(tmp_path, capsys, monkeypatch):
    def init(**_):
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify one")
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", fake)
    err = _fails(tmp_path, capsys, "--address", "auto")
    assert "--address auto: Ray could not connect: Could not find any running Ray instance. Please" in err


def test_workers_are_for_local_sweeps(tmp_path, capsys):
    assert "--workers is for local sweeps" in _fails(tmp_path, capsys, "--address", "local", "--workers", "2")


def test_the_library_raises_cluster_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace())     # Ray present: the network is checked
    with pytest.raises(ClusterError, match="cannot reach"):
        run_sweep("copy", "lstm", "0", out=tmp_path / "out", address=f"127.0.0.1:{_closed_port()}", progress=False)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- parsing
def test_addresses_parse():
    assert host_port("10.0.0.5:6379") == ("10.0.0.5", 6379) and host_port("ray://head:10001") == ("head", 10001)
    assert host_port("[::1]:6379") == ("::1", 6379) and host_port("auto") is None and host_port("local") is None


def test_the_cli_hands_the_address_to_run_sweep(monkeypatch, tmp_path):
    assert build_parser().parse_args(["sweep", *GRID, "--out", "o"]).address is None
    seen = {}

    def fake(*_, **kw):
        seen.update(kw)
        return ntm.sweep.sweep.SweepResult(tmp_path)
    monkeypatch.setattr(ntm.sweep.sweep, "run_sweep", fake)
    assert main(["sweep", *GRID, "--address", "head:6379", "--out", str(tmp_path)]) == 0
    assert seen["address"] == "head:6379" and seen["workers"] is None


def test_a_cells_error_is_its_own_and_a_dead_worker_says_how_to_resume():
    class RayError(Exception):
        pass

    class RayTaskError(RayError):
        def __init__(self, cause):
            self.cause = cause

    class WorkerCrashedError(RayError):
        pass

    def ray_with(error):
        def get(_):
            raise error
        return types.SimpleNamespace(get=get, exceptions=types.SimpleNamespace(RayError=RayError,
                                                                               RayTaskError=RayTaskError))
    assert _error(types.SimpleNamespace(get=lambda _: None), "ref") is None
    assert _error(ray_with(RayTaskError(DivergenceError("NaN at\nstep 7"))), "ref") == "DivergenceError: NaN at step 7"
    said = _error(ray_with(WorkerCrashedError("the worker died")), "ref")
    assert said.startswith("WorkerCrashedError: the worker died") and f"after {RETRIES} retries" in said
    assert "run the sweep again to resume this cell" in said


# ---------------------------------------------------------------- a Ray cluster that loses a node
RECIPE = """steps = 300
eval_every = 20
eval_samples = 16
checkpoint_every = 10
polish_steps = 0
batch_size = 8
compare_lengths = [2, 4, 6, 8]
[task_params]
train_lengths = [1, 4]
width = 2
[model_params]
hidden_size = 16
"""
CELLS = ["copy-lstm-seed0", "copy-lstm-seed1", "copy-rnn-seed0", "copy-rnn-seed1"]
SWEEP = ["--tasks", "copy", "--models", "lstm,rnn", "--seeds", "0-1", "--device", "cpu", "--quiet"]


def _mid_cell(out: Path) -> list[str]:
    """Cells with a checkpoint and no comparison yet."""
    return [c for c in CELLS if (out / "cells" / c / "checkpoint" / "state.json").exists()
            and not (out / "cells" / c / "comparison.json").exists()]


def _deterministic(out: Path) -> dict:
    """Per cell, what a seed fixes exactly (checked: equal across processes and across a kill and
    resume): the comparison rows, best bits, steps taken, whether it converged."""
    rows = [json.loads(ln) for ln in (out / "results.jsonl").read_text().splitlines()]
    return {r["cell"]: (r["comparison"], r["best_bits"], r["steps"], r["converged"]) for r in rows}


def _sweep_losing_a_node(out: Path, recipes: Path) -> subprocess.CompletedProcess:
    """`ntm sweep --address` on a head (no CPUs) and two one-CPU worker nodes; one node is killed
    while both run a cell past its first checkpoint."""
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        proc = subprocess.Popen([sys.executable, "-m", "ntm.cli", "sweep", *SWEEP, "--config-dir", str(recipes),
                                 "--address", cluster.address, "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while len(_mid_cell(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.remove_node(nodes[0], allow_graceful=False)      # its cell dies mid-way
        stdout, stderr = proc.communicate(timeout=300)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_a_ray_sweep_losing_a_node_mid_cell_equals_a_local_sweep(tmp_path):
    pytest.importorskip("ray")
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "copy.toml").write_text(RECIPE)
    local = run_sweep("copy", "lstm,rnn", "0-1", out=tmp_path / "local", config_dir=recipes, device="cpu",
                      workers=2, progress=False, log=lambda *_: None)
    assert sorted(local.ran) == CELLS and not local.failed
    done = _sweep_losing_a_node(tmp_path / "ray", recipes)
    assert done.returncode == 0, done.stderr
    assert "4 cells run, 0 already finished, 0 failed" in done.stdout
    out = tmp_path / "ray"
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(ln)["cell"] for ln in lines) == CELLS          # exactly one row per cell
    logs = {c: (out / "cells" / c / "sweep.log").read_text() for c in CELLS}
    assert all(log.count("comparison with the machine") == 1 for log in logs.values())   # none finished twice
    assert any("resumed" in log for log in logs.values())                  # the killed cell resumed
    assert _deterministic(out) == _deterministic(tmp_path / "local")
