"""Composite throughput on 1,000 demo faces against the model's forward+backward bound.

Every gradient-based map needs at least one forward and one backward pass per image, so
``1 / t(forward+backward)`` (batch 1) is the ceiling for a per-image composite run of gradient and
CAM methods; the batched figure shows what the hardware could do with batching across images.
The composite run adds image decoding, alignment, preprocessing, the engine's bookkeeping and the
running sums; the ratio of the two says how much of the bound is reached. Both are printed as wall
rates and per CPU-second; on a shared CPU use ``--threads 1`` and read the CPU-time ratio, which
does not move with the machine's load the way wall time does.

Also measured: the same run resumed from a warm disk cache (nothing recomputed), and the gallery
embedding pass that similarity search needs (batched forwards only).

    python benchmarks/bench_composites.py                    # 1,000 generated demo faces, demo model
    python benchmarks/bench_composites.py --images DIR --model CKPT --methods saliency,gradcam
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Timer:
    """Wall and process CPU time. On a shared CPU the wall clock also counts time spent waiting for
    other processes; CPU time (with one torch thread) measures the work itself, so ratios taken on
    it are comparable even when the machine's load changes during the run."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def forward_backward_seconds(adapter, batch: int, reps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per image for forward + backward of the top logit w.r.t. the input."""
    c = adapter.channels
    h, w = adapter.input_size
    x = torch.rand(batch, c, h, w, device=adapter.device)
    model = adapter.logits_module

    def once() -> None:
        xi = x.clone().requires_grad_(True)
        out = model(xi)
        out = out[0] if isinstance(out, (tuple, list)) else out
        torch.autograd.grad(out.max(dim=1).values.sum(), xi)

    for _ in range(3):
        once()
    if adapter.device.type == "cuda":
        torch.cuda.synchronize()
    with Timer() as t:
        for _ in range(reps):
            once()
        if adapter.device.type == "cuda":
            torch.cuda.synchronize()
    return t.wall / (reps * batch), t.cpu / (reps * batch)


def main() -> int:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=Path, help="labelled images folder (default: generate demo faces)")
    parser.add_argument("--n", type=int, default=1000, help="number of demo faces to generate (default 1000)")
    parser.add_argument("--methods", default="saliency,gradcam")
    parser.add_argument("--statistic", default="mean", choices=("mean", "median"))
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()

    from gmxai_desktop.core.analysis.composites import ALL, compute_composites
    from gmxai_desktop.core.analysis.embeddings import embed_gallery
    from gmxai_desktop.core.base.errors import CheckpointError
    from gmxai_desktop.core.demo.classes import DEMO_CLASSES
    from gmxai_desktop.core.inputs.labels import read_labels
    from gmxai_desktop.core.models import load_model
    from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="gmxai-bench-composites-"))
    try:
        if args.images is None:
            from gmxai_desktop.core.demo.dataset import write_dataset

            per_class = -(-args.n // len(DEMO_CLASSES))
            t0 = time.perf_counter()
            write_dataset(work / "demo", dict.fromkeys((c.name for c in DEMO_CLASSES), per_class), seed=7)
            images_dir = work / "demo" / "images"
            print(f"generated {per_class * len(DEMO_CLASSES)} demo faces in {time.perf_counter() - t0:.1f} s")
        else:
            images_dir = args.images
        labels = read_labels(images_dir)
        labels = dict(list(labels.items())[: args.n])
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        try:
            adapter = load_model(args.model, device=args.device)
        except CheckpointError as exc:
            if args.model not in ("demo", "demo-imbalanced"):
                raise
            # Throughput does not depend on the weights: a same-architecture random network with the
            # demo's classes, loaded through the same loader, costs exactly what the demo model does.
            print(f"note: {exc}; using a randomly initialised v1 network with the demo classes")
            ckpt = work / "random_v1.pt"
            torch.manual_seed(0)
            torch.save(GestaltMatcherV1(num_classes=len(DEMO_CLASSES)).state_dict(), ckpt)
            names = work / "random_v1.classes.txt"
            names.write_text("\n".join(c.name for c in DEMO_CLASSES) + "\n")
            adapter = load_model(str(ckpt), classes=str(names), device=args.device)
        print(f"model {adapter.arch} ({adapter.model_id}), device {adapter.device}, "
              f"torch threads {torch.get_num_threads()}, {len(labels)} images, methods {', '.join(methods)}")

        fb1, fb1_cpu = forward_backward_seconds(adapter, 1, 50)
        fb32, fb32_cpu = forward_backward_seconds(adapter, 32, 5)
        for label, wall, cpu in (("batch 1", fb1, fb1_cpu), ("batch 32", fb32, fb32_cpu)):
            print(f"forward+backward bound, {label}: {1 / wall:7.1f} images/s wall, "
                  f"{1 / cpu:7.1f} per CPU-second")

        def report(label: str, t: Timer, n: int, vs_bound: bool = True) -> None:
            ratio = f"; {n / t.cpu * fb1_cpu:.0%} of the batch-1 bound in CPU time" if vs_bound else ""
            print(f"{label:<22} {n / t.wall:7.1f} images/s wall, {n / t.cpu:7.1f} per CPU-second "
                  f"({t.wall:.1f} s{ratio})")

        cache = work / "cache"
        with Timer() as t:
            cold = compute_composites(adapter, labels, methods, statistic=args.statistic, cache_dir=cache)
        n = cold.counts[ALL] + len(cold.skipped) + len(cold.excluded)
        report("composite, cold cache", t, n)
        with Timer() as t:
            warm = compute_composites(adapter, labels, methods, statistic=args.statistic, cache_dir=cache)
        assert warm.computed == 0
        report("composite, warm cache", t, n, vs_bound=False)
        with Timer() as t:
            compute_composites(adapter, labels, methods, statistic=args.statistic)
        report("composite, no cache", t, n)
        if adapter.has_embedding:
            with Timer() as t:
                embed_gallery(adapter, list(labels))
            report("gallery embeddings", t, n, vs_bound=False)  # forwards only, batched
        fb1_after, fb1_cpu_after = forward_backward_seconds(adapter, 1, 50)
        print(f"forward+backward bound, batch 1, again: {1 / fb1_after:7.1f} images/s wall, "
              f"{1 / fb1_cpu_after:7.1f} per CPU-second")
        print(f"classes: {', '.join(f'{c} {cold.counts[c]}' for c in cold.classes)}; "
              f"skipped {len(cold.skipped)}")
    finally:
        if not os.environ.get("GMXAI_BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
