"""``gmxai similar``: the gallery faces most similar to a query face, and why they match."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import add_subcommand, load_members_from_args

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
    p.add_argument("--gallery", metavar="DIR", help="folder of gallery face images")
    p.add_argument(
        "--gallery-encodings",
        metavar="FILE",
        help="upstream's all_encodings.csv (';'-separated) instead of embedding a gallery folder; a "
        "pickled DataFrame needs --trust-pickle. Labels from --labels (image,label)",
    )
    p.add_argument(
        "--tta",
        choices=("on", "off"),
        help="test-time augmentation as GestaltMatcher-Arc: every member x flip x gray, ranked by the "
        "mean cosine distance (default: on for Arc models and model folders, off otherwise)",
    )
    p.add_argument("--query", required=True, metavar="IMG", help="the query face image")
    p.add_argument("--top", type=int, default=10, metavar="K", help="number of matches (default: 10)")
    p.add_argument("--per-syndrome", action="store_true", help="rank syndromes: one best image per label")
    p.add_argument("--labels", metavar="CSV", help="CSV with columns image,label for the gallery")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--maps", metavar="DIR", help="write similarity maps of the query and each match here")
    p.add_argument(
        "--map-method",
        choices=("auto", "decomposition", "affine", "gradcam"),
        default="auto",
        help="auto (default): the exact decomposition when the embedding is a spatial mean of the CAM "
        "layer (GestaltMatcher v1), the exact affine-head decomposition for Arc (7x7 cells plus a bias "
        "share), otherwise Grad-CAM of the similarity",
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
    from ..core.base.errors import ParameterError

    if args.top < 1:
        raise ParameterError(f"--top must be at least 1 (got {args.top})")
    if not args.gallery and not args.gallery_encodings:
        raise ParameterError("give --gallery DIR or --gallery-encodings FILE")
    gallery_dir = Path(args.gallery or ".")
    if args.gallery and not gallery_dir.is_dir():
        raise ParameterError(f"--gallery {gallery_dir}: not a folder")
    members = load_members_from_args(args)
    adapter = members[0][1]
    tta = args.tta == "on" if args.tta else (len(members) > 1 or adapter.arch == "gestaltmatcher-arc")
    if len(members) > 1 or tta or args.gallery_encodings:
        matches, q_prep = _variant_matches(args, members, tta, gallery_dir)
    else:
        matches, q_prep = _single_matches(args, adapter, gallery_dir)
    rows = [
        {
            "image": _relative(m.path, gallery_dir) if args.gallery else str(m.path),
            "label": m.label,
            "similarity": round(m.similarity, 6),
            "distance": round(m.distance if m.distance is not None else 1.0 - m.similarity, 6),
        }
        for m in matches
    ]
    if args.maps:
        if not args.gallery:
            raise ParameterError("--maps needs the gallery images (--gallery), not only their encodings")
        write_pair_maps(adapter, q_prep, matches, Path(args.maps), args, gallery_dir, members)
    if args.json:
        print(json.dumps({"query": str(args.query), "matches": rows}, indent=1, ensure_ascii=False))
    else:
        unit = "syndrome" if args.per_syndrome else "image"
        print(f"{'rank':>4}  {'similarity':>10}  {'distance':>8}  {'label':<24}  {unit} match")
        for m, row in zip(matches, rows, strict=True):
            print(
                f"{m.rank:>4}  {m.similarity:>10.4f}  {row['distance']:>8.4f}  {(m.label or '-')[:24]:<24}  "
                f"{row['image']}"
            )
    return 0


def _report_skipped(skipped: list[tuple[Path, str]], gallery_dir: Path) -> None:
    for path, reason in skipped:
        print(
            f"gmxai similar: gallery image {_relative(path, gallery_dir)} skipped: {reason}", file=sys.stderr
        )


def _single_matches(args: argparse.Namespace, adapter: Any, gallery_dir: Path) -> tuple[list[Any], Any]:
    """One model, no augmentation: cosine similarity of the embeddings."""
    from ..core.analysis.embeddings import embed_gallery
    from ..core.analysis.similarity import embed_file, rank_matches
    from ..core.base.errors import ParameterError

    images = gallery_labels(gallery_dir, Path(args.labels) if args.labels else None)
    q_emb, q_prep = embed_file(adapter, Path(args.query), align=args.align)
    gallery = embed_gallery(
        adapter, images, align=args.align, cache_dir=Path(args.cache) if args.cache else None
    )
    _report_skipped(gallery.skipped, gallery_dir)
    if not len(gallery):
        raise ParameterError(f"no usable gallery images in {gallery_dir}")
    q_key = Path(args.query).resolve()
    exclude = [i for i, p in enumerate(gallery.paths) if p.resolve() == q_key]
    matches = rank_matches(q_emb, gallery, top=args.top, per_syndrome=args.per_syndrome, exclude=exclude)
    return matches, q_prep


def _variant_matches(
    args: argparse.Namespace, members: list[tuple[str, Any]], tta: bool, gallery_dir: Path
) -> tuple[list[Any], Any]:
    """GestaltMatcher-Arc: members x flip x gray, ranked by the mean cosine distance."""
    from ..core.analysis import variants as va
    from ..core.analysis.embeddings import alignment_problem
    from ..core.analysis.similarity import rank_by_distance
    from ..core.base.errors import FaceNotFoundError, ParameterError
    from ..core.inputs.pipeline import prepare_file

    variants = va.make_variants(members, tta)
    keys = [v.key for v in variants]
    query = Path(args.query)
    q_prep = prepare_file(members[0][1], query, align=args.align)
    problem = alignment_problem(q_prep.face, args.align)
    if problem is not None:
        raise FaceNotFoundError(
            f"{query.name}: {problem}; if it is already an aligned face crop, use --align none"
        )
    q = va.embed_aligned(variants, [q_prep.face.image])[0]
    if args.gallery_encodings:
        from ..core.analysis.encodings import read_encodings, read_name_labels

        enc = read_encodings(args.gallery_encodings, trust_pickle=args.trust_pickle)
        qi, gi = va.align_keys(keys, enc.keys)
        dist = va.mean_cosine_distance(q[qi], enc.embeddings[:, gi])
        names = read_name_labels(args.labels) if args.labels else {}
        paths = [Path(n) for n in enc.names]
        labels = [names.get(n, names.get(Path(n).name)) for n in enc.names]
        exclude = [i for i, n in enumerate(enc.names) if Path(n).name == query.name]
    else:
        images = gallery_labels(gallery_dir, Path(args.labels) if args.labels else None)
        cache = Path(args.cache) if args.cache else None
        gallery = va.embed_variant_gallery(variants, images, align=args.align, cache_dir=cache)
        _report_skipped(gallery.skipped, gallery_dir)
        if not len(gallery):
            raise ParameterError(f"no usable gallery images in {gallery_dir}")
        dist = va.mean_cosine_distance(q, gallery.embeddings)
        paths, labels = gallery.paths, gallery.labels
        exclude = [i for i, p in enumerate(paths) if p.resolve() == query.resolve()]
    matches = rank_by_distance(
        dist, paths, labels, top=args.top, per_syndrome=args.per_syndrome, exclude=exclude
    )
    return matches, q_prep


def write_pair_maps(
    adapter: Any,
    q_prep: Any,
    matches: list[Any],
    out_dir: Path,
    args: argparse.Namespace,
    gallery_dir: Path,
    members: list[tuple[str, Any]] | None = None,
) -> None:
    """Pair maps (npy at both resolutions + overlay PNGs) for the query and every match.

    With several ensemble members, also each member's cells side by side, their mean and the
    members' rank agreement (``NN_members_query_cells.npy`` is (M, h, w); pairs.json ``ensemble``).
    """
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
        entries.append(
            {
                "rank": m.rank,
                "image": _relative(m.path, gallery_dir),
                "label": m.label,
                "similarity": round(pm.cosine, 6),
                "method": pm.method,
                "layer": pm.layer,
                "normalization": pm.normalization or None,
                "cells_sum_query": float(pm.cells_a.sum()),
                "cells_sum_match": float(pm.cells_b.sum()),
                # Affine (Arc) maps: cells + bias share = cosine; the bias is what no position carries.
                "bias_share_query": pm.bias_a,
                "bias_share_match": pm.bias_b,
                "files": [
                    f"{stem}_{w}{s}" for w in ("query", "match") for s in ("_cells.npy", ".npy", ".png")
                ],
            }
        )
        if members and len(members) > 1:
            entries[-1]["ensemble"] = _ensemble_maps(members, q_prep, prep, out_dir, stem)
    text = json.dumps({"query": str(args.query), "pairs": entries}, indent=1, ensure_ascii=False)
    atomic_write_text(out_dir / "pairs.json", text)


def _ensemble_maps(members: list[tuple[str, Any]], q_prep: Any, prep: Any, out_dir: Path, stem: str) -> dict:
    """Every member's pair maps for one match, their mean and Spearman agreement, saved as npy."""
    import numpy as np

    from ..core.analysis.arc_pairs import ensemble_pair_maps
    from ..core.base.atomic import atomic_save_npy

    xa = [a.preprocess(q_prep.face.image) for _, a in members]
    xb = [a.preprocess(prep.face.image) for _, a in members]
    ens = ensemble_pair_maps(members, xa, xb)
    for who, stack, mean in (
        ("query", [m.cells_a for m in ens.maps], ens.mean_cells_a),
        ("match", [m.cells_b for m in ens.maps], ens.mean_cells_b),
    ):
        atomic_save_npy(out_dir / f"{stem}_members_{who}_cells.npy", np.stack(stack).astype(np.float64))
        atomic_save_npy(out_dir / f"{stem}_mean_{who}_cells.npy", mean.astype(np.float64))
    return {
        "members": ens.members,
        "cosines": [round(m.cosine, 6) for m in ens.maps],
        "bias_shares_query": [m.bias_a for m in ens.maps],
        "agreement_spearman": [[round(float(v), 4) for v in row] for row in ens.agreement],
    }
