"""The class-imbalance study: how much do two models' syndrome-wise maps agree, class by class?

A model trained on a long-tailed data set (GMDB has hundreds of photos of a few syndromes and a
handful of most) may learn the small classes from different evidence than a model that saw every
class equally often. This module runs the composites of both models on the same labelled images
(:func:`~.composites.compute_composites`, resumable through its per-image cache), and for every
class and method compares the two mean raw maps:

* ``spearman``: Spearman's ρ over all pixels, average ranks for ties
  (:func:`~.metrics.spearman_rank_correlation`, the project's one implementation);
* ``top10_overlap``: the share of A's top 10 % pixels that are also among B's top 10 %
  (:func:`~.metrics.topk_overlap`), a fraction; unrelated maps score about 0.1;

next to each model's training-set size of the class (from the model's JSON) and its top-1
accuracy on these images, so agreement can be set against class size (:func:`plot_agreement`).

Nothing here writes partial output: :func:`write_comparison` stages every file in a hidden
folder and moves them into place only when all are written.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.atomic import atomic_write_bytes
from ..base.errors import ParameterError
from ..base.jobs import JobControl
from ..models.base import ModelAdapter
from .comparison import training_counts
from .composites import CompositeResult, compute_composites, match_labels
from .composites_io import safe_dirname
from .embeddings import RecordCache, file_digest
from .metrics import spearman_rank_correlation, topk_overlap

TOP_FRACTION = 0.10  # the top 10 % pixels (metrics.topk_overlap takes a fraction)
CSV_COLUMNS = ("class", "method", "train_images_a", "train_images_b", "test_images", "spearman",
               "top10_overlap", "top1_a", "top1_b")


@dataclass(frozen=True)
class AgreementRow:
    """One class × method row of ``agreement.csv``; None where a number is unknown or undefined."""

    class_name: str
    method: str
    train_images_a: int | None
    train_images_b: int | None
    test_images: int
    spearman: float  # NaN when a mean map is constant
    top10_overlap: float
    top1_a: float | None
    top1_b: float | None

    def csv_cells(self) -> list[str]:
        def num(v: float | None, digits: int = 4) -> str:
            return "" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"

        return [self.class_name, self.method,
                "" if self.train_images_a is None else str(self.train_images_a),
                "" if self.train_images_b is None else str(self.train_images_b),
                str(self.test_images), num(self.spearman), num(self.top10_overlap),
                num(self.top1_a), num(self.top1_b)]


@dataclass
class ModelComparison:
    """Everything ``compare-models`` reports; ``maps_a[c][m]`` are the mean raw maps compared."""

    rows: list[AgreementRow]
    methods: list[str]
    classes: list[str]
    maps_a: dict[str, dict[str, np.ndarray]]
    maps_b: dict[str, dict[str, np.ndarray]]
    model_a: str = ""
    model_b: str = ""
    result_a: CompositeResult | None = None
    result_b: CompositeResult | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def class_accuracy(adapter: ModelAdapter, images: Mapping[Path, str], cache_dir: Path,
                   align: str = "auto") -> dict[str, float]:
    """Top-1 accuracy per label from the logits the composite run cached for each image.

    Composites always store an image's logits beside its maps, so this needs no model work; images
    without cached logits (unusable ones) do not count. Labels the model lacks are left out.
    """
    cache = RecordCache(cache_dir, adapter, align)
    index, _ = match_labels(images, adapter.class_names)
    hits: dict[str, list[int]] = {}
    for path, label in images.items():
        idx = index.get(label)
        if idx is None:
            continue
        try:
            record = cache.load(file_digest(path))
        except ParameterError:
            continue
        if "logits" not in record:
            continue
        hits.setdefault(label, []).append(int(np.argmax(record["logits"]) == idx))
    return {label: float(np.mean(v)) for label, v in hits.items()}


def agreement_rows(
    first: CompositeResult,
    second: CompositeResult,
    *,
    train_a: Mapping[str, int] | None = None,
    train_b: Mapping[str, int] | None = None,
    top1_a: Mapping[str, float] | None = None,
    top1_b: Mapping[str, float] | None = None,
    methods: Sequence[str] | None = None,
) -> list[AgreementRow]:
    """One row per class (that both runs have maps of) × method, in the first run's class order."""
    methods = list(methods if methods is not None else first.methods)
    missing = [m for m in methods if m not in first.methods or m not in second.methods]
    if missing:
        raise ParameterError(f"both composite runs need maps of {', '.join(missing)}")
    rows = []
    for cls in first.classes:
        if not first.counts.get(cls) or not second.counts.get(cls):
            continue
        for m in methods:
            a, b = first.maps[cls][m], second.maps[cls][m]
            rows.append(AgreementRow(
                class_name=cls, method=m,
                train_images_a=None if train_a is None else train_a.get(cls),
                train_images_b=None if train_b is None else train_b.get(cls),
                test_images=min(int(first.counts[cls]), int(second.counts[cls])),
                spearman=spearman_rank_correlation(a, b),
                top10_overlap=topk_overlap(a, b, TOP_FRACTION),
                top1_a=None if top1_a is None else top1_a.get(cls),
                top1_b=None if top1_b is None else top1_b.get(cls),
            ))
    return rows


def compare_models(
    adapter_a: ModelAdapter,
    adapter_b: ModelAdapter,
    images: Mapping[Path, str],
    methods: Sequence[str],
    *,
    cache_dir: Path,
    target: str = "true",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    align: str = "auto",
    job: JobControl | None = None,
) -> ModelComparison:
    """Composites of both models on ``images`` (cached per image in ``cache_dir``), then the rows.

    Raises :class:`~.errors.Cancelled` (or lets ``KeyboardInterrupt`` through) with every finished
    image cached, so the same call resumes.
    """
    if not methods:
        raise ParameterError("choose at least one attribution method to compare")
    if list(adapter_a.class_names) != list(adapter_b.class_names):
        raise ParameterError("the two models have different classes; compare models of the same classes")
    job = job or JobControl()
    runs = []
    for i, (adapter, name) in enumerate(((adapter_a, "model A"), (adapter_b, "model B"))):
        runs.append(compute_composites(
            adapter, images, methods, target=target, params=params, align=align,  # type: ignore[arg-type]
            cache_dir=cache_dir, job=job.sub(i / 2, (i + 1) / 2, f"{name}: "),
        ))
    ra, rb = runs
    rows = agreement_rows(
        ra, rb,
        train_a=training_counts(adapter_a), train_b=training_counts(adapter_b),
        top1_a=class_accuracy(adapter_a, images, cache_dir, align),
        top1_b=class_accuracy(adapter_b, images, cache_dir, align),
        methods=methods,
    )
    classes = list(dict.fromkeys(r.class_name for r in rows))
    return ModelComparison(
        rows=rows, methods=list(methods), classes=classes,
        maps_a={c: dict(ra.maps[c]) for c in classes}, maps_b={c: dict(rb.maps[c]) for c in classes},
        model_a=adapter_a.model_id, model_b=adapter_b.model_id, result_a=ra, result_b=rb,
        skipped=list(dict.fromkeys([*ra.skipped, *rb.skipped])),
    )


def plot_agreement(rows: Sequence[AgreementRow], title: str = "") -> bytes:
    """PNG: Spearman ρ and top-10 % overlap against model B's training-set size (log x), one
    series per method. Classes without a known size are left out (said in the x label)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, safe inside the app

    methods = list(dict.fromkeys(r.method for r in rows))
    known = [r for r in rows if r.train_images_b]
    fig = Figure(figsize=(10, 4.2), dpi=110)
    axes = fig.subplots(1, 2)
    markers = "osD^v<>"
    for ax, key, label, chance in ((axes[0], "spearman", "Spearman ρ of the mean maps", 0.0),
                                   (axes[1], "top10_overlap", "top-10 % overlap", TOP_FRACTION)):
        for i, m in enumerate(methods):
            pts = sorted((r.train_images_b, getattr(r, key), r.class_name) for r in known if r.method == m)
            if not pts:
                continue
            xs, ys, _ = zip(*pts, strict=True)
            ax.plot(xs, ys, marker=markers[i % len(markers)], linestyle="-", alpha=0.85, label=m)
        ax.axhline(chance, color="0.6", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        left_out = len({r.class_name for r in rows}) - len({r.class_name for r in known})
        ax.set_xlabel("training images of the class, model B" + (f" ({left_out} unknown, not shown)"
                                                                   if left_out else ""))
        ax.set_ylabel(label)
        ax.set_ylim(-1.05 if key == "spearman" else -0.02, 1.05)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_comparison(result: ModelComparison, out_dir: Path, title: str = "") -> dict[str, str]:
    """Write ``agreement.csv``, ``agreement.png`` and ``<class>/<method>_a.npy``/``_b.npy``.

    Everything is written to a hidden staging folder inside ``out_dir`` first and moved into place
    once complete (``agreement.csv`` last), so an interrupted run leaves the earlier results or
    none, never a mix. Returns class -> folder name (class names unsafe in file names are changed).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    folders = {c: safe_dirname(c, used) for c in result.classes}
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        for cls, folder in folders.items():
            (stage / folder).mkdir()
            for m in result.methods:
                for side, maps in (("a", result.maps_a), ("b", result.maps_b)):
                    np.save(stage / folder / f"{m}_{side}.npy", np.asarray(maps[cls][m], np.float32))
        (stage / "agreement.png").write_bytes(plot_agreement(result.rows, title))
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows(r.csv_cells() for r in result.rows)
        for folder in folders.values():
            target = out_dir / folder
            target.mkdir(exist_ok=True)
            for f in (stage / folder).iterdir():
                f.replace(target / f.name)
        (stage / "agreement.png").replace(out_dir / "agreement.png")
        atomic_write_bytes(out_dir / "agreement.csv", text.getvalue().encode("utf-8"))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folders
