"""Patient matching as GestaltMatcher does it, and maps that show why two faces match.

Ranking: cosine similarity between the query's embedding and every gallery embedding. With
``per_syndrome=True`` only each syndrome's best-matching image counts, which is how GestaltMatcher
ranks a gallery (its top-1/5/10/30 are syndrome ranks, not image ranks).

Pair maps, two kinds:

* ``"decomposition"`` (Stylianou et al., WACV 2019), exact for networks whose embedding is the
  spatial mean of a conv layer (GestaltMatcher v1: ``base.13``, 7×7). With that layer's features
  A, B (HW × C) and pooled vectors a, b::

      S[i, j] = (A_i / (‖a‖·HW)) · (B_j / (‖b‖·HW))
      map_a = Σ_j S[:, j]      map_b = Σ_i S[i, :]

  Both maps sum exactly to cos(a, b), so a cell's value is its share of the similarity.
  ``S`` itself says which region of one face matches which region of the other.

* ``"gradcam"``, for networks without a mean-pooled embedding (e.g. a Gemm + BatchNorm head):
  Grad-CAM of the similarity at the CAM layer, for each face of the pair. By default the
  embedding norms are held constant during differentiation (``normalization="detached"``).
  Why: cosine similarity is scale-invariant, so its full gradient is orthogonal to the embedding
  (Euler's theorem); for a mean-pooled embedding the Grad-CAM of the full cosine therefore sums to
  exactly zero and shows only how to *change* the similarity, not where it comes from. With the
  norms held, the gradient is the partner's unit embedding and the Grad-CAM equals the exact
  decomposition above on mean-pooled networks (a test checks this), while still being defined for
  any embedding head. ``normalization="full"`` differentiates the full cosine.

All maps are raw and signed. ``cells_*`` are at feature resolution, where the decomposition's
sum property holds; ``map_*`` are the same maps upsampled bilinearly to the model input for
display. Upsampling interpolates values, so ``map_*`` do **not** sum to the cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..base.errors import FaceNotFoundError, ParameterError
from ..base.jobs import JobControl
from ..models.base import ModelAdapter
from .embeddings import Gallery, alignment_problem, require_embedding

PairMethod = Literal["auto", "decomposition", "affine", "gradcam"]


@dataclass(frozen=True)
class Match:
    """One gallery image in a ranking; ``rank`` is 1-based."""

    rank: int
    index: int  # row in the Gallery
    path: Path
    label: str | None
    similarity: float
    distance: float | None = None  # mean cosine distance over variants (GestaltMatcher-Arc ranking)


def cosine_similarities(query: np.ndarray, gallery: Gallery) -> np.ndarray:
    """Cosine similarity of one embedding to every gallery row, float64, shape (N,)."""
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    if gallery.embeddings.shape[1:] != q.shape and len(gallery):
        raise ParameterError(
            f"the query embedding has {q.size} values but the gallery's have "
            f"{gallery.embeddings.shape[1]}: were they made with the same model?"
        )
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    return gallery.unit() @ q


def rank_matches(
    query: np.ndarray,
    gallery: Gallery,
    *,
    top: int = 10,
    per_syndrome: bool = False,
    exclude: Sequence[int] = (),
) -> list[Match]:
    """The ``top`` most similar gallery images, best first.

    ``per_syndrome``: walk the images from most to least similar and keep only the first image of
    each label, so the ranks are syndrome ranks (GestaltMatcher's evaluation). Images without a
    label are each their own entry. Ties keep gallery order, so results are reproducible.
    ``exclude`` drops rows (e.g. the query itself when it is also in the gallery).
    """
    if top < 1:
        raise ParameterError(f"top must be at least 1 (got {top})")
    sims = cosine_similarities(query, gallery)
    order = np.argsort(-sims, kind="stable")
    skip = set(exclude)
    seen: set[str] = set()
    out: list[Match] = []
    for i in order:
        i = int(i)
        if i in skip:
            continue
        label = gallery.labels[i]
        if per_syndrome and label is not None:
            if label in seen:
                continue
            seen.add(label)
        out.append(Match(len(out) + 1, i, gallery.paths[i], label, float(sims[i])))
        if len(out) == top:
            break
    return out


def rank_by_distance(
    distances: np.ndarray,
    paths: Sequence[Path],
    labels: Sequence[str | None],
    *,
    top: int = 10,
    per_syndrome: bool = False,
    exclude: Sequence[int] = (),
) -> list[Match]:
    """Upstream Arc ranking: ascending mean cosine distance; ``similarity`` is 1 - distance.

    ``per_syndrome`` keeps each label's nearest image only (a syndrome's distance is its nearest
    image's), exactly as :func:`rank_matches` does for similarities.
    """
    if top < 1:
        raise ParameterError(f"top must be at least 1 (got {top})")
    order = np.argsort(np.asarray(distances, dtype=np.float64), kind="stable")
    skip, seen, out = set(exclude), set(), []
    for i in (int(j) for j in order):
        if i in skip:
            continue
        label = labels[i]
        if per_syndrome and label is not None:
            if label in seen:
                continue
            seen.add(label)
        d = float(distances[i])
        out.append(Match(len(out) + 1, i, Path(paths[i]), label, 1.0 - d, d))
        if len(out) == top:
            break
    return out


def embed_file(adapter: ModelAdapter, path: Path, align: str = "auto"):  # -> (np.ndarray, PreparedImage)
    """Embedding of one query photo plus the prepared image (for overlays and pair maps).

    A query whose face cannot be aligned is an error rather than a silent fallback: matching an
    unaligned photo against aligned gallery faces gives confident-looking nonsense.
    """
    from ..inputs.pipeline import prepare_file

    require_embedding(adapter)
    prepared = prepare_file(adapter, path, align=align)
    problem = alignment_problem(prepared.face, align)
    if problem is not None:
        raise FaceNotFoundError(
            f"{Path(path).name}: {problem}; if it is already an aligned face crop, use align 'none'"
        )
    emb = adapter.embed(prepared.x)
    if emb is None:
        raise ParameterError(f"the model {adapter.arch} returned no embedding for {Path(path).name}")
    return torch.flatten(emb, 1)[0].detach().float().cpu().numpy(), prepared


@dataclass
class PairMaps:
    """Similarity maps for one pair of faces (a = query, b = match); see the module docstring."""

    method: Literal["decomposition", "affine", "gradcam"]
    layer: str
    cosine: float  # cosine similarity of the two embeddings, float64 arithmetic
    cells_a: np.ndarray  # (h, w) float64, feature resolution
    cells_b: np.ndarray
    map_a: np.ndarray  # (H, W) float32, upsampled to model input for display (sum not preserved)
    map_b: np.ndarray
    pairwise: np.ndarray | None = None  # (h*w, h*w) float64 S[i, j] (decomposition only)
    normalization: str = ""  # gradcam only: "detached" or "full"
    bias_a: float | None = None  # affine only: the part of the cosine no position carries (biases)
    bias_b: float | None = None


class _Capture:
    """Forward hook keeping one layer's output (with its graph when gradients are on)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.output: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _m: torch.nn.Module, _i: object, out: torch.Tensor) -> None:
        self.output = out if isinstance(out, torch.Tensor) else out[0]

    def __enter__(self) -> _Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def _embeddings_and_features(
    adapter: ModelAdapter, x: torch.Tensor, layer: str, grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings and ``layer``'s feature maps for a batch, from one forward pass.

    The hook goes on a private copy that shares the weights (``surgery.shallow_copy``), never on
    the user's network, so a GUI thread running that network at the same time is unaffected.
    """
    from ..attribution.methods.surgery import shallow_copy

    adapter.layer(layer)  # a clear error for an unknown layer name
    if any(isinstance(m, torch.jit.ScriptModule) for m in adapter.net.modules()):
        raise ParameterError(
            "similarity maps need hooks on an inner layer, which TorchScript models do not allow; "
            "load the model from a state_dict checkpoint"
        )
    net = shallow_copy(adapter.net)
    with _Capture(net.get_submodule(layer)) as cap, torch.set_grad_enabled(grad):
        out = net(x.to(adapter.device))
    if not isinstance(out, (tuple, list)) or adapter.embedding_index is None:
        require_embedding(adapter)
        raise ParameterError(f"the model {adapter.arch} did not return an embedding")
    if cap.output is None or cap.output.dim() != 4:
        raise ParameterError(f"layer {layer!r} does not produce a (N, C, H, W) feature map")
    return torch.flatten(out[adapter.embedding_index], 1), cap.output


def _upsample(cells: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, half-pixel centres: the same upsampling the CAM methods use."""
    t = torch.from_numpy(np.ascontiguousarray(cells, dtype=np.float32))[None, None]
    return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def decomposition_maps(
    adapter: ModelAdapter, x_a: torch.Tensor, x_b: torch.Tensor, *, layer: str | None = None
) -> PairMaps:
    """The exact Stylianou decomposition; needs an embedding that is the spatial mean of ``layer``."""
    require_embedding(adapter)
    layer = layer or adapter.default_cam_layer
    emb, feats = _embeddings_and_features(adapter, torch.cat([x_a, x_b], 0), layer, grad=False)
    f = feats.detach().double().cpu()
    _, c, h, w = f.shape
    hw = h * w
    feat_a = f[0].reshape(c, hw).T  # (HW, C)
    feat_b = f[1].reshape(c, hw).T
    a, b = feat_a.mean(0), feat_b.mean(0)
    e = emb.detach().double().cpu()
    tol = 1e-4 * (float(e.abs().max()) + 1e-12)
    if e.shape[1] != c or float((e[0] - a).abs().max()) > tol or float((e[1] - b).abs().max()) > tol:
        raise ParameterError(
            f"the embedding of {adapter.arch} is not the spatial mean of layer {layer!r}, so the "
            "exact decomposition does not apply; use the Grad-CAM similarity maps instead"
        )
    na, nb = float(a.norm()), float(b.norm())
    if na < 1e-12 or nb < 1e-12:
        raise ParameterError("one of the faces has an all-zero embedding; its similarity is undefined")
    pairwise = (feat_a / (na * hw)) @ (feat_b / (nb * hw)).T  # S[i, j], (HW, HW)
    cells_a = pairwise.sum(1).reshape(h, w).numpy()
    cells_b = pairwise.sum(0).reshape(h, w).numpy()
    return PairMaps(
        method="decomposition",
        layer=layer,
        cosine=float(a @ b) / (na * nb),
        cells_a=cells_a,
        cells_b=cells_b,
        map_a=_upsample(cells_a, adapter.input_size),
        map_b=_upsample(cells_b, adapter.input_size),
        pairwise=pairwise.numpy(),
    )


def gradcam_maps(
    adapter: ModelAdapter,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    *,
    layer: str | None = None,
    normalization: Literal["detached", "full"] = "detached",
) -> PairMaps:
    """Grad-CAM of the pair's similarity at ``layer`` for both faces (one forward, one backward).

    Raw signed maps (no ReLU), like every map in the app; the display decides what to show.
    """
    require_embedding(adapter)
    if normalization not in ("detached", "full"):
        raise ParameterError(f"normalization must be 'detached' or 'full' (got {normalization!r})")
    layer = layer or adapter.default_cam_layer
    emb, feats = _embeddings_and_features(adapter, torch.cat([x_a, x_b], 0), layer, grad=True)
    e = emb.double()
    norms = e.norm(dim=1)
    if float(norms.detach().min()) < 1e-12:
        raise ParameterError("one of the faces has an all-zero embedding; its similarity is undefined")
    dot = (e[0] * e[1]).sum()
    denom = norms[0] * norms[1]
    score = dot / (denom.detach() if normalization == "detached" else denom)
    (grads,) = torch.autograd.grad(score, feats)
    weights = grads.double().mean(dim=(2, 3), keepdim=True)  # Grad-CAM: spatially averaged gradient
    cams = (weights * feats.detach().double()).sum(1).cpu().numpy()  # (2, h, w)
    cosine = float((dot / denom).detach())
    return PairMaps(
        method="gradcam",
        layer=layer,
        cosine=cosine,
        cells_a=cams[0],
        cells_b=cams[1],
        map_a=_upsample(cams[0], adapter.input_size),
        map_b=_upsample(cams[1], adapter.input_size),
        normalization=normalization,
    )


def similarity_maps(
    adapter: ModelAdapter,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    *,
    method: PairMethod = "auto",
    layer: str | None = None,
    normalization: Literal["detached", "full"] = "detached",
    job: JobControl | None = None,
) -> PairMaps:
    """Pair maps for two preprocessed faces; ``auto`` picks the exact decomposition when it applies."""
    if job is not None:
        job.check()
    if method == "auto":
        from .arc_pairs import has_affine_head

        if adapter.embedding_is_spatial_mean:
            method = "decomposition"
        else:
            method = "affine" if has_affine_head(adapter) else "gradcam"
    if method == "decomposition":
        result = decomposition_maps(adapter, x_a, x_b, layer=layer)
    elif method == "affine":
        from .arc_pairs import affine_maps

        result = affine_maps(adapter, x_a, x_b)
    elif method == "gradcam":
        result = gradcam_maps(adapter, x_a, x_b, layer=layer, normalization=normalization)
    else:
        raise ParameterError(
            f"unknown similarity map method {method!r}; use auto, decomposition, affine or gradcam"
        )
    if job is not None:
        job.report(1.0, "similarity maps")
    return result
