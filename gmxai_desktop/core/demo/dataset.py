"""Synthetic phenotype data sets: class counts, in-memory generation and the on-disk layout.

Layout written by :func:`write_dataset` (what ``gmxai evaluate``, composites and the GUI read)::

    DIR/images/<class>/<class>_0000.png   112x112 RGB faces, pre-aligned (ArcFace template)
    DIR/masks/<class>_0000.png            ground truth: 255 where the class changed the face
    DIR/labels.csv                        image,label  (image relative to DIR/images)
    DIR/dataset.json                      seed, counts, classes with their HPO terms

Every face has its own random stream ``default_rng([seed, class index, image index])``, so a
face depends only on (seed, class, index): asking for more faces per class, or for a different
imbalance, leaves the existing faces byte-identical.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..base.atomic import atomic_write_bytes, atomic_write_text
from ..base.errors import ParameterError
from ..base.jobs import JobControl
from .classes import CLASS_NAMES, DEMO_CLASSES, ZIPF_EXPONENT, ZIPF_MIN, ZIPF_ORDER
from .classes import IMBALANCE_HELP as IMBALANCE_HELP  # re-exported; defined where --help can read it
from .faces import DemoFace, make_face

MAX_FACES = 200_000
def class_counts(per_class: int, imbalance: str | None = None) -> dict[str, int]:
    """Images per class for ``--per-class`` and ``--imbalance`` (see :data:`IMBALANCE_HELP`)."""
    if per_class < 1:
        raise ParameterError("--per-class must be at least 1")
    spec = (imbalance or "none").strip()
    if spec.lower() in ("", "none", "balanced"):
        return _checked({c: per_class for c in CLASS_NAMES})
    if spec.lower().startswith("zipf"):
        exponent = ZIPF_EXPONENT
        if ":" in spec:
            try:
                exponent = float(spec.split(":", 1)[1])
            except ValueError:
                raise ParameterError(
                    f"--imbalance {spec!r}: the exponent after 'zipf:' is not a number"
                ) from None
            if not (0 < exponent <= 5):
                raise ParameterError(f"--imbalance {spec!r}: the exponent must be in (0, 5]")
        counts = {
            name: max(min(ZIPF_MIN, per_class), round(per_class / (rank + 1) ** exponent))
            for rank, name in enumerate(ZIPF_ORDER)
        }
        return _checked({c: counts[c] for c in CLASS_NAMES})
    counts = {c: per_class for c in CLASS_NAMES}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ParameterError(f"--imbalance: {item.strip()!r} is not NAME=COUNT (or use 'zipf')")
        name, _, value = (s.strip() for s in item.partition("="))
        if name not in counts:
            raise ParameterError(f"--imbalance: unknown class {name!r}; classes: {', '.join(CLASS_NAMES)}")
        try:
            n = int(value)
        except ValueError:
            raise ParameterError(
                f"--imbalance: the count for {name} ({value!r}) is not a whole number"
            ) from None
        if n < 0:
            raise ParameterError(f"--imbalance: the count for {name} cannot be negative")
        counts[name] = n
    if sum(counts.values()) == 0:
        raise ParameterError("--imbalance: every class count is 0; nothing to generate")
    return _checked(counts)


def _checked(counts: dict[str, int]) -> dict[str, int]:
    total = sum(counts.values())
    if total > MAX_FACES:
        raise ParameterError(f"{total} faces is more than this generator is meant for (at most {MAX_FACES})")
    return counts


def face_rngs(seed: int, class_name: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(identity, variant) random streams of face ``index`` of a class.

    The identity depends on (seed, index) only, so face ``index`` of every class shows the same
    person; the class's severity and the sensor noise come from a per-class stream.
    """
    identity = np.random.default_rng([int(seed), int(index)])
    variant = np.random.default_rng([int(seed), int(index), 1 + CLASS_NAMES.index(class_name)])
    return identity, variant


def iter_faces(counts: dict[str, int], seed: int, with_masks: bool = True,
               job: JobControl | None = None, strength: float = 1.0) -> Iterator[tuple[str, int, DemoFace]]:
    """(class, index, face) for every requested face, class by class in :data:`CLASS_NAMES` order."""
    total = max(1, sum(counts.values()))
    done = 0
    for name in CLASS_NAMES:
        for i in range(counts.get(name, 0)):
            if job is not None:
                job.report(done / total, f"drawing faces {done + 1}/{total}")
            yield name, i, make_face(name, *face_rngs(seed, name, i), with_mask=with_masks,
                                     strength=strength)
            done += 1


def image_stem(class_name: str, index: int) -> str:
    return f"{class_name}_{index:04d}"


def _png_bytes(arr: np.ndarray) -> bytes:
    img = arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


@dataclass
class DatasetInfo:
    root: Path
    images_dir: Path
    labels_csv: Path
    masks_dir: Path
    counts: dict[str, int]
    seed: int


def dataset_metadata(counts: dict[str, int], seed: int) -> dict[str, object]:
    return {
        "generator": "gmxai demo-data",
        "seed": int(seed),
        "image_size": [112, 112],
        "template": "arcface112",
        "counts": dict(counts),
        "classes": [c.as_dict() for c in DEMO_CLASSES],
        "mask": "255 where the face differs from the same person drawn unaffected (before lighting "
        "and noise), dilated by 1 px; empty for 'unaffected'",
    }


def write_dataset(out_dir: str | Path, counts: dict[str, int], seed: int, overwrite: bool = False,
                  job: JobControl | None = None) -> DatasetInfo:
    """Draw the faces and write images, masks, labels.csv and dataset.json under ``out_dir``."""
    root = Path(out_dir)
    images_dir, masks_dir, labels_csv = root / "images", root / "masks", root / "labels.csv"
    if not overwrite and (labels_csv.exists() or images_dir.exists() or masks_dir.exists()):
        raise ParameterError(
            f"{root} already holds a data set (images/, masks/ or labels.csv); choose an empty folder "
            "or pass --overwrite"
        )
    try:
        for name, n in counts.items():
            if n:
                (images_dir / name).mkdir(parents=True, exist_ok=True)
        masks_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot create folders under {root}: {exc.strerror or exc}") from None
    rows: list[tuple[str, str]] = []
    for name, i, face in iter_faces(counts, seed, with_masks=True, job=job):
        stem = image_stem(name, i)
        rel = f"{name}/{stem}.png"
        atomic_write_bytes(images_dir / rel, _png_bytes(face.image))
        assert face.mask is not None
        atomic_write_bytes(masks_dir / f"{stem}.png", _png_bytes(face.mask))
        rows.append((rel, name))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["image", "label"])
    writer.writerows(rows)
    atomic_write_text(labels_csv, buf.getvalue())
    atomic_write_text(root / "dataset.json", json.dumps(dataset_metadata(counts, seed), indent=2) + "\n")
    if job is not None:
        job.report(1.0, f"wrote {len(rows)} faces")
    return DatasetInfo(root, images_dir, labels_csv, masks_dir, dict(counts), int(seed))


def faces_to_arrays(faces: Sequence[DemoFace], size: tuple[int, int] = (100, 100),
                    channels: int = 1) -> np.ndarray:
    """uint8 (N, C, H, W) model inputs, exactly as ``ModelAdapter.preprocess`` resizes them."""
    from ..inputs.imageio import to_model_input

    if not faces:
        return np.zeros((0, channels, *size), dtype=np.uint8)
    return np.stack([to_model_input(f.image, size, channels) for f in faces])
