"""gmxai-desktop GUI (PySide6 + pyqtgraph): renders state and sends intents; the core does the work.

Layout of the package (one purpose per module):

``app``              entry point and command line (``gmxai-desktop``).
``qtenv``            process set-up that must happen before Qt starts (OpenCV's plugin path).
``state``            Qt-free view state: selection, overlay settings, job keys, panel specs.
``controller``       owns state, models, caches and the worker; turns intents into jobs; drops
                     results whose key is no longer wanted. ``controller_models`` (models,
                     folders) and ``controller_compute`` (keys, scheduling) are its mixins;
                     ``controller_jobs`` the Qt-free job functions and data types.
``worker``           one background thread running core jobs by priority, with cancellation.
``cache``            byte-bounded LRU for prepared images and maps.
``display``          numpy: raw maps -> coloured RGBA via ``core.render``; difference normalisations.
``panels``           synchronised pyqtgraph panels (linked zoom, crosshair, colour bars).
``browser``          lazy thumbnail browser with per-image status and filter.
``method_panel``     method list and parameter editors generated from ``Param`` specs.
``target_selector``, ``overlay_controls``, ``difference_view``, ``model_dialog``, ``settings``,
``help_text``; ``doc_screenshots`` regenerates the README screenshots.
``main_window``      the frame and its extension points; ``window_docks``, ``window_menus`` and
                     ``window_results`` (controller -> view) are its mixins.
``annotations/``     annotation layer, items, toolbar, file store, menus; ``annotations_integration``
                     installs them. ``figure_dialog`` (+ ``figure_dialog_ui``) exports figures.

Extension points for features: see ``MainWindow`` (``add_tab``, ``show_tab``, ``menu``, ``add_action``,
``add_dock``, ``add_panel_overlay``, ``difference_view``, ``notify``, ``restore_dock_layout``,
``settings``, ``controller``) and docs/ARCHITECTURE.md. Graphics items go on a panel with
``panel.add_item(item)`` in map-pixel coordinates, so one annotation marks the same pixel on every
synced panel. ``controller`` exposes ``state``, ``adapter`` / ``compare_adapter``, ``current``
(panel id -> AttributionResult), ``prepared_cache`` and the signals ``image_changed``, ``prepared``,
``panel_result``, ``overlay_changed``. Long work goes through ``controller.worker``: ``submit(key,
fn, priority)`` for jobs a view tracks by key, or a ``WorkerCalls(worker)`` for one-off jobs with
callbacks; either way it is off the GUI thread, cancellable and reports errors as one line.
"""
