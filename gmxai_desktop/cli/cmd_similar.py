"""``gmxai similar``: the gallery faces most similar to a query face, and why they match."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import add_subcommand, load_model_from_args

HELP = "rank gallery faces by similarity to a query face (GestaltMatcher matching)"
DESCRIPTION = """\
Embed every gallery image (cached with --cache) and list the --top most similar to the query by
cosine similarity of the model's embeddings, best first. With --per-syndrome only each syndrome's
best image counts, as GestaltMatcher ranks. Gallery labels come from subfolder names or --labels.
The query file itself is left out of the gallery. --maps DIR writes, for the query and each match,
the pair's similarity maps: NN_query.npy / NN_match.npy (raw, model input resolution),
NN_query_cells.npy / NN_match_cells.npy (feature resolution; for the exact decomposition each sums
to the pair's cosine similarity), overlay PNGs, and pairs.json.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "similar", run, HELP, DESCRIPTION, model=True, align=True)
    p.add_argument("--gallery", required=True, metavar="DIR", help="folder of gallery face images")
    p.add_argument("--query", required=True, metavar="IMG", help="the query face image")
    p.add_argument("--top", type=int, default=10, metavar="K", help="number of matches (default: 10)")
    p.add_argument("--per-syndrome", action="store_true", help="rank syndromes: one best image per label")
    p.add_argument("--labels", metavar="CSV", help="CSV with columns image,label for the gallery")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--maps", metavar="DIR", help="write similarity maps of the query and each match here")
    p.add_argument(
        "--map-method", choices=("auto", "decomposition", "gradcam"), default="auto",
        help="auto (default): the exact decomposition when the embedding is a spatial mean of the CAM "
        "layer (GestaltMatcher v1), otherwise Grad-CAM of the similarity",
    )
    p.add_argument("--cache", metavar="DIR", help="keep gallery embeddings here for the next query")


def gallery_labels(gallery: Path, labels_csv: Path | None) -> dict[Path, str | None]:
    """Every gallery image with its label (None where it has none)."""
    from ..core.inputs.imageio import iter_image_paths
    from ..core.inputs.labels import read_labels

    paths = iter_image_paths([gallery])
    labels = read_labels(gallery, labels_csv)
    by_file = {Path(p).resolve(): lab for p, lab in labels.items()}
    return {p: by_file.get(p.resolve()) for p in paths}


def _relative(path: Path, root: Path) -> str:
    """Gallery paths are shown relative to the gallery: no absolute patient paths in outputs."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.embeddings import embed_gallery
    from ..core.analysis.similarity import embed_file, rank_matches
    from ..core.base.errors import ParameterError

    if args.top < 1:
        raise ParameterError(f"--top must be at least 1 (got {args.top})")
    gallery_dir, query = Path(args.gallery), Path(args.query)
    if not gallery_dir.is_dir():
        raise ParameterError(f"--gallery {gallery_dir}: not a folder")
    images = gallery_labels(gallery_dir, Path(args.labels) if args.labels else None)
    adapter = load_model_from_args(args)
    q_emb, q_prep = embed_file(adapter, query, align=args.align)
    gallery = embed_gallery(
        adapter, images, align=args.align, cache_dir=Path(args.cache) if args.cache else None
    )
    for path, reason in gallery.skipped:
        name = _relative(path, gallery_dir)
        print(f"gmxai similar: gallery image {name} skipped: {reason}", file=sys.stderr)
    if not len(gallery):
        raise ParameterError(f"no usable gallery images in {gallery_dir}")
    q_key = query.resolve()
    exclude = [i for i, p in enumerate(gallery.paths) if p.resolve() == q_key]
    matches = rank_matches(q_emb, gallery, top=args.top, per_syndrome=args.per_syndrome, exclude=exclude)

    rows = [
        {"image": _relative(m.path, gallery_dir), "label": m.label, "similarity": round(m.similarity, 6)}
        for m in matches
    ]
    if args.maps:
        write_pair_maps(adapter, q_prep, matches, Path(args.maps), args, gallery_dir)
    if args.json:
        print(json.dumps({"query": str(args.query), "matches": rows}, indent=1, ensure_ascii=False))
    else:
        unit = "syndrome" if args.per_syndrome else "image"
        print(f"{'rank':>4}  {'similarity':>10}  {'label':<24}  {unit} match")
        for m, row in zip(matches, rows, strict=True):
            print(f"{m.rank:>4}  {m.similarity:>10.4f}  {(m.label or '-')[:24]:<24}  {row['image']}")
    return 0


def write_pair_maps(
    adapter: Any, q_prep: Any, matches: list[Any], out_dir: Path, args: argparse.Namespace, gallery_dir: Path
) -> None:
    """Pair maps (npy at both resolutions + overlay PNGs) for the query and every match."""
    import numpy as np

    from ..core.analysis.similarity import similarity_maps
    from ..core.base.atomic import atomic_save_npy, atomic_write_text
    from ..core.inputs.pipeline import prepare_file
    from ..core.output.render import overlay, save_png

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for m in matches:
        prep = prepare_file(adapter, m.path, align=args.align)
        pm = similarity_maps(adapter, q_prep.x, prep.x, method=args.map_method)
        stem = f"{m.rank:02d}"
        for who, cells, full, display in (
            ("query", pm.cells_a, pm.map_a, q_prep.display),
            ("match", pm.cells_b, pm.map_b, prep.display),
        ):
            atomic_save_npy(out_dir / f"{stem}_{who}_cells.npy", cells.astype(np.float64))
            atomic_save_npy(out_dir / f"{stem}_{who}.npy", full.astype(np.float32))
            save_png(out_dir / f"{stem}_{who}.png", overlay(display, full, sign="signed"))
        entries.append({
            "rank": m.rank,
            "image": _relative(m.path, gallery_dir),
            "label": m.label,
            "similarity": round(pm.cosine, 6),
            "method": pm.method,
            "layer": pm.layer,
            "normalization": pm.normalization or None,
            "cells_sum_query": float(pm.cells_a.sum()),
            "cells_sum_match": float(pm.cells_b.sum()),
            "files": [f"{stem}_{w}{s}" for w in ("query", "match") for s in ("_cells.npy", ".npy", ".png")],
        })
    text = json.dumps({"query": str(args.query), "pairs": entries}, indent=1, ensure_ascii=False)
    atomic_write_text(out_dir / "pairs.json", text)
