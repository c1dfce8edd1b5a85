"""Compare a trained model with the reference machine, length by length (``ntm compare``).

The targets of every task batch are what the machine wrote, so scoring a model against a batch is
scoring it against the machine. Metrics (DESIGN.md):

- ``bit_errors_per_seq``: wrong output bits per sequence for bit-vector tasks (the NTM paper's
  cost, "bits per sequence"), wrong output symbols per sequence for one-hot symbol tasks;
- ``symbol_accuracy``: fraction of output positions whose whole symbol is right (the
  Chomsky-hierarchy benchmark's per-token accuracy);
- ``seq_accuracy``: fraction of sequences identical to the machine's output;
- ``median_first_divergence``: median over wrong sequences of the first wrong output position
  (None when every sequence is right).

A task whose reference is a predictor, not a machine (dynamic N-grams, Graves et al. 2014 §4.4: a
task with ``optimal_cost(batch)``), is scored by cross-entropy instead, in bits per sequence (summed
over the predicted bits): ``model_bits_per_seq``, ``optimal_bits_per_seq`` (the Bayes-optimal
estimator on the same fixed sequences) and ``excess_bits_per_seq`` (their difference, the paper's
"cost above optimal"); `format_table` then shows those columns and no thresholded bit errors,
which mean little when the best prediction is a probability.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.nn.functional as F

from ntm.models import memory_rows, online_logits, predict


@torch.no_grad()
def sequence_errors(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_kind: str
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Errors per sequence (B,) — wrong bits for "bce" (logit sign against the target bit), wrong
    symbols (argmax) for "ce" — and the wrong output positions (B, T_out), within mask (B, T_out)."""
    mask = mask.bool()
    if loss_kind == "bce":
        wrong_bits = ((logits > 0) != (targets > 0.5)) & mask.unsqueeze(-1)  # (B, T_out, C_out)
        return wrong_bits.sum(dim=(1, 2)), wrong_bits.any(-1)
    wrong_pos = (logits.argmax(-1) != targets.argmax(-1)) & mask              # (B, T_out)
    return wrong_pos.sum(1), wrong_pos


@torch.no_grad()
def cross_entropy_bits(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy in bits per sequence (B,): summed over channels and the masked output
    positions. logits, targets (B, T_out, C_out); mask (B, T_out)."""
    per_pos = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none").sum(-1)
    return (per_pos * mask.to(per_pos.dtype)).sum(1) / math.log(2)


def _cost_columns(task, batch, logits: torch.Tensor) -> dict:
    """For a task scored against an optimal predictor (``task.optimal_cost``): the model's and the
    predictor's cross-entropy and their difference, bits per sequence, means over the batch."""
    model = cross_entropy_bits(logits, batch.targets, batch.mask).mean().item()
    optimal = float(task.optimal_cost(batch).mean())
    return {"model_bits_per_seq": model, "optimal_bits_per_seq": optimal, "excess_bits_per_seq": model - optimal}


@torch.no_grad()
def score(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, loss_kind: str) -> dict:
    """Score logits (B, T_out, C_out) against machine targets (B, T_out, C_out) where mask (B, T_out).

    Returns a dict with ``bit_errors_per_seq`` (errors per sequence: bits for "bce", symbols for
    "ce"), ``symbol_accuracy``, ``seq_accuracy``, ``median_first_divergence`` and per-sequence
    ``errors`` (B,) (a CPU tensor).
    """
    errors, wrong_pos = sequence_errors(logits, targets, mask, loss_kind)  # (B,), (B, T_out)
    n_pos = mask.bool().sum().clamp(min=1)
    first = [int(row.nonzero()[0]) for row in wrong_pos if row.any()]
    return {
        "bit_errors_per_seq": errors.float().mean().item(),
        "symbol_accuracy": 1.0 - (wrong_pos.sum() / n_pos).item(),
        "seq_accuracy": (errors == 0).float().mean().item(),
        "median_first_divergence": statistics.median(first) if first else None,
        "errors": errors.cpu(),
    }


@torch.no_grad()
def fresh_errors(model, task, length: int, samples: int, rng, batch_size: int = 256
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Errors per sequence (samples,) on `samples` fresh random sequences of `length` drawn from
    `rng` (numpy Generator; batches of `batch_size`, so the draws depend on it), and their inputs
    (samples, T_in, C_in): new draws each call, unlike the fixed sets of `compare`."""
    model.eval()
    errors, inputs = [], []
    for start in range(0, samples, batch_size):
        b = task.sample(rng, min(batch_size, samples - start), length)
        errors.append(sequence_errors(predict(model, b), b.targets, b.mask, task.loss_kind)[0])
        inputs.append(b.inputs)
    return torch.cat(errors), torch.cat(inputs)


@torch.no_grad()
def compare(model, task, lengths, samples: int = 256, device="cpu", batch_size: int = 256) -> list[dict]:
    """Score `model` against the machine on the task's fixed evaluation set at each length.

    Args:
        model: any model of `ntm.models` (``forward(inputs, T_out, input_lengths, output_lengths)``).
        task: a `tasks.Task`; its ``eval_batch(length, n)`` gives the fixed sequences.
        lengths: input lengths n to score.
        samples: sequences per length.

    Returns:
        One dict per length: ``length``, ``samples``, the metrics of `score` (without ``errors``),
        ``in_training_range`` and ``exceeds_memory`` (n > N rows: flagged, not silently scored as
        if it fitted — the score is still computed, so you can see what happens); for a task with
        ``optimal_cost`` also the cross-entropy columns of the module docstring (bits per sequence).
    """
    model.eval()
    rows, N = [], memory_rows(model)
    lo, hi = task.train_lengths
    for n in lengths:
        batch = task.eval_batch(n, samples)  # fixed seed per (task, length): the same set every call
        parts = []
        for start in range(0, samples, batch_size):
            sl = slice(start, start + batch_size)
            inputs, lens = batch.inputs[sl].to(device), batch.input_lengths[sl].to(device)
            if batch.online:   # one prediction per step, each from the steps so far (ntm.models.online)
                logits = online_logits(model, inputs)
            else:
                logits = model(inputs, batch.targets.shape[1], lens, batch.output_lengths[sl].to(device))
            parts.append((logits.cpu(), batch.targets[sl], batch.mask[sl]))
        logits, targets, mask = (torch.cat(x) for x in zip(*parts))
        s = score(logits, targets, mask, task.loss_kind)
        s.pop("errors")
        if hasattr(task, "optimal_cost"):
            s.update(_cost_columns(task, batch, logits))
        rows.append({"length": n, "samples": samples, **s, "in_training_range": lo <= n <= hi,
                     "exceeds_memory": N is not None and n > N})
    return rows


def default_compare_lengths(task) -> list[int]:
    """The training range (its ends and middle) and 1.5x, 2.5x, 4x and 6x its maximum, within what
    the task can encode. For copy (1-20): 1, 10, 20, 30, 50, 80, 120."""
    lo, hi = task.train_lengths
    cands = {lo, max(lo, hi // 2), hi, int(1.5 * hi), int(2.5 * hi), 4 * hi, 6 * hi}
    return sorted(n for n in cands if n <= task.max_length)


def format_table(rows: list[dict], loss_kind: str = "bce") -> str:
    """The comparison as a fixed-width text table. The error column counts bits for bit-vector tasks
    (loss_kind "bce") and symbols for one-hot symbol tasks ("ce"), and is headed so."""
    if rows and "optimal_bits_per_seq" in rows[0]:
        return format_cost_table(rows)
    unit = "bit err/seq" if loss_kind == "bce" else "sym err/seq"
    head = f"{'length':>6} {unit:>11} {'symbol acc':>10} {'seq acc':>8} {'1st diverg.':>11}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        fd = "-" if r["median_first_divergence"] is None else f"{r['median_first_divergence']:.0f}"
        lines.append(f"{r['length']:>6} {r['bit_errors_per_seq']:>11.3f} {r['symbol_accuracy']:>10.4f} "
                     f"{r['seq_accuracy']:>8.3f} {fd:>11}  {_note(r)}")
    return "\n".join(lines)


def format_cost_table(rows: list[dict]) -> str:
    """The comparison of a task scored against an optimal predictor (dynamic N-grams): cross-entropy
    of the model and of the Bayes-optimal estimator on the same sequences, and the model's excess,
    all in bits per sequence (module docstring)."""
    head = f"{'length':>6} {'model bits/seq':>14} {'optimal bits/seq':>16} {'excess bits/seq':>15}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['length']:>6} {r['model_bits_per_seq']:>14.3f} {r['optimal_bits_per_seq']:>16.3f} "
                     f"{r['excess_bits_per_seq']:>15.3f}  {_note(r)}")
    return "\n".join(lines)


def _note(row: dict) -> str:
    """A table row's note: in the training range, beyond the memory's N rows."""
    return " ".join(n for n, on in (("train", row["in_training_range"]),
                                    ("exceeds memory N", row["exceeds_memory"])) if on)
