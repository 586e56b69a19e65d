"""Difference view: pick two maps, show A − B after a unit-free normalisation, and how much they agree.

Different methods have different units (logit × pixel for Integrated Gradients, activation units
for Grad-CAM), so A and B are each normalised first; the choice is explicit because it changes
the picture. The agreement numbers (Spearman rank correlation, overlap of the top-k% pixels) do
not depend on that choice (both are invariant to monotone rescaling) but do depend on the sign
mode, which says which part of each map is compared.

Sources are the panels of the main grid and, when a comparison model is loaded (e.g. the bundled
``demo-imbalanced``), the same methods on that model, explaining the same class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .display import DIFF_NORMALISATION_LABELS, DIFF_NORMALISATIONS, apply_sign, difference, render_overlay
from .panels import ImagePanel, ReflowBox
from .state import SIGN_MODE_LABELS, SIGN_MODES, OverlaySettings
from .widgets import combo_box


@dataclass(frozen=True)
class DifferenceChoice:
    """What the Difference tab compares now: source ids and labels of A and B, normalisation, sign."""

    a: Any
    b: Any
    label_a: str
    label_b: str
    norm: str
    sign: str

CMP_PREFIX = "cmp:"


def agreement(a: np.ndarray, b: np.ndarray, sign: str, percent: float) -> tuple[float, float]:
    """(Spearman rank correlation, top-``percent``% pixel overlap) of the sign-selected maps."""
    from ..core.analysis.metrics import spearman_rank_correlation, topk_overlap

    va, vb = apply_sign(a, sign), apply_sign(b, sign)
    return float(spearman_rank_correlation(va, vb)), float(topk_overlap(va, vb, percent / 100.0))


def describe_result(res: Any) -> str:
    return f"{res.target_name} (p = {res.probability:.2f})"


class DifferenceView(QWidget):
    """Controls on top; A, B and A − B panels (linked, with a shared crosshair); summary beside."""

    compare_methods_wanted = Signal(list)  # methods needed on the comparison model
    load_compare_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._sources: dict[str, str] = {}  # source id -> label
        self._maps: dict[str, Any] = {}  # source id -> AttributionResult
        self._face: np.ndarray | None = None
        self._grid: tuple[int, int] | None = None
        self._overlay = OverlaySettings()
        self._compare_label = ""
        self._compare_methods: list[str] = []
        self._dirty = True

        outer = QVBoxLayout(self)
        controls = QHBoxLayout()
        form_a = QFormLayout()
        self.a = combo_box(name="diff-a", tip="First map (A)")
        self.b = combo_box(
            name="diff-b", tip="Second map (B): another method, or the same method on the comparison model"
        )
        form_a.addRow("A", self.a)
        form_a.addRow("B", self.b)
        controls.addLayout(form_a, 2)
        form_b = QFormLayout()
        self.norm = combo_box(
            ((k, DIFF_NORMALISATION_LABELS[k]) for k in DIFF_NORMALISATIONS),
            name="diff-norm", tip="How each map is put on a common scale before subtracting",
        )
        self.sign = combo_box(
            ((k, SIGN_MODE_LABELS[k]) for k in SIGN_MODES), name="diff-sign",
            tip="Which part of each map is compared",
        )
        form_b.addRow("Normalise", self.norm)
        form_b.addRow("Compare", self.sign)
        controls.addLayout(form_b, 2)
        form_c = QFormLayout()
        self.percent = QDoubleSpinBox()
        self.percent.setRange(1.0, 50.0)
        self.percent.setValue(10.0)
        self.percent.setSuffix(" %")
        self.percent.setToolTip(
            "Overlap is measured between the strongest pixels of A and B, this share of each"
        )
        form_c.addRow("Top pixels", self.percent)
        self.load_button = QPushButton("Load comparison model…")
        self.load_button.setToolTip(
            "Open a second model (for example the bundled demo-imbalanced) to compare the same method\n"
            "on two models"
        )
        self.load_button.clicked.connect(self.load_compare_requested)
        form_c.addRow(self.load_button)
        controls.addLayout(form_c, 1)
        outer.addLayout(controls)

        self.panel_a = ImagePanel("diff-a")
        self.panel_b = ImagePanel("diff-b")
        self.panel_d = ImagePanel("diff-a-minus-b")
        for panel in (self.panel_b, self.panel_d):
            panel.view_box.setXLink(self.panel_a.view_box)
            panel.view_box.setYLink(self.panel_a.view_box)
        for panel in (self.panel_a, self.panel_b, self.panel_d):
            panel.hovered.connect(self._on_hover)
        self.summary = QLabel()
        self.summary.setObjectName("diff-summary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setMinimumWidth(160)
        self.summary.setMargin(6)
        self.body = ReflowBox([self.panel_a, self.panel_b, self.panel_d, self.summary])
        outer.addWidget(self.body, 1)

        for combo in (self.a, self.b, self.norm, self.sign):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        for box in (self.a, self.b):
            box.currentIndexChanged.connect(self._on_choice)
        self.norm.currentIndexChanged.connect(self.refresh)
        self.sign.currentIndexChanged.connect(self.refresh)
        self.percent.valueChanged.connect(self.refresh)
        self.last_values: dict[str, float] = {}
        self.refresh()

    def panels(self) -> list[ImagePanel]:
        """The A, B and A − B panels (annotation tools attach to these like to the grid's)."""
        return [self.panel_a, self.panel_b, self.panel_d]

    # ---- inputs from the window ---------------------------------------------------------------
    def choice(self) -> DifferenceChoice:
        """The current A/B/normalisation/sign choice, for features that reproduce the view (figures)."""
        return DifferenceChoice(
            self.a.currentData(), self.b.currentData(), self.a.currentText(), self.b.currentText(),
            self.norm.currentData(), self.sign.currentData(),
        )

    def set_sources(
        self, primary: list[tuple[str, str]], compare_methods: list[tuple[str, str]], compare_label: str
    ) -> None:
        """Primary panels (id, label) and comparison-model methods (name, label) to choose from."""
        self._compare_label = compare_label
        sources = dict(primary)
        for name, label in compare_methods:
            sources[CMP_PREFIX + name] = f"{label} — {compare_label}"
        if sources == self._sources:
            return
        self._sources = sources
        for box, default in ((self.a, 0), (self.b, 1)):
            current = box.currentData()
            box.blockSignals(True)
            box.clear()
            for sid, label in sources.items():
                box.addItem(label, sid)
            idx = box.findData(current)
            box.setCurrentIndex(idx if idx >= 0 else min(default, box.count() - 1))
            box.blockSignals(False)
        self._on_choice()

    def select(self, a: str, b: str) -> None:
        for box, sid in ((self.a, a), (self.b, b)):
            idx = box.findData(sid)
            if idx >= 0:
                box.setCurrentIndex(idx)

    def set_map(self, source_id: str, result: Any | None) -> None:
        if result is None:
            self._maps.pop(source_id, None)
        else:
            self._maps[source_id] = result
        if source_id in (self.a.currentData(), self.b.currentData()):
            self.refresh()

    def clear_maps(self) -> None:
        self._maps.clear()
        self.refresh()

    def set_face(self, rgb: np.ndarray | None, grid: tuple[int, int] | None) -> None:
        self._face, self._grid = rgb, grid
        for panel in (self.panel_a, self.panel_b, self.panel_d):
            panel.set_face(rgb, grid)
        self.refresh()

    def set_overlay(self, overlay: OverlaySettings) -> None:
        self._overlay = overlay
        self.refresh()

    def wanted_compare_methods(self) -> list[str]:
        out = []
        for sid in (self.a.currentData(), self.b.currentData()):
            if isinstance(sid, str) and sid.startswith(CMP_PREFIX):
                out.append(sid[len(CMP_PREFIX) :])
        return list(dict.fromkeys(out))

    # ---- rendering ----------------------------------------------------------------------------
    def _on_choice(self, *_args: object) -> None:
        wanted = self.wanted_compare_methods()
        if wanted != self._compare_methods:
            self._compare_methods = wanted
            self.compare_methods_wanted.emit(wanted)
        self.refresh()

    def _on_hover(self, pos: tuple[float, float] | None) -> None:
        pixel = None
        if pos is not None and self._grid is not None:
            ix, iy = int(np.floor(pos[0])), int(np.floor(pos[1]))
            if 0 <= ix < self._grid[1] and 0 <= iy < self._grid[0]:
                pixel = (ix, iy)
        for panel in (self.panel_a, self.panel_b, self.panel_d):
            panel.show_crosshair(pixel)

    def showEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._dirty:
            self.refresh()
        QTimer.singleShot(0, self.reset_zoom)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        QTimer.singleShot(0, self.reset_zoom)

    def reset_zoom(self) -> None:
        if self._grid is not None:
            self.panel_a.view_box.autoRange(padding=0.01)

    def refresh(self, *_args: object) -> None:
        """Redraw; deferred while the tab is hidden (nothing is computed for an unseen view)."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        sid_a, sid_b = self.a.currentData(), self.b.currentData()
        res_a, res_b = self._maps.get(sid_a), self._maps.get(sid_b)
        label_a, label_b = self._sources.get(sid_a, "—"), self._sources.get(sid_b, "—")
        self.panel_a.set_title(f"<b>A</b>: {label_a}" + (f"<br>{describe_result(res_a)}" if res_a else ""))
        self.panel_b.set_title(f"<b>B</b>: {label_b}" + (f"<br>{describe_result(res_b)}" if res_b else ""))
        self.panel_d.set_title("<b>A − B</b><br>red: A stronger, blue: B stronger")
        self.last_values = {}
        for panel in (self.panel_a, self.panel_b, self.panel_d):
            panel.set_map(None)
            panel.show_display(None, "signed")
        if not self._sources:
            self._summary("Open a model and an image folder, then pick two maps to compare.")
            return
        missing = [lab for sid, lab, res in ((sid_a, label_a, res_a), (sid_b, label_b, res_b)) if res is None]
        if missing:
            for panel, res in ((self.panel_a, res_a), (self.panel_b, res_b)):
                panel.set_message("" if res is not None else "computing…")
            self.panel_d.set_message("")
            self._summary("Waiting for: " + ", ".join(missing))
            return
        for panel in (self.panel_a, self.panel_b, self.panel_d):
            panel.set_message("")
        if res_a.map.shape != res_b.map.shape:
            self._summary(
                f"A is {res_a.map.shape[1]}×{res_a.map.shape[0]} pixels and B is "
                f"{res_b.map.shape[1]}×{res_b.map.shape[0]}: the models use different input sizes, so "
                "pixel-by-pixel differences are not defined."
            )
            return
        how, sign = self.norm.currentData(), self.sign.currentData()
        diff, na, nb = difference(res_a.map, res_b.map, how, sign)
        ov = self._overlay
        shown_sign = "signed" if sign == "signed" else "positive"
        cmap_ab = ov.diverging_cmap if shown_sign == "signed" else ov.sequential_cmap
        up = self._face.shape[:2] if self._face is not None else None
        disp_ab = render_overlay([na, nb], ov, up, sign=shown_sign, cmap=cmap_ab, shared=True)
        disp_d = render_overlay([diff], ov, up, sign="signed", cmap=ov.diverging_cmap, shared=False)
        for panel, raw, disp, s in (
            (self.panel_a, na, disp_ab[0], shown_sign),
            (self.panel_b, nb, disp_ab[1], shown_sign),
            (self.panel_d, diff, disp_d[0], "signed"),
        ):
            panel.set_map(raw)
            panel.show_display(disp, s)
        pct = float(self.percent.value())
        rho, overlap = agreement(res_a.map, res_b.map, sign, pct)
        self.last_values = {"spearman": rho, "topk_overlap": overlap, "percent": pct}
        same_target = res_a.target_name == res_b.target_name
        rho_text = "not defined (a map is constant)" if math.isnan(rho) else f"{rho:+.3f}"
        lines = [
            "<h3>Agreement</h3>",
            f"<p><b>Rank correlation</b> (Spearman ρ): <b>{rho_text}</b><br>"
            "<small>+1: same pixel ordering, 0: unrelated, −1: opposite</small></p>",
            f"<p><b>Top {pct:g}% overlap</b>: <b>{overlap:.0%}</b><br>"
            f"<small>share of A's strongest {pct:g}% pixels that are also among B's</small></p>",
            f"<p><small>Compared: {SIGN_MODE_LABELS[sign].lower()}; normalised by "
            f"{DIFF_NORMALISATION_LABELS[how].lower()}.</small></p>",
        ]
        if not same_target:
            lines.append(
                f"<p><b>Note:</b> A explains <i>{res_a.target_name}</i> and B explains "
                f"<i>{res_b.target_name}</i>.</p>"
            )
        self._summary("".join(lines))

    def _summary(self, html: str) -> None:
        self.summary.setText(html)
