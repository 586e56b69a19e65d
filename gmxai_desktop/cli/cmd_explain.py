"""``gmxai explain``: attribution maps for images, as raw .npy plus overlay .png."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from .common import add_subcommand, image_paths_from_args, load_model_from_args, methods_and_params
from .runner import RunSummary, run_images

HELP = "compute attribution maps for images"
DESCRIPTION = """\
Run attribution methods and write, per image, DIR/<image-stem>/<method>.npy (the raw signed float32
map at model input resolution) and <method>.png (an overlay on the preprocessed face), plus
DIR/manifest.json. With a top-K target the files are <method>.top1.npy ... <method>.topK.npy. `gmxai
methods` lists methods and parameters.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(
        sub, "explain", run, HELP, DESCRIPTION, model=True, align=True, methods=True, inputs=True
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sim = p.add_mutually_exclusive_group()
    sim.add_argument(
        "--similar-to",
        metavar="IMG",
        help="explain the cosine similarity of each image's embedding to this face instead of a class",
    )
    sim.add_argument(
        "--centroid",
        metavar="LABEL",
        help="explain the cosine similarity to this syndrome's centroid (mean of its normalised gallery "
        "embeddings; needs --gallery)",
    )
    p.add_argument("--gallery", metavar="DIR", help="labelled gallery folder for --centroid")
    p.add_argument("--labels", metavar="CSV", help="CSV with columns image,label for the gallery")


def similarity_target(args: argparse.Namespace, adapter: Any) -> Any:
    """The adapter to explain: ``adapter`` itself, or its similarity to an image / a centroid."""
    from ..core.attribution.targets import similarity_adapter, syndrome_centroid
    from ..core.base.errors import ParameterError

    if not getattr(args, "similar_to", None) and not getattr(args, "centroid", None):
        return adapter
    if args.similar_to:
        from ..core.analysis.similarity import embed_file

        ref, _ = embed_file(adapter, Path(args.similar_to), align=args.align)
        return similarity_adapter(adapter, [(f"similarity to {Path(args.similar_to).name}", ref)])
    if not args.gallery:
        raise ParameterError("--centroid needs --gallery DIR (a labelled gallery folder)")
    from ..core.analysis.embeddings import embed_gallery
    from .cmd_similar import gallery_labels

    images = gallery_labels(Path(args.gallery), Path(args.labels) if args.labels else None)
    gallery = embed_gallery(adapter, images, align=args.align)
    centre = syndrome_centroid(gallery.embeddings, gallery.labels, args.centroid)
    return similarity_adapter(adapter, [(f"similarity to the {args.centroid} centroid", centre)])


def versions() -> dict[str, str]:
    import captum
    import numpy as np
    import torch

    from .. import __version__

    return {
        "gmxai_desktop": __version__,
        "torch": torch.__version__,
        "captum": captum.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.attribution.engine import explain
    from ..core.attribution.methods import get_method
    from ..core.base.atomic import atomic_save_npy, atomic_write_text
    from ..core.inputs.pipeline import prepare_file
    from ..core.output.render import overlay, save_png

    methods, params = methods_and_params(args)
    resolved = {m: get_method(m).resolve_params(params.get(m)) for m in methods}  # fail fast
    adapter = similarity_target(args, load_model_from_args(args))
    if adapter.extra.get("scores_are_similarities"):
        args.target = "0"
    paths = image_paths_from_args(args.inputs)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    summary = RunSummary()
    manifest: dict[str, Any] = {
        "model": {"id": adapter.model_id, "arch": adapter.arch, "classes": adapter.num_classes},
        "device": str(adapter.device),
        "methods": methods,
        "params": resolved,
        "target": args.target,
        "align": args.align,
        "versions": versions(),
        "images": [],
    }
    used_stems: set[str] = set()

    def write_manifest() -> None:
        atomic_write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1, default=str))

    def one(path: Path) -> None:
        entry: dict[str, Any] = {"image": str(path), "status": "error"}
        manifest["images"].append(entry)
        try:
            stem = unique_stem(path.stem, used_stems)
            entry["output"] = stem
            t0 = time.perf_counter()
            prep = prepare_file(adapter, path, align=args.align)
            entry["alignment"] = prep.status
            entry["alignment_message"] = prep.message
            results = explain(adapter, prep.x, methods, target=args.target, params=params)
            targets = list(dict.fromkeys(r.target for r in results))
            img_dir = out_dir / stem
            img_dir.mkdir(parents=True, exist_ok=True)
            files = []
            for r in results:
                name = r.method if len(targets) == 1 else f"{r.method}.top{targets.index(r.target) + 1}"
                atomic_save_npy(img_dir / f"{name}.npy", r.map.astype(np.float32))
                sign = "signed" if float(r.map.min()) < 0 else "positive"
                save_png(img_dir / f"{name}.png", overlay(prep.display, r.map, sign=sign))
                files.append({"file": f"{stem}/{name}.npy", **r.metadata()})
            save_png(img_dir / "face.png", prep.display)
            entry.update(status="ok", results=files, seconds=round(time.perf_counter() - t0, 3))
        except Exception as exc:
            entry["error"] = str(exc)
            raise
        finally:
            write_manifest()

    write_manifest()
    run_images(paths, one, summary)
    summary.print("explain")
    ok = len(summary.ok)
    print(f"gmxai explain: {ok} of {ok + len(summary.failed)} images explained; results in {out_dir}")
    return summary.exit_code


def unique_stem(stem: str, used: set[str]) -> str:
    """Images from different folders can share a stem; never let one overwrite another's maps."""
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate
