"""Clinician annotations in the GUI: regions drawn on every synchronised panel.

``shapes`` (tools, coordinate frame, path helpers) <- ``items`` (graphics items of one panel)
<- ``panel_view`` (one panel's regions and gestures) <- ``layer`` (one document, many views; the
only place gestures become document edits) <- ``toolbar``. ``store`` (where files live),
``documents`` (open, recover, save, autosave) and ``feature_menus`` are parts of the feature that
wires these into the main window, which lives in :mod:`gmxai_desktop.gui.annotations_integration`;
other modules import the public names from :mod:`gmxai_desktop.gui.annotation_layer`.
"""
