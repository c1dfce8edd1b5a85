"""The trainer's optimizer (`make_optimizer`), run on one flat tensor (`FlatOptimizer`): every
parameter a view into it, every gradient a view into another, so zeroing, clipping and the
optimizer's update are one operation each instead of one per parameter (the contiguous-gradient
buffers of apex and DeepSpeed).

Why: the models here are small, and on a CPU each PyTorch operation costs a few microseconds before
any arithmetic. The copy NTM has 11 parameter tensors: at batch 1, `clip_grad_norm_` and fused Adam
over them took ~150 and ~140 us of a ~1.4 ms step; on the flat tensors ~45 and ~120 (one thread,
inside the training loop; bench/README.md, "Models"), and Adam ~45 since `FlatOptimizer.step` calls
its fused kernel itself. The update is the same Adam (RMSprop, SGD), element by element; only the
gradient norm sums in another order (the last bits of the clipping factor).

Checkpoints keep the per-parameter layout: `state_dict` splits the flat optimizer state into one
entry per parameter, shaped like it, and `load_state_dict` joins such entries back, so run
directories written before this file load unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def make_optimizer(cfg, params, lr: float) -> torch.optim.Optimizer:
    """Adam (betas from the config), RMSprop (the NTM paper's, with momentum) or SGD (with momentum) at `lr`.
    Adam runs torch's fused kernel where every parameter is a CPU or CUDA float tensor: one call for
    all parameters instead of ~10 operations each (the copy NTM: 88 against 280 us a step on one CPU
    thread, bench/README.md "Models"; the cost follows the parameter count, not the batch size), the
    same update up to rounding."""
    if cfg.optimizer == "adam":
        params = list(params)
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params) or None
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), fused=fused)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum)


def clipped_step(optimizer: torch.optim.Optimizer, loss: Tensor, params, max_norm: float) -> None:
    """One plain update for scripts and tests that train without the `Trainer`: zero the gradients,
    backward, clip the gradient norm to max_norm (``clip_grad_norm_``), step."""
    params = list(params)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()


class FlatOptimizer:
    """``make_optimizer(cfg, [flat], lr)`` over one flat parameter whose slices are the model's.

    params: the parameters to train, all of one dtype and device (a model moved with ``.to``); those
    with requires_grad False are left out. The parameters' ``.data`` and ``.grad`` become views into
    the flat tensors: anything that later assigns a parameter's ``.data`` or ``.grad`` (``.to()``,
    ``zero_grad(set_to_none=True)`` on another optimizer) breaks the link; load weights with
    ``load_state_dict`` (which copies in place). Raises ValueError for an empty list or mixed
    dtypes/devices.
    """

    def __init__(self, cfg, params, lr: float):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no parameter to train")
        if len({(p.dtype, p.device) for p in self.params}) > 1:
            raise ValueError("parameters of several dtypes or devices: move the model with .to() first")
        self.flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in self.params]))
        self.flat.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in self.params:
            n = p.numel()
            p.data = self.flat.data[offset:offset + n].view_as(p)
            p.grad = self.flat.grad[offset:offset + n].view_as(p)   # backward adds into it in place
            offset += n
        self.optimizer = make_optimizer(cfg, [self.flat], lr)
        self._direct = self._plain_fused_adam()

    @property
    def param_groups(self) -> list[dict]:
        return self.optimizer.param_groups

    @property
    def state(self):
        return self.optimizer.state

    def zero_grad(self) -> None:
        """Every gradient to zero (in place: the views must stay)."""
        self.flat.grad.zero_()

    def clip(self, max_value: float | None, max_norm: float | None) -> Tensor:
        """Clip each gradient element to +-max_value (``clip_grad_value_``), then the whole gradient
        to norm max_norm (``clip_grad_norm_``'s rule: scale by min(1, max_norm / (norm + 1e-6)));
        None: no such clipping. Returns the norm before the norm clipping (a 0-dim tensor). On the
        CPU a factor of exactly 1 (the usual case) skips the multiplication: one pass over the
        gradient less, the same bits (reading the factor costs no device synchronisation there)."""
        g = self.flat.grad
        if max_value is not None:
            g.clamp_(-max_value, max_value)
        norm = torch.linalg.vector_norm(g)
        if max_norm is not None:
            scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
            if g.device.type != "cpu" or scale.item() != 1.0:     # x * 1 is x: skip the pass
                g.mul_(scale)
        return norm

    def step(self) -> None:
        """The optimizer's update. torch's fused Adam on the CPU, once its state exists (after the
        first step), is called directly (`_fused_adam_step`): the kernel and the arguments that
        ``torch.optim.Adam.step`` hands it, without the Python around it (hooks, grouping,
        ``_init_group``: 33 us outside a training loop, ~84 us inside one, where it runs cold); at
        batch 1, Adam took 129 -> 45 us of a ~1.2 ms training step (one thread, bench/README.md
        "The fourth pass"). The same update to the bit (tests/test_optimizer.py);
        everything else goes through ``optimizer.step()``."""
        state = self.optimizer.state.get(self.flat)
        if state and self._direct:
            try:
                return self._fused_adam_step(state, self.optimizer.param_groups[0])
            except (TypeError, RuntimeError):            # a torch whose private kernel differs: never again
                self._direct = False
        self.optimizer.step()

    def _plain_fused_adam(self) -> bool:
        """Whether `step` may call the fused Adam kernel itself: fused Adam on the CPU without the
        options (amsgrad, maximize, decoupled weight decay, ...) that change its arguments."""
        group = self.optimizer.param_groups[0]
        return (isinstance(self.optimizer, torch.optim.Adam) and bool(group.get("fused"))
                and self.flat.device.type == "cpu" and hasattr(torch, "_fused_adam_")
                and not any(group.get(k) for k in ("amsgrad", "maximize", "capturable", "differentiable",
                                                   "decoupled_weight_decay")))

    def _fused_adam_step(self, state: dict, group: dict) -> None:
        """What torch.optim.adam._fused_adam does for one CPU tensor: the step count, then the kernel."""
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if any(torch.is_tensor(v) for v in (lr, beta1, beta2)):
            raise TypeError("tensor hyperparameters: left to the optimizer's own step")
        step = state["step"]
        step.add_(1)
        try:
            torch._fused_adam_([self.flat], [self.flat.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [step],
                               amsgrad=False, lr=lr, beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                               eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
        except (TypeError, RuntimeError):
            step.sub_(1)                                 # the count as it was: `step` falls back
            raise

    def state_dict(self) -> dict:
        """The optimizer's state_dict with one state entry per parameter (tensors the size of the
        flat parameter cut into the parameters' shapes; other values repeated)."""
        sd = self.optimizer.state_dict()
        flat_state = sd["state"].get(0, {})
        n, state, offset = self.flat.numel(), {}, 0
        for i, p in enumerate(self.params):
            state[i] = {k: v[offset:offset + p.numel()].view_as(p).clone()
                        if torch.is_tensor(v) and k != "step" and v.dim() == 1 and v.numel() == n else v
                        for k, v in flat_state.items()}
            offset += p.numel()
        groups = [{**g, "params": list(range(len(self.params)))} for g in sd["param_groups"]]
        return {"state": state if flat_state else {}, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        """Load a per-parameter state_dict (`state_dict`'s form). Raises ValueError when its entries
        do not fit the parameters."""
        entries = [sd["state"].get(i, sd["state"].get(str(i))) for i in range(len(self.params))]
        if len(sd["param_groups"]) != 1 or len(sd["param_groups"][0]["params"]) != len(self.params):
            raise ValueError(f"the state has {sum(len(g['params']) for g in sd['param_groups'])} parameters, "
                             f"the model {len(self.params)}")
        state = {}
        if any(e for e in entries):
            if not all(e and e.keys() == entries[0].keys() for e in entries):
                raise ValueError("the parameters' states do not have the same entries")
            for k, v in entries[0].items():          # "step" is one count; the moments are per element
                shaped = torch.is_tensor(v) and all(e[k].shape == p.shape for e, p in zip(entries, self.params))
                state[k] = torch.cat([e[k].reshape(-1) for e in entries]) if shaped and k != "step" else v
            state = {0: state}
        self.optimizer.load_state_dict({"state": state, "param_groups": [{**sd["param_groups"][0], "params": [0]}]})
