"""NTM controllers: an LSTM stack or a feed-forward stack, seeing [x_t, r_{t-1}] (Graves et al. 2014, sec. 2).

Each controller splits its first layer's weights in two: the part that multiplies x_t is applied to
all input steps at once before the time loop (`project`, bias included); the part that multiplies the
previous read vectors (and, for the LSTM, h_{t-1}) runs inside it. Besides the plain `forward` (autograd),
each has `step_forward` / `step_backward`: the same step keeping what its gradient needs, and that
gradient by hand, for the NTM's fused training loop. Weight gradients are not formed per step:
`weight_grads` makes them once for the whole sequence from the saved layer inputs X and the gate
gradients dZ (one matrix product per layer instead of one per step).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LSTMController(nn.Module):
    """A stack of LSTM layers (Hochreiter & Schmidhuber 1997). Layer l computes, for X = [input, h_{t-1}],
    z = base + X W_l^T with gates (i, f, o, g) in that order (so the sigmoids are one call), then
    c_t = f c_{t-1} + i g and h_t = o tanh(c_t). Forget-gate biases start at 1 (Gers et al. 2000;
    Collier & Beel's NTM does the same). State: (h_1, c_1, ..., h_L, c_L), each (B, units), zeros at first.
    """

    def __init__(self, input_size: int, read_size: int, units: int, layers: int):
        super().__init__()
        self.units, self.layers = units, layers
        bound = 1 / math.sqrt(units)                             # torch.nn.LSTM's initialisation
        def uniform(*shape):
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))
        self.weight_x = uniform(4 * units, input_size)           # x_t -> gates of layer 1
        self.weight_rh = nn.ParameterList(                       # [r_{t-1} or h below, h_{t-1}] -> gates
            [uniform(4 * units, (read_size if l == 0 else units) + units) for l in range(layers)])
        self.bias = uniform(layers, 4 * units)
        with torch.no_grad():
            self.bias[:, units:2 * units] = 1.0                  # forget gates

    def project(self, x: Tensor) -> Tensor:
        """Layer 1's input term for any number of steps: x (..., C_in) -> (..., 4 units), bias included."""
        return nn.functional.linear(x, self.weight_x, self.bias[0])

    def project_parameters(self) -> list[nn.Parameter]:
        """The parameters `project` uses, in the order `project_grads` returns their gradients."""
        return [self.weight_x, self.bias]

    def project_grads(self, x: Tensor, dgx: Tensor, weight: Tensor | None = None) -> list[Tensor]:
        """Gradients of `project_parameters` from x (T*B, C_in) and dgx (T*B, 4 units); only bias[0]'s
        row (the rest comes through `weight_grads`). weight: the weight's gradient when the caller
        formed it already (`fused.numba_backward`, by blocks of rows on the batch's threads). The
        weight's as autograd's linear forms it, dgx^T x, to the bit: (x^T dgx)^T ran 5x faster in
        MKL with the copy task's 10 input columns (92 against 500 us at batch 32), but it rounds
        differently, and the README's seed-0 copy run then took another path (converged at step
        1,000 instead of 700, 5 rollbacks, 93 % of the sequences right at length 120 instead of all)."""
        bias = torch.zeros_like(self.bias)
        bias[0] = dgx.sum(0)
        return [dgx.t() @ x if weight is None else weight, bias]

    def initial_state(self, batch_size: int) -> tuple[Tensor, ...]:
        z = self.bias.new_zeros(batch_size, self.units)
        return (z,) * (2 * self.layers)

    def forward(self, gx: Tensor, r: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step: gx (B, 4 units) from `project`, r (B, R*M) -> (h_t (B, units), new state)."""
        return self.step_forward(gx, r, state)[:2]

    def step_forward(self, gx: Tensor, r: Tensor, state: tuple[Tensor, ...]):
        """`forward`, also returning, per layer, (X, ifo, g, c_{t-1}, tanh c_t) for `step_backward`."""
        U, new, saved, inp = self.units, [], [], r
        for l in range(self.layers):
            h, c = state[2 * l], state[2 * l + 1]
            X = torch.cat([inp, h], dim=1)                                   # (B, in + U)
            z = torch.addmm(gx if l == 0 else self.bias[l], X, self.weight_rh[l].t())  # (B, 4U)
            ifo, g = torch.sigmoid(z[:, :3 * U]), torch.tanh(z[:, 3 * U:])
            c_new = torch.addcmul(ifo[:, U:2 * U] * c, ifo[:, :U], g)
            tanh_c = torch.tanh(c_new)
            inp = ifo[:, 2 * U:] * tanh_c
            new += [inp, c_new]
            saved.append((X, ifo, g, c, tanh_c))
        return inp, tuple(new), saved

    def step_backward(self, saved, dh: Tensor, dstate: tuple[Tensor, ...]):
        """Gradient of `step_forward`. dh (B, units): gradient of the top layer's h_t from outside the
        state (heads, output); dstate: gradients of the new state. Returns (dgx, dr, dstate_prev, dZ)
        with dZ the per-layer gate gradients for `weight_grads`."""
        U, dstate_prev, dZ = self.units, [None] * (2 * self.layers), [None] * self.layers
        d_out = dh
        for l in reversed(range(self.layers)):
            X, ifo, g, c, tanh_c = saved[l]
            i, f, o = ifo[:, :U], ifo[:, U:2 * U], ifo[:, 2 * U:]
            dh_l = d_out + dstate[2 * l]
            dc = dstate[2 * l + 1] + dh_l * o * (1 - tanh_c * tanh_c)
            d_ifo = torch.cat([dc * g, dc * c, dh_l * tanh_c], dim=1)
            dz = torch.cat([d_ifo * ifo * (1 - ifo), dc * i * (1 - g * g)], dim=1)  # (B, 4U)
            dX = dz @ self.weight_rh[l]                                      # (B, in + U)
            d_out, dstate_prev[2 * l], dstate_prev[2 * l + 1] = dX[:, :-U], dX[:, -U:], dc * f
            dZ[l] = dz
        return dZ[0], d_out, tuple(dstate_prev), dZ

    def step_parameters(self) -> list[nn.Parameter]:
        """The parameters whose gradients `weight_grads` returns, in that order."""
        return [*self.weight_rh, self.bias]

    def weight_grads(self, X: list[Tensor], dZ: list[Tensor]) -> list[Tensor]:
        """Gradients of `step_parameters` for a whole sequence: X[l], dZ[l] are layer l's inputs and gate
        gradients stacked over steps, (T*B, in_l + U) and (T*B, 4U). bias[0]'s comes through `project`."""
        grads = [dz.t() @ x for x, dz in zip(X, dZ)]
        bias = torch.stack([torch.zeros_like(dZ[0][0])] + [dz.sum(0) for dz in dZ[1:]])
        return grads + [bias]


class FeedforwardController(nn.Module):
    """Layers of tanh units: h = tanh(gx + r W_r^T), then h = tanh(h W_l^T + b_l). Its only recurrence
    is through the memory (Graves et al. 2014, section 2). State: ()."""

    def __init__(self, input_size: int, read_size: int, units: int, layers: int):
        super().__init__()
        self.units, self.layers = units, layers
        first = nn.Linear(input_size + read_size, units)         # nn.Linear's initialisation, then split
        self.weight_x = nn.Parameter(first.weight.detach()[:, :input_size].clone())
        self.weight_r = nn.Parameter(first.weight.detach()[:, input_size:].clone())
        self.bias = nn.Parameter(first.bias.detach().clone())
        self.hidden = nn.ModuleList([nn.Linear(units, units) for _ in range(layers - 1)])

    def project(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight_x, self.bias)

    def project_parameters(self) -> list[nn.Parameter]:
        return [self.weight_x, self.bias]

    def project_grads(self, x: Tensor, dgx: Tensor, weight: Tensor | None = None) -> list[Tensor]:
        return [dgx.t() @ x if weight is None else weight, dgx.sum(0)]

    def initial_state(self, batch_size: int) -> tuple[Tensor, ...]:
        return ()

    def forward(self, gx: Tensor, r: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        return self.step_forward(gx, r, state)[:2]

    def step_forward(self, gx: Tensor, r: Tensor, state: tuple[Tensor, ...]):
        X, h = r, torch.tanh(torch.addmm(gx, r, self.weight_r.t()))
        saved = [(X, h)]
        for layer in self.hidden:
            X, h = h, torch.tanh(torch.addmm(layer.bias, h, layer.weight.t()))
            saved.append((X, h))
        return h, (), saved

    def step_backward(self, saved, dh: Tensor, dstate: tuple[Tensor, ...]):
        weights, dZ, d_out = [self.weight_r] + [m.weight for m in self.hidden], [None] * self.layers, dh
        for l in reversed(range(self.layers)):
            _, h = saved[l]
            dZ[l] = d_out * (1 - h * h)
            d_out = dZ[l] @ weights[l]
        return dZ[0], d_out, (), dZ

    def step_parameters(self) -> list[nn.Parameter]:
        return [self.weight_r] + [m.weight for m in self.hidden] + [m.bias for m in self.hidden]

    def weight_grads(self, X: list[Tensor], dZ: list[Tensor]) -> list[Tensor]:
        return [dz.t() @ x for x, dz in zip(X, dZ)] + [dz.sum(0) for dz in dZ[1:]]


CONTROLLERS = {"lstm": LSTMController, "feedforward": FeedforwardController}
