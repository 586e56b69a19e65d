"""``gmxai hpo-regions``: does the model use what medicine knows about each syndrome's face?"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .common import (
    add_align_option,
    add_method_options,
    add_model_options,
    checked_methods,
    labelled_folder_from_args,
    load_model_from_args,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hpo-regions",
        help="expected (HPO) against observed (attribution) weight per facial region",
        description="Per syndrome: the expected weight of each facial region from the HPO annotations "
        "(frequency-weighted facial terms mapped to atlas regions), the region's area share (chance) "
        "and, with a model, each method's share of the positive attribution in the syndrome-wise mean "
        "map, plus known-and-used, known-not-used and used-not-known regions. Two forms: "
        "'--model M --images DIR --labels CSV --methods m1,m2' compares a model; "
        "'--syndrome OMIM:122470' gives the expectations from HPO alone.",
    )
    p.add_argument("--syndrome", metavar="IDS",
                   help="expectations only, for one syndrome: OMIM/ORPHA/DECIPHER ids and/or HPO ids "
                   "separated by ';' (e.g. OMIM:122470 or 'HP:0000316;HP:0000154')")
    p.add_argument("--template", choices=("arcface112", "gm-v1"),
                   help="layout of the faces, for the region atlas (default: with a model, the template "
                   "its sidecar JSON names, else the model's alignment template; else arcface112)")
    add_model_options(p, required=False)
    add_align_option(p)
    p.add_argument("--images", metavar="DIR", help="folder of face images (with --model)")
    p.add_argument("--labels", metavar="CSV", help="CSV image,label (default: subfolder names)")
    add_method_options(p, required=False, labelled=True,
                       methods_help="comma-separated attribution methods, or 'all' (default: gradcam)")
    p.add_argument("--syndromes", metavar="MAP.csv",
                   help="CSV class,syndrome mapping class names (e.g. GMDB names) to OMIM/ORPHA/HPO ids "
                   "separated by ';'. Without it, a model's own class description (the demo model's "
                   "HPO terms) or class names that are disease ids are used")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--out", metavar="DIR", help="also write hpo_regions.json and a bar chart per syndrome")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import ParameterError
    from ..core.phenotype.atlas import get_atlas
    from ..core.phenotype.expectations import terms_from_sources

    if args.syndrome and args.model:
        raise ParameterError("use either --syndrome (HPO alone) or --model with --images, not both")
    if args.syndrome:
        for opt in ("images", "labels", "methods", "syndromes"):
            if getattr(args, opt, None):
                raise ParameterError(f"--{opt} needs --model; --syndrome gives expectations from HPO alone")
        ids = [s.strip() for s in args.syndrome.split(";") if s.strip()]
        if not ids:
            raise ParameterError("--syndrome is empty")
        atlas = get_atlas(args.template or "arcface112")
        terms = {args.syndrome: terms_from_sources(args.syndrome, ids)}
        return _finish(args, atlas, atlas.size[::-1], terms, None, None)
    if not args.model or not args.images:
        raise ParameterError("give --syndrome ID, or --model M with --images DIR (see --help)")
    return _run_model(args)


def _run_model(args: argparse.Namespace) -> int:
    from ..core.analysis.composites import compute_composites
    from ..core.phenotype.atlas import get_atlas
    from ..core.phenotype.expectations import (
        atlas_template_for,
        class_descriptions_for,
        read_syndrome_map,
        terms_for_classes,
    )

    methods, params = checked_methods(args, default=["gradcam"])
    syndrome_map = read_syndrome_map(Path(args.syndromes)) if args.syndromes else None
    _images_dir, labels = labelled_folder_from_args(args)
    adapter = load_model_from_args(args)
    atlas = get_atlas(args.template or atlas_template_for(adapter.template, adapter.source))
    result = compute_composites(adapter, labels, methods, target=args.target, params=params, align=args.align)
    for path, reason in result.skipped:
        print(f"gmxai hpo-regions: skipped {path.name}: {reason}", file=sys.stderr)
    descriptions = class_descriptions_for(adapter.source)
    classes = [c for c in result.classes if result.counts.get(c)]
    terms = terms_for_classes(classes, syndrome_map, descriptions)
    code = _finish(args, atlas, adapter.input_size, terms, result.maps, result.counts)
    return 1 if result.skipped else code


def _finish(args: argparse.Namespace, atlas, shape, terms, maps, counts) -> int:
    from ..core.phenotype.report import build_reports, report_json

    reports = build_reports(terms, atlas, tuple(shape), maps, counts)
    doc = report_json(reports, atlas)
    if args.out:
        _write_out(Path(args.out), doc, reports)
    if args.json:
        print(json.dumps(doc, indent=2, allow_nan=False))
    else:
        _print_text(reports, doc)
    return 0


def _write_out(out: Path, doc: dict, reports: dict) -> None:
    from ..core.base.atomic import atomic_write_text
    from ..core.output.figure import save_figure
    from ..core.phenotype.report import bar_figure, safe_name

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "hpo_regions.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    used: set[str] = set()
    for name, rep in reports.items():
        stem = safe_name(name)
        while stem in used:
            stem += "_"
        used.add(stem)
        save_figure(bar_figure(rep), out / f"{stem}.png")


def _num(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else "n/a"


def _print_text(reports: dict, doc: dict) -> None:
    from ..core.phenotype.atlas import REGION_LABELS, REGIONS
    from ..core.phenotype.comparison import plain_summary

    print(f"atlas {doc['atlas']}, HPO release {doc['hpo_release']}, region table v{doc['mapping_version']}")
    for name, rep in reports.items():
        print(f"\n== {name}  ({rep.terms.source or 'no HPO source'})")
        facial = rep.terms.facial_terms
        for t in facial[:12]:
            print(f"   {t.id}  {t.name}  [{t.frequency.describe()}]  -> {', '.join(t.regions)}")
        if len(facial) > 12:
            print(f"   ... {len(facial) - 12} more facial terms")
        methods = list(rep.comparisons)
        head = f"   {'region':<22}{'expected':>9}{'chance':>8}" + "".join(f"{m[:12]:>13}" for m in methods)
        print(head)
        for r in REGIONS:
            cells = "".join(f"{_num(rep.comparisons[m].share[r]):>13}" for m in methods)
            print(f"   {REGION_LABELS[r]:<22}{rep.expected[r]:>9.3f}{rep.chance[r]:>8.3f}{cells}")
        for m in methods:
            c = rep.comparisons[m]
            print(f"   {m}: top observed {c.top_observed} (by share), {c.top_enriched} (per area); "
                  f"top expected {c.top_expected}")
            for line in plain_summary(c):
                print(f"     {line}")
