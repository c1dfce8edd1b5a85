"""Compile a Turing machine into the weights of an `NTM` that runs it exactly, and check it does.

`compile_machine(machine, memory_rows=N)` returns the `ntm.models.NTM` that training uses; only
its config and its weights are chosen (this file). `ntm.compiler.harness.lockstep(machine, word, ...)`
runs the compiled NTM and the reference simulator (`turing.trace`) in lockstep and decodes the NTM's
state, heads and tapes at every step; `trace_compiled` yields the NTM's decoded configurations like
`turing.trace` does; `ntm.compiler.figures.plot_leakage` charts a run's leakage.

The construction (k tapes, one tape being the usual case)
---------------------------------------------------------
Config: LSTM controller with one layer of U units, k read heads and k write heads (read head i and
write head i serve tape i), shifts -1, 0, +1, memory N x M with M = k (|Γ| - 1), memory starting
at 0, every head's weighting starting one-hot at row 0, r_0 = 0.

- Tape. Row j of memory holds one cell of every tape: block i (|Γ| - 1 columns) holds tape i's
  symbol as a one-hot code; the blank is the zero vector, so the memory's start value 0 is a blank
  tape. Tape i's position p lives in row (p - o_i) mod N, where o_0 = n (the input length, see
  below) and o_i = 0 for the other tapes. Decoding a cell: argmax over its block and a constant
  0.5 standing for the blank.
- Heads. Each weighting is (numerically) one-hot at its row. Read head i sits on tape i's head
  position p; write head i sits where tape i was last written, one step behind (see below).
- Controller. Three kinds of units, each "on" (h = tanh 1, c = 1) or "off" (h = c = 0):
  P(q, a_1..a_k) for every state q and every k-tuple of tape symbols, on when the step just taken
  was the transition delta(q, a) (or, where delta(q, a) is undefined or q halts, the do-nothing
  transition (q, a, S...), so a stopped machine stays put); I(x) for every input symbol, on while
  the input x is read; D(i, m) for every tape i and move m, on when tape i's previous move was m.
  Gates are saturated: forget = sigmoid(-G) ~ 0, output = sigmoid(G) ~ 1, candidate = tanh(G) ~ 1,
  and the input gate of each unit is sigmoid(G (evidence - threshold)), with evidence that is a
  whole number in the ideal case and a threshold half-way, so every unit is 0 or 1 up to e^(-G/2).
  The machine's state is next(P), the state the transition the on unit stands for leads to: the
  state lives in the controller's hidden and cell state. Units: U = |Q| |Γ|^k + |Σ| + 3k.
  The output layer maps h to logits over Q (the state), so ``forward`` emits the state trajectory.

One step, in the model's order (`NTM._cell`): the controller reads r_{t-1} and h_{t-1}; the heads
address M_{t-1}; read heads read M_{t-1}; write heads erase and add to give M_t. For machine step
t (configuration c_{t-1} -> c_t), with the head of tape i at p_{t-1} and last written at p_{t-2}:

1. Controller: P(q_{t-1}, a) turns on, where q_{t-1} = next(unit on at t-1) and a_i is the symbol
   under head i. Symbol a_i comes from the read vector r_{t-1} = M_{t-2}[p_{t-1}], read one step
   earlier, before that step's write. That is stale exactly when the previous move of tape i was S
   (the cell was written after it was read): then the symbol is the one the previous transition
   wrote, known from h_{t-1}, and the stale read is the symbol the previous transition read, also
   known from h_{t-1}, so the recurrent weights subtract it exactly. Evidence for P(q, a):
   2 [q_{t-1} = q] + sum_i [a_i matches], threshold k + 1.5: on iff all k + 1 conditions hold.
   D(i, m) turns on from the move the unit on at t-1 stands for.
2. Write head i shifts by tape i's previous move (from D), landing on p_{t-1}; it erases tape i's
   block there (e = 1 on the block, 0 elsewhere) and adds the code of the written symbol (a = 1 on
   its column). Read head i shifts by this step's move (from P), landing on p_t, and reads M_{t-1}
   there (its content before this step's write: stale only if the move was S, handled in 1).
3. The configuration c_t is then in the NTM: the state in h_t, head i at read head i, every tape
   in M_t. The decoder reads them off every step.

Input. The word w_1..w_n is fed one symbol per step, last symbol first (`encode_input`): I(x) is
on, the controller's other units are held off by the input, read head 0 and write head 0 shift
by -1 and write head 0 writes x, so w_1 lands in row -n mod N with both heads on it, as if the
machine had just written w_1 there with move S. Then the run goes on with zero input, one NTM step
per machine step: configuration c_s is decoded after NTM step n + s.

Why every weighting stays one-hot: g = sigmoid(-G) ~ 0 switches content addressing off (eq. 7
returns the previous weighting); the shift weighting is a softmax of logits G apart, so it puts
1 - 2e^(-G) on the move; sharpening with gamma (eq. 9) raises the off-row weights (at least the
`ntm.models.memory.EPS` floor, 1e-16) to the power gamma relative to the focus, which underflows to
exactly 0 once gamma * 36.8 > 745 (float64) or > 104 (float32). With the defaults
(G = 50, gamma = 50) every weighting is exactly one-hot in both precisions, the erase gate is 1
and the add gate tanh(G) = 1 in floating point; the only leakage left is the off units'
e^(-G/2) ~ 1e-11, which reaches the add vectors' other columns (~2e-9 in a written cell) and the
controller; a write erases its cell and the controller re-saturates every step, so neither
accumulates. Lower G and the margins thin; with gamma = 1 (no sharpening) nothing undoes the
shift's e^(-G) spill, the weighting diffuses and the leakage accumulates (`lockstep` measures it).

What bounds it:
- Memory: N rows hold N cells per tape, and a shift is circular (eq. 8), so the compiled NTM is
  a linear-bounded automaton; `compare` stops and reports the step where a tape would need more
  than N cells (the head would wrap onto a row holding another cell) instead of comparing garbage.
- Saturation: the gain G and sharpening gamma (see above). Floating-point precision did not
  bound any run we measured: float32 and float64 agree (docs/turing-completeness.md).
- Size: U = |Q| |Γ|^k + |Σ| + 3k controller units and 4U (U + kM) recurrent weights; over
  `MAX_UNITS` units raises ConfigError (e.g. the 256-symbol copy; use a small alphabet).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor

from turing import Machine
from turing.run import Configuration, as_word, trim
from ntm.compiler import DEFAULT_GAIN, DEFAULT_SHARPENING
from ntm.errors import ConfigError
from ntm.models.heads import head_sizes
from ntm.models.ntm import NTM, NTMConfig, NTMState

#: controller units allowed: 4U (U + kM) recurrent weights, 134 MB in float64 at U = 2048
MAX_UNITS = 2048
MOVES = ("L", "S", "R")  # shift weighting order: shifts -1, 0, +1 (ntm.models.memory.shift)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ---------------------------------------------------------------- layout: which unit, column, row is what

@dataclass(frozen=True)
class Layout:
    """Where the compiled NTM keeps each part of the machine. Deterministic in the machine.

    Attributes:
        machine: the machine.
        k: tapes.
        symbols: the non-blank tape symbols; symbol symbols[c] is column c of a tape's block.
        width: columns per tape block (>= 1); M = k * width.
        units: the controller's units in order: ("P", q, reads) with reads a k-tuple,
            ("I", x) for input symbols, ("D", tape, move).
        actions: for each P unit, (next_state, writes, moves) as k-tuples (the do-nothing
            transition where delta is undefined or q halts).
    """
    machine: Machine
    k: int
    symbols: tuple[str, ...]
    width: int
    units: tuple[tuple, ...]
    actions: tuple[tuple, ...]

    @property
    def M(self) -> int:
        return self.k * self.width

    @property
    def input_size(self) -> int:
        return max(1, len(self.machine.input_alphabet))

    def column(self, symbol: str) -> int | None:
        """The column of `symbol` within a block; None for the blank (the zero code)."""
        return None if symbol == self.machine.blank else self.symbols.index(symbol)


def layout(machine: Machine) -> Layout:
    """The `Layout` of `machine`'s compiled NTM.

    Raises:
        ConfigError: more than `MAX_UNITS` controller units (|Q| |Γ|^k + |Σ| + 3k).
    """
    k, blank = machine.tapes, machine.blank
    U = len(machine.states) * len(machine.tape_alphabet) ** k + len(machine.input_alphabet) + 3 * k
    if U > MAX_UNITS:
        raise ConfigError(
            f"compiling {machine.name or 'this machine'} needs |Q| |Γ|^k + |Σ| + 3k = {U:,} controller "
            f"units ({len(machine.states)} states, {len(machine.tape_alphabet)} symbols, {k} tapes); "
            f"at most {MAX_UNITS:,} are allowed: build it over a smaller alphabet")
    symbols = tuple(a for a in machine.tape_alphabet if a != blank)
    units, actions = [], []
    for q in machine.states:
        for reads in itertools.product(machine.tape_alphabet, repeat=k):
            act = machine.delta.get((q, reads if k > 1 else reads[0]))
            if act is None:  # halting state or undefined: stand still, so the NTM stops too
                actions.append((q, reads, ("S",) * k))
            else:
                writes, moves = (act.write, act.move) if k > 1 else ((act.write,), (act.move,))
                actions.append((act.next_state, tuple(writes), tuple(moves)))
            units.append(("P", q, reads))
    units += [("I", x) for x in machine.input_alphabet]
    units += [("D", i, m) for i in range(k) for m in MOVES]
    return Layout(machine, k, symbols, max(1, len(symbols)), tuple(units), tuple(actions))


# ---------------------------------------------------------------- the weights

def _softplus_inverse(y: float) -> float:
    """x with softplus(x) = log(1 + e^x) = y; a large negative number (softplus = 0) for y = 0."""
    return y + math.log(-math.expm1(-y)) if y > 0 else -1e4


def compile_machine(machine: Machine, memory_rows: int = 64, dtype: torch.dtype = torch.float64, *,
                    gain: float = DEFAULT_GAIN, sharpening: float = DEFAULT_SHARPENING) -> NTM:
    """An `NTM` whose weights run `machine` (see the module docstring for the construction).

    Args:
        machine: any `turing.Machine` (k tapes) small enough for `MAX_UNITS`.
        memory_rows: N, the cells per tape (>= 3, so that shifts -1 and +1 differ).
        dtype: the parameters' dtype (float32 or float64).
        gain: G, the saturation of every gate and logit (> 0).
        sharpening: gamma >= 1 of eq. 9 for every head.

    Returns:
        An `NTM` in eval mode with input size max(1, |Σ|) (one-hot input symbols, see
        `encode_input`) and output size |Q| (logits of the state after each step).

    Raises:
        ConfigError: memory_rows < 3, gain <= 0, sharpening < 1, or too many units.
    """
    if not isinstance(memory_rows, int) or memory_rows < 3:
        raise ConfigError(f"memory_rows must be an integer >= 3 (shifts -1 and +1 must differ), got {memory_rows!r}")
    if not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain > 0):
        raise ConfigError(f"gain must be a finite number > 0, got {gain!r}")
    if not (isinstance(sharpening, (int, float)) and math.isfinite(sharpening) and sharpening >= 1):
        raise ConfigError(f"sharpening (gamma) must be a finite number >= 1, got {sharpening!r}")
    lay = layout(machine)
    m, k, W, G = machine, lay.k, lay.width, float(gain)
    M, U, C = lay.M, len(lay.units), lay.input_size
    config = NTMConfig(controller="lstm", controller_size=U, controller_layers=1, N=memory_rows, M=M,
                       read_heads=k, write_heads=k, shift_range=1, memory_init="constant",
                       memory_init_value=0.0, weighting_init="one_hot")
    model = NTM(C, len(m.states), config)

    # Built in float64. h enters divided by kappa = tanh(1), an on unit's h, so evidence is 0 or 1.
    f64, kappa, S = torch.float64, math.tanh(1.0), MOVES.index("S")
    Gk = G / kappa
    # the P units (the first |Q| |Γ|^k units) as integer arrays: symbols by their index in Γ
    sym = {a: j for j, a in enumerate(m.tape_alphabet)}
    st_ = {q: j for j, q in enumerate(m.states)}
    nP = len(lay.actions)
    q_of = torch.tensor([st_[u[1]] for u in lay.units[:nP]])                          # (nP,)
    reads = torch.tensor([[sym[a] for a in u[2]] for u in lay.units[:nP]]).view(nP, k)
    nxt = torch.tensor([st_[q2] for q2, _, _ in lay.actions])                         # (nP,)
    writes = torch.tensor([[sym[b] for b in w] for _, w, _ in lay.actions]).view(nP, k)
    moves = torch.tensor([[MOVES.index(d) for d in mv] for _, _, mv in lay.actions]).view(nP, k)
    b0, s0 = sym[m.blank], st_[m.start]
    col = torch.tensor([-1 if a == m.blank else lay.column(a) for a in m.tape_alphabet])  # Γ -> column
    inputs = [(lay.units.index(("I", x)), x) for x in m.input_alphabet]
    P = torch.arange(nP)

    # input gates: evidence = bi + Wi_x x + Wi_r r + Wi_h h / kappa, scaled by G below
    bi, Wi_x = torch.zeros(U, dtype=f64), torch.zeros(U, C, dtype=f64)
    Wi_r, Wi_h = torch.zeros(U, k * M, dtype=f64), torch.zeros(U, U, dtype=f64)
    # P(q, a) (rows v) after the unit u on at t-1 (columns): 2 [next(u) = q] + one per tape matching
    bi[:nP] = 2.0 * (q_of == s0) - (k + 1.5)                    # start's 2 when no P unit was on
    Wi_x[:nP] = -(2 * k + 4)                                     # held off while input is read
    Wi_h[:nP, :nP] = 2.0 * (nxt[None, :] == q_of[:, None]) - 2.0 * (q_of[:, None] == s0)
    for i in range(k):
        # [a_i read] from read head i's block of r: the symbol's column, or 1 - sum for the blank
        block = i * M + i * W
        blank_v = reads[:, i] == b0
        bi[:nP] += blank_v
        Wi_r[P[blank_v].unsqueeze(1), block + torch.arange(W)] = -1
        Wi_r[P[~blank_v], block + col[reads[~blank_v, i]]] = 1
        # after a move S the read is stale: add [written = a_i], take the stale [read then = a_i] off
        stay = (moves[:, i] == S)[None, :]
        Wi_h[:nP, :nP] += stay * ((writes[None, :, i] == reads[:, None, i]).double()
                                  - (reads[None, :, i] == reads[:, None, i]).double())
    for u, x in inputs:                          # after input x: as if x was written, move S, over a blank
        Wi_h[:nP, u] = (reads[:, 0] == sym[x]).double() - (reads[:, 0] == b0).double()
        bi[u], Wi_x[u, m.input_alphabet.index(x)] = -0.5, 1
    for i in range(k):                           # D(i, move): tape i's move at t-1 (S after input/start)
        for j, mv in enumerate(MOVES):
            d = lay.units.index(("D", i, mv))
            Wi_x[d], bi[d] = -2, (0.5 if j == S else -0.5)
            Wi_h[d, :nP] = -1.0 * (moves[:, i] != S) if j == S else 1.0 * (moves[:, i] == j)

    ctrl = model.controller
    zeros = torch.zeros(U, dtype=f64)
    weight_x = torch.cat([G * Wi_x, torch.zeros(3 * U, C, dtype=f64)])
    weight_rh = torch.cat([torch.cat([G * Wi_r, G * Wi_h / kappa], 1), torch.zeros(3 * U, k * M + U, dtype=f64)])
    bias = torch.cat([G * bi, zeros - G, zeros + G, zeros + G])  # gates (i, f, o, g)

    # heads: read heads 0..k-1, then write heads k..2k-1 (ntm.models.heads' layout)
    H = 2 * k
    sizes = head_sizes(M, k, k, 1)
    off = dict(zip(sizes, itertools.accumulate([0] + list(sizes.values())[:-1])))
    Wh, bh = torch.zeros(sum(sizes.values()), U, dtype=f64), torch.zeros(sum(sizes.values()), dtype=f64)
    bh[off["g"]:off["g"] + H] = -G                               # g ~ 0: location-based addressing only
    bh[off["gamma"]:off["gamma"] + H] = _softplus_inverse(sharpening - 1)
    for i in range(k):
        s_read, s_write, a, e = off["s"] + 3 * i, off["s"] + 3 * (k + i), off["a"] + i * M + i * W, off["e"] + i * M
        Wh[s_read + moves[:, i], P] = Gk                         # read head i: this step's move
        written = writes[:, i] != b0
        Wh[a + col[writes[written, i]], P[written]] = Gk         # write head i: the written symbol's code
        for j, mv in enumerate(MOVES):
            Wh[s_write + j, lay.units.index(("D", i, mv))] = Gk  # write head i: the previous move
        input_move = MOVES.index("L" if i == 0 else "S")
        for u, x in inputs:
            Wh[s_read + input_move, u] = Wh[s_write + input_move, u] = Gk
            if i == 0:
                Wh[a + col[sym[x]], u] = Gk
        bh[e:e + M] = -G
        bh[e + i * W:e + (i + 1) * W] = G                       # erase tape i's block only

    Wo, bo = torch.zeros(len(m.states), U + k * M, dtype=f64), torch.zeros(len(m.states), dtype=f64)
    bo[s0] = G                                                   # no P unit on (start, input): start
    Wo[nxt, P] = Gk
    Wo[s0, P] -= Gk

    with torch.no_grad():
        ctrl.weight_x.copy_(weight_x)
        ctrl.weight_rh[0].copy_(weight_rh)
        ctrl.bias.copy_(bias.unsqueeze(0))
        model.heads.weight.copy_(Wh)
        model.heads.bias.copy_(bh)
        model.output.weight.copy_(Wo)
        model.output.bias.copy_(bo)
        model.r_bias.zero_()                                     # r_0 = tanh(0) = 0: a blank read
    return model.to(dtype).eval()


# ---------------------------------------------------------------- input

def encode_input(machine: Machine, word: Sequence[str] | str, dtype: torch.dtype = torch.float64) -> Tensor:
    """The input sequence of the compiled NTM: one-hot symbols of Σ, LAST symbol first.

    Returns (1, n, max(1, |Σ|)). Raises InputError for a symbol outside Σ.
    """
    word = as_word(machine, word)
    x = torch.zeros(1, len(word), max(1, len(machine.input_alphabet)), dtype=dtype)
    for t, a in enumerate(reversed(word)):
        x[0, t, machine.input_alphabet.index(a)] = 1
    return x


def load_input(model: NTM, machine: Machine, word: Sequence[str] | str) -> NTMState:
    """The compiled NTM's state after reading `word`: configuration 0 (start state, word on tape 0)."""
    x = encode_input(machine, word, model.r_bias.dtype).to(model.r_bias.device)
    state = model.initial_state(1)
    for t in range(x.shape[1]):
        _, state = model.step(x[:, t], state)
    return state


# ---------------------------------------------------------------- decoding

def decode_tensors(model: NTM, lay: Layout, state: NTMState) -> tuple[Tensor, Tensor, Tensor]:
    """(state index (), read-head rows (k,), codes (k, N)) as tensors, no Python sync (batch 1)."""
    h = state.controller[0]
    logits = model.output(torch.cat([h, state.r.flatten(1)], 1))[0]          # (|Q|,)
    rows = state.read_w[0].argmax(-1)                                          # (k,)
    mem = state.M[0].view(-1, lay.k, lay.width)                                # (N, k, width)
    blank = mem.new_full(mem.shape[:2] + (1,), 0.5)                            # the blank's score
    codes = torch.cat([blank, mem], -1).argmax(-1).t()                         # (k, N)
    return logits.argmax(), rows, codes


def leakage(lay: Layout, state: NTMState) -> Tensor:
    """How far the NTM is from its ideal discrete state, (3,): [weighting, memory, controller] =
    max over heads of 1 - max w; max over memory entries of the distance to 0 or 1 (the codes'
    entries); max over controller units of the distance of h / tanh(1) to 0 or 1."""
    w = torch.cat([state.read_w, state.write_w], 1)
    lw = (1 - w.amax(-1)).amax()
    Mm = state.M
    lm = (Mm - Mm.clamp(0, 1).round()).abs().amax()
    hh = state.controller[0] / math.tanh(1.0)
    lc = torch.minimum(hh.abs(), (1 - hh).abs()).amax()
    return torch.stack([lw, lm, lc])


def normalize(config: Configuration) -> tuple:
    """(step, state, heads, trimmed tapes with origins): what must agree between the machine and
    the NTM (the raw tapes differ in how many blank cells around them were visited)."""
    tapes = tuple(trim(c, o, config.blank) for c, o in zip(config.tapes, config.origins))
    return config.step, config.state, config.heads, tapes


def trace_compiled(machine: Machine, word: Sequence[str] | str = (), max_steps: int = 1000, *,
                   model: NTM | None = None, memory_rows: int = 64, dtype: torch.dtype = torch.float64,
                   gain: float = DEFAULT_GAIN, sharpening: float = DEFAULT_SHARPENING
                   ) -> Iterator[Configuration]:
    """Yield the compiled NTM's decoded configuration after the input and after each of
    `max_steps` run steps, as `turing.trace` yields the machine's (compare with `normalize`).

    Head positions are unwrapped from the read heads' rows (a head moves at most one row a step);
    each tape is decoded over the N positions from the lowest one its head has visited (0 at
    least). The NTM does not halt: it keeps its final configuration, so stop when the machine does.
    Raises InputError (bad word) and ConfigError (as `compile_machine`).
    """
    model = model if model is not None else compile_machine(
        machine, memory_rows, dtype, gain=gain, sharpening=sharpening)
    lay, N, n = layout(machine), model.config.N, len(as_word(machine, word))
    offsets = [n] + [0] * (lay.k - 1)
    heads, lows = [0] * lay.k, [0] * lay.k
    rows = [(-o) % N for o in offsets]
    names = (machine.blank,) + lay.symbols
    zero = model.r_bias.new_zeros(1, lay.input_size)
    with torch.inference_mode():                             # (wrap in `one_thread()` for speed)
        state = load_input(model, machine, word)
        for step in range(max_steps + 1):
            if step:
                _, state = model.step(zero, state)
            q, r, codes = decode_tensors(model, lay, state)
            tapes, origins = [], []
            for i, row in enumerate(r.tolist()):
                heads[i] += (row - rows[i] + N // 2) % N - N // 2
                rows[i], lows[i] = row, min(lows[i], heads[i])
                cells = codes[i].tolist()
                tapes.append(tuple(names[cells[(p - offsets[i]) % N]] for p in range(lows[i], lows[i] + N)))
                origins.append(lows[i])
            yield Configuration(step, machine.states[int(q)], tuple(tapes), tuple(origins), tuple(heads),
                                machine.blank)


