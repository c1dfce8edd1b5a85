"""Online prediction on dynamic N-grams: the time of one training step before and after the O(T)
path for the step models (`ntm.models.online`), and the two ways of taking the answer steps.

A training step is what the trainer does on ngrams: online logits of a batch of 16 sequences of
n = 200 bits (199 predictions each), the masked BCE loss, backward, Adam (1 torch thread).
- "steps": the NTM (project defaults: LSTM-100 controller, 128 x 20 memory, 1 read + 1 write head)
  and the LSTM of the recorded ngrams run (1 x 100), through `online_logits` (after) and through
  `prefix_logits` (the definition, one model call per prefix: what every memory model ran before);
- "answers": forward + backward of the step models' online logits with the answer steps taken one
  per input (2T step calls), in chunks of 32 inputs (`STEP_CHUNK`, what ships), or all at the end.

    python bench/bench_online.py        # writes bench/results/online_step.json (~4 min on 2 busy cores)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N, BATCH = 200, 16


def interleaved(model, x):
    """The answer step after every input step: 2T step calls, no states kept."""
    import torch
    B, T, C = x.shape
    zero, state, ys = x.new_zeros(B, C), model.initial_state(B), []
    for t in range(T):
        state = model.step(x[:, t], state)[1]
        ys.append(model.step(zero, state)[0])
    return torch.stack(ys, 1)                                                 # (B, T, C_out)


def timed(fn, rounds: int) -> list[float]:
    """Seconds of each of `rounds` calls of fn()."""
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def training_steps(build_model, online_logits, prefix_logits, masked_loss, batch) -> list[dict]:
    """One training step (logits, loss, backward, Adam) per model and path, after one untimed; the
    prefix path of the NTM takes seconds a step, so it gets 2 timed rounds, the rest 5."""
    import torch
    rows = []
    for name, params in (("ntm", {}), ("lstm", {"hidden_size": 100, "layers": 1})):
        torch.manual_seed(0)
        model = build_model(name, 1, 1, **params)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for path, logits_of in (("online_logits", online_logits), ("prefix_logits", prefix_logits)):
            def step():
                loss = masked_loss(logits_of(model, batch.inputs), batch.targets, batch.mask, "bce")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step()                              # warm-up, untimed: the numba kernels load on first use
            times = timed(step, 2 if (name, path) == ("ntm", "prefix_logits") else 5)
            rows.append({"model": name, "path": path, "seconds_per_step": times,
                         "median": statistics.median(times), "seq_per_s": BATCH / statistics.median(times)})
            print(json.dumps({k: rows[-1][k] for k in ("model", "path", "median")}), flush=True)
    return rows


def answer_variants(build_model, step_online, batch) -> list[dict]:
    """Forward + backward of the online logits with the answers one per input, every 32, all at once;
    rounds interleaved so the three see the same load."""
    import torch
    rows = []
    for name, params in (("ntm", {}), ("dnc", {}), ("stack_rnn", {}), ("tape_rnn", {"jump": False})):
        torch.manual_seed(0)
        model = build_model(name, 1, 1, **params)
        ways = {"per input (2T calls)": lambda: interleaved(model, batch.inputs),
                "chunks of 32": lambda: step_online(model, batch.inputs, 32),
                "all at the end": lambda: step_online(model, batch.inputs, batch.inputs.shape[1])}
        times = {k: [] for k in ways}
        for _ in range(5):
            for way, fn in ways.items():
                times[way] += timed(lambda: fn().sum().backward(), 1)
        for way, t in times.items():
            rows.append({"model": name, "answers": way, "seconds": t, "median": statistics.median(t)})
            print(json.dumps({k: rows[-1][k] for k in ("model", "answers", "median")}), flush=True)
    return rows


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from ntm.models import build_model
    from ntm.models.online import _step_online, online_logits, prefix_logits
    from ntm.training.objective import masked_loss
    from tasks import get_task

    torch.set_num_threads(1)
    load = os.getloadavg()
    batch = get_task("ngrams").sample(np.random.default_rng(0), BATCH, N)
    result = {"torch": torch.__version__, "cpus": os.cpu_count(), "load_average_before": load,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n": N, "batch": BATCH,
              "threads": 1, "training_step": training_steps(build_model, online_logits, prefix_logits,
                                                            masked_loss, batch),
              "answer_steps": answer_variants(build_model, _step_online, batch),
              "load_average_after": os.getloadavg()}
    out = ROOT / "bench" / "results" / "online_step.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
