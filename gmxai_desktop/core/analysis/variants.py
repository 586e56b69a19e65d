"""GestaltMatcher-Arc matching: ensemble members x test-time augmentation, mean cosine distance.

Upstream encodes every image with each member (m0 r50, m1 r100, m2 the ONNX backbone) under
flip {0,1} x gray {0,1}: 12 encodings. A query's distance to a gallery image is the mean over
those variants of the cosine distance (1 - cos); the gallery is sorted ascending, and a
syndrome's distance is its nearest image's. :func:`variant_input` reproduces upstream's uint8
preprocessing (``cv2.resize`` bilinear to 112, ``cv2.cvtColor`` RGB->GRAY->RGB with OpenCV's
fixed-point luma, horizontal flip, then ``(x/255 - 0.5)/0.5``).

Embeddings are cached per variant in the members' :class:`RecordCache` (keyed by the member's
model fingerprint and the image content), so a second query or a re-run costs no forward pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from ..base.errors import GmxaiError, ParameterError
from ..base.jobs import JobControl
from ..models.base import ModelAdapter
from .embeddings import (
    ImageCallback,
    ImageEvent,
    RecordCache,
    file_digest,
    prepare_record,
    require_embedding,
)


@dataclass(frozen=True)
class Variant:
    """One encoding of an image: a member network under a flip and a gray flag."""

    member: str
    adapter: ModelAdapter
    flip: bool = False
    gray: bool = False

    @property
    def key(self) -> str:
        """``m0/f1/g0``: the same key upstream's encodings file implies (model, flip, gray)."""
        return f"{self.member}/f{int(self.flip)}/g{int(self.gray)}"

    @property
    def entry(self) -> str:
        return f"emb_f{int(self.flip)}g{int(self.gray)}"


def make_variants(members: Sequence[tuple[str, ModelAdapter]], tta: bool) -> list[Variant]:
    """members x flip x gray (12 for upstream's three members) with ``tta``, else one per member."""
    for _, adapter in members:
        require_embedding(adapter)
    combos = [(f, g) for f in (False, True) for g in (False, True)] if tta else [(False, False)]
    return [Variant(m, a, f, g) for m, a in members for f, g in combos]


def variants_for(adapter: ModelAdapter, tta: bool | None = None) -> list[Variant]:
    """The variants a loaded model ranks with: all ensemble members (a folder loaded by
    ``load_model`` carries its :class:`~..models.ensemble.Ensemble` in ``extra["ensemble"]``) or
    the model alone; ``tta`` defaults to on for Arc models and ensembles, as upstream."""
    ens = adapter.extra.get("ensemble")
    if ens is not None:
        members = [(m.id, m.adapter) for m in ens.members]  # type: ignore[attr-defined]
    else:
        members = [(str(adapter.extra.get("member", "m0")), adapter)]
    if tta is None:
        tta = ens is not None or adapter.arch == "gestaltmatcher-arc"
    return make_variants(members, tta)


def variant_input(adapter: ModelAdapter, aligned: np.ndarray, flip: bool, gray: bool) -> torch.Tensor:
    """Upstream's preprocessing of one aligned uint8 RGB face for one variant, (1, C, H, W)."""
    img = np.ascontiguousarray(aligned, dtype=np.uint8)
    h, w = adapter.input_size
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    if gray:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if flip:
        img = np.ascontiguousarray(img[:, ::-1])
    if adapter.channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None]
    x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(adapter.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(adapter.std, dtype=torch.float32).view(-1, 1, 1)
    return ((x - mean) / std).unsqueeze(0).to(adapter.device)


@torch.no_grad()
def embed_aligned(variants: Sequence[Variant], aligned: Sequence[np.ndarray]) -> np.ndarray:
    """(N, V, D) float32 embeddings of aligned faces: one batched forward per variant."""
    out: list[np.ndarray] = []
    for v in variants:
        x = torch.cat([variant_input(v.adapter, a, v.flip, v.gray) for a in aligned], 0)
        emb = v.adapter.embed(x)
        if emb is None:
            raise ParameterError(f"member {v.member} ({v.adapter.arch}) returned no embedding")
        out.append(torch.flatten(emb, 1).float().cpu().numpy())
    dims = {o.shape[1] for o in out}
    if len(dims) != 1:
        raise ParameterError(f"the members' embeddings differ in size ({sorted(dims)}); cannot average them")
    return np.stack(out, axis=1)


@dataclass
class VariantGallery:
    """Per-variant embeddings of gallery images; ``embeddings[i, v]`` is image i under ``keys[v]``."""

    paths: list[Path]
    labels: list[str | None]
    embeddings: np.ndarray  # (N, V, D) float32
    keys: list[str]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)


def embed_variant_gallery(
    variants: Sequence[Variant],
    images: Sequence[Path] | Mapping[Path, str | None],
    *,
    align: str = "auto",
    cache_dir: Path | None = None,
    job: JobControl | None = None,
    on_image: ImageCallback | None = None,
    batch_size: int = 8,
) -> VariantGallery:
    """Every gallery image under every variant; the faces are aligned once, with the first member."""
    if not variants:
        raise ParameterError("no model variants to embed with")
    job = job or JobControl()
    labels = dict(images) if isinstance(images, Mapping) else dict.fromkeys(images)
    paths = list(labels)
    lead = variants[0].adapter
    caches = {}
    if cache_dir is not None:
        for v in variants:
            caches.setdefault(v.member, RecordCache(cache_dir, v.adapter, align))
    kept: dict[int, np.ndarray] = {}
    skipped: list[tuple[Path, str]] = []
    total, done = len(paths), 0

    def emit(i: int, status: str, reason: str = "") -> None:
        nonlocal done
        done += 1
        job.report(done / max(total, 1), f"embedding {done}/{total} ({len(variants)} variants each)")
        if on_image is not None:
            on_image(ImageEvent(i, total, paths[i], labels[paths[i]], status, reason))  # type: ignore[arg-type]

    for start in range(0, total, max(1, batch_size)):
        job.check()
        todo: list[tuple[int, str, np.ndarray]] = []
        for i in range(start, min(start + batch_size, total)):
            try:
                digest = file_digest(paths[i])
            except GmxaiError as exc:
                skipped.append((paths[i], str(exc)))
                emit(i, "skipped", str(exc))
                continue
            records = {m: c.load(digest) for m, c in caches.items()}
            if records and all(v.entry in records[v.member] for v in variants):
                kept[i] = np.stack([records[v.member][v.entry].reshape(-1) for v in variants])
                emit(i, "cached")
                continue
            first = next(iter(records.values()), {})
            if "skip" in first:
                skipped.append((paths[i], str(first["skip"])))
                emit(i, "skipped", str(first["skip"]))
                continue
            if "aligned" in first:
                aligned = first["aligned"]
            else:
                entries, _ = prepare_record(lead, paths[i], align)
                if "skip" in entries:
                    for c in caches.values():
                        c.save(digest, entries)
                    skipped.append((paths[i], str(entries["skip"])))
                    emit(i, "skipped", str(entries["skip"]))
                    continue
                aligned = entries["aligned"]
            todo.append((i, digest, aligned))
        if not todo:
            continue
        job.check()
        emb = embed_aligned(variants, [a for _, _, a in todo])
        for row, (i, digest, aligned) in enumerate(todo):
            kept[i] = emb[row]
            for member, cache in caches.items():
                record = cache.load(digest)
                record["aligned"] = aligned
                for v_index, v in enumerate(variants):
                    if v.member == member:
                        record[v.entry] = emb[row, v_index]
                cache.save(digest, record)
            emit(i, "computed")
    order = sorted(kept)
    dim = next(iter(kept.values())).shape[1] if kept else 0
    stacked = np.stack([kept[i] for i in order]) if kept else np.zeros((0, len(variants), dim), np.float32)
    return VariantGallery(
        paths=[paths[i] for i in order],
        labels=[labels[paths[i]] for i in order],
        embeddings=stacked.astype(np.float32),
        keys=[v.key for v in variants],
        skipped=skipped,
    )


def mean_cosine_distance(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Mean over variants of 1 - cos(query[v], gallery[n, v]); query (V, D), gallery (N, V, D)."""
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    if g.ndim != 3 or q.shape != g.shape[1:]:
        raise ParameterError(
            f"the query has {q.shape} encodings but the gallery {g.shape[1:]}: were they made with the "
            "same models and test-time augmentation?"
        )
    qn = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    gn = g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-12)
    return 1.0 - np.einsum("vd,nvd->nv", qn, gn).mean(axis=1)


def align_keys(query_keys: Sequence[str], gallery_keys: Sequence[str]) -> tuple[list[int], list[int]]:
    """Indices of the variants both sides have, in the query's order; refuses when none overlap."""
    pos = {k: i for i, k in enumerate(gallery_keys)}
    shared = [k for k in query_keys if k in pos]
    if not shared:
        raise ParameterError(
            f"the gallery encodings ({', '.join(sorted(set(gallery_keys))[:6])}) share no variant with the "
            f"loaded model ({', '.join(list(query_keys)[:6])}); check member ids and --tta"
        )
    return [list(query_keys).index(k) for k in shared], [pos[k] for k in shared]
