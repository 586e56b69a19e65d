"""Options and helpers shared by several ``gmxai`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.base.errors import ParameterError

if TYPE_CHECKING:  # the model stack imports torch: only load it when a command runs
    from ..core.models.base import ModelAdapter


def add_subcommand(
    sub: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help_text: str,
    description: str,
    *,
    model: bool = False,
    align: bool = False,
    methods: bool = False,
    inputs: bool = False,
) -> argparse.ArgumentParser:
    """Register subcommand ``name`` with the option blocks it shares with the others, so each
    block is spelled once: ``--model`` and friends, ``--align``, ``--methods/--param/--target``,
    and the ``IMAGE_OR_DIR`` inputs."""
    p = sub.add_parser(name, help=help_text, description=description)
    if model:
        add_model_options(p)
    if align:
        add_align_option(p)
    if methods:
        add_method_options(p)
    if inputs:
        p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.set_defaults(func=run)
    return p


def add_model_options(parser: argparse.ArgumentParser, required: bool = True) -> None:
    g = parser.add_argument_group("model")
    g.add_argument(
        "--model",
        required=required,
        metavar="CKPT",
        help="checkpoint file (state_dict .pt/.pth, TorchScript, GestaltMatcher-Arc .pth/.onnx), a model "
        "folder (an ensemble), or 'demo' / 'demo-imbalanced' for the bundled demo models",
    )
    g.add_argument(
        "--arch",
        metavar="NAME",
        help="force the adapter: gestaltmatcher-v1, torchvision:<arch> (e.g. torchvision:resnet50), "
        "torchscript or gestaltmatcher-arc; by default it is detected from the checkpoint",
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
        args.model, arch=args.arch, classes=args.classes, device=args.device, trust_pickle=args.trust_pickle
    )


def image_paths_from_args(inputs: list[str]) -> list[Path]:
    from ..core.inputs.imageio import iter_image_paths

    return iter_image_paths([Path(p) for p in inputs])


TARGET_HELP_CLASS = "'predicted' (default), a class index, a class name, or top:K for the K best classes"
TARGET_HELP_LABELLED = "explain each image's true class (default) or the class the model predicted"


def add_method_options(
    parser: argparse.ArgumentParser,
    *,
    required: bool = True,
    labelled: bool = False,
    methods_help: str = "comma-separated method names, or 'all' (see 'gmxai methods')",
) -> None:
    """``--methods``, ``--param`` and ``--target``: the one spelling every map-making command shares.

    ``labelled`` commands work on a labelled folder and explain the ``true`` class by default
    (``--target true|predicted``); the others take any target spec ('predicted', an index, a name,
    ``top:K``).
    """
    parser.add_argument("--methods", required=required, default="" if not required else None,
                        metavar="LIST", help=methods_help)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.NAME=VALUE",
        help="override a method parameter, e.g. occlusion.stride=10 (repeatable)",
    )
    if labelled:
        parser.add_argument(
            "--target", choices=("true", "predicted"), default="true", help=TARGET_HELP_LABELLED
        )
    else:
        parser.add_argument("--target", default="predicted", help=TARGET_HELP_CLASS)


def parse_methods(text: str) -> list[str]:
    """``--methods`` text -> method names in order, duplicates dropped; 'all' means the registry."""
    from ..core.attribution.methods import list_methods

    if text.strip().lower() == "all":
        return [m.name for m in list_methods()]
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise ParameterError("--methods is empty")
    return list(dict.fromkeys(names))


def parse_params(items: list[str], methods: list[str]) -> dict[str, dict[str, str]]:
    """``METHOD.NAME=VALUE`` strings -> {method: {name: value}}; values are validated by the engine."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        method, dot, name = key.strip().partition(".")
        if not sep or not dot or not method or not name:
            raise ParameterError(f"--param {item!r}: expected METHOD.NAME=VALUE, e.g. occlusion.stride=10")
        if method not in methods:
            raise ParameterError(f"--param {item!r}: method {method!r} is not in --methods")
        out.setdefault(method, {})[name] = value.strip()
    return out


def methods_and_params(args: argparse.Namespace) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Parsed ``--methods``/``--param``; an empty optional ``--methods`` gives no methods."""
    methods = parse_methods(args.methods) if (args.methods or "").strip() else []
    return methods, parse_params(args.param, methods)


def load_members_from_args(args: argparse.Namespace) -> list[tuple[str, ModelAdapter]]:
    """(member id, adapter) pairs: every member of a model folder, or the one file as its member."""
    from ..core.models.ensemble import load_ensemble, member_id_for

    model = Path(str(args.model)).expanduser()
    if model.is_dir():
        ens = load_ensemble(model, classes=args.classes, device=args.device, trust_pickle=args.trust_pickle)
        return [(m.id, m.adapter) for m in ens.members]
    return [(member_id_for(model), load_model_from_args(args))]


def checked_methods(
    args: argparse.Namespace, default: list[str] | None = None
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """``--methods``/``--param`` parsed and every parameter validated, so a typo fails at once,
    before a model is loaded or a folder is read. ``default`` stands in for an empty ``--methods``."""
    from ..core.attribution.methods import get_method

    methods, params = methods_and_params(args)
    methods = methods or list(default or [])
    for m in methods:
        get_method(m).resolve_params(params.get(m))
    return methods, params


def labelled_folder_from_args(args: argparse.Namespace) -> tuple[Path, dict]:
    """``--images DIR`` and ``--labels CSV`` (default: labels.csv or class subfolders) read once,
    the same way by every command that works per syndrome; an empty result is a user error."""
    from ..core.inputs.labels import read_labels

    images_dir = Path(args.images)
    if not images_dir.is_dir():
        raise ParameterError(f"--images {images_dir}: not a folder")
    labels = read_labels(images_dir, Path(args.labels) if args.labels else None)
    if not labels:
        raise ParameterError(f"no labelled images in {images_dir}")
    return images_dir, labels
