"""``gmxai train-demo``: train a demo GestaltMatcher-v1 model on synthetic faces (on a GPU if present)."""

from __future__ import annotations

import argparse
import sys

from ..core.demo.classes import IMBALANCE_HELP
from .common import add_subcommand

HELP = "train a demo model (GestaltMatcher v1 architecture) on synthetic faces"
DESCRIPTION = """\
Train a GestaltMatcher-v1-architecture network on freshly drawn synthetic phenotype faces, on a CUDA
GPU when there is one, else on the CPU (the bundled demo took about 30 minutes on two idle cores).
Writes FILE.pt (upstream float32 state_dict), FILE.classes.txt and FILE.json (seed, settings,
training time, held-out accuracy on new faces drawn with seed+1). The same seed, --threads,
--precision and machine give bit-identical weights. The bundled models were made with '--variant
balanced --out resources/models/demo.pt' and '--variant imbalanced --out
resources/models/demo-imbalanced.pt'.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..core.demo.train_config import DEFAULT_PER_CLASS, TrainConfig

    d = TrainConfig()
    p = add_subcommand(sub, "train-demo", run, HELP, DESCRIPTION)
    p.add_argument("--out", required=True, metavar="FILE.pt", help="checkpoint to write")
    p.add_argument("--variant", choices=("balanced", "imbalanced"), default="balanced",
                   help="balanced: every class the same size; imbalanced: a GMDB-like long tail "
                   "(--imbalance zipf) (default: balanced)")
    p.add_argument("--per-class", type=int, metavar="N",
                   help="faces per class (balanced, default "
                   f"{DEFAULT_PER_CLASS['balanced']}) or of the largest class (zipf, default "
                   f"{DEFAULT_PER_CLASS['imbalanced']})")
    p.add_argument("--imbalance", metavar="SPEC", help=IMBALANCE_HELP + " (default: by --variant)")
    p.add_argument("--epochs", type=int, default=d.epochs,
                   help=f"passes over the data (default {d.epochs})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate of the one-cycle schedule "
                   f"(default {d.lr})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"training seed (default {d.seed}); held-out "
                   "faces use seed+1")
    p.add_argument("--threads", type=int, default=d.threads,
                   help=f"CPU threads for torch (default {d.threads}); part of what makes runs reproducible")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="auto: bfloat16 autocast where the CPU supports it natively (about twice as "
                   "fast; weights stay float32), else float32")
    p.add_argument("--device", default="auto", metavar="DEV",
                   help="auto (default: the first CUDA GPU if there is one, else the CPU), cpu, cuda or "
                   "cuda:N. The faces and the augmentation are drawn on the CPU either way")
    p.add_argument("--eval-per-class", type=int, default=d.eval_per_class,
                   help="held-out faces per class for the accuracy in FILE.json "
                   f"(default {d.eval_per_class})")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..core.base.errors import ParameterError
    from ..core.base.jobs import JobControl
    from ..core.demo.train import TrainConfig, save_demo_model, train_demo_model

    out = Path(args.out)
    if out.suffix not in (".pt", ".pth"):
        raise ParameterError(f"--out {out.name}: the checkpoint name must end in .pt or .pth")
    if not out.parent.is_dir():
        raise ParameterError(f"--out: the folder {out.parent} does not exist")
    cfg = TrainConfig(
        variant=args.variant, per_class=args.per_class, imbalance=args.imbalance, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, threads=args.threads,
        precision=args.precision, eval_per_class=args.eval_per_class, device=args.device,
    )
    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        end = "" if tty else "\n"
        print(f"\r{fraction * 100:5.1f}%  {message[:64]:<64}", end=end, file=sys.stderr, flush=True)

    job = JobControl(on_progress=show, min_interval_s=0.5 if tty else 20.0)
    result = train_demo_model(cfg, job)
    if tty:
        print(file=sys.stderr)
    files = save_demo_model(result, out)
    ev = result.evaluation
    print(f"trained in {result.train_seconds:.0f} s (+{result.data_seconds:.0f} s drawing faces, "
          f"{result.precision}, {result.extra.get('device', 'cpu')}, {cfg.threads} threads)")
    if ev is not None:
        print(f"held-out accuracy on {ev.n} new faces: top-1 {100 * ev.top1:.1f}%, "
              f"top-5 {100 * ev.top5:.1f}%")
        for name, v in ev.per_class.items():
            print(f"  {name:30s} {100 * v['top1']:5.1f}%")
    print("wrote " + ", ".join(f.name for f in files))
    return 0
