"""``gmxai align``: detect faces and write crops aligned to a model template, plus landmarks.csv."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_subcommand, image_paths_from_args
from .runner import RunSummary, run_images

HELP = "detect and align faces to a model template"
DESCRIPTION = """\
Detect the face in each image (RetinaFace, offline), align it to the template and write the crop as
PNG under --out, keeping the input's relative path. landmarks.csv records per image: status, number
of faces, detector confidence and the five landmarks (left eye, right eye, nose, left and right
mouth corner; left/right as seen in the image) in original-image pixels. Edit it and pass it back
with --landmarks to fix a detection. Images without a face are reported and not written.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "align", run, HELP, DESCRIPTION, inputs=True)
    p.add_argument("--template", required=True, choices=("arcface112", "gm-v1"),
                   help="arcface112: 112x112 ArcFace template (GestaltMatcher-Arc); gm-v1: 100x100 "
                   "GestaltMatcher v1 square face crop, eyes level")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the crops and landmarks.csv")
    p.add_argument("--mode", choices=("auto", "detect", "aligned"), default="auto",
                   help="auto: images of at most 128 px per side are taken as already aligned crops, "
                   "larger ones are detected; detect: always detect; aligned: never detect (the "
                   "image is only resized to the template size) (default: auto)")
    p.add_argument("--force-detect", dest="mode", action="store_const", const="detect",
                   help="same as --mode detect")
    p.add_argument("--force-aligned", dest="mode", action="store_const", const="aligned",
                   help="same as --mode aligned")
    p.add_argument("--landmarks", metavar="CSV",
                   help="use these landmarks instead of detection (columns as in landmarks.csv; "
                   "images are matched by relative path or file name; images not listed are detected)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace crops and landmarks.csv already in --out")


def _relative_name(path: Path, inputs: list[Path]) -> Path:
    """The crop's path under --out: relative to the input folder it came from, else its name."""
    for root in inputs:
        if root.is_dir():
            try:
                return path.relative_to(root)
            except ValueError:
                continue
    return Path(path.name)


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from ..core.base.atomic import atomic_write_bytes, atomic_write_text
    from ..core.base.errors import ParameterError
    from ..core.inputs.face import (
        format_landmarks_csv,
        get_template,
        landmarks_row,
        lookup_landmarks,
        prepare_face,
        read_landmarks_csv,
    )
    from ..core.inputs.imageio import load_image

    template = get_template(args.template)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    csv_path = out / "landmarks.csv"
    if csv_path.exists() and not args.overwrite:
        raise ParameterError(f"{csv_path} already exists; choose another --out or pass --overwrite")
    table = read_landmarks_csv(args.landmarks) if args.landmarks else {}
    inputs = [Path(p) for p in args.inputs]
    paths = image_paths_from_args(args.inputs)
    if not paths:
        raise ParameterError("no images found in the inputs")
    summary = RunSummary()
    rows: list[dict[str, str]] = []
    written: set[Path] = set()
    counts: dict[str, int] = {}

    def one(path: Path) -> None:
        rel = _relative_name(path, inputs)
        rgb = load_image(path)
        root = next((r for r in inputs if r.is_dir() and path.is_relative_to(r)), None)
        lm = lookup_landmarks(table, path, root) if table else None
        face = prepare_face(rgb, template.name, align=args.mode, landmarks=lm)
        counts[face.status] = counts.get(face.status, 0) + 1
        rows.append(landmarks_row(rel.as_posix(), face.status, face.n_faces, face.score, face.landmarks))
        if face.status == "no-face":
            print(f"{rel.as_posix()}: no face found; not written", file=sys.stderr)
            return
        crop = face.image
        if crop.shape[:2] != (template.height, template.width):
            # Pre-aligned input: only resized to the template size, as the model would.
            crop = cv2.resize(crop, template.size, interpolation=cv2.INTER_AREA
                              if crop.shape[0] > template.height else cv2.INTER_LINEAR)
        target = (out / rel).with_suffix(".png")
        if target in written:
            raise ParameterError(f"{rel.as_posix()}: another input already wrote {target.name}; rename one")
        if target.exists() and not args.overwrite:
            raise ParameterError(f"{target} already exists; pass --overwrite to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR))
        if not ok:  # pragma: no cover
            raise ParameterError(f"{rel.as_posix()}: the crop could not be encoded")
        atomic_write_bytes(target, buf.tobytes())
        written.add(target)
        if face.status != "aligned" or face.n_faces > 1:
            print(f"{rel.as_posix()}: {face.message}", file=sys.stderr)

    run_images(paths, one, summary)
    for path, _reason in summary.failed:
        rows.append(landmarks_row(_relative_name(path, inputs).as_posix(), "error", 0, None, None))
    atomic_write_text(csv_path, format_landmarks_csv(rows))
    parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"aligned {len(written)} of {len(paths)} images to {template.name} ({parts or 'none'}); "
          f"landmarks in {csv_path}")
    summary.print("align")
    return summary.exit_code
