"""GestaltMatcher-Arc in the app: the Model dock, ensemble matching, similarity targets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from arc_fixtures import make_arc_files  # noqa: E402
from gui_helpers import wait_idle  # noqa: E402
from PIL import Image  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def arc_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("arcgui")
    a = make_arc_files(root / "a", seed=0)
    ens = root / "saved_models"
    ens.mkdir()
    shutil.copy(
        a["pth_new"], ens / "s1_glint360k_r50_512d_gmdb__v1.0.3_bs64_size112_channels3_last_model.pth"
    )
    shutil.copy(a["onnx"], ens / "glint360k_r100.onnx")
    images = root / "images"
    rng = np.random.default_rng(11)
    for i in range(5):
        folder = images / f"syn{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(folder / f"f{i}.png")
    return {"ens": ens, "images": images}


def test_ensemble_in_the_app(qtbot, arc_data, make_window) -> None:
    from gmxai_desktop.core.analysis.similarity import rank_by_distance
    from gmxai_desktop.core.analysis.variants import (
        embed_variant_gallery,
        mean_cosine_distance,
        variants_for,
    )
    from gmxai_desktop.gui.arc_integration import install_arc
    from gmxai_desktop.gui.controller import ModelRequest
    from gmxai_desktop.gui.syndrome_integration import install_syndrome_views

    win = make_window(methods=["saliency"])
    views = install_syndrome_views(win)
    panel = install_arc(win)
    assert install_arc(win) is panel
    win.controller.set_align("none")
    with qtbot.waitSignal(win.controller.model_loaded, timeout=120_000):
        win.controller.open_model(ModelRequest(str(arc_data["ens"])))
    text = panel.info.text()
    assert "gestaltmatcher-arc" in text and "m0, m2" in text and "No code from the file was run" in text
    assert "Classes: 7 · embedding: 512-d" in text
    win.open_folder(arc_data["images"])
    wait_idle(qtbot, win, 120_000)
    sv = views.similarity
    with qtbot.waitSignal(sv.ranked, timeout=180_000):
        win.tabs.setCurrentWidget(sv)
    c = win.controller
    variants = variants_for(c.adapter)
    assert len(variants) == 8  # 2 members x flip x gray
    vg = embed_variant_gallery(variants, {p: c.labels.get(p) for p in c.paths}, align="none")
    row = [p.resolve() for p in vg.paths].index(c.state.image.resolve())
    want = rank_by_distance(
        mean_cosine_distance(vg.embeddings[row], vg.embeddings), vg.paths, vg.labels, top=10, exclude=(row,)
    )
    assert [m.path for m in sv.matches] == [m.path for m in want]
    assert [m.distance for m in sv.matches] == pytest.approx([m.distance for m in want], abs=1e-5)
    assert "distance" in sv.list.item(0).text()

    # Similarity targets: the current image, then a syndrome centroid from the embedded gallery.
    targets = [panel.target.itemText(i) for i in range(panel.target.count())]
    assert "Similarity to the syn0 centroid" in targets
    panel.target.setCurrentIndex(1)
    with qtbot.waitSignal(c.model_loaded, timeout=60_000):
        panel.apply_target()
    assert c.adapter.extra.get("scores_are_similarities") and c.adapter.class_names[0].startswith(
        "similarity to"
    )
    panel.target.setCurrentIndex(targets.index("Similarity to the syn0 centroid"))
    panel.apply_target()
    assert c.adapter.class_names == ["similarity to the syn0 centroid"]
    wait_idle(qtbot, win, 120_000)
    panel.target.setCurrentIndex(0)
    panel.apply_target()
    assert c.adapter.num_classes == 7
