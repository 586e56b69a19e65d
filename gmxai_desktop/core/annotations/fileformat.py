"""The versioned JSON file format (docs/annotation_format.md), atomic save/load, import/export and
finding an image's annotation file by content hash."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..base.atomic import atomic_write_text, remove_stale_temps
from .document import AnnotationDocument, Region, to_original
from .geometry import KINDS, AnnotationError, Geometry, utc_now
from .image import Alignment, ImageRef

FORMAT_NAME = "gmxai-annotations"
FORMAT_VERSION = 1
FILE_SUFFIX = ".gmxai-annotations.json"
AUTOSAVE_SUFFIX = ".autosave"


# --------------------------------------------------------------------------------------------
# JSON format
# --------------------------------------------------------------------------------------------


def _geom_json(g: Geometry) -> dict[str, Any]:
    return {"points": [[x, y] for x, y in g.points], "width": g.width}


def to_json_dict(doc: AnnotationDocument, *, include_file_name: bool = True) -> dict[str, Any]:
    """The documented v1 structure (docs/annotation_format.md)."""
    from ... import __version__

    image: dict[str, Any] = {
        "sha256": doc.image.sha256,
        "pixel_sha256": doc.image.pixel_sha256,
        "file_name": doc.image.file_name if include_file_name else None,
        "width": doc.image.width,
        "height": doc.image.height,
    }
    alignment = None
    if doc.alignment is not None:
        alignment = {
            "template": doc.alignment.template,
            "width": doc.alignment.size[0],
            "height": doc.alignment.size[1],
            "matrix": [list(row) for row in doc.alignment.matrix],
            "matrix_convention": "opencv",
        }
    regions = []
    for r in doc.regions:
        aligned = r.geometry_in("aligned", doc.alignment) if doc.alignment is not None else None
        regions.append(
            {
                "id": r.id,
                "kind": r.kind,
                "drawn_in": r.drawn_in,
                "original": _geom_json(r.geometry),
                "aligned": _geom_json(aligned) if aligned is not None else None,
                "hpo": {"id": r.hpo_id, "name": r.hpo_name} if r.hpo_id else None,
                "note": r.note,
                "confidence": r.confidence,
                "author": r.author,
                "created": r.created,
                "modified": r.modified,
                "color": r.color,
            }
        )
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": f"gmxai-desktop {__version__}",
        "created": doc.created,
        "modified": doc.modified,
        "hpo_release": doc.hpo_release,
        "image": image,
        "alignment": alignment,
        "regions": regions,
    }


def dumps(doc: AnnotationDocument, *, include_file_name: bool = True) -> str:
    """Serialise to JSON text (UTF-8, human-readable, exact float round trip)."""
    return (
        json.dumps(
            to_json_dict(doc, include_file_name=include_file_name),
            ensure_ascii=False,
            indent=1,
            allow_nan=False,
        )
        + "\n"
    )


def _req(obj: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise AnnotationError(f"{where}: the field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise AnnotationError(f"{where}: the field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _opt(
    obj: dict[str, Any], key: str, types: type | tuple[type, ...], where: str, default: Any = None
) -> Any:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, types) or isinstance(value, bool):
        raise AnnotationError(f"{where}: the field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _geom_from_json(obj: Any, kind: str, where: str) -> Geometry:
    if not isinstance(obj, dict):
        raise AnnotationError(f"{where}: expected an object with 'points'")
    pts = _req(obj, "points", list, where)
    try:
        points = tuple((float(p[0]), float(p[1])) for p in pts if len(p) == 2)
    except (TypeError, ValueError, IndexError):
        raise AnnotationError(f"{where}: points must be [x, y] number pairs") from None
    if len(points) != len(pts):
        raise AnnotationError(f"{where}: points must be [x, y] number pairs")
    width = float(_opt(obj, "width", (int, float), where, 0.0))
    return Geometry(kind, points, width)


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older file up to FORMAT_VERSION (version 1 is the first; nothing to do yet)."""
    return data


def from_json_dict(data: Any, *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    """Parse and validate the v1 structure; every problem is an :class:`AnnotationError`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise AnnotationError("this is not a gmxai annotation file (its 'format' is not 'gmxai-annotations')")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise AnnotationError("the annotation file has no valid 'version'")
    if version > FORMAT_VERSION:
        raise AnnotationError(
            f"the annotation file has format version {version}; this gmxai-desktop reads up "
            f"to version {FORMAT_VERSION}. Please update gmxai-desktop"
        )
    data = _migrate(data)
    img = _req(data, "image", dict, "image")
    image = ImageRef(
        sha256=_req(img, "sha256", str, "image"),
        width=_req(img, "width", int, "image"),
        height=_req(img, "height", int, "image"),
        file_name=_opt(img, "file_name", str, "image"),
        pixel_sha256=_opt(img, "pixel_sha256", str, "image"),
    )
    alignment = None
    al = data.get("alignment")
    if al is not None:
        if not isinstance(al, dict):
            raise AnnotationError("alignment: expected an object or null")
        conv = al.get("matrix_convention", "opencv")
        if conv != "opencv":
            raise AnnotationError(f"alignment: unknown matrix convention {conv!r}")
        matrix = _req(al, "matrix", list, "alignment")
        try:
            alignment = Alignment(
                matrix=tuple(tuple(float(v) for v in row) for row in matrix),  # type: ignore[arg-type]
                size=(_req(al, "width", int, "alignment"), _req(al, "height", int, "alignment")),
                template=_opt(al, "template", str, "alignment", ""),
            )
        except (TypeError, ValueError):
            raise AnnotationError("alignment: the matrix must be 2 rows of 3 numbers") from None
    doc = AnnotationDocument(
        image, alignment, hpo_release=_opt(data, "hpo_release", str, "file"), clock=clock
    )
    doc.created = _opt(data, "created", str, "file", doc.created)
    doc.modified = _opt(data, "modified", str, "file", doc.modified)
    regions_json = _req(data, "regions", list, "file")
    seen: set[str] = set()
    for n, rj in enumerate(regions_json, 1):
        where = f"region {n}"
        if not isinstance(rj, dict):
            raise AnnotationError(f"{where}: expected an object")
        kind = _req(rj, "kind", str, where)
        if kind not in KINDS:
            raise AnnotationError(f"{where}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        drawn_in = _opt(rj, "drawn_in", str, where, "original")
        if "original" in rj and rj["original"] is not None:
            geometry = _geom_from_json(rj["original"], kind, f"{where} (original)")
        elif rj.get("aligned") is not None:
            # A writer that only knows the aligned face: derive the original coordinates.
            geometry = to_original(
                _geom_from_json(rj["aligned"], kind, f"{where} (aligned)"), "aligned", alignment
            )
        else:
            raise AnnotationError(f"{where}: it has neither original nor aligned coordinates")
        hpo = rj.get("hpo")
        hpo_id = hpo_name = None
        if hpo is not None:
            if not isinstance(hpo, dict):
                raise AnnotationError(f"{where}: 'hpo' must be an object with 'id' and 'name'")
            hpo_id = _req(hpo, "id", str, f"{where} hpo")
            hpo_name = _opt(hpo, "name", str, f"{where} hpo")
        conf = rj.get("confidence")
        if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float))):
            raise AnnotationError(f"{where}: confidence must be a number between 0 and 1 or null")
        rid = _req(rj, "id", str, where)
        if rid in seen:
            raise AnnotationError(f"{where}: the id {rid!r} is used twice")
        seen.add(rid)
        region = Region(
            geometry=geometry,
            id=rid,
            drawn_in=drawn_in,
            hpo_id=hpo_id,
            hpo_name=hpo_name,
            note=_opt(rj, "note", str, where, ""),
            confidence=conf,
            author=_opt(rj, "author", str, where, ""),
            created=_opt(rj, "created", str, where, ""),
            modified=_opt(rj, "modified", str, where, ""),
            color=_opt(rj, "color", str, where),
        )
        doc._regions.append(region)
    doc.clear_history()
    return doc


def loads(text: str | bytes, *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"the annotation file is not valid JSON ({exc})") from exc
    return from_json_dict(data, clock=clock)


def load_document(path: str | os.PathLike[str], *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    """Read an annotation file (or an autosave); raises :class:`AnnotationError` with the file name."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AnnotationError(f"the annotation file {p.name} does not exist") from None
    except OSError as exc:
        raise AnnotationError(f"cannot read {p.name}: {exc.strerror or exc}") from exc
    try:
        return loads(raw, clock=clock)
    except AnnotationError as exc:
        raise AnnotationError(f"{p.name}: {exc}") from None


def save_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = True
) -> None:
    """Save atomically, mark the document saved and drop its autosave (now redundant)."""
    p = Path(path)
    atomic_write_text(p, dumps(doc, include_file_name=include_file_name))
    doc.mark_saved()
    discard_autosave(p)
    remove_stale_temps(p)


def export_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = False
) -> None:
    """Write a copy for sharing (by default without the image's file name); the document's own
    saved/modified state is unchanged."""
    atomic_write_text(path, dumps(doc, include_file_name=include_file_name))


def import_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, require_same_image: bool = True
) -> list[Region]:
    """Merge the regions of another annotation file into ``doc`` (one undo step)."""
    return doc.import_regions(load_document(path), require_same_image=require_same_image)


def autosave_path(path: str | os.PathLike[str]) -> Path:
    """``notes.gmxai-annotations.json`` -> ``notes.gmxai-annotations.json.autosave``."""
    p = Path(path)
    return p.with_name(p.name + AUTOSAVE_SUFFIX)


def discard_autosave(path: str | os.PathLike[str]) -> None:
    p = Path(path)
    target = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise AnnotationError(f"cannot remove the autosave {target.name}: {exc.strerror or exc}") from exc


def default_path_for(image_path: str | os.PathLike[str]) -> Path:
    """Where annotations of an image live by default: ``photo.jpg`` -> ``photo.gmxai-annotations.json``."""
    p = Path(image_path)
    return p.with_name(p.stem + FILE_SUFFIX)


# --------------------------------------------------------------------------------------------
# Finding the annotations of an image
# --------------------------------------------------------------------------------------------


def find_for_image(
    image: ImageRef, candidates: Iterable[str | os.PathLike[str]]
) -> AnnotationDocument | None:
    """The first annotation file among ``candidates`` (files or folders) made on this image.

    Matching is by content hash, never by name, so renamed or anonymised copies still match.
    Files that are not annotation files are skipped.
    """
    for cand in candidates:
        c = Path(cand)
        files = sorted(c.glob("*.json")) if c.is_dir() else [c]
        for f in files:
            try:
                doc = load_document(f)
            except AnnotationError:
                if not c.is_dir():
                    raise
                continue
            if doc.image.matches(image):
                return doc
    return None
