"""Which class (or classes) to explain: parsing the user's target specification.

Accepted forms (the same in the CLI ``--target`` and the GUI):

* ``None`` / ``"predicted"``: the class with the highest logit;
* an ``int`` or a digit string: that class index (``"index:N"`` forces this reading);
* ``"top:K"`` / ``"top-K"``: the K best classes, best first (at most the number of classes);
* anything else: a class name, exact match first, then case-insensitive, then a unique
  case-insensitive prefix (``"name:X"`` forces this reading).

Class names can themselves be digits (GestaltMatcher's disorder ids). When a digit string is a
valid index *and* the name of a different class, it is ambiguous and refused rather than guessed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np
import torch

from ..base.errors import ParameterError

_TOP = re.compile(r"^top\s*[:\-]\s*(\d+)$", re.IGNORECASE)


def _as_vector(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().cpu().float().numpy()
    arr = np.asarray(logits, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"expected one image's logits (num_classes,), got shape {arr.shape}")
    return arr


def _check_index(index: int, n: int) -> int:
    if not 0 <= index < n:
        raise ParameterError(
            f"target class index {index} is out of range: the model has {n} classes (0..{n - 1})"
        )
    return index


def _by_name(name: str, class_names: Sequence[str]) -> int:
    names = [str(c) for c in class_names]
    if name in names:
        return names.index(name)
    folded = name.casefold()
    exact = [i for i, c in enumerate(names) if c.casefold() == folded]
    if len(exact) == 1:
        return exact[0]
    prefix = [i for i, c in enumerate(names) if c.casefold().startswith(folded)] if folded else []
    if len(exact) > 1 or len(prefix) > 1:
        candidates = [names[i] for i in (exact or prefix)]
        shown = ", ".join(repr(c) for c in candidates[:8])
        more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
        raise ParameterError(f"target {name!r} matches several classes: {shown}{more}; be more specific")
    if len(prefix) == 1:
        return prefix[0]
    by_folded = {c.casefold(): c for c in names}
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5) or [
        by_folded[c] for c in difflib.get_close_matches(folded, list(by_folded), n=5, cutoff=0.5)
    ]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return _raise_unknown(name, len(names), hint)


def _raise_unknown(name: str, n: int, hint: str) -> int:
    raise ParameterError(
        f"unknown target {name!r}: not a class name, a class index (0..{n - 1}), 'predicted' or "
        f"'top:K'{hint}"
    )


def resolve_targets(
    spec: str | int | None, logits: np.ndarray | torch.Tensor, class_names: Sequence[str]
) -> list[int]:
    """Class indices to explain for ``spec`` (see the module docstring), best first for top-K."""
    scores = _as_vector(logits)
    n = scores.size
    if isinstance(spec, (bool, np.bool_)):
        raise ParameterError(f"target {spec!r} is not a class")
    if spec is None:
        return [int(np.argmax(scores))]
    if isinstance(spec, (int, np.integer)):
        return [_check_index(int(spec), n)]
    if not isinstance(spec, str):
        raise ParameterError(f"target {spec!r} is not a class name, index or 'top:K'")
    text = spec.strip()
    low = text.lower()
    if low in ("predicted", "pred", ""):
        return [int(np.argmax(scores))]
    if low.startswith("index:"):
        rest = text[6:].strip()
        if not rest.isdigit():
            raise ParameterError(f"target {spec!r}: 'index:' must be followed by a class number")
        return [_check_index(int(rest), n)]
    if low.startswith("name:"):
        return [_by_name(text[5:].strip(), class_names)]
    top = _TOP.match(text)
    if top:
        k = int(top.group(1))
        if k < 1:
            raise ParameterError(f"target {spec!r}: K must be at least 1")
        order = np.argsort(-scores, kind="stable")
        return [int(i) for i in order[: min(k, n)]]
    if text.isdigit():
        index = int(text)
        names = [str(c) for c in class_names]
        named = names.index(text) if text in names else None
        if named is None or named == index:
            return [_check_index(index, n)]
        if index < n:
            shown = f" ({names[index]!r})" if index < len(names) else ""
            raise ParameterError(
                f"target {text!r} is ambiguous: class index {index}{shown} or the class named {text!r} "
                f"(index {named}); write 'index:{index}' or 'name:{text}'"
            )
        return [named]
    return [_by_name(text, class_names)]


# ------------------------------------------------------------------------------------------------
# Embedding targets: explain "why is this face near that one / near that syndrome?"


class CosineHead(torch.nn.Module):
    """Scores = cosine similarity of the network's embedding to fixed reference vectors.

    Wrapping the network this way turns every attribution method (gradient, perturbation, CAM)
    into an explainer of similarity: column k of the output is what target k explains. The
    network is registered as ``net`` like :class:`~..models.base.LogitsOnly`, so CAM layer names
    resolve the same way.
    """

    def __init__(self, net: torch.nn.Module, embedding_index: int | None, references: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.embedding_index = embedding_index
        self.register_buffer("references", references)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        emb = out[self.embedding_index] if self.embedding_index is not None else out
        emb = torch.flatten(emb, 1)
        emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return emb @ self.references.T


def unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v))
    if not np.isfinite(v).all() or norm < 1e-12:
        raise ParameterError("the reference embedding is zero or not finite; it cannot be a target")
    return v / norm


def syndrome_centroid(embeddings: np.ndarray, labels: Sequence[str | None], label: str) -> np.ndarray:
    """The mean of that syndrome's L2-normalised gallery embeddings (not itself normalised)."""
    rows = [i for i, lab in enumerate(labels) if lab == label]
    if not rows:
        known = sorted({lab for lab in labels if lab is not None})
        raise ParameterError(f"no gallery image has the label {label!r}; labels: {', '.join(known[:10])}")
    emb = np.asarray(embeddings, dtype=np.float64)[rows]
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return emb.mean(axis=0)


def similarity_adapter(adapter, references: Sequence[tuple[str, np.ndarray]]):  # type: ignore[no-untyped-def]
    """A copy of ``adapter`` whose "classes" are similarity targets ``(name, reference embedding)``.

    ``explain(similarity_adapter(a, [("similar to img3", e3)]), x, methods, target=0)`` gives every
    method's map of the cosine similarity to ``e3``. The model id records the references, so cached
    results for class logits and for similarities never mix.
    """
    import dataclasses
    import hashlib

    if not adapter.has_embedding:
        raise ParameterError(f"the model {adapter.arch} has no embedding, so it cannot explain a similarity")
    if not references:
        raise ParameterError("no similarity target given")
    refs = np.stack([unit(v) for _, v in references]).astype(np.float32)
    head = CosineHead(adapter.net, adapter.embedding_index, torch.from_numpy(refs).to(adapter.device)).eval()
    digest = hashlib.sha256(refs.tobytes()).hexdigest()[:12]
    extra = dict(adapter.extra, scores_are_similarities=True)
    return dataclasses.replace(
        adapter,
        model_id=f"{adapter.model_id}:similarity:{digest}",
        logits_module=head,
        class_names=[name for name, _ in references],
        extra=extra,
    )
