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
