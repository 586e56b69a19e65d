"""Train the bundled demo models: GestaltMatcher v1 networks on synthetic phenotype faces, on a CPU.

The recipe is chosen to finish in minutes on two CPU cores and to be reproducible:

* data: faces drawn by :mod:`.faces` with seed ``seed`` (never the evaluation seed), converted
  exactly as ``ModelAdapter.preprocess`` converts them for inference (PIL bilinear resize to
  100x100, then ITU-R 601 gray, values in [0, 1], no normalisation; upstream ``predict.py``).
  Face ``i`` of every class is the same person (see :mod:`.dataset`), so identity carries no
  class information and the network has to learn the phenotypes themselves;
* light augmentation in the spirit of upstream training: horizontal flip, brightness and contrast
  jitter (no shifts: the faces are aligned, and where a feature is *is* the information);
* AdamW, constant learning rate then a cosine decay, label smoothing 0.05, the network's own
  BatchNorm and dropout, small batches (more steps for the same compute);
* deep supervision (:class:`DeepSupervision`): training-only classifiers on intermediate maps,
  which make a deep plain network learn small local changes several times faster;
* bfloat16 autocast where the CPU has native bfloat16 (AVX512-BF16/AMX): twice as fast, weights
  and BatchNorm statistics stay float32, so the saved state_dict is the upstream float32 format;
* a CUDA GPU when there is one (``device="auto"``): the faces, the shuffling and the augmentation
  stay on the CPU with the same random streams, only the network runs on the GPU, so a GPU run
  trains on exactly the same batches (its weights differ in the last bits, as another CPU's do).

Reproducibility: the same seed, thread count (``torch.set_num_threads``, default 2), precision
and machine give bit-identical weights. Other thread counts or CPUs sum floating-point numbers in
another order and give slightly different weights and accuracies.

The held-out accuracy is measured on freshly drawn faces from seed ``seed + 1``, balanced
(``eval_per_class`` per class), so a model trained on imbalanced data is judged on every class.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..base.atomic import atomic_write_bytes, atomic_write_text
from ..base.device import pick_device
from ..base.errors import ParameterError
from ..base.jobs import JobControl
from ..models.gm_v1 import INPUT_SIZE, GestaltMatcherV1
from .classes import CLASS_NAMES, DEMO_CLASSES
from .dataset import class_counts, faces_to_arrays, iter_faces
from .train_config import (
    DEFAULT_IMBALANCE as DEFAULT_IMBALANCE,
)
from .train_config import DEFAULT_PER_CLASS as DEFAULT_PER_CLASS
from .train_config import VARIANTS as VARIANTS
from .train_config import TrainConfig


@dataclass
class Evaluation:
    n: int
    top1: float
    top5: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]  # rows: true class, columns: predicted class


@dataclass
class TrainResult:
    model: GestaltMatcherV1
    class_names: list[str]
    config: TrainConfig
    counts: dict[str, int]
    precision: str
    train_seconds: float
    data_seconds: float
    history: list[dict[str, float]]
    evaluation: Evaluation | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def bf16_supported(device: torch.device | None = None) -> bool:
    """Native bfloat16 matmul/conv on this CPU or GPU (otherwise bf16 autocast is emulated and slow)."""
    if device is not None and device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr).float().div_(255.0)


def _augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 0) -> torch.Tensor:
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if max_shift:
        padded = F.pad(x, (max_shift,) * 4, mode="replicate")
        shifts = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
        h, w = x.shape[-2:]
        x = torch.stack([padded[i, :, sy:sy + h, sx:sx + w] for i, (sy, sx) in enumerate(shifts.tolist())])
    contrast = 1.0 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    bright = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.16
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + bright).clamp_(0.0, 1.0)


def generate_inputs(counts: dict[str, int], seed: int, job: JobControl | None = None, strength: float = 1.0
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 100, 100) float inputs in [0, 1] and (N,) class indices for the given counts."""
    faces, labels = [], []
    for name, _, face in iter_faces(counts, seed, with_masks=False, job=job, strength=strength):
        faces.append(face)
        labels.append(CLASS_NAMES.index(name))
    x = _to_tensor(faces_to_arrays(faces, INPUT_SIZE, 1))
    return x, torch.tensor(labels, dtype=torch.long)


@torch.no_grad()
def evaluate_model(model: GestaltMatcherV1, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> Evaluation:
    model.eval()
    device = next(model.parameters()).device
    logits = torch.cat([model(x[i:i + batch].to(device))[0].cpu() for i in range(0, len(x), batch)]).float()
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    pred = top[:, 0]
    n_cls = len(CLASS_NAMES)
    conf = np.zeros((n_cls, n_cls), dtype=np.int64)
    for t, p in zip(y.tolist(), pred.tolist(), strict=True):
        conf[t, p] += 1
    per_class = {}
    for i, name in enumerate(CLASS_NAMES):
        sel = y == i
        if int(sel.sum()) == 0:
            continue
        per_class[name] = {
            "n": int(sel.sum()),
            "top1": float((pred[sel] == i).float().mean()),
            "top5": float((top[sel] == i).any(dim=1).float().mean()),
        }
    return Evaluation(
        n=len(y),
        top1=float((pred == y).float().mean()),
        top5=float((top == y[:, None]).any(dim=1).float().mean()),
        per_class=per_class,
        confusion=conf.tolist(),
    )


AUX_TAPS: tuple[int, ...] = (4, 7, 10)
AUX_GRID = 7


class DeepSupervision(nn.Module):
    """Training-only linear classifiers on intermediate feature maps, position by position.

    The v1 head sees only the spatial mean of the last feature map, so early in training its
    gradient says "more of this feature anywhere" and a deep plain network takes thousands of steps
    to find a few-pixel change at one place in an aligned face. A linear classifier on each tapped
    map (average-pooled to 7x7, every position its own weights) gives the lower layers a
    position-specific signal at once (deeply supervised nets, Lee et al. 2015). On the synthetic
    data this cuts the steps to a given accuracy several-fold. The heads are discarded after
    training: the saved state_dict is the plain upstream network.
    """

    def __init__(self, channels: dict[int, int], num_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(
            {str(i): nn.Linear(c * AUX_GRID * AUX_GRID, num_classes) for i, c in channels.items()}
        )

    def forward(self, taps: dict[int, torch.Tensor]) -> list[torch.Tensor]:
        return [self.heads[str(i)](F.adaptive_avg_pool2d(t, AUX_GRID).flatten(1)) for i, t in taps.items()]


def _forward_with_taps(model: GestaltMatcherV1,
                       x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    taps: dict[int, torch.Tensor] = {}
    for i, layer in enumerate(model.base):
        x = layer(x)
        if i in AUX_TAPS:
            taps[i] = x
    logits = model.classifier[0](model.dropout(torch.flatten(x, 1)))
    return logits, taps


def _lr_factor(step: int, total: int, flat: float = 0.6) -> float:
    """Constant, then a cosine decay to zero over the last ``1 - flat`` of the steps."""
    if step < flat * total:
        return 1.0
    t = (step - flat * total) / max(1.0, (1 - flat) * total)
    return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_demo_model(config: TrainConfig, job: JobControl | None = None,
                     on_epoch: Callable[[int, GestaltMatcherV1, dict[str, float]], None] | None = None
                     ) -> TrainResult:
    """Draw the training faces, train a v1 network, and evaluate it on fresh faces.

    ``on_epoch(epoch, model, stats)`` is called after every epoch (the model in eval mode); it is
    how the CLI prints progress and how experiments watch held-out accuracy.
    """
    cfg = config.resolved()
    job = job or JobControl()
    assert cfg.per_class is not None
    counts = class_counts(cfg.per_class, cfg.imbalance)
    device = pick_device(cfg.device)
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if bf16_supported(device) else "fp32"
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        t0 = time.perf_counter()
        x, y = generate_inputs(counts, cfg.seed, job.sub(0.0, 0.15, "training data: "))
        data_s = time.perf_counter() - t0

        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = GestaltMatcherV1(num_classes=len(CLASS_NAMES))
        with torch.no_grad():
            _, taps = _forward_with_taps(model.eval(), x[:1])
        aux = DeepSupervision({i: t.shape[1] for i, t in taps.items()}, len(CLASS_NAMES))
        model.to(device)
        aux.to(device)
        params = list(model.parameters()) + list(aux.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, len(x) // cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total))
        history: list[dict[str, float]] = []
        train_job = job.sub(0.15, 0.9, "training: ")
        t1 = time.perf_counter()
        step = 0
        for epoch in range(cfg.epochs):
            model.train()
            aux.train()
            order = torch.randperm(len(x), generator=gen)
            loss_sum, correct, seen = 0.0, 0, 0
            for b in range(steps_per_epoch):
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                xb, yb = _augment(x[idx], gen).to(device), y[idx].to(device)
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    logits, taps = _forward_with_taps(model, xb)
                    aux_logits = aux(taps)
                loss = F.cross_entropy(logits.float(), yb, label_smoothing=cfg.label_smoothing)
                aux_loss = sum(F.cross_entropy(a.float(), yb) for a in aux_logits)
                (loss + cfg.aux_weight * aux_loss).backward()
                opt.step()
                sched.step()
                step += 1
                loss_sum += float(loss.detach()) * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(yb)
                train_job.report(step / total, f"epoch {epoch + 1}/{cfg.epochs}, loss {loss_sum / seen:.3f}")
            stats = {"epoch": epoch + 1, "loss": round(loss_sum / seen, 4),
                     "train_top1": round(correct / seen, 4)}
            history.append(stats)
            model.eval()
            if on_epoch is not None:
                on_epoch(epoch + 1, model, stats)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s = time.perf_counter() - t1
        model.eval()
        evaluation = None
        if cfg.eval_per_class:
            eval_counts = {c: cfg.eval_per_class for c in CLASS_NAMES}
            xe, ye = generate_inputs(eval_counts, cfg.seed + 1, job.sub(0.9, 0.99, "held-out faces: "))
            evaluation = evaluate_model(model, xe, ye)
        job.report(1.0, "done")
    finally:
        torch.set_num_threads(previous_threads)
    return TrainResult(
        model=model.cpu(), class_names=list(CLASS_NAMES), config=cfg, counts=counts, precision=precision,
        train_seconds=train_s, data_seconds=data_s, history=history, evaluation=evaluation,
        extra={"device": str(device)},
    )


def metadata(result: TrainResult) -> dict[str, Any]:
    """What demo.json records: enough to reproduce the model and to judge it."""
    from ... import __version__

    cfg = result.config
    out: dict[str, Any] = {
        "model": "GestaltMatcher v1 architecture (upstream state_dict layout), float32",
        "input": "100x100 gray in [0, 1] (PIL bilinear resize, ITU-R 601 luma), no normalisation",
        "template": "arcface112",
        "template_note": "trained on faces drawn on the ArcFace 112x112 template, resized to 100x100",
        "classes": [c.as_dict() for c in DEMO_CLASSES],
        "train_counts": result.counts,
        "config": asdict(cfg),
        "precision": result.precision,
        "reproduce": f"gmxai train-demo --variant {cfg.variant} --seed {cfg.seed} --epochs {cfg.epochs} "
        f"--per-class {cfg.per_class} --threads {cfg.threads} --precision {result.precision} --out FILE.pt",
        "data_seconds": round(result.data_seconds, 1),
        "train_seconds": round(result.train_seconds, 1),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": cfg.threads,
                    "device": result.extra.get("device", "cpu"), "torch": torch.__version__},
        "gmxai_version": __version__,
        "history": result.history,
    }
    if result.evaluation is not None:
        ev = result.evaluation
        out["held_out"] = {
            "seed": cfg.seed + 1,
            "per_class": cfg.eval_per_class,
            "n": ev.n,
            "top1": round(ev.top1, 4),
            "top5": round(ev.top5, 4),
            "per_class_accuracy": ev.per_class,
            "confusion": ev.confusion,
            "confusion_axes": "rows: true class, columns: predicted class, in the order of 'classes'",
        }
    return out


def save_demo_model(result: TrainResult, checkpoint: str | Path) -> list[Path]:
    """Write ``X.pt`` (upstream float32 state_dict), ``X.classes.txt`` and ``X.json``."""
    import io

    ckpt = Path(checkpoint)
    if ckpt.suffix not in (".pt", ".pth"):
        raise ParameterError(f"{ckpt.name}: the checkpoint name must end in .pt or .pth")
    if not ckpt.parent.is_dir():
        raise ParameterError(f"the folder {ckpt.parent} does not exist")
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(ckpt, buf.getvalue())
    classes = ckpt.with_name(f"{ckpt.stem}.classes.txt")
    atomic_write_text(classes, "\n".join(result.class_names) + "\n")
    meta = ckpt.with_name(f"{ckpt.stem}.json")
    atomic_write_text(meta, json.dumps(metadata(result), indent=2) + "\n")
    return [ckpt, classes, meta]
