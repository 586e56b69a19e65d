"""Step 1 of loading: what did the user point at? A file, a model folder, or a bundled demo name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..base.errors import CheckpointError
from ..base.resources import DEMO_NAMES, demo_model_paths

DEMO_MODELS: tuple[str, ...] = DEMO_NAMES


@dataclass(frozen=True)
class Spec:
    """A resolved ``--model`` value. ``classes`` is a class-name file the spec itself implies."""

    path: Path
    classes: Path | None = None

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def resolve_spec(spec: str | Path) -> Spec:
    """``'demo'``/``'demo-imbalanced'`` become the bundled files; anything else is a path."""
    if isinstance(spec, str) and spec.strip().lower() in DEMO_MODELS:
        demo = spec.strip().lower()
        try:
            ckpt, class_file = demo_model_paths(demo)
        except (FileNotFoundError, LookupError, ValueError):
            raise CheckpointError(f"the {demo} model is not bundled with this installation") from None
        ckpt = Path(ckpt)
        if not ckpt.is_file():
            raise CheckpointError(
                f"the {demo} model is not bundled with this installation (missing {ckpt.name}); "
                "create it with 'gmxai train-demo'"
            )
        return Spec(ckpt, Path(class_file) if class_file is not None else None)
    return Spec(Path(spec).expanduser())
