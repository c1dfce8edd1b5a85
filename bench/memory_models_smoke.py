"""A first learning check of the DNC, Stack-RNN and Tape-RNN: does each learn its task at short lengths?

Not the issue's convergence targets (those train at the full lengths, for hours): three short runs of
`ntm train` (seed 0, the trainer's defaults except the listed ones: no polishing, no restarts, at
most 3,000 steps and 420 s each), each ending with the comparison against the machine at the
longest training length and at twice it.

    python bench/memory_models_smoke.py        # writes bench/results/memory_models_smoke.json (~4 min)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [  # model, task, task_params, model_params (the model's defaults otherwise)
    ("dnc", "copy", {"width": 4, "train_lengths": [1, 5]}, {}),
    ("stack_rnn", "reverse", {"train_lengths": [1, 10]}, {}),
    ("tape_rnn", "duplicate", {"train_lengths": [1, 10]}, {}),
]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import torch

    from ntm.training import TrainConfig, train

    rows = []
    for model, task, task_params, model_params in CASES:
        longest = task_params["train_lengths"][1]
        cfg = TrainConfig(task=task, task_params=task_params, model=model, model_params=model_params,
                          steps=3000, eval_every=250, polish_steps=0, restart_steps=None, max_seconds=420,
                          compare_lengths=[longest, 2 * longest], device="cpu", seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.time()
            res = train(cfg, Path(tmp) / "run", progress=False, log=lambda *_: None)
        row = {"model": model, "task": task, "task_params": task_params, "model_params": model_params,
               "steps": res.steps, "best_bits_per_seq": res.best_bits, "seconds": round(time.time() - start, 1),
               "comparison": res.comparison}
        print(json.dumps({k: row[k] for k in ("model", "task", "steps", "best_bits_per_seq", "seconds")}), flush=True)
        rows.append(row)
    out = ROOT / "bench" / "results" / "memory_models_smoke.json"
    out.write_text(json.dumps({"torch": torch.__version__, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
