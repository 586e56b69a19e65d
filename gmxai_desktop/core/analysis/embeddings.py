"""Per-image results cached on disk, and gallery embeddings built on that cache.

Composites over thousands of photos and similarity searches over a gallery both repeat the same
expensive steps per image (decode, face detection and alignment, a forward pass, attribution
maps). The :class:`RecordCache` stores them once per image so that

* a cancelled or crashed run resumes where it stopped (every finished image is on disk),
* adding a method later computes only that method,
* the gallery embeddings a similarity search needs come for free after a composite run.

Cache layout: ``<cache_dir>/v<FORMAT>-<model fingerprint>/<2 hex>/<content sha256>-<align>.npz``,
one file per image, written atomically. The key is the image *content* (so renaming or moving a
folder keeps the cache valid and an edited photo is never served stale), the model fingerprint
(model id, architecture, input format, class names), and the alignment mode. Attribution maps
inside a record are keyed by method, resolved parameters and the explained class index, so
``target=true`` and ``target=predicted`` share work wherever they explain the same class.

The cache holds patient-derived data (aligned faces, maps); it is only written where the caller
points ``cache_dir`` and never anywhere implicit.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..base.atomic import atomic_open
from ..base.errors import FaceNotFoundError, GmxaiError, ImageLoadError, ParameterError
from ..base.hashing import file_sha256
from ..base.jobs import JobControl

if TYPE_CHECKING:  # torch loads with the model, not with the GUI
    import torch

    from ..models.base import ModelAdapter

CACHE_FORMAT = 1
"""Bump when the meaning of a cached array changes, so old caches are ignored, never misread."""

EventStatus = Literal["computed", "cached", "skipped", "excluded"]
"""computed: model work done in this run; cached: all from the disk cache; skipped: the image is
unusable (unreadable, no face); excluded: left out by an option (e.g. only correctly classified)."""


@dataclass(frozen=True)
class ImageEvent:
    """One image finished (or was skipped) in a folder run; sent to ``on_image`` callbacks.

    ``snapshot``, where given, builds the partial result so far on demand, so a view can refresh
    incrementally at its own pace without the run paying for results nobody looks at.
    """

    index: int
    total: int
    path: Path
    label: str | None
    status: EventStatus
    reason: str = ""
    snapshot: Callable[[], Any] | None = None


ImageCallback = Callable[[ImageEvent], None]


def file_digest(path: Path) -> str:
    """sha256 of the file's bytes: the cache key, valid across renames, stale-proof on edits."""
    try:
        return file_sha256(path)
    except OSError as exc:
        raise ImageLoadError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc


def model_fingerprint(adapter: ModelAdapter) -> str:
    """Everything about the model that changes what a cached face, logit or map would be."""
    facts = {
        "model_id": adapter.model_id,
        "arch": adapter.arch,
        "input_size": list(adapter.input_size),
        "channels": adapter.channels,
        "mean": list(adapter.mean),
        "std": list(adapter.std),
        "template": adapter.template,
        "classes": list(adapter.class_names),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def map_key(method: str, params: Mapping[str, Any], target: int) -> str:
    """npz entry name of one attribution map inside an image record."""
    text = json.dumps({"m": method, "p": dict(params), "t": int(target)}, sort_keys=True, default=str)
    return "map_" + hashlib.sha256(text.encode()).hexdigest()[:24]


class RecordCache:
    """One ``.npz`` record per image for one (model, alignment mode); see the module docstring.

    Records are dicts of numpy arrays. Known entries: ``aligned`` (uint8 RGB face after alignment,
    exactly what the model's preprocessing received), ``logits`` (float32), ``embedding``
    (float32, where the model has one), ``skip`` (a reason string when the image cannot be used,
    e.g. no face found, so the detector is not rerun on resume), and ``map_*`` entries.
    """

    def __init__(self, cache_dir: Path, adapter: ModelAdapter, align: str) -> None:
        self.root = Path(cache_dir) / f"v{CACHE_FORMAT}-{model_fingerprint(adapter)}"
        self.align = align
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"cannot use cache folder {cache_dir}: {exc.strerror or exc}") from exc

    def path_for(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}-{self.align}.npz"

    def load(self, digest: str) -> dict[str, np.ndarray]:
        """The stored record, or an empty dict when there is none or it is unreadable."""
        path = self.path_for(digest)
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return {}  # a truncated file from a killed run: recompute and overwrite it

    def save(self, digest: str, record: Mapping[str, np.ndarray]) -> None:
        """Write atomically so a run killed mid-write never leaves a record that loads wrong."""
        path = self.path_for(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **record)


def alignment_problem(face: object, align: str) -> str | None:
    """Why a prepared face is unfit for averaging or matching, or None when it is fine.

    Composites and galleries compare faces position by position, so a photo in which no face was
    found (the pipeline then passes the whole photo on, unaligned) would blur a composite and
    distort a match. Deliberately unaligned input (``align="none"``, or a model without a face
    template) is the user's choice and is accepted.
    """
    if align == "none" or getattr(face, "status", "") != "no-face":
        return None
    return str(getattr(face, "message", "") or "no face found")


def prepare_record(
    adapter: ModelAdapter, path: Path, align: str
) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Load, align and preprocess one file: the record's image entries plus the model input.

    User-caused problems (unreadable file, no usable face) come back as a ``skip`` entry so they
    are cached too: the detector is not rerun for them on every resume.
    """
    import torch

    from ..inputs.pipeline import prepare_file

    try:
        prepared = prepare_file(adapter, path, align=align)
    except (ImageLoadError, FaceNotFoundError) as exc:
        return {"skip": np.array(str(exc))}, torch.empty(0)
    problem = alignment_problem(prepared.face, align)
    if problem is not None:
        return {"skip": np.array(problem)}, torch.empty(0)
    aligned = np.ascontiguousarray(prepared.face.image, dtype=np.uint8)  # type: ignore[attr-defined]
    return {"aligned": aligned}, prepared.x


def forward_record(adapter: ModelAdapter, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Logits and (where the model has one) the embedding for a batch, one forward pass."""
    import torch

    logits, emb = adapter.predict(x)
    out = {"logits": logits.detach().float().cpu().numpy()}
    if emb is not None:
        out["embedding"] = torch.flatten(emb, 1).detach().float().cpu().numpy()
    return out


@dataclass
class Gallery:
    """Embeddings of a folder of labelled faces, in a fixed order; rows match ``paths``."""

    paths: list[Path]
    labels: list[str | None]
    embeddings: np.ndarray  # (N, D) float32, as the model outputs them (not normalised)
    model_id: str
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def unit(self) -> np.ndarray:
        """Rows scaled to unit length in float64, so a dot product is the cosine similarity."""
        emb = self.embeddings.astype(np.float64)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        return emb / np.maximum(norms, 1e-12)


def require_embedding(adapter: ModelAdapter) -> None:
    if not adapter.has_embedding:
        raise ParameterError(
            f"the model {adapter.arch} has no embedding output, which similarity search needs "
            "(GestaltMatcher v1 and Arc models have one; plain classifiers do not)"
        )


def embed_gallery(
    adapter: ModelAdapter,
    images: Sequence[Path] | Mapping[Path, str | None],
    *,
    align: str = "auto",
    cache_dir: Path | None = None,
    job: JobControl | None = None,
    on_image: ImageCallback | None = None,
    batch_size: int = 8,
) -> Gallery:
    """Embed every gallery image (batched forward passes), reusing and filling the disk cache.

    ``images`` is a list of paths or a mapping path -> label (e.g. from ``labels.read_labels``).
    Unusable images are listed in ``Gallery.skipped`` with the reason; the run carries on.
    """
    import torch

    require_embedding(adapter)
    job = job or JobControl()
    labels: dict[Path, str | None] = (
        dict(images) if isinstance(images, Mapping) else dict.fromkeys(images)
    )
    paths = list(labels)
    cache = RecordCache(cache_dir, adapter, align) if cache_dir is not None else None
    total = len(paths)
    kept: dict[int, np.ndarray] = {}
    skipped: list[tuple[Path, str]] = []
    done = 0

    def emit(i: int, status: EventStatus, reason: str = "") -> None:
        nonlocal done
        done += 1
        job.report(done / max(total, 1), f"embedding {done}/{total}")
        if on_image is not None:
            on_image(ImageEvent(i, total, paths[i], labels[paths[i]], status, reason))

    for start in range(0, total, max(1, batch_size)):
        job.check()
        batch_idx: list[int] = []
        batch_x: list[torch.Tensor] = []
        batch_rec: list[tuple[str, dict[str, np.ndarray]]] = []
        for i in range(start, min(start + batch_size, total)):
            path = paths[i]
            try:
                digest = file_digest(path)
            except GmxaiError as exc:
                skipped.append((path, str(exc)))
                emit(i, "skipped", str(exc))
                continue
            record = cache.load(digest) if cache else {}
            if "skip" in record:
                skipped.append((path, str(record["skip"])))
                emit(i, "skipped", str(record["skip"]))
                continue
            if "embedding" in record:
                kept[i] = record["embedding"].reshape(-1).astype(np.float32)
                emit(i, "cached")
                continue
            job.check()
            if "aligned" in record:
                x = adapter.preprocess(record["aligned"])
            else:
                entries, x = prepare_record(adapter, path, align)
                record.update(entries)
                if "skip" in record:
                    if cache:
                        cache.save(digest, record)
                    skipped.append((path, str(record["skip"])))
                    emit(i, "skipped", str(record["skip"]))
                    continue
            batch_idx.append(i)
            batch_x.append(x)
            batch_rec.append((digest, record))
        if not batch_x:
            continue
        job.check()
        out = forward_record(adapter, torch.cat(batch_x, 0))
        if "embedding" not in out:
            raise ParameterError(f"the model {adapter.arch} returned no embedding")
        for row, (i, (digest, record)) in enumerate(zip(batch_idx, batch_rec, strict=True)):
            record["logits"] = out["logits"][row]
            record["embedding"] = out["embedding"][row]
            if cache:
                cache.save(digest, record)
            kept[i] = out["embedding"][row].astype(np.float32)
            emit(i, "computed")

    order = sorted(kept)
    dim = next(iter(kept.values())).shape[0] if kept else 0
    emb = np.stack([kept[i] for i in order]) if kept else np.zeros((0, dim), np.float32)
    return Gallery(
        paths=[paths[i] for i in order],
        labels=[labels[paths[i]] for i in order],
        embeddings=emb,
        model_id=adapter.model_id,
        skipped=skipped,
    )
