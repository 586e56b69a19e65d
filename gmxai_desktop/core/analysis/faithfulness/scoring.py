"""Image space and batched scoring shared by every faithfulness metric.

Every metric perturbs the image the model sees *before* normalisation ([0, 1] grey for
GestaltMatcher v1, RGB for the others), so that "black" is pixel value 0 whatever the model's mean
and standard deviation are, and the perturbations match what a person would draw on the face.
:class:`Scorer` turns batches of such images into the softmax probability of one target class:
it runs a private eval-mode copy of the network under ``torch.inference_mode``, sizes batches for
throughput with the engine's :class:`BatchPlanner`, and remembers the scores of images that do not
depend on the map (the original, an all-black image, the blurred image), so that evaluating many
maps of one image runs only the forwards the metrics need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ...attribution.methods.common import BatchPlanner, memory_cap
from ...attribution.methods.surgery import acquire_private, release_private
from ...base.errors import GmxaiError, ParameterError
from ...base.jobs import JobControl
from ...models.base import ModelAdapter


def to_image_space(adapter: ModelAdapter, x: torch.Tensor) -> torch.Tensor:
    """Normalised (1, C, H, W) model input -> the same image in [0, 1] (C, H, W), float32, CPU."""
    mean = torch.tensor(adapter.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(adapter.std, dtype=torch.float32).view(-1, 1, 1)
    return (x[0].detach().cpu().float() * std + mean).contiguous()


def normalise(adapter: ModelAdapter, images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] -> the model's normalised input on its device."""
    mean = torch.tensor(adapter.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(adapter.std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((images - mean) / std).to(adapter.device)


def pixel_order(saliency: np.ndarray) -> np.ndarray:
    """Flat pixel indices, most salient first: ``argsort(-map.ravel(), kind="stable")`` on the raw
    signed map, so ties keep raster order and every implementation agrees pixel for pixel."""
    arr = np.asarray(saliency, dtype=np.float64)
    if arr.ndim != 2:
        raise ParameterError(f"a saliency map must be 2-D, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("the saliency map contains NaN or infinite values")
    return np.argsort(-arr.ravel(), kind="stable")


def pixel_ranks(order: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) array giving each pixel's position in ``order`` (0 = most salient)."""
    ranks = np.empty(order.size, dtype=np.int64)
    ranks[order] = np.arange(order.size)
    return ranks.reshape(shape)


def random_map(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The chance baseline every table includes: uniform noise, seeded so runs repeat."""
    return np.random.default_rng(seed).random(shape).astype(np.float32)


BatchBuilder = Callable[[Sequence[int]], torch.Tensor]
"""Given item indices, return their (len, C, H, W) perturbed images in [0, 1]."""


class Scorer:
    """Softmax probability of ``target`` for perturbed versions of one image.

    Use as a context manager (it borrows the engine's private model copy). ``forwards`` counts the
    images actually run, for tests and the benchmark.
    """

    def __init__(self, adapter: ModelAdapter, x: torch.Tensor, target: int,
                 job: JobControl | None = None) -> None:
        if not 0 <= int(target) < max(adapter.num_classes, 1):
            raise ParameterError(
                f"target class {target} is outside the model's {adapter.num_classes} classes"
            )
        self.adapter = adapter
        self.x = x
        self.target = int(target)
        self.image = to_image_space(adapter, x)
        self.job = job or JobControl()
        self.forwards = 0
        self.fixed: dict[str, float] = {}
        self.planner = BatchPlanner(cap=memory_cap(x, backward=False), candidates=(8, 16, 32, 64))
        self._private = None
        self._module: torch.nn.Module | None = None

    def __enter__(self) -> Scorer:
        self._private = acquire_private(self.adapter.logits_module, self.x)
        self._module = self._private.inference_module()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._private is not None:
            release_private(self._private, clean=exc_type is None)
        self._private = self._module = None

    def _forward(self, images: torch.Tensor) -> np.ndarray:
        assert self._module is not None, "use Scorer as a context manager"
        self.job.check()
        with torch.inference_mode():
            out = self._module(normalise(self.adapter, images))
            out = out[0] if isinstance(out, (tuple, list)) else out
            probs = torch.softmax(out.double(), dim=1)[:, self.target]
        result = probs.cpu().numpy()
        if not np.all(np.isfinite(result)):
            raise GmxaiError("the model produced NaN or infinite scores for a perturbed image")
        self.forwards += images.shape[0]
        return result

    def score(self, count: int, build: BatchBuilder, progress: JobControl | None = None,
              label: str = "") -> np.ndarray:
        """Scores of ``count`` perturbed images made on demand by ``build`` in automatic batches."""
        out = np.empty(count, dtype=np.float64)
        done = 0
        while done < count:
            n = self.planner.size(count - done)
            t0 = time.perf_counter()
            out[done:done + n] = self._forward(build(range(done, done + n)))
            self.planner.record(n, time.perf_counter() - t0)
            done += n
            if progress is not None:
                progress.report(done / count, label)
        return out

    def fixed_score(self, key: str, make: Callable[[], torch.Tensor]) -> float:
        """Score of an image that does not depend on the map (original, black, blurred): once."""
        if key not in self.fixed:
            self.fixed[key] = float(self._forward(make()[None])[0])
        return self.fixed[key]

    def original(self) -> float:
        return self.fixed_score("original", lambda: self.image)

    def black(self) -> float:
        return self.fixed_score("black", lambda: torch.zeros_like(self.image))
