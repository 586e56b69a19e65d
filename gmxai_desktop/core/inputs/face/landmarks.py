"""landmarks.csv: the alignment record ``gmxai align`` writes and ``--landmarks`` reads back.

One row per image: ``image, status, n_faces, score`` and the ten landmark coordinates in
original-image pixels, so a user can correct a bad detection in a spreadsheet and re-run the
alignment with exactly those points. Left/right are as seen in the image.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
from pathlib import Path

import numpy as np

from ...base.errors import ParameterError

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
LANDMARK_COLUMNS: tuple[str, ...] = tuple(f"{n}_{c}" for n in LANDMARK_NAMES for c in ("x", "y"))
CSV_COLUMNS: tuple[str, ...] = ("image", "status", "n_faces", "score", *LANDMARK_COLUMNS)


def landmarks_row(image: str, status: str, n_faces: int, score: float | None,
                  landmarks: np.ndarray | None) -> dict[str, str]:
    """One CSV row; missing values are empty cells (never "nan", which spreadsheets mangle)."""
    row = {"image": image, "status": status, "n_faces": str(n_faces),
           "score": "" if score is None else f"{score:.4f}"}
    flat = [] if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(-1).tolist()
    for i, col in enumerate(LANDMARK_COLUMNS):
        row[col] = f"{flat[i]:.2f}" if flat else ""
    return row


def format_landmarks_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_landmarks_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Landmarks per image name, (5, 2) float. Rows without coordinates (no face) are left out.

    Only ``image`` and the ten coordinate columns are required; other columns are ignored, so a
    hand-made file works too. Keys are the ``image`` cells as written (a file name or a path
    relative to the aligned folder).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParameterError(f"landmarks file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read landmarks file {p.name}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("image", *LANDMARK_COLUMNS) if c not in header]
    if missing:
        raise ParameterError(
            f"{p.name} lacks the column(s) {', '.join(missing)}; expected: {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    out: dict[str, np.ndarray] = {}
    for line, row in enumerate(reader, start=2):
        name = (row.get("image") or "").strip()
        if not name:
            raise ParameterError(f"{p.name}, line {line}: the image cell is empty")
        cells = [(row.get(c) or "").strip() for c in LANDMARK_COLUMNS]
        if all(c == "" for c in cells):
            continue
        if any(c == "" for c in cells):
            raise ParameterError(f"{p.name}, line {line} ({name}): some landmark coordinates are empty")
        try:
            values = [float(c) for c in cells]
        except ValueError:
            raise ParameterError(
                f"{p.name}, line {line} ({name}): a landmark coordinate is not a number"
            ) from None
        if not all(math.isfinite(v) for v in values):
            raise ParameterError(f"{p.name}, line {line} ({name}): a landmark coordinate is not finite")
        if name in out:
            raise ParameterError(f"{p.name}, line {line}: {name} appears twice")
        out[name] = np.array(values, dtype=np.float64).reshape(5, 2)
    return out


def lookup_landmarks(table: dict[str, np.ndarray], path: Path, root: Path | None = None) -> np.ndarray | None:
    """Find an image's row: by its path relative to ``root``, then as given, then by file name."""
    keys = []
    if root is not None:
        with contextlib.suppress(ValueError):
            keys.append(path.relative_to(root).as_posix())
    keys += [path.as_posix(), str(path), path.name]
    for key in keys:
        if key in table:
            return table[key]
    return None
