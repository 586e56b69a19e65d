"""Upstream's gallery encodings, ``all_encodings.csv``, so a gallery need not be re-embedded.

Format: ``;``-separated with the header ``img_name;model;flip;gray;class_conf;representations``.
``model`` is the member id (``m0``/``m1``/``m2``), ``flip``/``gray`` 0/1 (or True/False),
``class_conf`` the logits list and ``representations`` a Python-style list of floats. List cells
are parsed with :func:`ast.literal_eval` (literals only, never code).

Some releases ship the same table as a pickled pandas DataFrame. That is a pickle: it is refused
unless the user passes ``trust_pickle=True`` (``--trust-pickle``), and then needs pandas.
"""

from __future__ import annotations

import ast
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.errors import ParameterError

COLUMNS = ("img_name", "model", "flip", "gray", "class_conf", "representations")
_FLAGS = {"0": 0, "1": 1, "false": 0, "true": 1, "0.0": 0, "1.0": 1}


@dataclass
class Encodings:
    """``embeddings[i, v]``: image ``names[i]`` under variant ``keys[v]`` (``m0/f1/g0``)."""

    names: list[str]
    keys: list[str]
    embeddings: np.ndarray  # (N, V, D) float32


def read_encodings(path: str | Path, *, trust_pickle: bool = False) -> Encodings:
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read {name}: {exc.strerror or exc}") from None
    if raw[:1] == b"\x80":
        return _from_pickle(path, trust_pickle)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParameterError(f"{name} is not UTF-8 text; expected upstream's all_encodings.csv") from None
    return _parse_rows(list(csv.reader(io.StringIO(text), delimiter=";")), name)


def _parse_rows(rows: list[list[str]], name: str) -> Encodings:
    if not rows:
        raise ParameterError(f"{name} is empty")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ParameterError(
            f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; expected the "
            f"';'-separated header {';'.join(COLUMNS)}"
        )
    col = {c: header.index(c) for c in COLUMNS}
    records = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise ParameterError(f"{name} line {line_no}: {len(row)} fields, expected {len(header)}")
        records.append(
            (
                row[col["img_name"]].strip(),
                row[col["model"]].strip(),
                _flag(row[col["flip"]], name, line_no, "flip"),
                _flag(row[col["gray"]], name, line_no, "gray"),
                _vector(row[col["representations"]], name, line_no),
            )
        )
    return _assemble(records, name)


def read_name_labels(path: str | Path) -> dict[str, str]:
    """``image,label`` CSV (``,`` or ``;``) -> {image name: label}, for encodings without image files."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read labels {path.name}: {exc}") from None
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = [f.strip() for f in reader.fieldnames or []]
    if "image" not in fields or "label" not in fields:
        raise ParameterError(f"{path.name} needs the columns image and label")
    out: dict[str, str] = {}
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        if row.get("image") and row.get("label"):
            out[row["image"]] = row["label"]
            out.setdefault(Path(row["image"]).name, row["label"])
    return out


def _flag(cell: str, name: str, line: int, what: str) -> int:
    value = _FLAGS.get(cell.strip().lower())
    if value is None:
        raise ParameterError(f"{name} line {line}: {what} must be 0 or 1, not {cell.strip()!r}")
    return value


def _vector(cell: str, name: str, line: int) -> np.ndarray:
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = None
    if (
        isinstance(value, (list, tuple))
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        vec = np.asarray(value, dtype=np.float64)
    else:
        # literal_eval cannot spell NaN; a bare "nan" in the list is the usual way it appears.
        vec = _loose_floats(cell)
        if vec is None:
            raise ParameterError(f"{name} line {line}: representations is not a list of numbers")
    if not np.isfinite(vec).all():
        raise ParameterError(f"{name} line {line}: representations contains NaN or infinite values")
    return vec.astype(np.float32)


def _loose_floats(cell: str) -> np.ndarray | None:
    body = cell.strip()
    if not (body.startswith("[") and body.endswith("]")):
        return None
    try:
        return np.asarray([float(x) for x in body[1:-1].split(",") if x.strip()], dtype=np.float64)
    except ValueError:
        return None


def _assemble(records: list[tuple[str, str, int, int, np.ndarray]], name: str) -> Encodings:
    if not records:
        raise ParameterError(f"{name} holds no encodings")
    dims = {r[4].size for r in records}
    if len(dims) != 1:
        raise ParameterError(f"{name}: representations have different lengths ({sorted(dims)})")
    keys = sorted({f"{m}/f{f}/g{g}" for _, m, f, g, _ in records})
    names = list(dict.fromkeys(r[0] for r in records))
    table: dict[tuple[str, str], np.ndarray] = {}
    for img, m, f, g, vec in records:
        key = (img, f"{m}/f{f}/g{g}")
        if key in table:
            raise ParameterError(f"{name}: image {img} has two rows for variant {key[1]}")
        table[key] = vec
    incomplete = [n for n in names if any((n, k) not in table for k in keys)]
    if incomplete:
        raise ParameterError(
            f"{name}: {len(incomplete)} image(s) lack some variants (e.g. {incomplete[0]}); every image "
            f"needs all of {', '.join(keys)}"
        )
    emb = np.stack([np.stack([table[(n, k)] for k in keys]) for n in names])
    return Encodings(names, keys, emb)


def _from_pickle(path: Path, trust_pickle: bool) -> Encodings:
    if not trust_pickle:
        raise ParameterError(
            f"{path.name} is a pickled DataFrame; loading it would run code stored in the file, so it was "
            "not loaded. Use the all_encodings.csv export, or --trust-pickle for a file you trust"
        )
    try:
        import pandas as pd  # type: ignore[import-untyped]
    except ImportError:
        raise ParameterError(f"{path.name}: reading a pickled DataFrame needs pandas; use the CSV") from None
    try:
        frame = pd.read_pickle(path)
    except Exception as exc:
        raise ParameterError(f"{path.name} cannot be read as a pickled DataFrame ({exc})") from None
    buf = io.StringIO()
    frame.to_csv(buf, sep=";", index=False)
    return _parse_rows(list(csv.reader(io.StringIO(buf.getvalue()), delimiter=";")), path.name)
