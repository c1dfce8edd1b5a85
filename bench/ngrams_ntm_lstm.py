"""Dynamic N-grams (Graves et al. 2014, §4.4): the NTM and the LSTM under the same budget, one after
the other (seed 0), with the settings of the recorded LSTM run (bench/README.md "Dynamic N-grams: a
first LSTM run"): batch 16, Adam lr 0.003, evaluation every 250 steps on 64 fixed sequences of 200
bits, final comparison at n = 100, 200, 400; each run stops after `--max-seconds` of training.

- NTM: the project's defaults, which are the paper's N-grams NTM with an LSTM controller (table 2:
  one read and one write head, 100 controller units, 128 x 20 memory);
- LSTM: 1 layer of 100 units, as in the recorded run (the paper's LSTM had 3 x 128).
Restarts are off for both (they apply to memory models only, and would start the NTM again from new
weights at step 1200 whenever its error is above 10 bits/seq, which on ngrams it always is then).

    python bench/ngrams_ntm_lstm.py [--max-seconds 900]   # bench/results/ngrams_ntm_lstm.json
    python bench/ngrams_ntm_lstm.py --models ntm --max-seconds 3600 --out bench/results/ngrams_ntm_3600.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = [("ntm", {}), ("lstm", {"hidden_size": 100, "layers": 1})]   # model, model_params


def run(model: str, params: dict, max_seconds: float) -> dict:
    """One training run; its evaluations (RUN/metrics.jsonl) and final comparison."""
    from ntm.models import build_model, count_parameters
    from ntm.training import TrainConfig, train

    cfg = TrainConfig(task="ngrams", model=model, model_params=params, steps=1_000_000, batch_size=16,
                      lr=0.003, eval_every=250, eval_samples=64, compare_lengths=[100, 200, 400],
                      restart_steps=None, max_seconds=max_seconds, device="cpu", seed=0)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        res = train(cfg, Path(tmp) / "run", progress=False, log=lambda *_: None)
        seconds = time.time() - start
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    return {"model": model, "model_params": params, "parameters": count_parameters(build_model(model, 1, 1, **params)),
            "load_average_before": load, "steps": res.steps, "sequences": res.steps * cfg.batch_size,
            "best_bits_per_seq": res.best_bits, "seconds_total": round(seconds, 1), "skipped_steps": res.skipped,
            "evaluations": rows, "comparison": res.comparison}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--models", nargs="+", choices=[m for m, _ in RUNS], default=[m for m, _ in RUNS])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ngrams_ntm_lstm.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    out = args.out
    result = {"torch": torch.__version__, "cpus": os.cpu_count(), "max_seconds": args.max_seconds,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": []}
    for model, params in (r for r in RUNS if r[0] in args.models):
        result["runs"].append(run(model, params, args.max_seconds))
        r = result["runs"][-1]
        print(json.dumps({k: r[k] for k in ("model", "steps", "best_bits_per_seq", "seconds_total")}), flush=True)
        out.write_text(json.dumps(result, indent=1))       # after each run: the first survives a kill
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
