"""Regions and the undoable document the GUI edits by intents (add, remove, modify, undo, redo)."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .geometry import SPACES, AnnotationError, Geometry, utc_now
from .image import Alignment, ImageRef

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_HPO_ID = re.compile(r"^HP:\d{7}$")


# --------------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """One annotated region. Immutable: edits produce a new Region (what makes undo trivial).

    ``geometry`` is in original-image coordinates. ``drawn_in`` records the space the user drew
    in, so an editor can show handles the way they were drawn.
    """

    geometry: Geometry
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    drawn_in: str = "original"
    hpo_id: str | None = None
    hpo_name: str | None = None
    note: str = ""
    confidence: float | None = None
    author: str = ""
    created: str = ""
    modified: str = ""
    color: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Geometry):
            raise AnnotationError("a region needs a Geometry")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.id or ""):
            raise AnnotationError(f"region id {self.id!r} must be 1-64 letters, digits, '-' or '_'")
        if self.drawn_in not in SPACES:
            raise AnnotationError(f"region {self.id}: drawn_in must be one of {SPACES}")
        if self.hpo_id is not None and not _HPO_ID.match(self.hpo_id):
            raise AnnotationError(f"region {self.id}: {self.hpo_id!r} is not an HPO id like HP:0000316")
        if self.confidence is not None:
            c = float(self.confidence)
            if not (math.isfinite(c) and 0.0 <= c <= 1.0):
                raise AnnotationError(f"region {self.id}: confidence must be between 0 and 1, got {c}")
            object.__setattr__(self, "confidence", c)
        if self.color is not None and not _HEX_COLOR.match(self.color):
            raise AnnotationError(f"region {self.id}: colour must look like #1f77b4, got {self.color!r}")
        for name in ("note", "author", "created", "modified"):
            if not isinstance(getattr(self, name), str):
                raise AnnotationError(f"region {self.id}: {name} must be text")

    @property
    def kind(self) -> str:
        return self.geometry.kind

    @property
    def label(self) -> str:
        """What a legend or table shows: the HPO name, else the note's first line, else the kind."""
        if self.hpo_name:
            return self.hpo_name
        first = self.note.strip().splitlines()[0] if self.note.strip() else ""
        return first[:60] or self.kind

    def geometry_in(self, space: str, alignment: Alignment | None) -> Geometry:
        """This region's shape in ``original`` or ``aligned`` coordinates."""
        if space == "original":
            return self.geometry
        if space != "aligned":
            raise AnnotationError(f"unknown coordinate space {space!r}; use 'original' or 'aligned'")
        if alignment is None:
            raise AnnotationError("this document has no face alignment, so there are no aligned coordinates")
        return self.geometry.transformed(alignment.doc_matrix())


def to_original(geometry: Geometry, space: str, alignment: Alignment | None) -> Geometry:
    """Bring a shape drawn in ``space`` into original coordinates (the canonical space)."""
    if space == "original":
        return geometry
    if space != "aligned":
        raise AnnotationError(f"unknown coordinate space {space!r}; use 'original' or 'aligned'")
    if alignment is None:
        raise AnnotationError(
            "cannot place a region drawn on the aligned face: the face alignment is unknown"
        )
    return geometry.transformed(alignment.doc_inverse())


# --------------------------------------------------------------------------------------------
# Document with undo/redo
# --------------------------------------------------------------------------------------------

Change = tuple[int, Region | None, Region | None]
"""(index, before, after): add = (i, None, r), remove = (i, r, None), modify = (i, old, new)."""


@dataclass
class _Command:
    text: str
    changes: list[Change]
    merge_key: object | None = None


@dataclass(frozen=True)
class DocumentEvent:
    """Sent to subscribers after every change: kind is 'added', 'removed', 'changed' or 'reset'."""

    kind: str
    region_id: str | None
    region: Region | None


class AnnotationDocument:
    """The regions on one image, an undo/redo stack, and a saved/modified state.

    All edits go through :meth:`add_region`, :meth:`remove_region`, :meth:`update_region` (and
    helpers built on them), each one undoable step; :meth:`group` makes several one step, and
    ``merge_key`` folds a continuous drag into one step.
    """

    def __init__(
        self,
        image: ImageRef,
        alignment: Alignment | None = None,
        *,
        author: str = "",
        hpo_release: str | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.image = image
        self.alignment = alignment
        self.author = author
        self.hpo_release = hpo_release
        self.clock = clock
        self.created = clock()
        self.modified = self.created
        self._regions: list[Region] = []
        self._undo: list[_Command] = []
        self._redo: list[_Command] = []
        self._group: _Command | None = None
        self._listeners: list[Callable[[DocumentEvent], None]] = []
        self._saved_marker: object | None = None
        self._saved_at_depth = 0
        self.revision = 0
        self.mark_saved()

    # -- reading ---------------------------------------------------------------------------
    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(tuple(self._regions))

    def get(self, region_id: str) -> Region:
        return self._regions[self._index(region_id)]

    def _index(self, region_id: str) -> int:
        for i, r in enumerate(self._regions):
            if r.id == region_id:
                return i
        raise AnnotationError(f"no region with id {region_id!r}")

    def geometry_in(self, region_id: str, space: str) -> Geometry:
        return self.get(region_id).geometry_in(space, self.alignment)

    def mask(self, region_id: str, shape_hw: tuple[int, int], space: str = "aligned") -> np.ndarray:
        """Boolean mask of one region on a raster covering the whole ``space`` image."""
        return (
            self.get(region_id).geometry_in(space, self.alignment).rasterize(shape_hw, self.space_size(space))
        )

    def space_size(self, space: str) -> tuple[int, int]:
        """(width, height) of the original image or of the aligned crop."""
        if space == "original":
            return self.image.size
        if self.alignment is None:
            raise AnnotationError("this document has no face alignment, so there is no aligned image")
        return self.alignment.size

    # -- listeners -------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[DocumentEvent], None]) -> Callable[[], None]:
        """Call ``fn`` after every change; returns a function that unsubscribes."""
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def _emit(self, event: DocumentEvent) -> None:
        for fn in list(self._listeners):
            fn(event)

    # -- the one primitive -----------------------------------------------------------------
    def _apply(self, changes: Sequence[Change], forward: bool) -> None:
        seq = changes if forward else [(i, after, before) for i, before, after in reversed(changes)]
        for index, before, after in seq:
            if before is None and after is not None:
                self._regions.insert(index, after)
                self._emit(DocumentEvent("added", after.id, after))
            elif before is not None and after is None:
                del self._regions[index]
                self._emit(DocumentEvent("removed", before.id, before))
            elif after is not None:
                self._regions[index] = after
                self._emit(DocumentEvent("changed", after.id, after))
        self.revision += 1
        self.modified = self.clock()

    def _do(self, text: str, changes: list[Change], merge_key: object | None = None) -> None:
        if not changes:
            return
        self._apply(changes, forward=True)
        self._redo.clear()
        if self._group is not None:
            self._group.changes.extend(changes)
            return
        top = self._undo[-1] if self._undo else None
        if (
            merge_key is not None
            and top is not None
            and top.merge_key == merge_key
            and top is not self._saved_marker
            and len(top.changes) == 1
            and len(changes) == 1
            and top.changes[0][0] == changes[0][0]
        ):
            i, first_before, _ = top.changes[0]
            top.changes[0] = (i, first_before, changes[0][2])
            return
        self._undo.append(_Command(text, list(changes), merge_key))

    def _undo_depth_marker(self) -> object | None:
        return self._undo[-1] if self._undo else None

    # -- intents ---------------------------------------------------------------------------
    def add_region(
        self, geometry: Geometry, space: str = "original", *, index: int | None = None, **fields: Any
    ) -> Region:
        """Add a region drawn in ``space``; ``fields`` are Region fields (hpo_id, note, ...)."""
        now = self.clock()
        fields.setdefault("author", self.author)
        region = Region(
            to_original(geometry, space, self.alignment),
            drawn_in=space,
            created=fields.pop("created", now),
            modified=fields.pop("modified", now),
            **fields,
        )
        return self.insert_region(region, index=index)

    def insert_region(self, region: Region, *, index: int | None = None, text: str = "Add region") -> Region:
        """Add an existing Region object (import, paste, undo of a delete made elsewhere)."""
        if any(r.id == region.id for r in self._regions):
            raise AnnotationError(f"a region with id {region.id!r} already exists")
        pos = len(self._regions) if index is None else max(0, min(index, len(self._regions)))
        self._do(text, [(pos, None, region)])
        return region

    def remove_region(self, region_id: str) -> Region:
        i = self._index(region_id)
        region = self._regions[i]
        self._do("Delete region", [(i, region, None)])
        return region

    def update_region(
        self, region_id: str, *, merge_key: object | None = None, text: str = "Edit region", **changes: Any
    ) -> Region:
        """Change Region fields (note, hpo_id, hpo_name, confidence, color, geometry ...).

        Successive calls with the same ``merge_key`` (e.g. one per mouse move of one drag) are
        a single undo step.
        """
        i = self._index(region_id)
        old = self._regions[i]
        if "id" in changes or "created" in changes:
            raise AnnotationError("a region's id and creation time cannot be changed")
        new = replace(old, **changes)
        if new == old:
            return old
        new = replace(new, modified=self.clock())
        self._do(text, [(i, old, new)], merge_key)
        return new

    def set_geometry(
        self, region_id: str, geometry: Geometry, space: str = "original", *, merge_key: object | None = None
    ) -> Region:
        """Replace a region's shape with one drawn/edited in ``space`` (vertex edit, resize)."""
        return self.update_region(
            region_id,
            geometry=to_original(geometry, space, self.alignment),
            merge_key=merge_key,
            text="Edit shape",
        )

    def move_region(
        self, region_id: str, dx: float, dy: float, space: str = "original", *, merge_key: object = None
    ) -> Region:
        """Translate by (dx, dy) pixels of ``space``."""
        g = self.geometry_in(region_id, space).translated(dx, dy)
        return self.update_region(
            region_id, geometry=to_original(g, space, self.alignment), merge_key=merge_key, text="Move region"
        )

    def set_vertex(
        self, region_id: str, vertex: int, x: float, y: float, space: str = "original", *,
        merge_key: object | None = None,
    ) -> Region:
        """Move one control point (a polygon/lasso/brush vertex; for rect/ellipse see docs)."""
        g = self.geometry_in(region_id, space)
        pts = list(g.points)
        if not 0 <= vertex < len(pts):
            raise AnnotationError(f"vertex {vertex} does not exist (the shape has {len(pts)} points)")
        if g.kind == "rect":
            # Keep it a parallelogram: move the corner, keep the opposite corner, and move the two
            # neighbours along the original edge directions.
            arr = g.array()
            opp = arr[(vertex + 2) % 4]
            e1 = arr[(vertex + 1) % 4] - arr[(vertex + 2) % 4]
            e2 = arr[(vertex + 3) % 4] - arr[(vertex + 2) % 4]
            basis = np.stack([e1, e2], axis=1)
            if abs(np.linalg.det(basis)) < 1e-12:
                raise AnnotationError("this rectangle is degenerate and cannot be edited by its corners")
            a, b = np.linalg.solve(basis, np.array([x, y]) - opp)
            arr[vertex] = (x, y)
            arr[(vertex + 1) % 4] = opp + a * e1
            arr[(vertex + 3) % 4] = opp + b * e2
            pts = [tuple(p) for p in arr]
        else:
            pts[vertex] = (float(x), float(y))
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space, merge_key=merge_key)

    def insert_vertex(
        self, region_id: str, after: int, x: float, y: float, space: str = "original"
    ) -> Region:
        g = self.geometry_in(region_id, space)
        if g.kind not in ("polygon", "lasso", "brush"):
            raise AnnotationError(f"a {g.kind} has a fixed number of control points")
        pts = list(g.points)
        pts.insert(after + 1, (float(x), float(y)))
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space)

    def delete_vertex(self, region_id: str, vertex: int, space: str = "original") -> Region:
        g = self.geometry_in(region_id, space)
        if g.kind not in ("polygon", "lasso", "brush"):
            raise AnnotationError(f"a {g.kind} has a fixed number of control points")
        pts = [p for i, p in enumerate(g.points) if i != vertex]
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space)

    @contextmanager
    def group(self, text: str) -> Iterator[None]:
        """Make every edit inside the block one undo step (nested groups join the outer one)."""
        outer = self._group is None
        if outer:
            self._group = _Command(text, [])
        try:
            yield
        finally:
            if outer:
                cmd, self._group = self._group, None
                if cmd is not None and cmd.changes:
                    self._undo.append(cmd)

    # -- undo / redo -----------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo) and self._group is None

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and self._group is None

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        cmd = self._undo.pop()
        self._apply(cmd.changes, forward=False)
        cmd.merge_key = None  # a redone step must not absorb later drags
        self._redo.append(cmd)
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        cmd = self._redo.pop()
        self._apply(cmd.changes, forward=True)
        self._undo.append(cmd)
        return True

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self.mark_saved()

    # -- saved state -----------------------------------------------------------------------
    def mark_saved(self) -> None:
        """Remember the current undo position as the saved one (after save or load)."""
        self._saved_marker = self._undo_depth_marker()
        self._saved_at_depth = len(self._undo)

    def mark_unsaved(self) -> None:
        """Treat the current state as not saved (e.g. just recovered from an autosave)."""
        self._saved_marker = object()

    @property
    def is_modified(self) -> bool:
        """True when the regions differ from the last save, undo/redo aware."""
        return not (
            self._undo_depth_marker() is self._saved_marker and len(self._undo) == self._saved_at_depth
        )

    # -- alignment -------------------------------------------------------------------------
    def set_alignment(self, alignment: Alignment | None) -> None:
        """Switch the aligned space (another model template). Regions stay put on the photo."""
        self.alignment = alignment
        self._emit(DocumentEvent("reset", None, None))

    # -- import ----------------------------------------------------------------------------
    def import_regions(self, other: AnnotationDocument, *, require_same_image: bool = True) -> list[Region]:
        """Copy every region of ``other`` into this document as one undo step.

        Ids that already exist get fresh ones; a region from another image is refused unless
        ``require_same_image`` is False (regions are in original-image pixels, so they only mean
        something on the same photo).
        """
        if require_same_image and not self.image.matches(other.image):
            raise AnnotationError("these annotations belong to a different image (the content hashes differ)")
        added = []
        existing = {r.id for r in self._regions}
        with self.group("Import regions"):
            for r in other.regions:
                if r.id in existing:
                    r = replace(r, id=uuid.uuid4().hex)
                existing.add(r.id)
                added.append(self.insert_region(r, text="Import regions"))
        return added

    # -- comparison ------------------------------------------------------------------------
    def content_equal(self, other: AnnotationDocument) -> bool:
        """Same image, alignment and regions (time stamps of the document itself ignored)."""
        return (
            self.image == other.image and self.alignment == other.alignment and self.regions == other.regions
        )
