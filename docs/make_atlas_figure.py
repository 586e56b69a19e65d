"""Draw docs/hpo_atlas.png: the facial region atlas on both templates and on real photos.

    python docs/make_atlas_figure.py [docs/hpo_atlas.png]

Panels: the two templates with their landmarks; scikit-image's astronaut and matplotlib's Grace
Hopper aligned to arcface112 with the project's pipeline (RetinaFace + similarity warp); a demo
face; and the astronaut's original photo with the atlas mapped back through the stored affine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _draw(ax, img, outlines, labels, points=None) -> None:
    from gmxai_desktop.core.phenotype.atlas import REGION_COLORS, REGION_SHORT

    ax.imshow(img, interpolation="bilinear")
    for region, polys in outlines.items():
        colour = np.array(REGION_COLORS[region]) / 255.0
        for poly in polys:
            closed = np.vstack([poly, poly[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=1.2)
        if region in labels:
            ax.text(*labels[region], REGION_SHORT[region], color=colour, fontsize=6, ha="center", va="center",
                    bbox={"facecolor": "white", "alpha": 0.6, "pad": 0.5, "edgecolor": "none"})
    if points is not None:
        ax.plot(points[:, 0], points[:, 1], "w+", ms=6, mew=1.5)
    ax.set_axis_off()


def main(argv: list[str]) -> int:
    import skimage.data
    from matplotlib import cbook
    from matplotlib.figure import Figure
    from PIL import Image

    from gmxai_desktop.core.base.resources import resources_dir
    from gmxai_desktop.core.inputs.face import get_template, prepare_face
    from gmxai_desktop.core.output.figure import save_figure
    from gmxai_desktop.core.phenotype.atlas import get_atlas

    out = Path(argv[0]) if argv else Path(__file__).with_name("hpo_atlas.png")
    arc, v1 = get_atlas("arcface112"), get_atlas("gm-v1")
    astronaut = skimage.data.astronaut()
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    demo = np.asarray(Image.open(resources_dir() / "demo" / "images" / "unaffected" / "unaffected_0000.png")
                      .convert("RGB"))
    fig = Figure(figsize=(12, 4.6), dpi=150)
    axes = fig.subplots(2, 4, gridspec_kw={"height_ratios": [1, 1]})
    blank = {a.template: np.full((a.size[1], a.size[0], 3), 235, np.uint8) for a in (arc, v1)}
    for ax, atlas in zip(axes[0, :2], (arc, v1), strict=True):
        _draw(ax, blank[atlas.template], atlas.outlines(), atlas.label_points(),
              get_template(atlas.template).points)
        ax.set_title(f"{atlas.template} template ({atlas.size[0]}x{atlas.size[1]})", fontsize=8)
    faces = []
    photos = (("astronaut", astronaut), ("Grace Hopper", hopper))
    for ax, (name, img) in zip(axes[0, 2:], photos, strict=True):
        face = prepare_face(img, "arcface112", align="detect")
        faces.append(face)
        _draw(ax, face.image, arc.outlines(), arc.label_points())
        ax.set_title(f"{name}, aligned to arcface112", fontsize=8)
    _draw(axes[1, 0], demo, arc.outlines(), arc.label_points())
    axes[1, 0].set_title("demo face (arcface112 layout)", fontsize=8)
    lab = arc.label_map()
    from gmxai_desktop.core.phenotype.atlas import REGION_COLORS, REGIONS

    colours = np.array([REGION_COLORS[r] for r in REGIONS], dtype=np.float64)
    tint = demo.astype(np.float64)
    tint[lab >= 0] = 0.45 * tint[lab >= 0] + 0.55 * colours[lab[lab >= 0]]
    axes[1, 1].imshow(tint.astype(np.uint8))
    axes[1, 1].set_axis_off()
    axes[1, 1].set_title("rasterised regions (pixel-centre rule)", fontsize=8)
    orig = astronaut
    _draw(axes[1, 2], orig, arc.outlines_in_original(faces[0].matrix), {}, faces[0].landmarks)
    x0, y0 = faces[0].landmarks.min(0) - 90
    axes[1, 2].set_xlim(x0, x0 + 240)
    axes[1, 2].set_ylim(y0 + 240, y0)
    axes[1, 2].set_title("astronaut original, atlas via the stored affine", fontsize=8)
    axes[1, 3].set_axis_off()
    axes[1, 3].text(0, 0.5, "Face frame: origin between the eyes,\nunit = inter-eye distance d.\n"
                    "Levels from the 5 landmarks and\nthe neoclassical facial thirds\n"
                    "(docs/hpo_regions.md).", fontsize=8, va="center")
    fig.tight_layout()
    save_figure(fig, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
