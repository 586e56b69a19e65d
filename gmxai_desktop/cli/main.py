"""``gmxai`` entry point: builds the argparse tree from one module per subcommand.

Each ``cmd_*.py`` module exposes ``add_parser(subparsers)`` which registers its subcommand and
sets ``func`` (``args -> int`` exit code) as the parser default. User errors
(:class:`~gmxai_desktop.core.base.errors.GmxaiError`) become a one-line message and exit code 2;
they never show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..core.base.errors import GmxaiError

# Order is the order shown in ``gmxai --help``.
SUBCOMMAND_MODULES = (
    "predict",
    "explain",
    "methods",
    "align",
    "demo_data",
    "train_demo",
    "evaluate",
    "composite",
    "compare_models",
    "similar",
    "figure",
    "hpo_regions",
    "gaze",
    "faithfulness",
)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="gmxai",
        description="Explain facial-syndrome classifiers from the command line "
        "(the headless twin of gmxai-desktop).",
    )
    parser.add_argument("--version", action="version", version=f"gmxai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"{__package__}.cmd_{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except GmxaiError as exc:
        print(f"gmxai {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gmxai {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
