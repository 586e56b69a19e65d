"""A model folder is an ensemble: upstream's ``saved_models/`` layout or a small JSON manifest.

Upstream GestaltMatcher-Arc ranks with three members, recognised here by file name:
``m0`` = ``s*_glint360k_r50_*.pth`` (iResNet-50, fine-tuned), ``m1`` = ``s*_glint360k_r100_*.pth``
(iResNet-100, fine-tuned) and ``m2`` = ``glint360k_r100.onnx`` (the original backbone). Any other
folder needs ``gmxai-ensemble.json``::

    {"members": [{"id": "m0", "file": "a.pth"}, {"id": "m1", "file": "b.onnx"}], "classes": "names.txt"}

Every member is loaded through the same safe path as a single file (:func:`load_model`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..base.errors import CheckpointError
from .base import ModelAdapter

MANIFEST = "gmxai-ensemble.json"
UPSTREAM: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("m0", re.compile(r"^s\d+_glint360k_r50_.*\.pth$", re.IGNORECASE)),
    ("m1", re.compile(r"^s\d+_glint360k_r100_.*\.pth$", re.IGNORECASE)),
    ("m2", re.compile(r"^glint360k_r100\.onnx$", re.IGNORECASE)),
)


@dataclass
class Member:
    id: str
    adapter: ModelAdapter


@dataclass
class Ensemble:
    """Members in upstream order; ``source`` says how the folder was recognised."""

    folder: Path
    members: list[Member]
    source: str

    @property
    def fingerprint(self) -> str:
        return "+".join(f"{m.id}={m.adapter.model_id}" for m in self.members)


def member_id_for(path: Path) -> str:
    """Upstream's member id for a single file (``m0``/``m1``/``m2`` by name pattern), else ``m0``."""
    return next((m for m, pattern in UPSTREAM if pattern.match(path.name)), "m0")


def find_members(folder: Path) -> tuple[list[tuple[str, Path]], Path | None, str]:
    """((member id, file) in order, class file named by a manifest, how it was recognised)."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        return _read_manifest(manifest)
    found: list[tuple[str, Path]] = []
    files = sorted(p for p in folder.iterdir() if p.is_file())
    for member_id, pattern in UPSTREAM:
        matches = [p for p in files if pattern.match(p.name)]
        if len(matches) > 1:
            raise CheckpointError(
                f"{folder.name} holds several files for member {member_id} "
                f"({', '.join(p.name for p in matches[:3])}); keep one or list members in {MANIFEST}"
            )
        if matches:
            found.append((member_id, matches[0]))
    if not found:
        raise CheckpointError(
            f"{folder.name} is a folder; give the checkpoint file inside it, or a model folder "
            f"(upstream saved_models/ file names, or a {MANIFEST} listing the members)"
        )
    return found, None, "upstream saved_models/ file names"


def _read_manifest(path: Path) -> tuple[list[tuple[str, Path]], Path | None, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path.name} is not valid JSON ({exc})") from None
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list) or not members:
        raise CheckpointError(f"{path.name} must hold a non-empty list 'members'")
    out: list[tuple[str, Path]] = []
    for i, entry in enumerate(members):
        file = entry.get("file") if isinstance(entry, dict) else entry
        if not isinstance(file, str) or not file or Path(file).is_absolute() or ".." in Path(file).parts:
            raise CheckpointError(f"{path.name}: member {i} needs a 'file' inside the folder")
        member_id = entry.get("id", f"m{i}") if isinstance(entry, dict) else f"m{i}"
        out.append((str(member_id), path.parent / file))
    if len({m for m, _ in out}) != len(out):
        raise CheckpointError(f"{path.name}: member ids must be unique")
    classes = data.get("classes")
    class_file = path.parent / classes if isinstance(classes, str) and classes else None
    return out, class_file, path.name


def load_ensemble(
    folder: str | Path,
    *,
    classes: str | Path | None = None,
    device: str | torch.device | None = None,
    trust_pickle: bool = False,
) -> Ensemble:
    """Every member loaded safely; class names apply to members with that many classes."""
    from . import load_model

    folder = Path(folder).expanduser()
    members, manifest_classes, source = find_members(folder)
    class_file = classes if classes is not None else manifest_classes
    if class_file is None and (folder / "lookup_table.txt").is_file():
        class_file = folder / "lookup_table.txt"
    loaded: list[Member] = []
    for member_id, file in members:
        adapter = load_model(file, device=device, trust_pickle=trust_pickle)
        if class_file is not None and adapter.num_classes:
            from .classes import read_class_names

            names = read_class_names(class_file)
            if len(names) == adapter.num_classes:
                adapter.class_names = names
                adapter.extra["classes_source"] = Path(class_file).name
        adapter.extra["member"] = member_id
        loaded.append(Member(member_id, adapter))
    return Ensemble(folder, loaded, source)
