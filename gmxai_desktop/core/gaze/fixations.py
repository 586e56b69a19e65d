"""Reading fixations: gmxai's CSV, Tobii Pro Lab's data export and EyeLink's fixation report.

Every reader returns a :class:`FixationTable` in one convention: ``x``, ``y`` in pixels of the
photo as stored, origin at the top-left corner of the top-left pixel, x to the right, y down
(so the first pixel's centre is (0.5, 0.5)). Eye trackers record *screen* pixels; when the photo
was not shown at 1:1 in the screen's top-left corner, ``origin`` (where the photo's top-left
corner was on screen) and ``scale`` (screen pixels per photo pixel) convert:
``x_photo = (x_screen - origin_x) / scale``.

Column mappings (``docs/gaze_metrics.md`` has the table): each format is a dict from our field
(image, observer, x, y, duration_ms, t_ms) to the export's column name. A lab whose export names a
column differently passes ``columns={"image": "my_column"}``; nothing needs reformatting.

Bad input raises :class:`FixationError` with one line naming the file, the row and what is wrong:
a missing column, a non-numeric or NaN coordinate, an empty observer, an empty image name.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.errors import GmxaiError

FIELDS = ("image", "observer", "x", "y", "duration_ms", "t_ms")
REQUIRED = ("image", "observer", "x", "y")
FORMATS = ("csv", "tobii", "eyelink")

COLUMN_MAPS: dict[str, dict[str, str]] = {
    "csv": {f: f for f in FIELDS},
    # Tobii Pro Lab › Analyze › Data Export, "Single standard file (.tsv)": one row per gaze
    # sample; a fixation repeats on every sample it spans, identified by its index.
    "tobii": {
        "image": "Presented Stimulus name",
        "observer": "Participant name",
        "x": "Fixation point X",
        "y": "Fixation point Y",
        "duration_ms": "Gaze event duration",
        "t_ms": "Recording timestamp",
    },
    # EyeLink Data Viewer › Analysis › Reports › Fixation Report (tab-separated). The image name
    # is a trial variable of the experiment; "image" is the usual name, override it otherwise.
    "eyelink": {
        "image": "image",
        "observer": "RECORDING_SESSION_LABEL",
        "x": "CURRENT_FIX_X",
        "y": "CURRENT_FIX_Y",
        "duration_ms": "CURRENT_FIX_DURATION",
        "t_ms": "CURRENT_FIX_START",
    },
}
TOBII_TYPE_COLUMN = "Eye movement type"
TOBII_INDEX_COLUMN = "Eye movement type index"
TOBII_EXTRA_KEYS = ("Recording name",)
MISSING_VALUES = frozenset({"", ".", "NA", "NaN", "nan"})
"""Cells that mean "no value" in optional columns (EyeLink writes '.')."""


class FixationError(GmxaiError):
    """A fixation file cannot be used as it is; the message names the file, row and problem."""


@dataclass
class FixationTable:
    """Fixations as parallel arrays (one entry per fixation), photo-pixel coordinates."""

    image: list[str] = field(default_factory=list)
    observer: list[str] = field(default_factory=list)
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN where unknown
    t_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # NaN where unknown
    source: str = ""

    def __len__(self) -> int:
        return len(self.image)

    @property
    def points(self) -> np.ndarray:
        return np.stack([self.x, self.y], axis=1) if len(self) else np.zeros((0, 2))

    def images(self) -> list[str]:
        return list(dict.fromkeys(self.image))

    def observers(self) -> list[str]:
        return sorted(set(self.observer))

    def subset(self, index: np.ndarray | Iterable[int]) -> FixationTable:
        idx = np.asarray(list(index) if not isinstance(index, np.ndarray) else index, dtype=int)
        return FixationTable(
            [self.image[i] for i in idx], [self.observer[i] for i in idx], self.x[idx], self.y[idx],
            self.duration_ms[idx], self.t_ms[idx], self.source,
        )

    def for_image(self, key: str) -> FixationTable:
        return self.subset([i for i, name in enumerate(self.image) if name == key])


def read_fixations(path: str | Path, fmt: str = "auto", columns: Mapping[str, str] | None = None,
                   origin: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> FixationTable:
    """Read one fixation file (``fmt``: auto, csv, tobii, eyelink); see the module docstring."""
    p = Path(path)
    name = p.name
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FixationError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_fixations(text, name, fmt, columns, origin, scale)


def parse_fixations(text: str, name: str = "fixations", fmt: str = "auto",
                    columns: Mapping[str, str] | None = None, origin: tuple[float, float] = (0.0, 0.0),
                    scale: float = 1.0) -> FixationTable:
    """Parse fixation text; ``name`` is used in error messages only."""
    if not (math.isfinite(scale) and scale > 0):
        raise FixationError(f"{name}: the stimulus scale must be a positive number, got {scale}")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise FixationError(f"{name}: the file is empty")
    delimiter = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else ";")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if fmt == "auto":
        fmt = _guess_format(header)
    if fmt not in FORMATS:
        raise FixationError(f"{name}: unknown fixation format {fmt!r}; choose one of: auto, "
                            f"{', '.join(FORMATS)}")
    mapping = dict(COLUMN_MAPS[fmt])
    for key, col in (columns or {}).items():
        if key not in FIELDS:
            raise FixationError(f"{name}: unknown field {key!r} in the column mapping; fields: "
                                f"{', '.join(FIELDS)}")
        mapping[key] = col
    where = {h: i for i, h in enumerate(header)}
    for key, col in list(mapping.items()):  # Tobii appends units: "Recording timestamp [ms]"
        if col not in where:
            mapping[key] = next((h for h in header if h.startswith(col + " [")), col)
    for key in REQUIRED:
        if mapping[key] not in where:
            raise FixationError(
                f"{name}: missing column {mapping[key]!r} (the {key} of each fixation, {fmt} format); "
                f"columns found: {', '.join(header[:12])}"
            )
    data = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    if fmt == "tobii":
        data = _tobii_fixation_rows(data, where)
    table = FixationTable(source=name)
    xs, ys, ds, ts = [], [], [], []
    for n, row in data:

        def cell(key: str, row: list[str] = row) -> str:
            col = mapping[key]
            i = where.get(col)
            return row[i].strip() if i is not None and i < len(row) else ""

        image, observer = cell("image"), cell("observer")
        if not image:
            raise FixationError(f"{name}: row {n}: empty image name")
        if not observer:
            raise FixationError(f"{name}: row {n}: empty observer")
        x = _number(cell("x"), name, n, "x")
        y = _number(cell("y"), name, n, "y")
        table.image.append(image.replace("\\", "/"))
        table.observer.append(observer)
        xs.append((x - origin[0]) / scale)
        ys.append((y - origin[1]) / scale)
        ds.append(_optional(cell("duration_ms"), name, n, "duration_ms"))
        ts.append(_optional(cell("t_ms"), name, n, "t_ms"))
    if not table.image:
        raise FixationError(f"{name}: no fixations in the file")
    table.x, table.y = np.asarray(xs, float), np.asarray(ys, float)
    table.duration_ms, table.t_ms = np.asarray(ds, float), np.asarray(ts, float)
    for key, arr in (("t_ms", "t_ms"), ("duration_ms", "duration_ms")):
        if mapping[key].endswith(("[μs]", "[us]", "[µs]")):
            setattr(table, arr, getattr(table, arr) / 1000.0)
    return table


def _guess_format(header: list[str]) -> str:
    cols = set(header)
    if COLUMN_MAPS["tobii"]["x"] in cols or TOBII_TYPE_COLUMN in cols:
        return "tobii"
    if COLUMN_MAPS["eyelink"]["x"] in cols:
        return "eyelink"
    return "csv"


Rows = list[tuple[int, list[str]]]  # (line number, cells)


def _tobii_fixation_rows(data: Rows, where: dict[str, int]) -> Rows:
    """Keep one row per fixation (the first sample of each), drop saccades and unclassified samples."""
    if TOBII_TYPE_COLUMN not in where:
        return data  # already one row per fixation (a metrics-style export)
    t_col, i_col = where[TOBII_TYPE_COLUMN], where.get(TOBII_INDEX_COLUMN)
    keys = [where[c] for c in ("Participant name", "Recording name", "Presented Stimulus name") if c in where]
    seen: set[tuple[str, ...]] = set()
    out = []
    for n, row in data:
        if t_col >= len(row) or row[t_col].strip() != "Fixation":
            continue
        if i_col is not None:
            key = tuple(row[k] if k < len(row) else "" for k in [*keys, i_col])
            if key in seen:
                continue
            seen.add(key)
        out.append((n, row))
    return out


def _number(text: str, name: str, row: int, what: str) -> float:
    try:
        v = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        shown = text if text else "(empty)"
        raise FixationError(f"{name}: row {row}: {what} is not a number: {shown!r}") from None
    if not math.isfinite(v):
        raise FixationError(f"{name}: row {row}: {what} is {text!r}; every fixation needs a finite "
                            "coordinate")
    return v


def _optional(text: str, name: str, row: int, what: str) -> float:
    if text in MISSING_VALUES:
        return math.nan
    return _number(text, name, row, what)


def match_images(table: FixationTable, images: Iterable[Path], root: Path | None = None) -> dict[str, Path]:
    """Map each fixation ``image`` key to one of ``images``: by path relative to ``root``, else
    by file name, else by file stem (Tobii stimulus names often drop the suffix).

    Raises :class:`FixationError` for a key that matches no image or several.
    """
    paths = list(images)
    by_rel: dict[str, Path] = {}
    if root is not None:
        for p in paths:
            if p.resolve().is_relative_to(root.resolve()):
                by_rel[p.resolve().relative_to(root.resolve()).as_posix()] = p
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for p in paths:
        by_name.setdefault(p.name, []).append(p)
        by_stem.setdefault(p.stem, []).append(p)
    out: dict[str, Path] = {}
    for key in table.images():
        if key in by_rel:
            out[key] = by_rel[key]
            continue
        base = key.rsplit("/", 1)[-1]
        hits = by_name.get(base) or by_stem.get(base) or by_stem.get(Path(base).stem) or []
        if len(hits) == 1:
            out[key] = hits[0]
        elif len(hits) > 1:
            raise FixationError(f"{table.source}: image {key!r} matches {len(hits)} files; give its path "
                                "relative to the folder")
        else:
            raise FixationError(f"{table.source}: unknown image {key!r}: it is not among the "
                                f"{len(paths)} images given")
    return out


def format_fixations_csv(observer: list[str], points: np.ndarray, duration_ms: np.ndarray) -> str:
    """``observer,x,y,duration_ms`` rows (the per-image file ``gmxai gaze`` writes)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["observer", "x", "y", "duration_ms"])
    for obs, (x, y), d in zip(observer, points, duration_ms, strict=True):
        w.writerow([obs, f"{x:.3f}", f"{y:.3f}", "" if not math.isfinite(d) else f"{d:g}"])
    return buf.getvalue()
