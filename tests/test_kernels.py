"""ntm.models.kernels: the numba episode (forward and hand-derived backward) against the NTM's reference path
(the per-equation functions under autograd), in values and gradients, with padding, several heads,
shift ranges and clipping; the batch split over threads; reuse of the saved arrays."""

import copy
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from ntm.models import fused, kernels
from ntm.models.fused import numba_loop
from ntm.errors import ConfigError
from ntm.models import build_model

C_IN, C_OUT = 5, 3


def ntm(dtype=torch.float64, seed=0, **options):
    torch.manual_seed(seed)
    options = {"N": 8, "M": 4, "controller_size": 16, "backend": "numba", **options}
    return build_model("ntm", C_IN, C_OUT, **options).to(dtype)


def right_aligned(lengths, T_in, seed=0, dtype=torch.float64):
    lengths = torch.tensor(lengths, dtype=torch.long)
    x = torch.randn(len(lengths), T_in, C_IN, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    real = torch.arange(T_in).unsqueeze(0) >= (T_in - lengths).unsqueeze(1)
    return x * real.unsqueeze(2), lengths


def values_and_grads(model, x, T_out, lengths, reference=False, seed=3):
    run = model.reference_forward if reference else model
    y = run(x, T_out, lengths)
    weights = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    return y, torch.autograd.grad((y * weights.to(y.dtype)).sum(), params)


def assert_matches_reference(model, x, T_out, lengths, rtol=1e-9, atol=1e-12):
    y, g = values_and_grads(model, x, T_out, lengths)
    y_ref, g_ref = values_and_grads(model, x, T_out, lengths, reference=True)
    torch.testing.assert_close(y, y_ref, rtol=rtol, atol=atol)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for name, a, b in zip(names, g, g_ref):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    with torch.no_grad():                                        # inference keeps no history
        torch.testing.assert_close(model(x, T_out, lengths), y_ref, rtol=rtol, atol=atol)


CONFIGS = [
    dict(),
    dict(read_heads=2, write_heads=2, shift_range=2),
    dict(read_heads=1, write_heads=3, shift_range=0),
    dict(read_heads=3, write_heads=1, N=5, M=3),
    dict(memory_init="learned"),
    dict(memory_init="random"),
    dict(weighting_init="learned"),
    dict(clip_value=0.3),                                        # many head outputs clipped
]


@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_numba_episode_equals_reference(options):
    model = ntm(**options)
    x, lens = right_aligned([5, 3, 0, 1], 5, seed=1)
    for lengths in (None, lens):
        assert_matches_reference(model, x, 4, lengths)


@pytest.mark.parametrize("backend,controller", [("numba", "lstm"), ("torch", "lstm"), ("torch", "feedforward")])
def test_the_gradient_reaches_the_inputs(backend, controller):
    """The fused node holds the input projection: d logits / d inputs equals the reference path's."""
    model = ntm(backend=backend, controller=controller)
    x, lens = right_aligned([5, 3, 0, 1], 5, seed=2)
    grads = []
    for run in (model, model.reference_forward):
        xi = x.clone().requires_grad_(True)
        y = run(xi, 3, lens)
        grads.append(torch.autograd.grad((y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum(), xi)[0])
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 9), M=st.integers(1, 5), R=st.integers(1, 3), W=st.integers(1, 3),
       shift_range=st.integers(0, 3), lengths=st.lists(st.integers(0, 4), min_size=1, max_size=4),
       T_out=st.integers(1, 4), threads=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_numba_episode_equals_reference_for_any_shape(N, M, R, W, shift_range, lengths, T_out, threads, seed):
    """Any memory size, head counts, shift range (wider than N too), padding and thread count."""
    model = ntm(seed=seed, N=N, M=M, read_heads=R, write_heads=W, shift_range=shift_range)
    x, lens = right_aligned(lengths, max(lengths), seed=seed)
    kernels.set_threads(threads)
    try:
        assert_matches_reference(model, x, T_out, lens)
    finally:
        kernels.set_threads(None)


def test_float32_is_as_close_to_float64_as_the_torch_path():
    model64 = ntm(N=16, M=6, read_heads=2)
    x, lens = right_aligned([6, 4, 6], 6, seed=2)
    y64, g64 = values_and_grads(model64, x, 6, lens, reference=True)
    errors = {}
    for backend in ("numba", "torch"):
        model = copy.deepcopy(model64).float()
        model.config.backend = backend
        y, g = values_and_grads(model, x.float(), 6, lens)
        scale = max(b.abs().max().item() for b in g64)           # relative to the largest gradient
        errors[backend] = max([(y.double() - y64).abs().max().item()] +
                             [(a.double() - b).abs().max().item() / scale for a, b in zip(g, g64)])
    assert errors["numba"] < 1e-4 and errors["numba"] < 10 * errors["torch"] + 1e-6, errors


def test_the_batch_split_over_threads_changes_nothing():
    model = ntm()
    x, lens = right_aligned([5, 3, 0, 1, 4, 2, 5], 5, seed=4)
    out = {}
    for n in (1, 2, 3, 7):
        kernels.set_threads(n)
        try:
            out[n] = values_and_grads(model, x, 3, lens)
        finally:
            kernels.set_threads(None)
    for n in (2, 3, 7):                 # BLAS may round a row differently in a matrix of another size
        torch.testing.assert_close(out[n][0], out[1][0], rtol=1e-12, atol=1e-14)
        for a, b in zip(out[n][1], out[1][1]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_inference_in_chunks_gives_the_batch_s_logits(monkeypatch, dtype):
    """A batch over `fused.INFERENCE_BYTES` of projection goes in even chunks of samples (here 13
    in 3, 3, 3 and 4, padding included): the logits of the batch in one piece, and the graph's."""
    model = ntm(dtype)
    x, lens = right_aligned([5, 3, 0, 1, 4, 2, 5, 5, 1, 3, 2, 4, 0], 5, seed=5, dtype=dtype)
    with torch.no_grad():
        whole = model(x, 3, lens)
    chunks = []
    monkeypatch.setattr(fused, "_INFERENCE_MIN", 1)
    monkeypatch.setattr(fused, "INFERENCE_BYTES", 4 * 8 * 4 * 16 * x.element_size())  # 4 samples' gx (T = 8)
    monkeypatch.setattr(fused, "numba_loop", lambda m, gx, *a, **k: chunks.append(gx.shape[1]) or numba_loop(m, gx, *a, **k))
    with torch.no_grad():
        chunked = model(x, 3, lens)
    assert sorted(chunks) == [3, 3, 3, 4]
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(chunked, whole, **tol)
    torch.testing.assert_close(chunked, model(x, 3, lens), **tol)       # with a graph: one piece


def test_saved_arrays_are_not_shared_between_live_episodes():
    """Two forward passes before either backward (the saved arrays are reused only once given back)."""
    model = ntm()
    x1, l1 = right_aligned([4, 2], 4, seed=5)
    x2, l2 = right_aligned([4, 4], 4, seed=6)
    y1_alone, g1_alone = values_and_grads(model, x1, 3, l1)
    params = [p for p in model.parameters() if p.requires_grad]
    y1, y2 = model(x1, 3, l1), model(x2, 3, l2)
    weights = torch.randn(y1.shape, dtype=y1.dtype, generator=torch.Generator().manual_seed(3))
    g1 = torch.autograd.grad((y1 * weights).sum(), params)
    torch.autograd.grad(y2.sum(), params)
    torch.testing.assert_close(y1, y1_alone, rtol=0, atol=0)
    for a, b in zip(g1, g1_alone):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@settings(max_examples=50, deadline=None)
@given(B=st.integers(0, 100), n=st.integers(1, 8))
def test_batch_parts_cover_the_batch_evenly(B, n):
    parts = kernels.batch_parts(B, n)
    assert parts[0].start == 0 and parts[-1].stop == B
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    sizes = [p.stop - p.start for p in parts]
    assert len(parts) == max(1, min(n, B)) and max(sizes) - min(sizes) <= 1



@pytest.mark.parametrize("n", [1, 2, 3])
def test_run_parts_returns_the_parts_in_order_the_first_run_by_the_caller(n):
    import threading
    out = kernels.run_parts(lambda p: (p, threading.get_ident()), list(range(n)))
    assert [p for p, _ in out] == list(range(n))
    assert out[0][1] == threading.get_ident()


def test_run_parts_raises_what_a_part_raised():
    def fn(p):
        if p == 1:
            raise ValueError("part 1")
        return p
    with pytest.raises(ValueError, match="part 1"):
        kernels.run_parts(fn, [0, 1])

@settings(max_examples=50, deadline=None)
@given(G=st.integers(1, 1000), n=st.integers(1, 8))
def test_gate_rows_cut_at_multiples_of_16(G, n):
    rows = kernels.gate_rows(G, n)
    assert len(rows) == n and rows[0].start == 0 and rows[-1].stop == G
    assert all(a.stop == b.start and a.start <= a.stop for a, b in zip(rows, rows[1:]))
    assert all(a.stop % 16 == 0 or a.stop == G for a in rows)


def _meeting(n: int):
    """A part function whose parts wait for each other (a barrier, broken after 30 s instead of hanging)."""
    import threading
    barrier = threading.Barrier(n, timeout=30)
    def fn(p):
        barrier.wait()
        return p
    return fn


def test_run_parts_together_runs_every_part_at_once_more_parts_than_cores():
    n = (os.cpu_count() or 1) + 3                          # more parts than the pool had threads
    assert kernels.run_parts(_meeting(n), list(range(n)), together=True) == list(range(n))


def test_run_parts_together_from_two_callers_at_once():
    from concurrent.futures import ThreadPoolExecutor
    n = (os.cpu_count() or 1) + 1
    with ThreadPoolExecutor(2) as callers:
        calls = [callers.submit(kernels.run_parts, _meeting(n), list(range(n)), True) for _ in range(4)]
        assert [c.result(timeout=120) for c in calls] == [list(range(n))] * 4


def test_run_parts_together_raises_the_error_of_the_part_that_broke_the_barrier():
    import threading
    barrier = threading.Barrier(3, timeout=30)
    def fn(p):
        try:
            if p == 2:
                raise ValueError("part 2")
        except BaseException:
            barrier.abort()
            raise
        barrier.wait()
        return p
    with pytest.raises(ValueError, match="part 2"):
        kernels.run_parts(fn, [0, 1, 2], together=True)


def test_backend_choice():
    assert fused.numba_applies(ntm(backend="auto"), torch.zeros(1, dtype=torch.float64))
    assert not fused.numba_applies(ntm(backend="torch"), torch.zeros(1, dtype=torch.float64))
    assert not fused.numba_applies(ntm(backend="auto", controller="feedforward"), torch.zeros(1))
    assert not fused.numba_applies(ntm(backend="auto", controller_layers=2), torch.zeros(1))
    with pytest.raises(ConfigError, match="numba"):
        ntm(backend="numba", controller="feedforward")
    with pytest.raises(ConfigError, match="numba"):
        ntm(backend="numba", controller_layers=2)
    with pytest.raises(ConfigError, match="numba"):              # float16 is not a kernel dtype
        fused.numba_applies(ntm(backend="numba"), torch.zeros(1, dtype=torch.float16))
    with pytest.raises(ConfigError, match="backend"):
        ntm(backend="fast")
    with pytest.raises(ValueError):
        kernels.set_threads(0)


def test_saved_arrays_survive_threads_checking_out_and_giving_back_at_once():
    """The batch's threads take and give back sets of the same sizes concurrently."""
    import threading
    errors = []

    def churn():
        try:
            for T in range(1, 200):
                saved, handle = kernels.saved_arrays(T % 7 + 1, 2, 3, 5, 1, 1, 2, 4, "float64", True)
                assert saved.X.shape == (T % 7 + 1, 2, 2 + 3)
                kernels.release(handle)
        except Exception as err:                                 # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@settings(max_examples=300, deadline=None)
@given(x=st.floats(-30, 30, width=32))
def test_tanh_is_accurate_in_float32_also_near_zero(x):
    import math

    import numpy as np
    got = float(kernels._tanh(np.float32(x), np.float32(1)))
    assert abs(got - math.tanh(x)) <= 3e-7 * abs(math.tanh(x)) + 1e-45


@pytest.mark.slow
def test_a_run_that_compiles_the_kernels_equals_one_that_loads_them(tmp_path):
    """Bit for bit: with fast-math flags that let LLVM reorder sums, the freshly compiled kernels and
    those loaded from numba's cache once differed in the last bits (minutes: two compiles)."""
    import os
    import subprocess
    import sys
    script = (
        "import sys, torch\n"
        "from safetensors.torch import save_file\n"
        "from ntm.models import build_model\n"
        "torch.manual_seed(0)\n"
        "m = build_model('ntm', 9, 8)\n"
        "y = m(torch.randn(8, 11, 9), 10)\n"
        "y.sum().backward()\n"
        "save_file({'y': y.detach().contiguous(), 'g': m.heads.weight.grad}, sys.argv[1])\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    from safetensors.torch import load_file
    for name in ("compiled.safetensors", "cached.safetensors"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], env=env, check=True)
    a, b = load_file(tmp_path / "compiled.safetensors"), load_file(tmp_path / "cached.safetensors")
    assert torch.equal(a["y"], b["y"]) and torch.equal(a["g"], b["g"])


_SAME_BITS = """
import hashlib, torch
from ntm.models import build_model, kernels
torch.manual_seed(0); kernels.set_threads(1)
net = build_model("ntm", 10, 8)
x = torch.rand(4, 9, 10); y = net(x, 8); y.sum().backward()
blob = y.detach().numpy().tobytes() + b"".join(p.grad.numpy().tobytes() for p in net.parameters())
print(hashlib.sha256(blob).hexdigest())
"""


@pytest.mark.slow
def test_a_fresh_compile_and_numba_s_cache_give_the_same_bits(tmp_path):
    """The kernels' reductions keep a written order (vecmath), so the code LLVM makes does not depend on
    whether the kernels were compiled in this process or loaded from the cache (a run repeats bit for
    bit either way). Two processes on an empty cache folder: the first compiles, the second loads."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    digests = [subprocess.run([sys.executable, "-c", _SAME_BITS], env=env, capture_output=True, text=True,
                              check=True).stdout.strip() for _ in range(2)]
    assert any((tmp_path / "cache").rglob("*.nbc")), "nothing was cached"
    assert digests[0] == digests[1]
