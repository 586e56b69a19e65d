"""Deletion + insertion for one map: ours against its forward bound and against Quantus.

Models (random weights; timing does not depend on them), built by ``bench_methods.build``:
  v1        GestaltMatcher v1, 100x100 grey (10 000 pixels: 100 steps of 100 pixels)
  resnet50  torchvision ResNet-50 at 112x112 RGB (12 544 pixels: 100 steps of 126 pixels)

Printed per model:
  * forward throughput at several batch sizes (inference mode), of the model as given and of the
    engine's channels-last copy the scorer runs, and the best images/s of either;
  * ours: a fresh :class:`Scorer` (nothing cached) running deletion and insertion of one map,
    i.e. 2·(n + 1) forwards; the bound = 2·(n + 1) / best images/s; ours/bound (target <= 1.2);
  * Quantus called the usual way: ``quantus.PixelFlipping`` (its deletion curve, black baseline,
    ``features_in_step`` = our step times the channel count, because Quantus flips every channel
    value separately, rounded to the nearest divisor of H·W, as Quantus requires), and
    the same metric started from our blurred image with a ``perturb_func`` that puts the
    original's values back (Quantus has no insertion metric); quantus/ours.

Times are the best of ``--repeats`` (the least disturbed on a shared machine):

    pip install -e '.[bench]'
    python benchmarks/bench_faithfulness.py --repeats 3
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_methods import best_time, build, throughput

from gmxai_desktop.core.analysis.faithfulness.deletion_insertion import (
    blurred,
    deletion_insertion,
    step_plan,
)
from gmxai_desktop.core.analysis.faithfulness.scoring import Scorer, normalise
from gmxai_desktop.core.attribution.methods.surgery import borrowed

warnings.filterwarnings("ignore")


def ours(adapter, x, saliency, target) -> tuple[float, int]:
    holder = {}

    def run() -> None:
        with Scorer(adapter, x, target) as scorer:
            deletion_insertion(scorer, saliency)
            holder["forwards"] = scorer.forwards

    return run, holder


def quantus_step(n_values: int, wanted: int) -> int:
    """Quantus asserts that ``features_in_step`` divides the input size: the nearest divisor."""
    divisors = [d for d in range(1, n_values + 1) if n_values % d == 0]
    return min(divisors, key=lambda d: (abs(d - wanted), d))


def quantus_runs(adapter, x, saliency, target, step):
    import quantus

    model = adapter.logits_module.eval()
    c = x.shape[1]
    # Quantus checks the step against H·W but flips all C·H·W values in order.
    q_step = quantus_step(x.shape[-1] * x.shape[-2], step * c)
    a = np.broadcast_to(saliency[None, None], x.shape).astype(np.float32).copy()
    y = np.array([target])
    xb = x.numpy()
    image = (x[0] * torch.tensor(adapter.std).view(-1, 1, 1) + torch.tensor(adapter.mean).view(-1, 1, 1))
    blur_x = normalise(adapter, blurred(image)[None]).numpy()

    def restore(arr: np.ndarray, indices: np.ndarray, original: np.ndarray, **_kw) -> np.ndarray:
        out = arr.copy()
        rows = np.arange(out.shape[0])[:, None]
        out[rows, indices] = original.reshape(out.shape[0], -1)[rows, indices]
        return out

    def deletion() -> None:
        quantus.PixelFlipping(features_in_step=q_step, perturb_baseline="black", disable_warnings=True)(
            model=model, x_batch=xb, y_batch=y, a_batch=a, device="cpu", softmax=True)

    def insertion() -> None:
        quantus.PixelFlipping(features_in_step=q_step, perturb_func=restore,
                              perturb_func_kwargs={"original": xb}, disable_warnings=True)(
            model=model, x_batch=blur_x, y_batch=y, a_batch=a, device="cpu", softmax=True)

    return deletion, insertion, 2 * math.ceil(x.numel() / q_step)


def bench(name: str, repeats: int) -> None:
    adapter, x = build(name)
    torch.manual_seed(1)
    h, w = adapter.input_size
    saliency = np.random.default_rng(0).standard_normal((h, w)).astype(np.float32)
    with torch.inference_mode():
        target = int(adapter.logits_module.eval()(x).argmax())
    step, n, _ = step_plan(h * w)
    sizes = [1, 8, 16, 32, 64]
    tp = throughput(adapter.logits_module.eval(), x, sizes, 1.0, repeats)
    # The scorer runs the engine's private copy (channels-last convolutions on the CPU): the bound
    # is the faster of the two layouts, so ours/bound is not flattered by the layout.
    with borrowed(adapter.logits_module, x) as private:
        tp_copy = throughput(private.inference_module(), x, sizes, 1.0, repeats)
    best = max(max(tp.values()), max(tp_copy.values()))
    bound = 2 * (n + 1) / best
    run, holder = ours(adapter, x, saliency, target)
    t_ours = best_time(run, repeats)
    deletion, insertion, q_forwards = quantus_runs(adapter, x, saliency, target, step)
    t_qd = best_time(deletion, repeats)
    t_qi = best_time(insertion, repeats)
    print(f"\n== {name}: {h}x{w}x{adapter.channels}, step {step} px, n = {n} steps")
    print("throughput (img/s), model as given: " + ", ".join(f"bs{b}: {v:.1f}" for b, v in tp.items()))
    print("throughput (img/s), channels-last copy: "
          + ", ".join(f"bs{b}: {v:.1f}" for b, v in tp_copy.items()))
    print(f"forward bound 2(n+1) = {2 * (n + 1)} forwards at {best:.1f} img/s: {bound:.2f} s")
    print(f"ours deletion+insertion: {t_ours:.2f} s ({holder['forwards']} forwards); "
          f"ours/bound = {t_ours / bound:.2f}")
    print(f"quantus PixelFlipping ({q_forwards} forwards) deletion {t_qd:.2f} s + insertion {t_qi:.2f} s "
          f"= {t_qd + t_qi:.2f} s; "
          f"quantus/ours = {(t_qd + t_qi) / t_ours:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="v1,resnet50")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats}")
    for name in args.models.split(","):
        bench(name.strip(), args.repeats)


if __name__ == "__main__":
    main()
