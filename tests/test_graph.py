"""The state graph and its analyses; runs of the reference simulator are the oracle."""

from __future__ import annotations

import os
import re
import stat

import networkx as nx
import pytest
from hypothesis import given, strategies as st

from turing import FormatError, Machine, Status, run, trace
from turing.formats import standard
from turing.graph import (render, states_that_cannot_halt, strongly_connected_components, to_dot, to_graph,
                          unreachable_states)
from turing.strategies import inputs, machines

BB4 = standard.loads("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")

# even number of 1s: accept; odd: reject; 'x' loops forever; 'dead' and 'spin' cannot be reached
PARITY = Machine(
    states=("even", "odd", "loop", "yes", "no", "dead", "spin"), input_alphabet=("1", "x"),
    tape_alphabet=("_", "1", "x"), blank="_", start="even", accept={"yes"}, reject={"no"},
    delta={("even", "1"): ("odd", "1", "R"), ("odd", "1"): ("even", "1", "R"),
           ("even", "_"): ("yes", "_", "S"), ("odd", "_"): ("no", "_", "S"),
           ("even", "x"): ("loop", "x", "S"), ("odd", "x"): ("loop", "x", "S"),
           **{("loop", a): ("loop", a, "R") for a in ("_", "1", "x")},
           **{("spin", a): ("spin", a, "L") for a in ("_", "1", "x")},
           ("dead", "1"): ("spin", "1", "R")})


def test_to_graph_nodes_and_edges():
    g = to_graph(PARITY)
    assert isinstance(g, nx.MultiDiGraph) and list(g.nodes) == list(PARITY.states)
    assert g.nodes["even"] == {"start": True, "halting": False, "kind": ""}
    assert g.nodes["yes"]["kind"] == "accept" and g.nodes["no"]["kind"] == "reject" and g.nodes["no"]["halting"]
    assert g.number_of_edges() == len(PARITY.delta)
    assert g["even"]["odd"]["1"] == {"read": "1", "write": "1", "move": "R", "label": "1→1,R"}
    assert sorted(d["label"] for _, _, d in g.edges("loop", data=True)) == ["1→1,R", "_→_,R", "x→x,R"]
    assert to_graph(BB4).nodes["Z"]["kind"] == "halt"


def test_to_graph_k_tapes():
    m = Machine(states=("q", "h"), input_alphabet=("1",), tape_alphabet=("_", "1"), blank="_", start="q", tapes=2,
                halt={"h"}, delta={("q", ("1", "_")): ("h", ("1", "1"), ("R", "S"))})
    (_, _, key, data), = to_graph(m).edges(keys=True, data=True)
    assert key == ("1", "_") and data["label"] == "(1,_)→(1,1),(R,S)"


def test_analyses_by_hand():
    assert unreachable_states(PARITY) == ("dead", "spin")
    assert states_that_cannot_halt(PARITY) == ("loop", "spin")  # 'dead' reads '_' with no transition: it stops
    assert strongly_connected_components(PARITY) == [("even", "odd"), ("loop",), ("yes",), ("no",), ("dead",),
                                                     ("spin",)]
    assert unreachable_states(BB4) == () and states_that_cannot_halt(BB4) == ()
    assert strongly_connected_components(BB4) == [("A", "B", "C", "D"), ("Z",)]
    assert states_that_cannot_halt(standard.loads("1RB0LA_1LA1RB")) == ("A", "B")   # total, no halt state
    assert states_that_cannot_halt(standard.loads("1RB---_1LA1RB")) == ()            # A reading 1: undefined


@given(st.data())
def test_analyses_agree_with_runs(data):
    """No run enters an unreachable state; a run that enters a state that cannot halt does not
    end; every state of a component reaches every other."""
    m = data.draw(machines(tapes=st.integers(1, 2), max_states=6, max_symbols=3))
    unreachable, endless = set(unreachable_states(m)), set(states_that_cannot_halt(m))
    for _ in range(3):
        w = data.draw(inputs(m, max_length=5))
        visited = {c.state for c in trace(m, w, max_steps=60)}
        assert not visited & unreachable
        if visited & endless:
            assert run(m, w, max_steps=60).status == Status.STEP_LIMIT
    g = to_graph(m)
    parts = strongly_connected_components(m)
    assert sorted(q for part in parts for q in part) == sorted(m.states)
    for part in parts:
        assert all(nx.has_path(g, p, q) for p in part for q in part)
    assert to_dot(m).count(" -> ") == 1 + len({(q, a.next_state) for (q, _), a in m.delta.items()})


def test_to_dot():
    text = to_dot(PARITY)
    assert text.startswith('digraph "machine" {') and text.rstrip().endswith("}")
    assert re.search(r'q3 \[label="yes", shape=doublecircle\];', text)
    assert re.search(r'q4 \[label="no", shape=doubleoctagon\];', text)
    assert "start -> q0;" in text
    assert 'q2 -> q2 [label="_→_,R\\n1→1,R\\nx→x,R"];' in text
    odd = Machine(states=('say "hi"', "back\\slash"), input_alphabet=(), tape_alphabet=(" ",), blank=" ",
                  start='say "hi"', delta={('say "hi"', " "): ("back\\slash", " ", "R")}, halt={"back\\slash"})
    text = to_dot(odd)
    assert 'label="say \\"hi\\""' in text and 'label="back\\\\slash"' in text and '"␣→␣,R"' in text
    assert all(line.endswith((";", "{", "}")) for line in text.splitlines())


def test_render_dot(tmp_path):
    assert render(BB4, tmp_path / "bb4.dot").read_text() == to_dot(BB4)


def test_render_image_needs_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
        render(BB4, tmp_path / "bb4.png")


def test_render_image_through_dot(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dot"  # a stand-in for Graphviz: copies its input to -o
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\ncat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert render(BB4, tmp_path / "bb4.svg").read_text() == to_dot(BB4)
    with pytest.raises(OSError, match="dot` failed"):
        render(BB4, tmp_path / "bb4.png")


def test_render_unknown_extension(tmp_path):
    with pytest.raises(FormatError, match="expected .dot"):
        render(BB4, tmp_path / "bb4.bmp")
