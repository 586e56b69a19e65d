"""``gmxai methods``: list every attribution method and its parameters."""

from __future__ import annotations

import argparse
import json

from .common import add_subcommand

HELP = "list attribution methods and their parameters"
DESCRIPTION = """\
List every attribution method with its parameters and defaults. Override a parameter in `gmxai
explain` with --param METHOD.NAME=VALUE.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "methods", run, HELP, DESCRIPTION)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..core.attribution.methods import list_methods

    methods = list_methods()
    if args.json:
        print(json.dumps([describe(m) for m in methods], indent=1, default=str))
        return 0
    for m in methods:
        print(f"{m.name}  ({m.label}, {m.family})")
        print(f"    {m.description}")
        for p in m.params:
            extra = f" choices={list(p.choices)}" if p.choices else ""
            print(f"    --param {m.name}.{p.name}={p.default!s:<10} {p.kind.__name__:<5} {p.help}{extra}")
        print()
    return 0


def describe(m: type) -> dict:
    return {
        "name": m.name,
        "label": m.label,
        "family": m.family,
        "description": m.description,
        "reduction": m.reduction,
        "params": [
            {"name": p.name, "type": p.kind.__name__, "default": p.default, "help": p.help,
             "choices": list(p.choices) if p.choices else None}
            for p in m.params
        ],
    }
