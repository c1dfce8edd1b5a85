"""The loaders are total: mutated machine files (turing.fuzzing), arbitrary text and arbitrary
bytes each give a machine or a one-line FormatError naming its line; never another exception.
A bounded version of bench/fuzz.py's campaign (which adds time and memory limits)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from turing import FormatError, Machine, fuzzing
from turing.formats import FORMATS, load

ROOT = Path(__file__).resolve().parents[1]
SEEDS = fuzzing.seed_files(drawn=20)


def assert_kept(outcome: fuzzing.Outcome) -> None:
    assert outcome.kind in ("loaded", "typed"), outcome
    assert not outcome.multiline, outcome.message
    assert not outcome.no_line, outcome.message


def test_seeds_cover_every_format_and_load():
    assert {f for f, _ in SEEDS} == set(FORMATS)
    for fmt, text in SEEDS:
        assert fuzzing.check(text, fmt).kind == "loaded", (fmt, text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SEEDS), st.randoms(use_true_random=False), st.booleans())
def test_mutated_files_load_or_fail_in_one_line(seed, rnd, detect):
    fmt, text = seed
    assert_kept(fuzzing.check(fuzzing.mutate(text, rnd, [t for _, t in SEEDS]), None if detect else fmt))


@settings(max_examples=200)
@given(st.text(), st.sampled_from((None,) + FORMATS))
def test_any_text_loads_or_fails_in_one_line(text, fmt):
    assert_kept(fuzzing.check(text, fmt))


@settings(max_examples=100)
@given(st.binary(max_size=200), st.sampled_from(["m.yaml", "m.json", "m.txt"]))
def test_any_file_loads_or_fails_in_one_line(tmp_path_factory, data, name):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    try:
        assert isinstance(load(path), Machine)
    except FormatError as err:
        assert str(err).isprintable() and err.line is not None, str(err)


def test_mutation_is_deterministic_and_changes_text():
    import random
    texts = [t for _, t in SEEDS]
    a = [fuzzing.mutate(t, random.Random(i), texts) for i, t in enumerate(texts)]
    assert a == [fuzzing.mutate(t, random.Random(i), texts) for i, t in enumerate(texts)]
    assert sum(x != t for x, t in zip(a, texts)) > len(texts) // 2


def test_bench_campaign_runs_and_counts(tmp_path):
    out = tmp_path / "fuzz.json"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--inputs", "60", "--seed", "3",
                        "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    summary = json.loads(out.read_text())
    assert sum(summary["counts"].values()) == 60 and summary["inputs"] == 60
    assert summary["counts"]["crash"] == summary["counts"]["timeout"] == 0, summary["examples"]
    assert summary["multiline_messages"] == summary["messages_without_line"] == 0, summary["examples"]
    assert p.returncode == 0 and "| **all** |" in p.stdout
