"""Does the model get the syndrome right, and do the explanations look at the right place?

For a labelled image folder this measures top-1 / top-5 accuracy and, where ground-truth masks
exist (the synthetic demo data has them), two localisation scores for every attribution method:

* pointing game: the share of images whose map maximum lies inside the mask;
* relevance mass: the mean share of positive attribution inside the mask.

Both are compared with the chance level of a map that ignores the face: the mean area fraction
of the masks (a uniform map's relevance mass, and the hit rate of a randomly placed maximum).

Maps explain the **true** class by default: the question is whether the evidence the model uses
for the syndrome lies where the syndrome is, also on images it gets wrong. ``target="predicted"``
explains whatever the model predicted instead. Images of the unaffected class have empty masks
and get no localisation score.

Masks live at the resolution of the image files (``<masks_dir>/<image stem>.png``, non-zero =
inside). When an image is aligned by detection the mask is warped with the same matrix, then it
is resized to the map resolution with nearest-neighbour interpolation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..base.errors import GmxaiError, ImageLoadError, ParameterError
from ..base.jobs import JobControl
from ..inputs.labels import read_label_table
from ..models.base import ModelAdapter
from .metrics import pointing_game, relevance_mass

TARGETS = ("true", "predicted")
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")


@dataclass
class MethodScore:
    """Localisation of one method over all scored images (and per class)."""

    method: str
    label: str
    n: int = 0
    hits: int = 0
    mass_sum: float = 0.0
    mass_n: int = 0
    no_positive: int = 0  # maps without any positive attribution (miss; mass undefined)
    seconds: float = 0.0
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def pointing_game(self) -> float:
        return self.hits / self.n if self.n else math.nan

    @property
    def relevance_mass(self) -> float:
        return self.mass_sum / self.mass_n if self.mass_n else math.nan

    def add(self, cls: str, hit: bool, mass: float) -> None:
        self.n += 1
        self.hits += int(hit)
        pc = self.per_class.setdefault(cls, {"n": 0, "hits": 0, "mass_sum": 0.0, "mass_n": 0})
        pc["n"] += 1
        pc["hits"] += int(hit)
        if math.isnan(mass):
            self.no_positive += 1
        else:
            self.mass_sum += mass
            self.mass_n += 1
            pc["mass_sum"] += mass
            pc["mass_n"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "label": self.label,
            "n": self.n,
            "pointing_game": _num(self.pointing_game),
            "relevance_mass": _num(self.relevance_mass),
            "no_positive_attribution": self.no_positive,
            "seconds": round(self.seconds, 2),
            "per_class": {
                c: {
                    "n": int(v["n"]),
                    "pointing_game": _num(v["hits"] / v["n"] if v["n"] else math.nan),
                    "relevance_mass": _num(v["mass_sum"] / v["mass_n"] if v["mass_n"] else math.nan),
                }
                for c, v in sorted(self.per_class.items())
            },
        }


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else round(float(v), 4)


@dataclass
class ImageResult:
    image: str  # relative to the images folder
    label: str
    predicted: str
    top1: bool
    top5: bool
    alignment: str
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> pointing/mass


@dataclass
class EvaluationReport:
    model_id: str
    target: str
    mass_mode: str
    n_images: int = 0
    n_top1: int = 0
    n_top5: int = 0
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    methods: list[MethodScore] = field(default_factory=list)
    mask_area_sum: float = 0.0
    n_masks: int = 0
    images: list[ImageResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unknown_labels: dict[str, int] = field(default_factory=dict)
    missing_masks: int = 0
    not_aligned: int = 0
    label_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def top1(self) -> float:
        return self.n_top1 / self.n_images if self.n_images else math.nan

    @property
    def top5(self) -> float:
        return self.n_top5 / self.n_images if self.n_images else math.nan

    @property
    def chance(self) -> float:
        """Mean mask area fraction: a uniform map's relevance mass and a random peak's hit rate."""
        return self.mask_area_sum / self.n_masks if self.n_masks else math.nan

    def as_dict(self, with_images: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model_id,
            "target": self.target,
            "relevance_mass_mode": self.mass_mode,
            "n_images": self.n_images,
            "top1": _num(self.top1),
            "top5": _num(self.top5),
            "per_class": {
                c: {"n": v["n"], "top1": _num(v["top1"] / v["n"]), "top5": _num(v["top5"] / v["n"])}
                for c, v in self.per_class.items()
            },
            "masks_scored": self.n_masks,
            "chance_level": _num(self.chance),
            "methods": [m.as_dict() for m in self.methods],
            "skipped": [{"image": i, "reason": r} for i, r in self.skipped],
            "unknown_labels": self.unknown_labels,
            "missing_masks": self.missing_masks,
            "not_aligned": self.not_aligned,
            "label_problems": self.label_problems,
            "seconds": round(self.seconds, 1),
        }
        if with_images:
            out["images"] = [asdict(r) for r in self.images]
        return out


def find_mask(masks_dir: Path, image: Path) -> Path | None:
    for suffix in MASK_SUFFIXES:
        p = masks_dir / f"{image.stem}{suffix}"
        if p.is_file():
            return p
    return None


def read_mask(path: Path) -> np.ndarray:
    """A mask file as bool (H, W): any non-zero pixel (of any channel) is inside."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise ImageLoadError(f"{path.name}: the mask cannot be read as an image")
    if data.ndim == 3:
        data = data.max(axis=2)
    return data > 0


def mask_to_map(mask: np.ndarray, image_shape: tuple[int, int], matrix: np.ndarray | None,
                aligned_shape: tuple[int, int], map_shape: tuple[int, int], name: str) -> np.ndarray:
    """Bring an image-resolution mask onto the map grid (warp like the image, then resize)."""
    if mask.shape != image_shape:
        raise ImageLoadError(
            f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} px but the image is "
            f"{image_shape[1]}x{image_shape[0]} px"
        )
    m = mask.astype(np.uint8)
    is_identity = matrix is None or np.allclose(matrix, [[1, 0, 0], [0, 1, 0]])
    if not is_identity:
        m = cv2.warpAffine(m, np.asarray(matrix, dtype=np.float64), (aligned_shape[1], aligned_shape[0]),
                           flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if m.shape != tuple(map_shape):
        m = cv2.resize(m, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_NEAREST)
    return m > 0


def evaluate(
    adapter: ModelAdapter,
    images_dir: str | Path,
    labels_csv: str | Path | None = None,
    masks_dir: str | Path | None = None,
    methods: Sequence[str] = (),
    *,
    target: str = "true",
    align: str = "auto",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    mass_mode: str = "positive",
    job: JobControl | None = None,
) -> EvaluationReport:
    """Accuracy and (with masks and methods) localisation scores for a labelled folder."""
    from ..attribution.engine import explain, predict, validate
    from ..inputs.imageio import load_image
    from ..inputs.pipeline import prepare_array

    if target not in TARGETS:
        raise ParameterError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if mass_mode not in ("positive", "absolute"):
        raise ParameterError("the relevance mass mode must be 'positive' or 'absolute'")
    methods = list(dict.fromkeys(methods))
    if methods:
        validate(adapter, methods, params)  # unknown methods or parameters fail before any work
    job = job or JobControl()
    t_start = time.perf_counter()
    images_dir = Path(images_dir)
    table = read_label_table(images_dir, Path(labels_csv) if labels_csv else None)
    if not table.labels:
        raise ParameterError(f"no labelled images found in {images_dir}")
    masks = Path(masks_dir) if masks_dir else None
    if masks is not None and not masks.is_dir():
        raise ParameterError(f"the masks folder {masks} does not exist")

    index = {name: i for i, name in enumerate(adapter.class_names)}
    report = EvaluationReport(model_id=adapter.model_id, target=target, mass_mode=mass_mode,
                              label_problems=list(table.problems))
    known = {p: lab for p, lab in table.labels.items() if lab in index}
    for lab in table.labels.values():
        if lab not in index:
            report.unknown_labels[lab] = report.unknown_labels.get(lab, 0) + 1
    if not known:
        raise ParameterError(
            "none of the labels are classes of this model (labels: "
            f"{', '.join(sorted(report.unknown_labels)[:8])}; model classes: "
            f"{', '.join(adapter.class_names[:8])}{'...' if adapter.num_classes > 8 else ''})"
        )
    scores = {}
    if methods:
        from ..attribution.methods import get_method

        scores = {m: MethodScore(m, get_method(m).label) for m in methods}
    report.methods = list(scores.values())
    items = sorted(known.items(), key=lambda kv: str(kv[0]))
    for n, (path, label) in enumerate(items):
        job.check()
        sub = job.sub(n / len(items), (n + 1) / len(items), f"{n + 1}/{len(items)} ")
        rel = _relative(path, images_dir)
        try:
            rgb = load_image(path)
            prep = prepare_array(adapter, rgb, align=align, path=path)
            pred = predict(adapter, prep.x, top=min(5, adapter.num_classes))
        except GmxaiError as exc:
            report.skipped.append((rel, str(exc)))
            continue
        true_idx = index[label]
        top_idx = [i for i, _, _ in pred.top]
        res = ImageResult(image=rel, label=label, predicted=pred.top[0][1], top1=top_idx[0] == true_idx,
                          top5=true_idx in top_idx, alignment=prep.status)
        report.n_images += 1
        report.n_top1 += int(res.top1)
        report.n_top5 += int(res.top5)
        pc = report.per_class.setdefault(label, {"n": 0, "top1": 0, "top5": 0})
        pc["n"] += 1
        pc["top1"] += int(res.top1)
        pc["top5"] += int(res.top5)
        if not prep.face.aligned:
            report.not_aligned += 1
        report.images.append(res)
        if masks is None or not methods:
            continue
        mask_file = find_mask(masks, path)
        if mask_file is None:
            report.missing_masks += 1
            continue
        try:
            mask_img = read_mask(mask_file)
            if not mask_img.any():
                continue  # unaffected: nothing to point at
            face = prep.face
            map_shape = tuple(prep.x.shape[-2:])
            mask = mask_to_map(mask_img, rgb.shape[:2], face.matrix, face.image.shape[:2], map_shape,
                               mask_file.name)
        except GmxaiError as exc:
            report.skipped.append((rel, str(exc)))
            continue
        if not mask.any():
            report.skipped.append((rel, "the mask covers no pixel at the model's input resolution"))
            continue
        report.mask_area_sum += float(mask.mean())
        report.n_masks += 1
        tgt: int | str = true_idx if target == "true" else "predicted"
        results = explain(adapter, prep.x, methods, target=tgt, params=params, job=sub)
        for r in results:
            hit = pointing_game(r.map, mask)
            mass = relevance_mass(r.map, mask, mass_mode)
            sc = scores[r.method]
            sc.add(label, hit, mass)
            sc.seconds += r.elapsed_s
            res.scores[r.method] = {"pointing_game": hit, "relevance_mass": _num(mass)}
    report.seconds = time.perf_counter() - t_start
    job.report(1.0, "done")
    return report


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def format_report(report: EvaluationReport, markdown: bool = False) -> str:
    """The human-readable tables: accuracy per class, then localisation per method."""
    lines: list[str] = []
    sep = " | "

    def row(cells: list[str]) -> str:
        return ("| " + sep.join(cells) + " |") if markdown else "  ".join(cells)

    def rule(widths: list[int]) -> str:
        return ("|" + "|".join("-" * (w + 2) for w in widths) + "|") if markdown else "  ".join(
            "-" * w for w in widths)

    lines.append(f"{report.n_images} images, top-1 {_pct(report.top1)}, top-5 {_pct(report.top5)}")
    names = list(report.per_class)
    w = max([5, *(len(c) for c in names)])
    lines.append("")
    lines.append(row(["class".ljust(w), "    n", "top-1 ", "top-5 "]))
    lines.append(rule([w, 5, 6, 6]))
    for c in names:
        v = report.per_class[c]
        lines.append(row([c.ljust(w), f"{v['n']:5d}", _pct(v["top1"] / v["n"]).rjust(6),
                          _pct(v["top5"] / v["n"]).rjust(6)]))
    if report.methods and report.n_masks:
        lines.append("")
        what = "true class" if report.target == "true" else "predicted class"
        lines.append(f"Localisation on {report.n_masks} images with a mask (maps explain the {what}; "
                     f"relevance mass: {report.mass_mode} attribution)")
        lw = max([6, *(len(m.label) for m in report.methods)])
        lines.append("")
        lines.append(row(["method".ljust(lw), "pointing game", "relevance mass", "s/image"]))
        lines.append(rule([lw, 13, 14, 7]))
        for m in report.methods:
            per = m.seconds / m.n if m.n else math.nan
            lines.append(row([m.label.ljust(lw), _pct(m.pointing_game).rjust(13),
                              _pct(m.relevance_mass).rjust(14), f"{per:7.2f}"]))
        lines.append(row(["chance (uniform map)".ljust(lw), _pct(report.chance).rjust(13),
                          _pct(report.chance).rjust(14), " " * 7]))
        undefined = [f"{m.label} {m.no_positive}" for m in report.methods if m.no_positive]
        if undefined:
            lines.append("")
            lines.append("maps without positive attribution (pointing miss, mass left out): "
                         + ", ".join(undefined))
    notes = []
    if report.skipped:
        notes.append(f"{len(report.skipped)} images skipped")
    if report.unknown_labels:
        notes.append("labels the model does not know (left out): " + ", ".join(
            f"{k} ({v})" for k, v in sorted(report.unknown_labels.items())))
    if report.missing_masks:
        notes.append(f"{report.missing_masks} images without a mask file")
    if report.not_aligned:
        notes.append(f"{report.not_aligned} images used unaligned (no face found or alignment off)")
    if report.label_problems:
        notes.append(f"{len(report.label_problems)} rows of the labels file left out")
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "  n/a" if v is None or math.isnan(v) else f"{100 * v:5.1f}%"
