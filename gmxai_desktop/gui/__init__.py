"""gmxai-desktop GUI (PySide6 + pyqtgraph): renders state and sends intents; the core does the work.

Layout of the package (one purpose per module):

``app``              entry point and command line (``gmxai-desktop``).
``qtenv``            process set-up that must happen before Qt starts (OpenCV's plugin path).
``state``            Qt-free view state: selection, overlay settings, job keys, panel specs.
``controller``       owns state, models, caches and the worker; turns intents into jobs; drops
                     results whose key is no longer wanted.
``worker``           one background thread running core jobs by priority, with cancellation.
``cache``            byte-bounded LRU for prepared images and maps.
``display``          numpy: raw maps -> coloured RGBA via ``core.render``; difference normalisations.
``panels``           synchronised pyqtgraph panels (linked zoom, crosshair, colour bars).
``browser``          lazy thumbnail browser with per-image status and filter.
``method_panel``     method list and parameter editors generated from ``Param`` specs.
``target_selector``, ``overlay_controls``, ``difference_view``, ``model_dialog``, ``settings``,
``help_text``, ``main_window``; ``doc_screenshots`` regenerates the README screenshots.

Extension points for features built on top (composites, annotations, figure export):

* ``MainWindow.add_tab(widget, title)``: a new page in the central tab widget.
* ``MainWindow.menu(name)`` / ``MainWindow.add_dock(widget, title, area)``.
* ``MainWindow.grid.add_overlay_factory(fn)``: ``fn(panel)`` runs for every current and future
  panel; add graphics items in map-pixel coordinates with ``panel.add_item(item)``, so one
  annotation marks the same pixel on every synced panel.
* ``MainWindow.diff.panels()``: the difference view's A, B and A − B panels (same panel API).
* ``MainWindow.controller``: ``state`` (current image, methods, params, target, overlay),
  ``adapter`` / ``compare_adapter``, ``current`` (panel id -> AttributionResult),
  ``prepared_cache`` and the signals ``image_changed``, ``prepared``, ``panel_result``,
  ``overlay_changed``. Run new long computations through ``controller.worker.submit(key, fn,
  priority)`` so they stay off the GUI thread and are cancellable.
"""
