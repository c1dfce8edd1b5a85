"""The command line: the issue's commands work, and bad input is one line on stderr, exit 2."""

import json
import subprocess
import sys

import pytest

from ntm.cli import main


def run_cli(*args):
    """Run `ntm ARGS` in a fresh process: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "ntm.cli", *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("name,steps,ones", [("bb2", 6, 4), ("bb3", 21, 5), ("bb4", 107, 13)])
def test_machine_run_json_busy_beavers(name, steps, ones, capsys):
    for engine in ("reference", "fast"):
        assert main(["machine", "run", f"library:{name}", "--engine", engine, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert (out["steps"], out["nonblank"], out["halted"], out["status"]) == (steps, ones, True, "halted")
        assert {"state", "tape", "head", "seconds"} <= out.keys()


def test_machine_run_step_limit_is_reported(capsys):
    assert main(["machine", "run", "library:antihydra", "--max-steps", "1000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "step limit" and out["halted"] is False and out["steps"] == 1000


def test_machine_run_with_input_and_trace(capsys):
    assert main(["machine", "run", "library:binary_increment", "--input", "1011", "--trace",
                 "--engine", "reference"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "1100" in out


def test_machine_list_info_graph(tmp_path, capsys):
    assert main(["machine", "list"]) == 0
    assert "library:bb5" in capsys.readouterr().out
    assert main(["machine", "info", "library:bb4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["states"] == 5 and info["transitions"] == 8
    out = tmp_path / "g.dot"
    assert main(["machine", "graph", "library:bb4", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


@pytest.mark.parametrize("args,needle", [
    (["machine", "run", "library:nope"], "nope"),
    (["machine", "run", "/no/such/file.yaml"], "/no/such/file.yaml"),
    (["machine", "run", "library:binary_increment", "--input", "12"], "'2'"),
    (["machine", "run", "1RB1LB_1LA0LC_1RZ"], "row C"),
    (["train", "--task", "nope", "--steps", "1"], "nope"),
    (["train", "--task", "copy", "--steps", "1", "--polish-steps", "-1"], "polish_steps"),
])
def test_errors_are_one_line_exit_2(args, needle):
    code, out, err = run_cli(*args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ntm: error:") and needle in lines[0], err


@pytest.mark.parametrize("args,hint", [
    (["train", "--task", "cpy"], "no task named 'cpy' (did you mean copy?)"),
    (["train", "--task", "copy", "--model", "dcn"], "unknown model 'dcn' (did you mean dnc?)"),
    (["train", "--task", "trace:bb44"], "'bb44' is neither a library machine (did you mean bb4?)"),
    (["machine", "run", "library:bb44"], "no machine named 'bb44' in the library (did you mean bb4?)"),
    (["sweep", "--tasks", "revrse", "--models", "lstm", "--seeds", "0"], "no task named 'revrse' (did you mean reverse?)"),
    (["sweep", "--tasks", "copy", "--models", "lstmm", "--seeds", "0"], "no model named 'lstmm' (did you mean lstm?)"),
    (["config:batchsize = 8"], "unknown option 'batchsize' (did you mean batch_size?)"),
    (["config:curriculum = 'uniforn'"], "no curriculum named 'uniforn' (did you mean uniform?)"),
    (["config:[model_params]\nread_gbias = -4.0"], "model ntm has no option read_gbias (did you mean read_g_bias?)"),
])
def test_a_mistyped_name_gets_the_nearest_known_one(args, hint, tmp_path, capsys):
    """Every unknown-name error (task, model, machine, sweep grid, config option, curriculum) names the
    closest known name, in the one line the command prints; a name near nothing gets no hint."""
    if args[0].startswith("config:"):
        cfg = tmp_path / "c.toml"
        cfg.write_text(args[0][len("config:"):] + "\n")
        args = ["train", "--config", str(cfg)]
    args = args + (["--out", str(tmp_path / "o")] if args[0] in ("train", "sweep") else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1, err
    assert main(["train", "--task", "zzzz", "--out", str(tmp_path / "o2")]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_bad_file_names_file_and_line(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("blank: ' '\nstart state: a\ntable:\n  a:\n    ' ': {write: x, Q: b}\n  b:\n")
    code, _, err = run_cli("machine", "run", str(f))
    assert code == 2 and str(f) in err and ":5" in err and "Traceback" not in err


def test_train_flags_override_the_config_file(tmp_path, capsys):
    """`--polish-steps` (like every flag) overrides the TOML file; the run directory records it."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "copy"\nmodel = "lstm"\nbatch_size = 4\neval_every = 2\neval_samples = 8\n'
                   'compare_lengths = [2]\npolish_steps = 7\ndevice = "cpu"\n'
                   '[task_params]\nwidth = 2\n[model_params]\nhidden_size = 8\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--steps", "2", "--polish-steps", "0", "--out", str(out), "--quiet"]) == 0
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["polish_steps"], saved["steps"], saved["batch_size"]) == (0, 2, 4)
    assert "comparison with the machine" in capsys.readouterr().out


def test_a_closed_pipe_is_not_an_error(tmp_path):
    """`ntm machine list | head -1`: the reader leaves early; no traceback, exit 0."""
    p = subprocess.run(f'"{sys.executable}" -m ntm.cli machine list | head -1', shell=True, capture_output=True,
                       text=True, timeout=300)
    assert p.stdout.startswith("library:") and len(p.stdout.splitlines()) == 1
    assert p.stderr == "", p.stderr


def test_the_machine_commands_load_no_torch():
    code = ("import sys; from ntm.cli import main; main(['machine', 'run', 'library:bb3', '--json']); "
            "main(['machine', 'list']); assert 'torch' not in sys.modules, 'torch was loaded'")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr


def test_ntm_has_no_import_cycle():
    """The module graph of ntm/ (every import, lazy ones inside functions too) has no cycle."""
    import ast
    from pathlib import Path

    import networkx as nx
    root = Path(__file__).resolve().parent.parent
    graph = nx.DiGraph()
    for path in (root / "ntm").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if parts[-1] == "__init__" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                where = root / Path(*t.split("."))
                ancestor = name.startswith(t + ".")        # a parent package is always loaded first
                if t.startswith("ntm") and t != name and not ancestor and (
                        where.with_suffix(".py").exists() or (where / "__init__.py").exists()):
                    graph.add_edge(name, t)
    assert graph.number_of_edges() > 30
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, cycles[:5]


def test_a_bad_flag_is_one_line():
    """argparse's own errors (an unknown choice, a missing argument) are one line, exit 2."""
    for args in (["train", "--optimizer", "bogus"], ["compare"], ["trainn"]):
        code, _, err = run_cli(*args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "--help" in err, err
