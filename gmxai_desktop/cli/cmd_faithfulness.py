"""``gmxai faithfulness``: which map can be trusted? Deletion/insertion, ROAD, pixel perturbation
and MPRT for attribution maps, with a random-map control and bootstrap confidence intervals."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    add_subcommand,
    image_paths_from_args,
    load_model_from_args,
    methods_and_params,
)
from .runner import RunSummary, run_images

DEFAULT_METRICS = "deletion,insertion,road,perturbation"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(
        sub,
        "faithfulness",
        run,
        "score attribution maps by deletion/insertion, ROAD, pixel perturbation and MPRT",
        "Evaluate how faithful attribution maps are to the model. Every run adds a "
        "uniformly random map ('random') as the chance baseline. With --out DIR it writes "
        "DIR/<image-stem>/<method>.npy (the evaluated map), DIR/curves.csv "
        "(image,method,metric,fraction,score), DIR/summary.json (mean and 95%% bootstrap CI per "
        "method and metric, rankings, win rate and Wilcoxon p against random) and DIR/summary.png.",
        model=True,
        align=True,
        methods=True,
        inputs=True,
    )
    p.add_argument(
        "--metrics",
        default=DEFAULT_METRICS,
        metavar="LIST",
        help=f"comma-separated from deletion, insertion, road, perturbation, mprt, or 'all' "
        f"(default: {DEFAULT_METRICS}; mprt recomputes every map once per parametrised layer)",
    )
    p.add_argument("--steps", type=int, default=100, metavar="N",
                   help="deletion/insertion steps: ceil(H*W/N) pixels per step (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed for the random map, ROAD noise, MPRT")
    p.add_argument("--out", metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print one JSON object per image x method")


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead, so strict parsers accept the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.faithfulness import evaluate_image, parse_metrics
    from ..core.analysis.faithfulness.report import EvaluatedImage, curves_csv, rows, summary_dict
    from ..core.attribution.engine import validate
    from ..core.base.atomic import atomic_write_text
    from ..core.base.errors import ParameterError
    from ..core.inputs.pipeline import prepare_file
    from .cmd_explain import unique_stem

    methods, params = methods_and_params(args)
    metrics = parse_metrics(args.metrics)
    if args.steps < 1:
        raise ParameterError(f"--steps must be 1 or more, not {args.steps}")
    if not args.out and not args.json:
        raise ParameterError("nothing to write: give --out DIR and/or --json")
    adapter = load_model_from_args(args)
    validate(adapter, methods, params)  # unknown methods/parameters fail before any image
    paths = image_paths_from_args(args.inputs)
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary()
    results: list[EvaluatedImage] = []
    used: set[str] = set()

    def one(path: Path) -> None:
        prep = prepare_file(adapter, path, align=args.align)
        ev = evaluate_image(adapter, prep.x, methods, metrics=metrics, target=args.target, params=params,
                            steps=args.steps, seed=args.seed + len(results))
        stem = unique_stem(path.stem, used)
        results.append(EvaluatedImage(name=path.name, evaluation=ev))
        if out_dir is not None:
            img_dir = out_dir / stem
            img_dir.mkdir(parents=True, exist_ok=True)
            for m in ev.methods:
                np.save(img_dir / f"{m.method}.npy", m.map.astype(np.float32))
        if not args.json:
            print(f"{path.name}: {ev.target_name} ({ev.probability:.3f}), {len(ev.methods)} maps scored",
                  file=sys.stderr)

    run_images(paths, one, summary)
    if out_dir is not None and results:
        from ..core.output.faithfulness_figure import save_summary_figure

        context = {"model": {"id": adapter.model_id, "arch": adapter.arch}, "methods": methods,
                   "params": params, "target": args.target, "steps": args.steps, "seed": args.seed}
        atomic_write_text(out_dir / "curves.csv", curves_csv(results))
        atomic_write_text(out_dir / "summary.json",
                          json.dumps(_clean(summary_dict(results, **context)), indent=1, default=str))
        save_summary_figure(results, out_dir / "summary.png")
    if args.json:
        print(json.dumps(_clean(rows(results)), indent=1))
    summary.print("faithfulness")
    ok = len(summary.ok)
    where = f"; results in {out_dir}" if out_dir is not None else ""
    print(f"gmxai faithfulness: {ok} of {ok + len(summary.failed)} images evaluated{where}", file=sys.stderr)
    return summary.exit_code
