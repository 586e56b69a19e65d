"""Class labels for a folder of images: from a labels CSV, or from class subfolders.

The CSV has the columns ``image`` and ``label``; ``image`` is relative to the images folder
(absolute paths are accepted). Spreadsheets write CSVs in many dialects, so a UTF-8 byte-order
mark, ``;`` or tab separators and surrounding spaces are accepted. Without a CSV, an image's
label is the name of the subfolder it sits in, directly under the images folder
(``images/<label>/...``).

A row that names a missing image does not stop the run: it is reported (``LabelTable.problems``,
and a log warning from :func:`read_labels`) and left out, because one stale row must not hide a
whole folder from the clinician. Structural problems (no header, missing columns, an empty label,
one image with two different labels) are errors that name the line.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import ParameterError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
DEFAULT_CSV_NAME = "labels.csv"


@dataclass
class LabelTable:
    labels: dict[Path, str]
    source: str  # "csv" or "folders"
    csv_path: Path | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.values()))


def find_labels_csv(images_dir: Path) -> Path | None:
    """``labels.csv`` inside the images folder, or beside it when the folder is called ``images``.

    The second case is the layout ``gmxai demo-data`` writes (``DIR/images`` + ``DIR/labels.csv``),
    so opening a generated or bundled demo folder finds its labels without an option.
    """
    inside = images_dir / DEFAULT_CSV_NAME
    if inside.is_file():
        return inside
    beside = images_dir.parent / DEFAULT_CSV_NAME
    if images_dir.name == "images" and beside.is_file():
        return beside
    return None


def read_labels(images_dir: Path, labels_csv: Path | None = None) -> dict[Path, str]:
    """``{images_dir / relative path: label}``; see :func:`read_label_table` for the rules."""
    table = read_label_table(images_dir, labels_csv)
    for problem in table.problems:
        log.warning("%s", problem)
    return table.labels


def read_label_table(images_dir: Path, labels_csv: Path | None = None, *,
                     auto_csv: bool = True) -> LabelTable:
    """Labels from ``labels_csv``, else from a ``labels.csv`` found by :func:`find_labels_csv`
    (when ``auto_csv``), else from class subfolders."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise ParameterError(f"{images_dir}: the images folder does not exist")
    if labels_csv is None and auto_csv:
        labels_csv = find_labels_csv(images_dir)
    if labels_csv is not None:
        return _from_csv(images_dir, Path(labels_csv))
    return _from_folders(images_dir)


def _sniff(text: str) -> csv.Dialect | type[csv.Dialect]:
    first = text.splitlines()[0] if text.strip() else ""
    try:
        return csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _from_csv(images_dir: Path, path: Path) -> LabelTable:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParameterError(f"labels file not found: {path}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{name}: not a UTF-8 text file; save it as CSV (UTF-8)") from None
    except OSError as exc:
        raise ParameterError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if not text.strip():
        raise ParameterError(f"{name}: the file is empty; expected a header line 'image,label'")
    try:
        rows = list(csv.reader(io.StringIO(text), dialect=_sniff(text)))
    except csv.Error as exc:
        raise ParameterError(f"{name}: not a readable CSV file ({exc})") from None
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in ("image", "label") if c not in header]
    if missing:
        raise ParameterError(
            f"{name}: the header line lacks the column(s) {' and '.join(missing)}; it must name "
            f"'image' and 'label' (found: {', '.join(h for h in header if h) or 'nothing'})"
        )
    i_img, i_lab = header.index("image"), header.index("label")
    labels: dict[Path, str] = {}
    problems: list[str] = []
    first_line: dict[Path, int] = {}
    root = images_dir.resolve()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(i_img, i_lab):
            raise ParameterError(f"{name}, line {line}: expected at least {max(i_img, i_lab) + 1} columns, "
                                 f"found {len(row)}")
        image, label = row[i_img].strip(), row[i_lab].strip()
        if not image:
            raise ParameterError(f"{name}, line {line}: the image cell is empty")
        if not label:
            raise ParameterError(f"{name}, line {line}: {image} has no label")
        p = Path(image)
        full = p if p.is_absolute() else images_dir / p
        if not p.is_absolute():
            try:
                full.resolve().relative_to(root)
            except ValueError:
                problems.append(f"{name}, line {line}: {image} points outside the images folder; left out")
                continue
        if not full.is_file():
            problems.append(f"{name}, line {line}: {image} does not exist in the images folder; left out")
            continue
        if full in labels:
            if labels[full] != label:
                raise ParameterError(
                    f"{name}, line {line}: {image} is labelled {label!r} here but {labels[full]!r} on line "
                    f"{first_line[full]}"
                )
            continue
        labels[full] = label
        first_line[full] = line
    if not labels and len(rows) > 1 and problems:
        raise ParameterError(
            f"{name}: none of the {len(problems)} images it names exist under {images_dir}; are the image "
            "paths relative to the images folder? (first: " + problems[0].split(": ", 1)[1] + ")"
        )
    return LabelTable(labels, "csv", path, problems)


def _from_folders(images_dir: Path) -> LabelTable:
    labels: dict[Path, str] = {}
    problems: list[str] = []
    for path in sorted(images_dir.rglob("*")):
        rel = path.relative_to(images_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if len(rel.parts) < 2:
            problems.append(f"{rel.as_posix()}: not in a class subfolder, so it has no label")
            continue
        labels[images_dir / rel] = rel.parts[0]
    return LabelTable(labels, "folders", None, problems)
