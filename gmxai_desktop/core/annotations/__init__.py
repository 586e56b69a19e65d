"""Clinician annotations: regions on a face photo, their HPO terms, undo/redo, safe storage.

The GUI only sends intents (add, remove, modify, undo, redo) to an :class:`AnnotationDocument`
and redraws on its events; everything that must be right — geometry, coordinate mapping,
rasterisation, the file format, atomic saving, autosave and recovery — lives here, Qt-free and
tested.

Coordinates (see docs/annotation_format.md, which is the normative description):

* Pixels of the referenced image, continuous, origin at the top-left *corner* of the top-left
  pixel, x to the right, y down. Pixel (row r, column c) covers [c, c+1) × [r, r+1); its centre
  is (c + 0.5, r + 0.5). With this convention scaling an image by s scales coordinates by s, so a
  region rasterises at any resolution by simple scaling.
* Two spaces: ``original`` (the photo as loaded, EXIF-rotated) and ``aligned`` (the face crop the
  model sees, before the final resize to the model input). Regions are kept canonically in
  original coordinates, which do not depend on the model's alignment template; the aligned copy
  is derived through the alignment's affine matrix and stored too, so readers need no maths.
* Every shape is a list of points plus a brush width, which makes every shape exactly
  transformable by an affine map: ``rect`` = 4 corners (a rectangle drawn in one space is a
  parallelogram in the other), ``ellipse`` = centre and the end points of two conjugate
  semi-axes, ``polygon`` / ``lasso`` = vertices (closed, even-odd fill), ``brush`` = a polyline
  swept by a disc of diameter ``width``.
* A pixel belongs to a region when its centre lies inside the shape.

Modules, bottom up: ``geometry`` (shapes, rasterisation, :class:`AnnotationError`), ``image``
(:class:`ImageRef`, :class:`Alignment`), ``document`` (:class:`Region`, the undoable
:class:`AnnotationDocument`), ``fileformat`` (JSON, save/load, import/export, finding an image's
file), ``autosave`` (autosave, recovery) and ``summary`` (CSV). Everything is importable from
this package, as before the split.
"""


from __future__ import annotations

from .autosave import (
    Autosaver,
    Recovery,
    find_recovery,
    list_untitled_recoveries,
    untitled_autosave_path,
    write_autosave,
)
from .document import (
    AnnotationDocument,
    Change,
    DocumentEvent,
    Region,
    to_original,
)
from .fileformat import (
    AUTOSAVE_SUFFIX,
    FILE_SUFFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    autosave_path,
    default_path_for,
    discard_autosave,
    dumps,
    export_document,
    find_for_image,
    from_json_dict,
    import_document,
    load_document,
    loads,
    save_document,
    to_json_dict,
)
from .geometry import (
    KINDS,
    SPACES,
    AnnotationError,
    Geometry,
    outlines,
    utc_now,
)
from .image import (
    Alignment,
    ImageRef,
    sha256_file,
    sha256_pixels,
)
from .summary import (
    CSV_COLUMNS,
    csv_safe,
    export_csv,
    summary_csv,
    summary_rows,
    write_csv_rows,
)

__all__ = [
    "AUTOSAVE_SUFFIX",
    "CSV_COLUMNS",
    "FILE_SUFFIX",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "SPACES",
    "Alignment",
    "AnnotationDocument",
    "AnnotationError",
    "Autosaver",
    "Change",
    "DocumentEvent",
    "Geometry",
    "ImageRef",
    "Recovery",
    "Region",
    "autosave_path",
    "csv_safe",
    "default_path_for",
    "discard_autosave",
    "dumps",
    "export_csv",
    "export_document",
    "find_for_image",
    "find_recovery",
    "from_json_dict",
    "import_document",
    "list_untitled_recoveries",
    "load_document",
    "loads",
    "outlines",
    "save_document",
    "sha256_file",
    "sha256_pixels",
    "summary_csv",
    "summary_rows",
    "to_json_dict",
    "to_original",
    "untitled_autosave_path",
    "utc_now",
    "write_autosave",
    "write_csv_rows",
]
