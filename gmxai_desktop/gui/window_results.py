"""Controller -> view: how the main window shows models, images, maps, progress and errors.

A mixin of :class:`~gmxai_desktop.gui.main_window.MainWindow`. Every handler only renders controller
state (the window never computes); ``_render_overlays`` turns raw maps into coloured overlays.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from ..core.base.errors import GmxaiError
from .controller import COMPARE, PRIMARY, PreparedEntry
from .difference_view import CMP_PREFIX
from .display import render_overlay
from .state import PanelSpec
from .theme import status_color

PANEL_STATE_PENDING, PANEL_STATE_DONE, PANEL_STATE_FAILED = "pending", "done", "failed"


class WindowResults:
    """Slots for the controller's signals; they update the panels, labels, progress and tabs."""

    # ---- controller -> view -------------------------------------------------------------------
    def _on_model_loading(self, role: str, label: str) -> None:
        if role == PRIMARY:
            self.model_label.setText(f"loading {html.escape(label)}…")
        self.timing_label.setText(f"loading {label}…")

    def _on_model_loaded(self, role: str, adapter: Any) -> None:
        from ..core.base.device import describe_device

        if role == COMPARE:
            self._update_diff_sources()
            req = self.controller.requests[COMPARE]
            name = req.label() if req is not None else ""
            self.timing_label.setText(
                f"comparison model {name} loaded" if adapter else "comparison model removed"
            )
            return
        req = self.controller.requests[PRIMARY]
        self._show_model_label(adapter)
        self.device_label.setText(f"device: {describe_device(adapter.device)}")
        self.target.set_classes(list(adapter.class_names))
        self.target.set_target(self.controller.state.target)
        if req is not None and not req.spec.startswith("demo"):
            self.settings.add_recent_model(
                {
                    "spec": req.spec,
                    "arch": req.arch,
                    "classes": req.classes,
                    "device": req.device,
                    "trust_pickle": req.trust_pickle,
                }
            )
        elif req is not None:
            self.settings.add_recent_model({"spec": req.spec})

    def _show_model_label(self, adapter: Any) -> None:
        if adapter is None:
            self.model_label.setText("no model")
            self.model_label.setToolTip("")
            return
        req = self.controller.requests[PRIMARY]
        label = req.label() if req else adapter.model_id
        self.model_label.setText(
            f"{html.escape(label)}<br><small>{html.escape(adapter.arch)}, "
            f"{adapter.num_classes} classes</small>"
        )
        self.model_label.setToolTip(adapter.model_id)

    def _on_model_failed(self, role: str, message: str) -> None:
        what = "the comparison model" if role == COMPARE else "the model"
        if role == PRIMARY:
            self._show_model_label(self.controller.adapter)  # the previous model stays in use
        self.timing_label.setText(f"could not open {what}")
        self.show_error(f"Cannot open {what}", message)

    def _on_folder_loaded(self, paths: list, labels: dict) -> None:
        self.browser.set_images(paths, labels)
        if paths:
            self.browser.select_row(0)
        else:
            self.grid.face_panel.set_title("<b>Face</b><br>this folder has no supported images")

    def _on_timing(self, what: str, seconds: float) -> None:
        self._timings[what] = seconds
        parts = []
        if "prepare" in self._timings:
            parts.append(f"face prepared in {self._timings['prepare']:.2f} s")
        for name, secs in self._timings.items():
            if name != "prepare" and name in self.controller.state.methods:
                cls = self._method_classes.get(name)
                parts.append(f"{cls.label if cls else name} {secs:.2f} s")
        self.timing_label.setText(" · ".join(parts))

    def _on_image_changed(self, path: Path | None) -> None:
        self._timings = {}
        self.timing_label.setText("")
        self._entry = None
        self.grid.set_face(None, None)
        for panel in self.grid.map_panels():
            panel.set_map(None)
        self.diff.clear_maps()
        name = html.escape(path.name) if path else ""
        self.grid.face_panel.set_title(f"<b>{name}</b><br>preparing…")
        self.grid.face_panel.set_message("")
        self.prediction_label.setText("…")
        self.alignment_label.setText("…")
        self.setWindowTitle(f"gmxai-desktop — {path.name}" if path else "gmxai-desktop")
        if path is not None and self.browser.current_path() != path:
            self.browser.select_path(path)

    def _on_prepared(self, path: Path, entry: PreparedEntry) -> None:
        self._entry = entry
        self._show_face(entry)
        top = getattr(entry.prediction, "top", [])
        rows = [f"{i + 1}. {html.escape(str(name))} — {prob:.0%}" for i, (_idx, name, prob) in enumerate(top)]
        label = self.controller.labels.get(path)
        if label:
            rows.append(f"<i>label: {html.escape(label)}</i>")
        self.prediction_label.setText("<br>".join(rows) or "—")
        color = status_color("ok" if entry.aligned else "warn", self.palette())
        self.alignment_label.setText(
            f"<span style='color:{color}'>{html.escape(entry.alignment_message)}</span>"
        )
        face_state = "aligned" if entry.aligned else "NOT aligned"
        self.grid.face_panel.set_title(
            f"<b>{html.escape(path.name)}</b><br>{face_state} · "
            f"predicted {html.escape(str(top[0][1]))} ({top[0][2]:.0%})"
            if top
            else f"<b>{html.escape(path.name)}</b>",
            entry.alignment_message,
        )
        self._update_diff_sources()

    def _show_face(self, entry: PreparedEntry) -> None:
        rgb = entry.display if self._use_model_view else entry.face_view
        self.grid.set_face(rgb, entry.grid_size)
        self.diff.set_face(rgb, entry.grid_size)
        self._schedule_overlays()

    def _on_prepare_failed(self, path: Path, message: str) -> None:
        self.grid.face_panel.set_title(f"<b>{html.escape(path.name)}</b><br>cannot be used", message)
        self.grid.face_panel.set_message("")
        self.prediction_label.setText("—")
        color = status_color("error", self.palette())
        self.alignment_label.setText(f"<span style='color:{color}'>{html.escape(message)}</span>")
        self.timing_label.setText(message)

    def _on_panels_changed(self, specs: list[PanelSpec]) -> None:
        self.grid.set_panel_ids([s.panel_id for s in specs])
        self._specs = {s.panel_id: s for s in specs}
        self._panel_state = {
            s.panel_id: self._panel_state.get(s.panel_id, PANEL_STATE_PENDING) for s in specs
        }
        for spec in specs:
            panel = self.grid.panel(spec.panel_id)
            if panel is not None and panel.result is None:
                panel.set_title(self._pending_title(spec))
        for name, act in self.method_actions.items():
            act.blockSignals(True)
            act.setChecked(name in self.controller.state.methods)
            act.blockSignals(False)
        self.methods.set_checked(self.controller.state.methods)
        self._update_diff_sources()
        self._schedule_overlays()

    def _method_label(self, spec: PanelSpec) -> str:
        cls = self._method_classes.get(spec.method)
        label = cls.label if cls else spec.method
        k = self.controller.state.target
        return f"{label} · #{spec.rank + 1}" if k.startswith("top:") else label

    def _pending_title(self, spec: PanelSpec) -> str:
        return f"<b>{html.escape(self._method_label(spec))}</b><br>waiting…"

    def _on_panel_pending(self, pid: str) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        self._panel_state[pid] = PANEL_STATE_PENDING
        panel.set_map(None)
        panel.set_title(self._pending_title(spec))
        panel.set_message("waiting…")
        panel.set_progress(0.0)
        self.diff.set_map(pid, None)

    def _on_panel_progress(self, pid: str, fraction: float, message: str) -> None:
        panel = self.grid.panel(pid)
        if panel is not None and panel.result is None:
            panel.set_progress(fraction)
            panel.set_message(f"computing… {fraction:.0%}")

    def _on_panel_result(self, pid: str, res: Any) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        if not np.all(np.isfinite(res.map)):
            self._on_panel_failed(
                pid,
                "the method produced invalid numbers (NaN or infinite values) for this "
                "image; try another method or check the checkpoint",
            )
            return
        self._panel_state[pid] = PANEL_STATE_DONE
        panel.set_map(res.map, res)
        panel.set_progress(None)
        panel.set_message("")
        params = ", ".join(f"{k}={v}" for k, v in res.params.items()) or "defaults"
        panel.set_title(
            f"<b>{html.escape(self._method_label(spec))}</b><br>"
            f"{html.escape(res.target_name)} · p = {res.probability:.2f}",
            f"target: {res.target_name} (class {res.target})\nlogit {res.logit:.3f}, probability "
            f"{res.probability:.3f}\nparameters: {params}\nchannels: {res.reduction}\n"
            f"computed in {res.elapsed_s:.2f} s",
        )
        self.diff.set_map(pid, res)
        self._schedule_overlays()
        self._check_complete()

    def _on_panel_failed(self, pid: str, message: str) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        self._panel_state[pid] = PANEL_STATE_FAILED
        panel.set_map(None)
        panel.set_progress(None)
        panel.set_title(f"<b>{html.escape(self._method_label(spec))}</b><br>not available", message)
        panel.set_message(_wrap(message, 34))
        self._check_complete()

    def _on_compare_failed(self, method: str, message: str) -> None:
        self.diff.set_map(CMP_PREFIX + method, None)
        self.timing_label.setText(f"comparison model, {method}: {message}")

    def _on_overall_progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _on_params_changed(self, method: str, values: dict) -> None:
        try:
            self.controller.set_params(method, values)
        except GmxaiError as exc:
            self.methods.show_error(str(exc))

    def _check_complete(self) -> None:
        """Emit ``all_results_shown`` once every panel is final, after the overlays are drawn."""
        states = [self._panel_state.get(pid) for pid in self._specs]
        if (
            self._entry is not None
            and states
            and all(s in (PANEL_STATE_DONE, PANEL_STATE_FAILED) for s in states)
        ):
            if self._overlay_timer.isActive():
                self._overlay_timer.stop()
                self._render_overlays()
            self.all_results_shown.emit()

    def _update_diff_sources(self) -> None:
        primary = [(pid, self._method_label(spec)) for pid, spec in self._specs.items()]
        cmp_adapter = self.controller.compare_adapter
        compare: list[tuple[str, str]] = []
        cmp_label = ""
        if cmp_adapter is not None:
            req = self.controller.requests[COMPARE]
            cmp_label = req.label() if req else cmp_adapter.model_id
            compare = [
                (n, c.label) for n, c in self._method_classes.items() if n in self.controller.state.methods
            ]
        self.diff.set_sources(primary, compare, cmp_label)
        for pid, res in self.controller.current.items():
            self.diff.set_map(pid, res)

    # ---- overlays -----------------------------------------------------------------------------
    def _schedule_overlays(self) -> None:
        """Coalesce many result/settings events into one re-render on the next event-loop turn."""
        self._overlay_timer.start()

    def _render_overlays(self) -> None:
        ov = self.controller.state.overlay
        panels = [p for p in self.grid.map_panels() if p.raw_map is not None]
        face = self.grid.face_panel.face_rgb
        up = face.shape[:2] if face is not None else None
        try:
            displays = render_overlay([p.raw_map for p in panels], ov, up)
        except GmxaiError as exc:
            self.timing_label.setText(str(exc))
            return
        for panel, disp in zip(panels, displays, strict=True):
            panel.show_display(disp, ov.sign_mode)
        for panel in self.grid.map_panels():
            if panel.raw_map is None:
                panel.show_display(None, ov.sign_mode)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:6])

