"""``gmxai predict``: class scores (and the embedding) for images."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_subcommand, image_paths_from_args, load_model_from_args
from .runner import RunSummary, run_images

HELP = "predict syndromes for face images"
DESCRIPTION = """\
Print the top-K classes for each image. With --json, print one object per image with the full
logits, the embedding (where the model has one) and the top list.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "predict", run, HELP, DESCRIPTION, model=True, align=True, inputs=True)
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many classes to list (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def run(args: argparse.Namespace) -> int:
    from ..core.attribution.engine import predict
    from ..core.inputs.pipeline import prepare_file

    if args.top < 1:
        from ..core.base.errors import ParameterError

        raise ParameterError("--top must be at least 1")
    adapter = load_model_from_args(args)
    paths = image_paths_from_args(args.inputs)
    summary = RunSummary()
    records: list[dict] = []

    def one(path: Path) -> None:
        prep = prepare_file(adapter, path, align=args.align)
        pred = predict(adapter, prep.x, top=min(args.top, adapter.num_classes))
        rec = {
            "image": str(path),
            "alignment": prep.status,
            "alignment_message": prep.message,
            # An embedding-only model (no classifier) has no logits: null, and an empty top list.
            "logits": [float(v) for v in pred.logits] if pred.logits.size else None,
            "top": [{"index": i, "name": n, "score": float(s)} for i, n, s in pred.top],
        }
        if pred.embedding is not None:
            rec["embedding"] = [float(v) for v in pred.embedding]
        records.append(rec)
        if not args.json:
            tops = ", ".join(f"{n} {s:.3f}" for _, n, s in pred.top) or "embedding-only model, no classes"
            note = "" if prep.face.aligned else f"  [{prep.message}]"
            print(f"{path.name}: {tops}{note}")

    run_images(paths, one, summary)
    if args.json:
        for path, reason in summary.failed:
            records.append({"image": str(path), "error": reason})
        print(json.dumps(records, indent=1))
    summary.print("predict")
    return summary.exit_code
