"""GestaltMatcher-Arc timings on this machine: forwards, gallery embedding with 12 variants, the suite.

Networks have random weights and the real topologies (insightface iResNet-50 / iResNet-100,
112x112 RGB, 512-d); timing does not depend on the weights. Printed:

* forward time of the plain torch iResNet and of the same network loaded the way gmxai loads
  Arc files (ONNX export -> onnx2torch -> our dataflow interpreter, PReLU split), at batch 1 and
  over a range of batch sizes (inference mode), with the best images/s and the ratio loaded/plain;
* embedding a gallery with the upstream ensemble (m0 = r50, m1 = r100, m2 = r100) x flip x gray =
  12 variants per image through ``analysis.variants.embed_aligned``, measured on ``--gallery``
  images and extrapolated linearly to 1,000 (said so in the output), against its forward bound
  (12 x 1,000 forwards at the members' best measured throughput);
* the 11-method suite (``engine.explain`` with every registered method, default parameters) on one
  Arc member, explaining the cosine similarity to another face (the ONNX backbone has no classifier).

Times are minima over ``--repeats`` runs. Run on an otherwise idle machine for numbers worth quoting:

    python benchmarks/bench_arc.py                  # r50 + r100, 2 repeats
    python benchmarks/bench_arc.py --quick          # r50 only, 1 repeat, small gallery
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gmxai_desktop.core.models.arc.iresnet import iresnet


def best_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def forward_table(name: str, net: torch.nn.Module, batches: list[int], repeats: int) -> tuple[float, float]:
    """(seconds at batch 1, best images/s); prints one row per batch size."""
    rates = {}
    with torch.inference_mode():
        net(torch.zeros(1, 3, 112, 112))  # warm-up
        for b in batches:
            x = torch.rand(b, 3, 112, 112) * 2 - 1
            t = best_time(lambda x=x: net(x), repeats)
            rates[b] = (t, b / t)
            print(f"  {name:<24} batch {b:>3}: {t * 1000:9.1f} ms  {b / t:7.2f} img/s")
    best_b = max(rates, key=lambda k: rates[k][1])
    print(f"  {name:<24} best batch {best_b}: {rates[best_b][1]:.2f} img/s")
    return rates[1][0], rates[best_b][1]


def loaded_like_gmxai(net: torch.nn.Module, folder: Path, name: str):  # -> ModelAdapter
    from gmxai_desktop.core.models import load_model

    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), opset_version=11, dynamo=False)
    return load_model(path, device="cpu")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--gallery", type=int, default=8, help="images actually embedded (then extrapolated)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    batches = [1, 4, 8] if args.quick else [1, 2, 4, 8, 16]
    print(f"torch {torch.__version__}, {args.threads} thread(s), CUDA available: {torch.cuda.is_available()}")
    if not torch.cuda.is_available():
        print("No GPU in this run: every number below is CPU time.")
    archs = ["r50"] if args.quick else ["r50", "r100"]
    tmp = Path(tempfile.mkdtemp(prefix="gmxai-bench-arc-"))
    adapters = {}
    best_rate = {}
    print("\n# forward (inference mode), random weights, real topology")
    for arch in archs:
        torch.manual_seed(0)
        plain = iresnet(arch).eval()
        t1_plain, rate_plain = forward_table(f"{arch} plain torch", plain, batches, repeats)
        adapter = loaded_like_gmxai(plain, tmp, arch)
        adapters[arch] = adapter
        t1_ours, rate_ours = forward_table(f"{arch} loaded by gmxai", adapter.net, batches, repeats)
        best_rate[arch] = rate_ours
        print(
            f"  {arch}: loaded/plain time at batch 1 = {t1_ours / t1_plain:.2f}, "
            f"best-throughput ratio plain/loaded = {rate_plain / rate_ours:.2f}"
        )

    print("\n# gallery embedding, upstream ensemble x flip x gray")
    from gmxai_desktop.core.analysis.variants import embed_aligned, make_variants

    m1 = adapters.get("r100", adapters["r50"])
    members = [("m0", adapters["r50"]), ("m1", m1), ("m2", m1)]
    variants = make_variants(members, tta=True)
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(args.gallery)]
    batch = 8
    t = best_time(
        lambda: [embed_aligned(variants, faces[i : i + batch]) for i in range(0, len(faces), batch)], repeats
    )
    per_image = t / len(faces)
    bound = sum(4 / best_rate["r100" if mid != "m0" and "r100" in best_rate else "r50"] for mid, _ in members)
    print(f"  {len(variants)} variants; measured {len(faces)} images in {t:.2f} s ({per_image:.3f} s/image)")
    print(
        f"  1,000 images (extrapolated linearly from {len(faces)}): {per_image * 1000 / 60:.1f} min; "
        f"forward bound {bound * 1000 / 60:.1f} min (12 forwards/image at the best measured throughput); "
        f"ratio {per_image / bound:.2f}"
    )

    print("\n# the 11-method suite on one Arc member (cosine similarity to another face as the target)")
    from gmxai_desktop.core.attribution.engine import explain
    from gmxai_desktop.core.attribution.methods import REGISTRY
    from gmxai_desktop.core.attribution.targets import similarity_adapter

    for arch in archs:
        adapter = adapters[arch]
        x = adapter.preprocess(faces[0])
        ref = adapter.embed(adapter.preprocess(faces[1]))[0].numpy()
        sim = similarity_adapter(adapter, [("similar", ref)])
        # Singles first: the first occlusion run in a process pays a one-off warm-up (about 2x on
        # this CPU), which would otherwise be charged to whichever call comes first.
        explain(sim, x, ["occlusion"], target=0)  # warm-up, untimed
        single = {}
        for name in sorted(REGISTRY):
            single[name] = best_time(lambda sim=sim, x=x, name=name: explain(sim, x, [name], target=0), 1)
        t = best_time(lambda sim=sim, x=x: explain(sim, x, sorted(REGISTRY), target=0), 1)
        print(
            f"  {arch}: suite of {len(REGISTRY)} methods in one call: {t:.1f} s; "
            f"sum of single-method calls {sum(single.values()):.1f} s (ratio {sum(single.values()) / t:.2f})"
        )
        for name, s in sorted(single.items(), key=lambda kv: -kv[1]):
            print(f"      {name:<22} {s:7.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
