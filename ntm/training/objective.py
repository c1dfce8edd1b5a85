"""What the trainer minimises, and the per-sequence errors the adaptive curriculum reads.

An objective has ``loss(logits, batch) -> scalar tensor`` (differentiable) and
``errors(logits, batch) -> (B,)`` (no gradient). `MaskedObjective` is the default; a new kind of
supervision (per-step losses from a machine's trace, say) is a new objective handed to `Trainer`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ntm.analysis.compare import sequence_errors


def masked_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_kind: str) -> torch.Tensor:
    """Loss in nats per sequence: summed over the masked output positions, averaged over the batch.

    logits, targets: (B, T_out, C_out); mask: (B, T_out). loss_kind "bce": binary cross-entropy per
    bit (bit-vector tasks); "ce": cross-entropy over the symbols (one-hot symbol tasks).
    """
    m = mask.to(logits.dtype)
    if loss_kind == "bce":
        per_pos = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
    else:
        per_pos = F.cross_entropy(logits.transpose(1, 2), targets.argmax(-1), reduction="none")
    return (per_pos * m).sum() / logits.shape[0]


class MaskedObjective:
    """The masked loss of the task's kind against what the machine wrote (DESIGN.md, Conventions)."""

    def __init__(self, loss_kind: str):
        self.loss_kind = loss_kind

    def loss(self, logits: torch.Tensor, batch) -> torch.Tensor:
        return masked_loss(logits, batch.targets, batch.mask, self.loss_kind)

    def errors(self, logits: torch.Tensor, batch) -> torch.Tensor:
        """Wrong bits (or symbols) per sequence, (B,)."""
        return sequence_errors(logits, batch.targets, batch.mask, self.loss_kind)[0]


class TraceObjective:
    """The trace tasks' loss (`tasks.trace`): per-step cross-entropies against the machine's trace,
    in nats per sequence, at the batch's level of the supervision ladder —

        trace   next state + each head's written symbol + each head's move + stop (binary)
        writes  written symbols + moves + stop
        moves   moves + stop + the final tapes (each memory cell's class, blank = 1 - sum)
        output  the final tapes only

    summed over a run's steps (and cells), averaged over the batch. ``loss(outputs, batch)`` takes
    `ntm.models.trace_ntm.TraceOutputs` and a `tasks.trace.TraceBatch`.
    """

    def loss(self, out, batch) -> torch.Tensor:
        level, dev = batch.supervision, out.halt.device
        t = lambda x: torch.as_tensor(x, device=dev)  # noqa: E731
        S, B = batch.write.shape[1], batch.batch_size
        sm = t(batch.step_mask()).to(out.halt.dtype)                                    # (B, S)
        total = out.halt.new_zeros(())
        if level == "trace":
            ce = F.cross_entropy(out.state[:, :S].transpose(1, 2), t(batch.state[:, 1:]), reduction="none")
            total = total + (ce * sm).sum()
        if level in ("trace", "writes"):
            ce = F.cross_entropy(out.write[:, :S].permute(0, 3, 1, 2), t(batch.write), reduction="none")
            total = total + (ce.sum(-1) * sm).sum()
        if level in ("trace", "writes", "moves"):
            ce = F.cross_entropy(out.move[:, :S].permute(0, 3, 1, 2), t(batch.move), reduction="none")
            total = total + (ce.sum(-1) * sm).sum()
            bce = F.binary_cross_entropy_with_logits(out.halt, t(batch.halt), reduction="none")
            total = total + (bce * t(batch.halt_mask()).to(bce.dtype)).sum()
        if level in ("moves", "output"):
            total = total - out.tape.gather(-1, t(batch.final_tape).unsqueeze(-1)).sum()
        return total / B

    @torch.no_grad()
    def errors(self, out, batch) -> torch.Tensor:
        """Wrong supervised decisions per sequence under teacher forcing, (B,) (for the adaptive
        curriculum): written symbols and moves at the real steps, plus wrong final cells."""
        dev = out.halt.device
        t = lambda x: torch.as_tensor(x, device=dev)  # noqa: E731
        S, sm = batch.write.shape[1], t(batch.step_mask())
        wrong = ((out.write[:, :S].argmax(-1) != t(batch.write)).any(-1) & sm).sum(1)
        wrong += ((out.move[:, :S].argmax(-1) != t(batch.move)).any(-1) & sm).sum(1)
        return wrong + (out.tape.argmax(-1) != t(batch.final_tape)).sum((1, 2))


def objective_for(task):
    """The loss a task trains with: `TraceObjective` for a trace task, else `MaskedObjective`."""
    return TraceObjective() if task.loss_kind == "trace" else MaskedObjective(task.loss_kind)
