"""Host synchronisations (issue 21: the CUDA path without a host synchronisation per step), checked on
the CPU: every tensor operation that on a GPU makes the host wait for the device is counted while the
PyTorch fused path (the path CUDA takes) runs an episode, and while the trainer takes a step."""

import collections
import traceback

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from ntm.models import build_model
from ntm.training import TrainConfig

# reading a value on the host, or an output whose shape depends on the values
HOST_READS = {"item", "tolist", "__bool__", "__int__", "__float__", "__index__", "numpy", "cpu",
              "nonzero", "masked_select", "unique", "argwhere"}


def _bool_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


class HostReads(TorchFunctionMode):
    """Counts the host reads of the code it runs, by the file of the innermost `ntm/` frame."""

    def __init__(self):
        super().__init__()
        self.where = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in HOST_READS or (name == "__getitem__" and _bool_index(args[1])):
            ours = [f for f in traceback.extract_stack()[:-1] if "/ntm/" in f.filename.replace("\\", "/")]
            self.where[ours[-1].filename.replace("\\", "/").rsplit("/ntm/", 1)[1] if ours else "?"] += 1
        return func(*args, **(kwargs or {}))


def episode_reads(controller: str, T_in: int, padded: bool) -> collections.Counter:
    torch.manual_seed(0)
    net = build_model("ntm", 5, 3, N=8, M=4, controller_size=8, backend="torch", controller=controller)
    x = torch.randn(3, T_in, 5)
    lengths = torch.tensor([T_in, 1, T_in - 1]) if padded else None
    with HostReads() as reads:
        net(x, T_in - 1, lengths).sum().backward()
    return reads.where


@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
@pytest.mark.parametrize("padded", [False, True])
def test_the_torch_episode_reads_nothing_on_the_host_inside_its_time_loop(controller, padded):
    """Forward and backward: the same reads for 3 steps and for 19, all in the input checks before
    the loop (ntm/models/inputs.py), none without padding."""
    short, long = episode_reads(controller, 2, padded), episode_reads(controller, 10, padded)
    assert short == long
    assert set(long) <= {"models/inputs.py"}
    assert sum(long.values()) == (2 if padded else 0)


def test_a_training_step_reads_the_device_once_besides_the_input_checks():
    """The trainer's step (copy, the adaptive curriculum, the NTM's PyTorch path): the loss, the
    gradient norm and the curriculum's error come back to the host together, once. (Clipping reads
    its factor too, on the CPU only: see the next test.)"""
    from ntm.training.loop import Trainer
    from ntm.training.run import _assemble
    cfg = TrainConfig(task="copy", model="ntm", batch_size=4, seed=0, curriculum="adaptive",
                      model_params={"backend": "torch", "N": 8, "M": 4, "controller_size": 8})
    parts = _assemble(cfg)
    trainer = Trainer(cfg, parts.model, make_model=None, sample=parts.task.sample, curriculum=parts.curriculum,
                      evaluator=parts.evaluator, rng=np.random.default_rng(0), device=parts.device,
                      log=lambda *_: None)
    for _ in range(3):
        with HostReads() as reads:
            trainer.train_step()
        assert reads.where["training/loop.py"] == 1 and reads.where["training/optimizer.py"] == 1
        assert set(reads.where) <= {"training/loop.py", "training/optimizer.py", "models/inputs.py"}


def test_clipping_reads_its_factor_on_the_cpu_only():
    """`FlatOptimizer.clip` skips a multiplication by exactly 1 on the CPU, where reading the factor
    costs nothing; on any other device (here the meta device, which holds no values) it reads nothing."""
    from ntm.training.optimizer import FlatOptimizer
    for device, reads_expected in (("cpu", 1), ("meta", 0)):
        model = torch.nn.Linear(3, 2, device=device)
        opt = FlatOptimizer(TrainConfig(), model.parameters(), 1e-3)
        with HostReads() as reads:
            opt.clip(None, 1.0)
        assert sum(reads.where.values()) == reads_expected
