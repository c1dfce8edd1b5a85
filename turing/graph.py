"""A machine's state graph (its state diagram, Sipser Fig. 3.8) and what can be read off it.

`to_graph` gives a networkx ``MultiDiGraph``: one node per state, one edge per transition
δ(q, a) = (q', b, m), from q to q', keyed by the symbol read. The analyses look at this graph
only, never at the tape, so each answers a question about *every* input at once, soundly in one
direction:

- `unreachable_states`: states no run can ever enter (no path from the start state).
- `states_that_cannot_halt`: states from which every run goes on forever.
- `strongly_connected_components`: the states that can come back to each other (loops).

`to_dot` writes Graphviz DOT; `render` writes .dot, or .png/.svg/.pdf through Graphviz's `dot`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import networkx as nx

from .errors import FormatError
from .machine import Machine


def _kind(m: Machine, q: str) -> str:
    return "accept" if q in m.accept else "reject" if q in m.reject else "halt" if q in m.halt else ""


def label(m: Machine, read, action) -> str:
    """An edge's label, ``read→write,move`` (e.g. ``0→1,R``); k tapes: ``(0,_)→(1,_),(R,S)``."""
    if m.tapes == 1:
        return f"{read}→{action.write},{action.move}"
    t = lambda xs: "(" + ",".join(xs) + ")"  # noqa: E731
    return f"{t(read)}→{t(action.write)},{t(action.move)}"


def to_graph(m: Machine) -> nx.MultiDiGraph:
    """The state graph.

    Returns:
        A ``MultiDiGraph`` with graph attribute ``name``; node attributes ``start`` (bool),
        ``halting`` (bool) and ``kind`` ("accept", "reject", "halt", or "" for a state that
        does not halt); per transition one edge q -> q' with key = the symbol read (a k-tuple
        with k tapes) and attributes ``read``, ``write``, ``move`` and ``label`` (see `label`).
        Nodes come in the machine's state order, edges in state then tape-alphabet order.
    """
    g = nx.MultiDiGraph(name=m.name)
    for q in m.states:
        g.add_node(q, start=q == m.start, halting=m.is_halting(q), kind=_kind(m, q))
    order = {q: i for i, q in enumerate(m.states)}
    code = {a: i for i, a in enumerate(m.tape_alphabet)}
    codes = (lambda a: (code[a],)) if m.tapes == 1 else (lambda a: tuple(code[x] for x in a))
    for (q, read), act in sorted(m.delta.items(), key=lambda kv: (order[kv[0][0]], codes(kv[0][1]))):
        g.add_edge(q, act.next_state, key=read, read=read, write=act.write, move=act.move,
                   label=label(m, read, act))
    return g


# ---------------------------------------------------------------- analysis
def unreachable_states(m: Machine) -> tuple[str, ...]:
    """States with no path from the start state, in the machine's order.

    No run on any input ever enters one (the graph allows every path a run can take, and more).
    """
    seen = nx.descendants(to_graph(m), m.start) | {m.start}
    return tuple(q for q in m.states if q not in seen)


def states_that_cannot_halt(m: Machine) -> tuple[str, ...]:
    """States from which no path leads to a halting state or to a *partial* state (one where
    δ(q, a) is undefined for some tape symbol a — with k tapes, for some k-tuple of symbols).

    A run stops only in a halting state or at an undefined transition, so a run that enters one
    of these states never stops, whatever the tape (it ends with status "step limit" under any
    bound). The converse does not hold: a state outside this set may still loop forever on
    some tapes — halting is undecidable; this is a static hint, not a decision.

    Returns:
        The states, in the machine's order.
    """
    g = to_graph(m)
    reads = len(m.tape_alphabet) ** m.tapes
    defined = {q: 0 for q in m.states}
    for q, _ in m.delta:
        defined[q] += 1
    reaches = {q for q in m.states if m.is_halting(q) or defined[q] < reads}  # states where a run can stop
    todo = list(reaches)
    while todo:  # walk edges backwards from them: one pass, linear in the graph's size
        for p in g.predecessors(todo.pop()):
            if p not in reaches:
                reaches.add(p)
                todo.append(p)
    return tuple(q for q in m.states if q not in reaches)


def strongly_connected_components(m: Machine) -> list[tuple[str, ...]]:
    """The strongly connected components of the state graph (single states included), each in
    the machine's state order, listed by their first state's place in that order."""
    order = {q: i for i, q in enumerate(m.states)}
    parts = [tuple(sorted(c, key=order.get)) for c in nx.strongly_connected_components(to_graph(m))]
    return sorted(parts, key=lambda c: order[c[0]])


# ---------------------------------------------------------------- drawing
_SHAPES = {"accept": "doublecircle", "reject": "doubleoctagon", "halt": "doublecircle", "": "circle"}


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(m: Machine) -> str:
    """Graphviz DOT source of the state diagram: circles for states, double circles for halt and
    accept states, a double octagon for reject states, an arrow into the start state, and one
    edge per pair of states labelled with all its transitions (blank spaces shown as ␣)."""
    lines = [f"digraph {_quote(m.name or 'machine')} {{", "  rankdir=LR;", "  node [shape=circle];",
             '  start [shape=point, label=""];']
    ids = {q: f"q{i}" for i, q in enumerate(m.states)}  # ids, so that no state name clashes with "start"
    for q in m.states:
        kind = _kind(m, q)
        style = ", style=dashed" if kind == "halt" else ""
        lines.append(f"  {ids[q]} [label={_quote(q)}, shape={_SHAPES[kind]}{style}];")
    lines.append(f"  start -> {ids[m.start]};")
    edges: dict[tuple[str, str], list[str]] = {}
    for q, q2, data in to_graph(m).edges(data=True):
        edges.setdefault((q, q2), []).append(data["label"].replace(" ", "␣"))
    for (q, q2), labels in edges.items():
        lines.append(f"  {ids[q]} -> {ids[q2]} [label={_quote(chr(10).join(labels))}];")
    return "\n".join(lines + ["}"]) + "\n"


def render(m: Machine, path: str | Path) -> Path:
    """Draw the state diagram to `path`: ``.dot``/``.gv`` as DOT text; ``.png``, ``.svg`` or
    ``.pdf`` through Graphviz's ``dot`` program.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: an image was asked for but Graphviz's ``dot`` is not installed
            (the message says how to get it).
        OSError: ``dot`` failed.
        FormatError: an extension other than those above.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".dot", ".gv"):
        path.write_text(to_dot(m), encoding="utf-8")
        return path
    if suffix not in (".png", ".svg", ".pdf"):
        raise FormatError(f"cannot draw to {suffix or 'a file without extension'}: expected .dot, .gv, .png, "
                          f".svg or .pdf", source=str(path))
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(f"drawing {path.name} needs Graphviz's `dot` program, which is not installed: "
                                f"`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
                                f"`conda install graphviz`; or write a .dot file instead")
    done = subprocess.run([dot, f"-T{suffix[1:]}", "-o", str(path)], input=to_dot(m), text=True,
                          capture_output=True, timeout=120)
    if done.returncode != 0:
        raise OSError(f"Graphviz `dot` failed on {path}: {done.stderr.strip()}")
    return path
