"""What the trainer writes and shows, as callbacks (`ntm.training.loop.Callback`): the metrics file,
TensorBoard scalars, the progress bar and the checkpoints of the run directory."""

from __future__ import annotations

import json
from pathlib import Path

from ntm.training import checkpoint as ckpt
from ntm.training.loop import Callback
from ntm.training.state import Phase


class MetricsLog(Callback):
    """RUN/metrics.jsonl: one JSON object per evaluation. A file already there (a resumed run) first
    loses its rows after `start_step` (the checkpoint's step) and any torn line from a kill, so the
    file equals an uninterrupted run's."""

    def __init__(self, run_dir: Path, start_step: int = 0):
        self.path = Path(run_dir) / "metrics.jsonl"
        if self.path.exists():
            keep = [ln for ln in self.path.read_text(encoding="utf-8", errors="replace").splitlines()
                    if _row_step(ln) is not None and _row_step(ln) <= start_step]
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(ln + "\n" for ln in keep))
            tmp.replace(self.path)
        self.file = open(self.path, "a")

    def on_metrics(self, trainer, row):
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self):
        self.file.close()


def _row_step(line: str) -> int | None:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None


class TensorBoardLog(Callback):
    """RUN/tensorboard: loss, bits per sequence, sequence accuracy and lr against sequences seen.
    `create` returns None when tensorboard is not installed (metrics.jsonl has it all)."""

    KEYS = ("loss", "bits_per_seq", "seq_accuracy", "lr")

    def __init__(self, writer):
        self.writer = writer

    @classmethod
    def create(cls, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: JSONL metrics only
            return None
        return cls(SummaryWriter(str(Path(run_dir) / "tensorboard")))

    def on_metrics(self, trainer, row):
        for k in self.KEYS:
            if row[k] is not None:
                self.writer.add_scalar(k, row[k], row["sequences"])

    def close(self):
        self.writer.close()


class ProgressBar(Callback):
    """A rich progress bar: steps, sequences/s, the current and the best error per sequence (in the
    score's unit: bits, symbols, ...)."""

    def __init__(self, total: int, done: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.p = Progress(TextColumn("steps"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.fields[info]}"), transient=False)
        self.p.start()
        self.t = self.p.add_task("train", total=total, completed=done, info="")

    def on_evaluated(self, trainer, score):
        st = trainer.state
        rate = st.sequences / max(st.seconds, 1e-9)
        best = score.bits if st.best_bits is None else st.best_bits
        self.p.update(self.t, completed=st.step, info=f"{rate:,.0f} seq/s | {score.bits:.3f} {score.unit} | best {best:.3f}")

    def close(self):
        self.p.stop()


class Checkpointer(Callback):
    """RUN/checkpoint/ every `every` steps, when the run finishes and when the loop ends having trained
    (everything --resume needs, swapped in atomically), and RUN/weights.safetensors whenever the best
    weights change. A resume that trains nothing writes nothing."""

    def __init__(self, run_dir: Path, every: int):
        self.run_dir, self.every, self.start_step = Path(run_dir), every, None

    def on_start(self, trainer):
        self.start_step = trainer.state.step

    def on_new_best(self, trainer):
        ckpt.save_tensors(self.run_dir / "weights.safetensors", trainer.best_weights)

    def on_step_end(self, trainer):
        if trainer.state.step % self.every == 0 or trainer.state.phase is Phase.FINISHED:
            self.save(trainer)

    def on_end(self, trainer):
        if trainer.state.step != self.start_step or not (self.run_dir / "checkpoint").exists():
            self.save(trainer)

    def save(self, trainer):
        averaged = None if trainer.averaged is None else trainer.averaged.state_dict()
        ckpt.save_checkpoint(self.run_dir, model=trainer.model, best_weights=trainer.best_weights,
                             optimizer=trainer.optimizer, averaged=averaged,
                             state={**trainer.state.to_json(), "rng": trainer.batches.rng_state})
