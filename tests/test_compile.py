"""The compiled NTM (`ntm.compiler`) against the reference simulator, step by step.

The library's copy, reverse, duplicate and binary_add have two tapes; the compiler takes k-tape
machines (k read and k write heads), so they are compiled as they are, over the bits {0, 1}.
"""

import argparse
import json

import pytest
import torch
from hypothesis import given, strategies as st

import turing
from turing import library
from turing.errors import InputError
from turing.formats import standard
from ntm.cli import compile as cli_compile
from ntm import compiler as nc
from ntm.errors import ConfigError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with nc.one_thread():                                        # batch-1 steps: threads only cost
        yield


def machine(name):
    return library.get(name, alphabet=("0", "1")) if name == "copy" else library.get(name)


def words(name, max_len):
    return st.lists(st.sampled_from(machine(name).input_alphabet), max_size=max_len)


def assert_runs_exactly(m, word, max_steps, dtype=torch.float64):
    """Every configuration of the machine's run equals the compiled NTM's, memory = the span needed."""
    N = nc.needed_rows(m, word, max_steps)
    configs = list(turing.trace(m, word, max_steps=max_steps))
    decoded = nc.trace_compiled(m, word, len(configs) - 1, memory_rows=N, dtype=dtype)
    for want, got in zip(configs, decoded, strict=True):
        assert nc.normalize(got) == nc.normalize(want), f"step {want.step}, N = {N}"


# ---------------------------------------------------------------- properties: every step equal, float64

MAX_LEN = {"copy": 8, "reverse": 8, "duplicate": 6, "binary_increment": 10, "binary_add": 9,
           "palindrome": 8}


@pytest.mark.parametrize("name", sorted(MAX_LEN))
def test_library_machine_runs_exactly(name):
    m = machine(name)

    @given(words(name, MAX_LEN[name]))
    def check(word):
        assert_runs_exactly(m, word, 500)
    check()


@given(st.data())
def test_binary_add_on_well_formed_sums(data):
    a, b = (data.draw(st.text("01", max_size=5)) for _ in range(2))
    m = library.get("binary_add")
    assert_runs_exactly(m, list(a) + ["+"] + list(b), 500)
    assert "".join(turing.run(m, list(a) + ["+"] + list(b)).output) == bin(int(a or "0", 2) + int(b or "0", 2))[2:]


@pytest.mark.parametrize("name", ["bb2", "bb3", "bb4"])
@given(ones=st.integers(0, 4))
def test_busy_beavers_run_exactly_on_any_tape(name, ones):
    assert_runs_exactly(library.get(name), "1" * ones, 150)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_bb4_identical_for_all_107_steps(dtype):
    r = nc.lockstep(library.get("bb4"), "", 1000, memory_rows=14, dtype=dtype)
    assert (r.identical, r.steps_compared, r.first_divergence, r.status) == (True, 107, None, "halted")
    assert r.max_leakage()["weighting"] == 0.0                     # exactly one-hot, both precisions


def test_forward_emits_the_state_trajectory():
    """`forward` (the fused training path) of the compiled NTM gives the machine's states."""
    m, word = library.get("palindrome"), "01110"
    model = nc.compile_machine(m, 8)
    states = [c.state for c in turing.trace(m, word)]
    with torch.no_grad():
        logits = model(nc.encode_input(m, word), T_out=len(states) - 1)
    assert [m.states[i] for i in logits[0].argmax(-1).tolist()] == states[1:]


# ---------------------------------------------------------------- it can fail, and says where and how

def under_head(c):
    i = c.head - c.origins[0]
    return c.tape[i] if 0 <= i < len(c.tape) else c.blank


def test_a_wrong_transition_is_caught_at_its_first_use():
    right, wrong = standard.loads("1RB1LB_1LA1RZ"), standard.loads("1RB1LB_0LA1RZ")  # δ(B, 0) writes 0
    first_use = next(c.step for c in turing.trace(right) if (c.state, under_head(c)) == ("B", "0"))
    r = nc.lockstep(right, "", 100, model=nc.compile_machine(wrong, 8))
    assert not r.identical and r.first_divergence == first_use + 1
    assert any(d.startswith("cells") for d in r.differences)


def test_low_gain_diverges_and_leakage_is_recorded():
    r = nc.lockstep(library.get("antihydra"), "", 3000, memory_rows=82, gain=12, sharpening=1)
    assert r.first_divergence is not None and not r.identical and r.differences
    assert r.leakage.shape == (r.steps_compared + 1, 3)
    assert r.leakage[-1, 0] > 100 * r.leakage[10, 0] > 0        # the weighting blurs as it goes


def test_memory_bound_is_reported_not_corrupted():
    r = nc.lockstep(library.get("loop"), "", 100, memory_rows=10)  # walks right forever
    assert (r.identical, r.memory_exhausted, r.steps_compared, r.first_divergence) == (False, 10, 9, None)
    r = nc.lockstep(library.get("binary_increment"), "1011", 100, memory_rows=3)  # the input alone
    assert (r.identical, r.memory_exhausted) == (False, 0)


# ---------------------------------------------------------------- size and errors

@pytest.mark.parametrize("name", ["bb4", "palindrome", "reverse", "binary_add"])
def test_controller_size_is_states_times_symbols_to_the_k(name):
    m = machine(name)
    units = len(m.states) * len(m.tape_alphabet) ** m.tapes + len(m.input_alphabet) + 3 * m.tapes
    model = nc.compile_machine(m, 5)
    assert len(nc.layout(m).units) == model.config.controller_size == units


def test_weights_do_not_depend_on_memory_size():
    small, large = (nc.compile_machine(library.get("binary_add"), N) for N in (5, 50))
    for (name, a), (_, b) in zip(small.named_parameters(), large.named_parameters(), strict=True):
        assert torch.equal(a, b), name


def test_errors():
    with pytest.raises(ConfigError, match="memory_rows"):
        nc.compile_machine(library.get("bb2"), 2)
    with pytest.raises(ConfigError, match="controller units"):
        nc.compile_machine(library.get("copy"), 8)                # 256 symbols, two tapes
    with pytest.raises(ConfigError, match="sharpening"):
        nc.compile_machine(library.get("bb2"), 8, sharpening=0.5)
    with pytest.raises(InputError):
        nc.lockstep(library.get("palindrome"), "012")


# ---------------------------------------------------------------- ntm compile

def cli(argv, capsys):
    parser = argparse.ArgumentParser()
    cli_compile.register(parser.add_subparsers())
    args = parser.parse_args(["compile", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_bb4_json(capsys):
    code, out = cli(["library:bb4", "--json"], capsys)
    d = json.loads(out)
    assert (code, d["identical"], d["steps_compared"], d["first_divergence"]) == (0, True, 107, None)


def test_cli_reports_memory_bound_and_plots(capsys, tmp_path):
    code, out = cli(["library:bb4", "--memory", "8", "--plot", str(tmp_path / "l.png")], capsys)
    assert code == 1 and "memory exhausted: at step 59" in out
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_cli_reports_divergence(capsys):
    code, out = cli(["library:antihydra", "--max-steps", "3000", "--gain", "12", "--sharpening", "1",
                     "--dtype", "float32", "--json"], capsys)
    d = json.loads(out)
    assert code == 1 and d["identical"] is False and isinstance(d["first_divergence"], int)
