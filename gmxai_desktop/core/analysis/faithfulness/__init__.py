"""Faithfulness and sanity metrics for attribution maps (issue 12).

* :mod:`.scoring` — the image space metrics perturb (before normalisation), the pixel order, and
  the batched, cancellable :class:`~.scoring.Scorer` (softmax probability of the target).
* :mod:`.deletion_insertion` — RISE deletion/insertion curves and AUCs.
* :mod:`.road` — ROAD with noisy linear imputation, and the thesis's pixel perturbation.
* :mod:`.mprt` — cascading model parameter randomisation (Spearman of |map|, SSIM, flags).
* :mod:`.aggregate` — bootstrap CIs, paired comparison (win rate, Wilcoxon), ranking.
* :mod:`.evaluate` — one image × many methods, the entry point the CLI and the GUI share.
"""

from .aggregate import DIRECTION, LABELS, bootstrap_ci, paired_comparison, ranking, summarise
from .evaluate import METRICS, RANDOM, ImageEvaluation, MethodScores, evaluate_image, parse_metrics

__all__ = [
    "DIRECTION", "LABELS", "METRICS", "RANDOM", "ImageEvaluation", "MethodScores", "bootstrap_ci",
    "evaluate_image", "paired_comparison", "parse_metrics", "ranking", "summarise",
]
