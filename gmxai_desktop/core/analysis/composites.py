"""Syndrome composites: the average face of a syndrome and the average explanation of it.

For every syndrome (true label) this computes

* the composite face: the per-pixel mean (or exact median) of the syndrome's aligned faces;
* the syndrome-wise map of every method: the mean raw attribution map over its images;

and the same over all included images (the generic face and generic maps), stored under the
reserved key :data:`ALL` (``"__all__"``). Labels come from subfolder names or a CSV
(``labels.read_labels``); they are matched to the model's class names.

Designed for thousands of photos and a GUI that shows progress and partial results:

* **Bounded memory.** Images are processed syndrome by syndrome; only running float64 sums are
  kept (never a list of maps). The exact median uses a per-pixel histogram of the uint8 values
  (256 counters per pixel and channel), which needs memory proportional to one image, not to the
  number of images, and only one syndrome's histogram (plus the generic one) is alive at a time.
* **Cancellable and resumable.** ``job.check()`` runs before every image and inside every method.
  With ``cache_dir`` every image's face, logits and maps are written to disk as soon as they
  are done (see :mod:`.embeddings`), so rerunning after a cancel computes only what is missing.
* **Incremental.** ``on_image`` receives an :class:`~.embeddings.ImageEvent` per image whose
  ``snapshot()`` builds the partial :class:`CompositeResult` on demand.

Targets: ``target="true"`` (default) explains each image's true class, the question a composite
asks ("what does the model use to recognise syndrome X?"); ``"predicted"`` explains the class the
model chose. ``only_correct`` keeps only images the model classifies correctly (top-1).

The ``statistic`` applies to the composite faces. Maps are always means: the literature's
syndrome-wise map is the mean, and a mean of raw signed maps keeps their units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..base.errors import GmxaiError, ParameterError
from ..base.jobs import JobControl
from .embeddings import (
    EventStatus,
    ImageCallback,
    ImageEvent,
    RecordCache,
    file_digest,
    forward_record,
    map_key,
    prepare_record,
)

if TYPE_CHECKING:  # torch loads with the model, not with the GUI's composites tab
    import torch

    from ..models.base import ModelAdapter

ALL = "__all__"
"""Key of the generic face, count and maps (all included images, every syndrome)."""

Target = Literal["true", "predicted"]
Statistic = Literal["mean", "median"]


@dataclass
class CompositeResult:
    """Composite faces and syndrome-wise maps, plus what went into them.

    ``classes`` lists every syndrome that had images, model class order first, then labels the
    model does not know (only possible with ``target="predicted"``). ``counts[c]`` is the number of
    images that went into class ``c``'s face and maps (0 when all were excluded, e.g. by
    ``only_correct``); ``faces`` and ``maps`` have entries only for classes with a count > 0.
    ``faces[c]`` is float32 (H, W, 3) in [0, 255] at model input size (see :func:`face_uint8`);
    ``maps[c][method]`` is the float32 (H, W) mean raw map. ``ALL`` holds the generic versions.
    """

    classes: list[str]
    counts: dict[str, int]
    faces: dict[str, np.ndarray]
    maps: dict[str, dict[str, np.ndarray]]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unusable: unreadable, no face
    excluded: list[tuple[Path, str]] = field(default_factory=list)  # left out by the options
    methods: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: str = "true"
    only_correct: bool = False
    statistic: str = "mean"
    align: str = "auto"
    model_id: str = ""
    class_indices: dict[str, int | None] = field(default_factory=dict)
    computed: int = 0  # images that needed model work in this run
    cached: int = 0  # images served entirely from the cache
    complete: bool = True  # False for a snapshot taken while the run is going


def face_uint8(face: np.ndarray) -> np.ndarray:
    """A composite face (float, may hold .5 medians) rounded to displayable uint8 RGB."""
    return np.clip(np.rint(face), 0, 255).astype(np.uint8)


def match_labels(
    labels: Mapping[Path, str], class_names: Sequence[str]
) -> tuple[dict[str, int | None], list[str]]:
    """Map each distinct label to the model's class index (None if the model lacks it).

    Exact names first; otherwise a match ignoring case and surrounding spaces, if unambiguous, so a
    folder named ``noonan syndrome`` still finds ``Noonan syndrome``. Returns (mapping, unknown).
    """
    exact = {name: i for i, name in enumerate(class_names)}
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(class_names):
        loose.setdefault(name.strip().casefold(), []).append(i)
    out: dict[str, int | None] = {}
    for label in sorted(set(labels.values())):
        if label in exact:
            out[label] = exact[label]
            continue
        hits = loose.get(label.strip().casefold(), [])
        out[label] = hits[0] if len(hits) == 1 else None
    return out, [lab for lab, i in out.items() if i is None]


def _unknown_message(unknown: list[str], labels: Mapping[Path, str], class_names: Sequence[str]) -> str:
    n_img = sum(1 for v in labels.values() if v in set(unknown))
    more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
    shown = ", ".join(repr(u) for u in unknown[:10]) + more
    known = ", ".join(repr(c) for c in class_names[:10]) + (", ..." if len(class_names) > 10 else "")
    return (
        f"{len(unknown)} label(s) on {n_img} image(s) are not classes of this model: {shown}. "
        f"The model's classes are: {known}. Rename the folders / CSV labels to the model's class "
        "names, pass a class-name file that matches, skip these images, or use target 'predicted'"
    )


def _resize_face(aligned: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Aligned face -> model input size, RGB kept (the composite is shown in colour)."""
    if aligned.ndim == 2:
        aligned = np.repeat(aligned[:, :, None], 3, axis=2)
    if aligned.shape[2] == 1:
        aligned = np.repeat(aligned, 3, axis=2)
    aligned = aligned[:, :, :3]
    h, w = size
    if aligned.shape[:2] == (h, w):
        return np.ascontiguousarray(aligned, dtype=np.uint8)
    from PIL import Image

    resized = Image.fromarray(aligned.astype(np.uint8)).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


class _Accumulator:
    """Running sums for one group of images: face sum / histogram and per-method map sums."""

    def __init__(self, face_shape: tuple[int, int, int], median: bool) -> None:
        self.n = 0
        self.face_shape = face_shape
        self.face_sum = np.zeros(face_shape, np.float64)
        size = int(np.prod(face_shape))
        # uint32 counters: exact for up to 4 billion images per group.
        self.hist = np.zeros((size, 256), np.uint32) if median else None
        self._rows = np.arange(size) if median else None
        self.map_sums: dict[str, np.ndarray] = {}

    def add(self, face: np.ndarray, maps: Mapping[str, np.ndarray]) -> None:
        self.n += 1
        self.face_sum += face
        if self.hist is not None:
            self.hist[self._rows, face.reshape(-1)] += 1  # each row once: no repeated indices
        for method, m in maps.items():
            acc = self.map_sums.get(method)
            if acc is None:
                self.map_sums[method] = m.astype(np.float64)
            else:
                acc += m

    def face(self) -> np.ndarray:
        if self.hist is None:
            return (self.face_sum / self.n).astype(np.float32)
        # Exact median as numpy defines it: the mean of the two middle order statistics. The
        # cumulative counts are built in row blocks so the temporary stays small.
        out = np.empty(self.hist.shape[0], np.float32)
        for start in range(0, self.hist.shape[0], 8192):
            cum = np.cumsum(self.hist[start:start + 8192], axis=1, dtype=np.uint32)
            lo = np.argmax(cum > (self.n - 1) // 2, axis=1)
            hi = np.argmax(cum > self.n // 2, axis=1)
            out[start:start + 8192] = (lo + hi) / 2.0
        return out.reshape(self.face_shape)

    def maps(self) -> dict[str, np.ndarray]:
        return {k: (v / self.n).astype(np.float32) for k, v in self.map_sums.items()}


def _resolve_params(
    adapter: ModelAdapter, methods: Sequence[str], params: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Fully resolved parameters (defaults, the model's default CAM layer filled in), validated
    before any image is touched; they are part of every cached map's key."""
    from ..attribution import engine

    if not methods:
        if params:
            names = ", ".join(sorted(params))
            raise ParameterError(f"parameters given for {names}, but no attribution method is computed")
        return {}
    return {cls.name: dict(resolved) for cls, resolved in engine.validate(adapter, methods, params)}


def compute_composites(
    adapter: ModelAdapter,
    images: Mapping[Path, str],
    methods: Sequence[str],
    *,
    target: Target = "true",
    only_correct: bool = False,
    statistic: Statistic = "mean",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    align: str = "auto",
    cache_dir: Path | None = None,
    job: JobControl | None = None,
    on_image: ImageCallback | None = None,
    unknown_labels: Literal["error", "skip"] = "error",
) -> CompositeResult:
    """Composite faces and syndrome-wise / generic mean maps; see the module docstring.

    ``images`` maps image path -> syndrome label. ``methods`` may be empty (faces only).
    ``params`` is {method: {name: value}} like ``engine.explain``. Labels the model does not know
    cannot be explained with ``target="true"`` or checked with ``only_correct``: they raise a
    :class:`ParameterError` listing them, or are skipped with ``unknown_labels="skip"``. With
    ``target="predicted"`` they are kept and get their own composite.
    Raises :class:`~.errors.Cancelled` when ``job`` is cancelled; finished images stay cached.
    """
    from ..attribution import engine

    if target not in ("true", "predicted"):
        raise ParameterError(f"target must be 'true' or 'predicted' (got {target!r})")
    if statistic not in ("mean", "median"):
        raise ParameterError(f"statistic must be 'mean' or 'median' (got {statistic!r})")
    if unknown_labels not in ("error", "skip"):
        raise ParameterError(f"unknown_labels must be 'error' or 'skip' (got {unknown_labels!r})")
    methods = list(dict.fromkeys(methods))
    resolved = _resolve_params(adapter, methods, params)
    job = job or JobControl()

    class_of, unknown = match_labels(images, adapter.class_names)
    needs_index = target == "true" or only_correct
    skipped: list[tuple[Path, str]] = []
    excluded: list[tuple[Path, str]] = []
    if unknown and needs_index and unknown_labels == "error":
        raise ParameterError(_unknown_message(unknown, images, adapter.class_names))

    known = sorted((lab for lab, i in class_of.items() if i is not None), key=lambda lab: class_of[lab])
    classes = known + sorted(unknown)
    groups: dict[str, list[Path]] = {c: [] for c in classes}
    for path in sorted(images, key=lambda p: str(p)):
        groups[images[path]].append(path)
    total = len(images)

    cache = RecordCache(cache_dir, adapter, align) if cache_dir is not None else None
    h, w = adapter.input_size
    median = statistic == "median"
    generic = _Accumulator((h, w, 3), median)
    # Finished syndromes keep only their final face and maps; their histogram is freed, so memory
    # does not grow with the number of syndromes beyond one face and one map per method each.
    faces: dict[str, np.ndarray] = {}
    maps: dict[str, dict[str, np.ndarray]] = {}
    current: tuple[str, _Accumulator] | None = None
    counts = dict.fromkeys(classes, 0)
    stats = {"computed": 0, "cached": 0, "done": 0}

    def build(complete: bool) -> CompositeResult:
        out_faces, out_maps = dict(faces), dict(maps)
        for name, acc in ((current or ("", None)), (ALL, generic)):
            if acc is not None and acc.n:
                out_faces[name], out_maps[name] = acc.face(), acc.maps()
        return CompositeResult(
            classes=list(classes),
            counts={**counts, ALL: generic.n},
            faces=out_faces,
            maps=out_maps,
            skipped=list(skipped),
            excluded=list(excluded),
            methods=list(methods),
            params=resolved,
            target=target,
            only_correct=only_correct,
            statistic=statistic,
            align=align,
            model_id=adapter.model_id,
            class_indices={c: class_of[c] for c in classes},
            computed=stats["computed"],
            cached=stats["cached"],
            complete=complete,
        )

    def emit(path: Path, label: str, status: EventStatus, reason: str = "") -> None:
        stats["done"] += 1
        if status == "skipped":
            skipped.append((path, reason))
        elif status == "excluded":
            excluded.append((path, reason))
        elif status in ("computed", "cached"):
            stats[status] += 1
        if on_image is not None:
            on_image(ImageEvent(stats["done"] - 1, total, path, label, status, reason, lambda: build(False)))

    for cls in classes:
        true_idx = class_of[cls]
        acc = _Accumulator((h, w, 3), median)
        current = (cls, acc)
        for k, path in enumerate(groups[cls]):
            job.check()
            done = stats["done"]
            job.report(done / max(total, 1), f"{cls}: image {k + 1} of {len(groups[cls])}")
            if true_idx is None and needs_index:
                emit(path, cls, "excluded", f"label {cls!r} is not a class of this model")
                continue
            outcome = _process_image(
                adapter, engine, path, true_idx, methods, resolved, target, only_correct, align, cache,
                job.sub(done / max(total, 1), (done + 1) / max(total, 1), f"{cls}: "),
            )
            if isinstance(outcome, _Left):
                emit(path, cls, outcome.status, outcome.reason)
                continue
            aligned, image_maps, status = outcome
            face = _resize_face(aligned, (h, w))
            acc.add(face, image_maps)
            generic.add(face, image_maps)
            counts[cls] += 1
            emit(path, cls, status)
        if acc.n:
            faces[cls], maps[cls] = acc.face(), acc.maps()
        current = None
    job.report(1.0, "composites done")
    return build(True)


@dataclass(frozen=True)
class _Left:
    status: EventStatus  # "skipped" (unusable) or "excluded" (filtered out by the options)
    reason: str


def _process_image(
    adapter: ModelAdapter,
    engine: Any,
    path: Path,
    true_idx: int | None,
    methods: Sequence[str],
    resolved: Mapping[str, Mapping[str, Any]],
    target: str,
    only_correct: bool,
    align: str,
    cache: RecordCache | None,
    job: JobControl,
) -> _Left | tuple[np.ndarray, dict[str, np.ndarray], EventStatus]:
    """One image: (aligned face, {method: map}, status) from cache or computed; or why it is left out."""
    try:
        digest = file_digest(path)
    except GmxaiError as exc:
        return _Left("skipped", str(exc))
    record = cache.load(digest) if cache else {}
    dirty = False
    x: torch.Tensor | None = None
    if "skip" in record:
        return _Left("skipped", str(record["skip"]))
    if "aligned" not in record:
        entries, x = prepare_record(adapter, path, align)
        record.update(entries)
        dirty = True
        if "skip" in record:
            if cache:
                cache.save(digest, record)
            return _Left("skipped", str(record["skip"]))
    # The prediction is needed up front only to filter (only_correct) or when nothing else runs the
    # model; otherwise the engine's own forward pass provides the logits (one forward fewer).
    if "logits" not in record and (only_correct or not methods):
        if x is None:
            x = adapter.preprocess(record["aligned"])
        record.update({k: v[0] for k, v in forward_record(adapter, x).items()})
        dirty = True
    predicted = int(np.argmax(record["logits"])) if "logits" in record else None
    if only_correct and predicted != true_idx:
        if dirty and cache:
            cache.save(digest, record)
        name = adapter.class_name(-1 if predicted is None else predicted)
        return _Left("excluded", f"misclassified as {name!r} (only correctly classified images are used)")
    tgt: int | str
    if target == "true":
        assert true_idx is not None  # labels unknown to the model never reach here with target=true
        tgt = true_idx
    else:
        # Without cached logits the record is new, so no map is cached either: let the engine pick.
        tgt = predicted if predicted is not None else "predicted"
    keys = {m: map_key(m, resolved[m], tgt) for m in methods} if isinstance(tgt, int) else {}
    missing = [m for m in methods if keys.get(m) not in record]
    if missing:
        if x is None:
            x = adapter.preprocess(record["aligned"])
        shared: dict[str, Any] = {}
        try:
            results = engine.explain(
                adapter, x, missing, target=tgt, params={m: dict(resolved[m]) for m in missing}, job=job,
                shared=shared,
            )
        except ParameterError:
            raise  # a setting problem: it would fail for every image, so stop and say so
        except GmxaiError as exc:  # e.g. non-finite maps for this one image
            return _Left("skipped", str(exc))
        for r in results:
            record[map_key(r.method, resolved[r.method], r.target)] = np.asarray(r.map, dtype=np.float32)
        keys = {m: map_key(m, resolved[m], results[0].target) for m in methods}
        if "logits" not in record:
            logits = shared.get("_logits")
            if isinstance(logits, np.ndarray) and logits.shape == (adapter.num_classes,):
                record["logits"] = logits.astype(np.float32)
            else:
                record.update({k: v[0] for k, v in forward_record(adapter, x).items()})
        dirty = True
    if dirty and cache:
        cache.save(digest, record)
    maps = {m: record[keys[m]] for m in methods}
    return record["aligned"], maps, ("computed" if dirty else "cached")
