"""Settings of ``gmxai train-demo``, kept free of torch so ``gmxai --help`` can show the defaults
without loading it (see :mod:`.train` for the training itself)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..base.errors import ParameterError

VARIANTS = ("balanced", "imbalanced")
DEFAULT_PER_CLASS = {"balanced": 100, "imbalanced": 400}
DEFAULT_IMBALANCE = {"balanced": "none", "imbalanced": "zipf"}


@dataclass
class TrainConfig:
    variant: str = "balanced"
    per_class: int | None = None  # balanced: faces per class; zipf: faces of the largest class
    imbalance: str | None = None
    epochs: int = 20
    batch_size: int = 12
    lr: float = 5e-4
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    aux_weight: float = 1.0
    seed: int = 0
    threads: int = 2
    precision: str = "auto"  # auto | bf16 | fp32
    eval_per_class: int = 50
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N

    def resolved(self) -> TrainConfig:
        if self.variant not in VARIANTS:
            raise ParameterError(f"unknown variant {self.variant!r}; choose one of: {', '.join(VARIANTS)}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ParameterError("--precision must be auto, bf16 or fp32")
        for name, value, low in (("epochs", self.epochs, 1), ("batch-size", self.batch_size, 2),
                                 ("threads", self.threads, 1), ("eval-per-class", self.eval_per_class, 0)):
            if value < low:
                raise ParameterError(f"--{name} must be at least {low}")
        if not (0 < self.lr < 1):
            raise ParameterError("--lr must be between 0 and 1")
        out = TrainConfig(**asdict(self))
        if out.per_class is None:
            out.per_class = DEFAULT_PER_CLASS[out.variant]
        if out.imbalance is None:
            out.imbalance = DEFAULT_IMBALANCE[out.variant]
        return out
