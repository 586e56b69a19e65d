"""Composites on disk: the folder ``gmxai composite`` writes (faces as PNG, raw mean maps as
``.npy``, counts and a manifest, all written atomically) and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..base.errors import ParameterError
from .composites import ALL, CompositeResult, face_uint8


def safe_dirname(name: str, used: set[str]) -> str:
    """A folder name for a class: portable characters, never clashing (even case-insensitively)."""
    safe = "".join(ch if ch.isalnum() or ch in " ._-" else "_" for ch in name).strip(" .") or "class"
    candidate, n = safe, 2
    while candidate.casefold() in used or candidate.casefold() == "_all":
        candidate, n = f"{safe}-{n}", n + 1
    used.add(candidate.casefold())
    return candidate


def save_composites(
    result: CompositeResult, out_dir: Path, *, image_root: Path | None = None
) -> dict[str, str]:
    """Write ``out_dir/<class>/face.png``, ``<class>/<method>.npy`` (mean raw float32 map), the
    generic versions under ``out_dir/_all/``, ``counts.json`` ({class: images used}) and
    ``manifest.json`` (settings, class -> folder, skipped images). Returns class -> folder name.

    Skipped images are listed relative to ``image_root`` when given, else by file name only, so
    no absolute path ends up in a file that may be shared.
    """
    from ..base.atomic import atomic_save_npy, atomic_write_text
    from ..output.render import save_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    dirs = {c: safe_dirname(c, used) for c in result.classes}
    dirs[ALL] = "_all"
    for cls, folder in dirs.items():
        if not result.counts.get(cls):
            continue
        d = out_dir / folder
        d.mkdir(parents=True, exist_ok=True)
        save_png(d / "face.png", face_uint8(result.faces[cls]))
        for method, m in result.maps.get(cls, {}).items():
            atomic_save_npy(d / f"{method}.npy", m.astype(np.float32))

    def show(p: Path) -> str:
        if image_root is not None:
            try:
                return str(Path(p).resolve().relative_to(Path(image_root).resolve()))
            except ValueError:
                pass
        return Path(p).name

    counts = {c: result.counts.get(c, 0) for c in result.classes}
    atomic_write_text(out_dir / "counts.json", json.dumps(counts, indent=1, ensure_ascii=False))
    manifest = {
        "model_id": result.model_id,
        "methods": result.methods,
        "params": result.params,
        "target": result.target,
        "only_correct": result.only_correct,
        "statistic": result.statistic,
        "align": result.align,
        "generic": {"dir": "_all", "count": result.counts.get(ALL, 0)},
        "classes": [
            {"name": c, "dir": dirs[c], "count": counts[c], "class_index": result.class_indices.get(c)}
            for c in result.classes
        ],
        "skipped": [{"image": show(p), "reason": r} for p, r in result.skipped],
        "excluded": [{"image": show(p), "reason": r} for p, r in result.excluded],
    }
    text = json.dumps(manifest, indent=1, ensure_ascii=False, default=str)
    atomic_write_text(out_dir / "manifest.json", text)
    return {c: dirs[c] for c in result.classes}


def load_composites(out_dir: Path) -> CompositeResult:
    """Read a folder written by :func:`save_composites` (or ``gmxai composite``) back."""
    from PIL import Image

    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError(
            f"{out_dir} does not hold composites written by gmxai (manifest.json: {exc})"
        ) from exc
    entries = [(c["name"], c["dir"], int(c["count"])) for c in manifest["classes"]]
    entries.append((ALL, manifest["generic"]["dir"], int(manifest["generic"]["count"])))
    faces: dict[str, np.ndarray] = {}
    maps: dict[str, dict[str, np.ndarray]] = {}
    for name, folder, count in entries:
        if not count:
            continue
        d = out_dir / folder
        try:
            faces[name] = np.asarray(Image.open(d / "face.png").convert("RGB"), dtype=np.float32)
            maps[name] = {m: np.load(d / f"{m}.npy", allow_pickle=False) for m in manifest["methods"]}
        except OSError as exc:
            raise ParameterError(f"composite folder {d} is incomplete: {exc}") from exc
    counts = {name: count for name, _, count in entries}
    return CompositeResult(
        classes=[c["name"] for c in manifest["classes"]],
        counts=counts,
        faces=faces,
        maps=maps,
        skipped=[(Path(s["image"]), s["reason"]) for s in manifest.get("skipped", [])],
        excluded=[(Path(s["image"]), s["reason"]) for s in manifest.get("excluded", [])],
        methods=list(manifest["methods"]),
        params=manifest.get("params", {}),
        target=manifest.get("target", "true"),
        only_correct=bool(manifest.get("only_correct", False)),
        statistic=manifest.get("statistic", "mean"),
        align=manifest.get("align", "auto"),
        model_id=manifest.get("model_id", ""),
        class_indices={c["name"]: c.get("class_index") for c in manifest["classes"]},
    )
