"""bench/bench_gpu.py (the GPU check of issue 21), dry run on the CPU: the JSON's structure, the
CPU-vs-CPU agreement passes, a failing part is recorded while the others still run. The training
part (10 s in the dry run) is left out here; bench/README.md "GPU check" says how it was run."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_gpu():
    """The script imported by path; torch's thread count restored (run_case sets it)."""
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)
    from ntm.models import kernels
    kernels.set_threads(None)


def run(module, tmp_path, *extra):
    assert module.main(["--dry-run", "--out", str(tmp_path), "--batches", "2", "--iters", "1", *extra]) == 0
    return json.loads((tmp_path / "gpu.json").read_text())


def test_dry_run_agreement_and_throughput(bench_gpu, tmp_path):
    r = run(bench_gpu, tmp_path, "--parts", "agreement,throughput")
    assert r["dry_run"] and r["environment"]["device"] == "cpu" and r["environment"]["cpus"] >= 1
    assert r["train"] == {"status": "not run"}
    a = r["agreement"]
    assert a["passed"] and [row["model"] for row in a["rows"]] == ["ntm", "lstm"]
    assert "cpu_torch_backend_vs_numba" in a["rows"][0]
    for row in a["rows"]:
        for key, d in row.items():
            if key == "model":
                continue
            assert d["passed"] and 0 <= d["tolerance_used"] <= 1, (row["model"], key, d)
            assert d["logits_max_abs"] < 1e-5 and d["grad_max_rel"] < 1e-4
    rows = r["throughput"]["rows"]
    assert [(x["model"], x["batch"], x["device"]) for x in rows] == [("ntm", 2, "cpu"), ("lstm", 2, "cpu")]
    assert all(x["seq_per_s"] > 0 and x["error"] is None for x in rows)
    assert r["wall_seconds"] >= 0 and r["throughput"]["part_seconds"] >= 0


def test_a_failing_part_is_recorded_and_the_rest_runs(bench_gpu, tmp_path, monkeypatch):
    def broken(args):
        raise RuntimeError("planted")
    monkeypatch.setattr(bench_gpu, "part_agreement", broken)
    r = run(bench_gpu, tmp_path, "--parts", "agreement,throughput")
    assert r["agreement"]["error"] == "RuntimeError: planted" and "planted" in r["agreement"]["traceback"]
    assert len(r["throughput"]["rows"]) == 2


def test_strict_fp32_restores_the_settings(bench_gpu):
    before = bench_gpu.tf32_settings()
    with bench_gpu.strict_fp32():
        assert "tf32" not in bench_gpu.tf32_settings().values()
    assert bench_gpu.tf32_settings() == before


def test_unknown_part_is_refused(bench_gpu, tmp_path):
    with pytest.raises(SystemExit):
        bench_gpu.main(["--dry-run", "--out", str(tmp_path), "--parts", "agreement,nope"])


@pytest.mark.slow
def test_dry_run_compiled_part(bench_gpu, tmp_path):
    """The compiled NTM's part (torch.compile on the CPU here: ~1-2 minutes of compiling): it agrees
    with the numba kernels and trains at some speed."""
    r = run(bench_gpu, tmp_path, "--parts", "compiled", "--compiled-batches", "2")
    c = r["compiled"]
    assert "error" not in c, c.get("traceback")
    assert c["agreement"]["passed"] and c["agreement"]["seconds_with_compile"] > 0
    assert [(x["model"], x["batch"]) for x in c["rows"]] == [("ntm", 2)] and c["rows"][0]["seq_per_s"] > 0
