"""Exact pair similarity maps for GestaltMatcher-Arc, and the ensemble's maps side by side.

The Arc head after the last 7x7 feature map F (the BatchNorm2d before the flatten) is affine in
eval mode: flatten -> Linear(W, b) -> BatchNorm1d (scale s, shift t). So the embedding splits
over positions p of the 7x7 grid plus a constant::

    e = sum_p u_p + k,   u_p = s * (W[:, (c, p) for all c] @ F[:, p]),   k = s * b + t

and the cosine similarity of two faces splits exactly too::

    cos(e_a, e_b) = sum_p (u_a,p . e_b) / (|e_a| |e_b|)  +  (k . e_b) / (|e_a| |e_b|)

The first sum is the map drawn on face a (one value per position), the last term the bias share
(the part no position carries). Face b's map is symmetric. Each map plus its bias share equals
the cosine, to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..base.errors import ParameterError
from ..base.jobs import JobControl
from ..models.base import ModelAdapter
from .metrics import spearman_rank_correlation
from .similarity import PairMaps, _embeddings_and_features, _upsample


def _head(adapter: ModelAdapter) -> tuple[nn.Linear, nn.BatchNorm1d] | None:
    features = getattr(adapter.net, "features", None)
    if (
        isinstance(features, nn.Sequential)
        and len(features) == 2
        and isinstance(features[0], nn.Linear)
        and isinstance(features[1], nn.BatchNorm1d)
    ):
        return features[0], features[1]
    return None


def has_affine_head(adapter: ModelAdapter) -> bool:
    return adapter.has_embedding and _head(adapter) is not None and bool(adapter.default_cam_layer)


def affine_maps(adapter: ModelAdapter, x_a: torch.Tensor, x_b: torch.Tensor) -> PairMaps:
    """The exact decomposition above for both faces, at the default CAM layer (7x7)."""
    head = _head(adapter)
    if head is None or not adapter.default_cam_layer:
        raise ParameterError(f"the model {adapter.arch} has no Linear -> BatchNorm1d embedding head")
    linear, bn = head
    if bn.training or bn.running_mean is None:
        raise ParameterError("the embedding BatchNorm is not in inference mode; the head is not affine")
    layer = adapter.default_cam_layer
    emb, feats = _embeddings_and_features(adapter, torch.cat([x_a, x_b], 0), layer, grad=False)
    f = feats.detach().double().cpu()
    n, c, h, w = f.shape
    weight = linear.weight.detach().double().cpu()  # (D, C*H*W), flatten order (c, y, x)
    if weight.shape[1] != c * h * w:
        raise ParameterError(f"layer {layer!r} ({c}x{h}x{w}) does not feed the embedding's Linear layer")
    scale = bn.weight.detach().double().cpu() / torch.sqrt(bn.running_var.detach().double().cpu() + bn.eps)
    shift = bn.bias.detach().double().cpu() - bn.running_mean.detach().double().cpu() * scale
    k = scale * linear.bias.detach().double().cpu() + shift if linear.bias is not None else shift
    w3 = weight.reshape(-1, c, h * w)  # (D, C, P)
    # u[i, p, :] = scale * sum_c W[:, c, p] F_i[c, p]
    u = torch.einsum("dcp,icp->ipd", w3, f.reshape(n, c, h * w)) * scale
    e = u.sum(1) + k
    actual = emb.detach().double().cpu()
    if float((e - actual).abs().max()) > 1e-3 * (float(actual.abs().max()) + 1e-12):
        raise ParameterError(
            f"the embedding of {adapter.arch} is not the affine function of layer {layer!r} this map "
            "assumes; use the Grad-CAM similarity maps instead"
        )
    na, nb = float(e[0].norm()), float(e[1].norm())
    if na < 1e-12 or nb < 1e-12:
        raise ParameterError("one of the faces has an all-zero embedding; its similarity is undefined")
    denom = na * nb
    cells_a = (u[0] @ e[1] / denom).reshape(h, w).numpy()
    cells_b = (u[1] @ e[0] / denom).reshape(h, w).numpy()
    return PairMaps(
        method="affine",
        layer=layer,
        cosine=float(e[0] @ e[1]) / denom,
        cells_a=cells_a,
        cells_b=cells_b,
        map_a=_upsample(cells_a, adapter.input_size),
        map_b=_upsample(cells_b, adapter.input_size),
        bias_a=float(k @ e[1]) / denom,
        bias_b=float(k @ e[0]) / denom,
    )


@dataclass
class EnsemblePairMaps:
    """Each member's pair maps, their mean (feature resolution), and rank agreement between members."""

    members: list[str]
    maps: list[PairMaps]
    mean_cells_a: np.ndarray
    mean_cells_b: np.ndarray
    agreement: np.ndarray  # (M, M) Spearman rho of the members' face-a maps


def ensemble_pair_maps(
    members: Sequence[tuple[str, ModelAdapter]],
    x_a: Sequence[torch.Tensor],
    x_b: Sequence[torch.Tensor],
    job: JobControl | None = None,
) -> EnsemblePairMaps:
    """Pair maps per member (``x_a[i]``/``x_b[i]`` preprocessed for member i), their mean and agreement.

    ``job`` reports one step per member and cancels between members (the app runs this on its worker).
    """
    from .similarity import similarity_maps

    maps = []
    for i, ((mid, a), xa, xb) in enumerate(zip(members, x_a, x_b, strict=True)):
        if job is not None:
            job.report(i / len(members), f"member {mid}")
        maps.append(similarity_maps(a, xa, xb, job=job))
    shapes = {m.cells_a.shape for m in maps}
    if len(shapes) != 1:
        raise ParameterError(
            f"the members' maps differ in resolution ({sorted(shapes)}); cannot average them"
        )
    m = len(maps)
    agree = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            agree[i, j] = agree[j, i] = spearman_rank_correlation(maps[i].cells_a, maps[j].cells_a)
    return EnsemblePairMaps(
        members=[mid for mid, _ in members],
        maps=maps,
        mean_cells_a=np.mean([p.cells_a for p in maps], axis=0),
        mean_cells_b=np.mean([p.cells_b for p in maps], axis=0),
        agreement=agree,
    )
