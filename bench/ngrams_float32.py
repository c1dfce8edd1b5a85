"""Why the NTM's float32 gradient blows up on some dynamic N-grams batches (issue 18), in two steps.

    python bench/ngrams_float32.py find  [--out /tmp/ngrams_blowup.pt]   # ~4 min: train until it happens
    python bench/ngrams_float32.py probe [--out /tmp/ngrams_blowup.pt] [--eps 1e-10]   # that batch, float32 and float64

`find` trains the NTM on ngrams with bench/ngrams_ntm_lstm.py's settings (batch 16, Adam lr 0.003,
seed 0) and stops at the first step whose float32 gradient norm is above 1e6 or not finite, saving
the weights as they were for that batch and the batch. `probe` recomputes that batch's gradient in
float32 and float64 and records, at every call of the content addressing's cosine similarity
(eq. 6), the largest |dL/dM| arriving at the memory and the smallest memory-row norm, and prints
the parameter-gradient norm of each dtype. Results: bench/README.md, "Dynamic N-grams".
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


_TENSORS = ("inputs", "input_lengths", "targets", "mask", "lengths", "machine_steps")


def find(out: Path) -> int:
    import ntm.training.loop as loop
    from ntm.training import TrainConfig, train

    last, step = {}, [0]
    predict, clip = loop.predict, torch.nn.utils.clip_grad_norm_

    def recording_predict(model, batch):
        last.update(state=copy.deepcopy(model.state_dict()), batch=batch)
        return predict(model, batch)

    def checking_clip(params, max_norm, *args, **kwargs):
        norm = clip(list(params), max_norm, *args, **kwargs)
        step[0] += 1
        if not torch.isfinite(norm) or norm > 1e6:
            b = last["batch"]                                 # tensors only: loads without unpickling
            torch.save({"state": last["state"], "norm": float(norm), "step": step[0],
                        **{k: getattr(b, k) for k in _TENSORS}}, out)
            print(f"step {step[0]}: gradient norm {float(norm):.3g}; saved {out}")
            raise SystemExit(0)
        return norm

    loop.predict, torch.nn.utils.clip_grad_norm_ = recording_predict, checking_clip
    cfg = TrainConfig(task="ngrams", model="ntm", steps=20_000, batch_size=16, lr=0.003, eval_every=250,
                      eval_samples=64, compare_lengths=[100], restart_steps=None, device="cpu", seed=0)
    train(cfg, out.with_suffix(".run"), progress=False, log=lambda *_: None)
    print("no blow-up within the steps")
    return 0


def gradient(saved: dict, dtype, eps: float | None = None) -> dict:
    """The saved batch's loss gradient in dtype, with what reaches the memory at each cosine call;
    eps: the norm floor of eq. 6 (default memory.EPS)."""
    from ntm.models import build_model, memory, predict
    from ntm.training.objective import objective_for
    from tasks.registry import get_task

    seen = {"dM": [], "row_norm": []}
    cosine = memory.cosine_similarity

    def probed(k, M, floor=memory.EPS):
        seen["row_norm"].append(M.norm(dim=-1).min().item())
        if M.requires_grad:
            M = M.clone()
            M.register_hook(lambda g: seen["dM"].append(g.abs().max().item()))
        return cosine(k, M, floor if eps is None else eps)

    task = get_task("ngrams")
    model = build_model("ntm", task.input_size, task.output_size)
    model.load_state_dict(saved["state"])
    model = model.to(dtype)
    memory.cosine_similarity = probed
    try:
        objective_for(task).loss(predict(model, saved["batch"]), saved["batch"]).backward()
    finally:
        memory.cosine_similarity = cosine
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()
    return {"norm": norm, "max_dM": max(seen["dM"]), "min_row_norm": min(seen["row_norm"])}


def probe(out: Path, eps: float | None) -> int:
    from tasks.task import Batch

    saved = torch.load(out, weights_only=True)
    B = saved["inputs"].shape[0]
    saved["batch"] = Batch(**{k: saved[k] for k in _TENSORS}, input_symbols=[()] * B, output_symbols=[()] * B,
                           online=True)
    print(f"the batch of step {saved['step']} (float32 gradient norm {saved['norm']:.3g} in training)")
    for dtype in (torch.float64, torch.float32):
        g = gradient(saved, dtype, eps)
        print(f"{str(dtype):14s} gradient norm {g['norm']:.3g}; largest |dL/dM| at the cosine's memory "
              f"{g['max_dM']:.3g}; smallest memory-row norm {g['min_row_norm']:.3g}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["find", "probe"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ngrams_blowup.pt"))
    parser.add_argument("--eps", type=float, default=None, help="probe: another norm floor for eq. 6")
    args = parser.parse_args()
    return find(args.out) if args.what == "find" else probe(args.out, args.eps)


if __name__ == "__main__":
    sys.exit(main())
