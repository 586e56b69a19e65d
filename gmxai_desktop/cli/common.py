"""Options and helpers shared by several ``gmxai`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.models.base import ModelAdapter


def add_model_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        required=required,
        metavar="CKPT",
        help="checkpoint file (state_dict .pt/.pth or TorchScript), or 'demo' / 'demo-imbalanced' "
        "for the bundled demo models",
    )
    g.add_argument(
        "--arch",
        metavar="NAME",
        help="force the adapter: gestaltmatcher-v1, torchvision:<arch> (e.g. torchvision:resnet50) "
        "or torchscript; by default it is detected from the checkpoint",
    )
    g.add_argument(
        "--classes",
        metavar="FILE",
        help="class names: upstream lookup_table.txt, or one name per line",
    )
    g.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: cuda if available)")
    g.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow checkpoints that need full unpickling. Unpickling runs code stored in the "
        "file: only use this for files from a source you trust",
    )


def add_align_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--align",
        choices=("auto", "none"),
        default="auto",
        help="auto: detect the face and align it to the model's template, skipping detection for "
        "images that are already aligned crops; none: only resize (default: auto)",
    )


def load_model_from_args(args: argparse.Namespace) -> ModelAdapter:
    from ..core.models import load_model

    return load_model(
        args.model,
        arch=args.arch,
        classes=args.classes,
        device=args.device,
        trust_pickle=args.trust_pickle,
    )


def image_paths_from_args(inputs: list[str]) -> list[Path]:
    from ..core.inputs.imageio import iter_image_paths

    return iter_image_paths([Path(p) for p in inputs])
