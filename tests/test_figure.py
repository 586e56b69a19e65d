"""Publication figure export (core/figure.py) and ``gmxai figure`` (cli/cmd_figure.py).

Each format is opened and checked for the expected panels: PNG through PIL (pixel size follows the
DPI), SVG as XML (panel, title, colour-bar and annotation groups), PDF by a minimal parse (pages,
images, no identifying metadata), and through pdftoppm when it is installed. Privacy: no file
name, path, EXIF or matplotlib identification in any output unless asked.
"""

from __future__ import annotations

import io
import re
import subprocess
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from gmxai_desktop.core.annotations import (
    Alignment,
    AnnotationDocument,
    Geometry,
    ImageRef,
    save_document,
    sha256_file,
)
from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.output.figure import (
    AnnotationShape,
    FigureSpec,
    PanelSpec,
    figure_bytes,
    figure_to_rgb,
    render_figure,
    save_figure,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
SECRET = "Jane_Doe_1970"


def synthetic_face(h=100, w=100) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = 90 + 110 * np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (0.12 * h * w))
    img = np.repeat(base[:, :, None], 3, axis=2)
    for ex in (0.35, 0.65):  # two dark "eyes"
        img[(xx - ex * w) ** 2 + (yy - 0.42 * h) ** 2 < (0.05 * w) ** 2] = 30
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_map(h=100, w=100, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.exp(-((xx - 0.35 * w) ** 2 + (yy - 0.42 * h) ** 2) / 40.0)
    m -= 0.5 * np.exp(-((xx - 0.6 * w) ** 2 + (yy - 0.75 * h) ** 2) / 80.0)
    return (m + 0.01 * rng.standard_normal((h, w))).astype(np.float32)


def example_spec(**kw) -> FigureSpec:
    face = synthetic_face()
    shapes = [
        AnnotationShape(Geometry.ellipse(35, 42, 9, 6), (100.0, 100.0), "Hypertelorism"),
        AnnotationShape(Geometry.brush([(45, 75), (60, 80), (75, 75)], 5.0), (100.0, 100.0), "Thin lip"),
    ]
    panels = [
        PanelSpec("image", image=face, title="Model input", annotations=shapes),
        PanelSpec(
            "overlay", image=face, map=synthetic_map(), title="Integrated Gradients", annotations=shapes
        ),
        PanelSpec("map", map=np.abs(synthetic_map(seed=1)), title="Saliency", sign="absolute"),
        PanelSpec("difference", map=synthetic_map() - synthetic_map(seed=2), title="IG − SmoothGrad"),
        PanelSpec(
            "similarity", image=face, map=np.maximum(synthetic_map(), 0), title="Similarity", sign="positive"
        ),
    ]
    defaults = dict(panels=panels, cols=3, title="Syndrome A (p = 0.87)", footnote="synthetic", dpi=100)
    defaults.update(kw)
    return FigureSpec(**defaults)


def png_text_chunks(data: bytes) -> list[bytes]:
    pos, out = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return out


def pdf_streams(data: bytes) -> list[bytes]:
    """Decompressed content of every FlateDecode stream (enough to search a matplotlib PDF)."""
    out = []
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        try:
            out.append(zlib.decompress(data[m.end() : end]))
        except zlib.error:
            out.append(data[m.end() : end])
    return out


# --- PNG ------------------------------------------------------------------------------------------


def test_png_size_follows_dpi_and_has_no_metadata(tmp_path):
    spec = example_spec()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    save_figure(spec, a, dpi=100)
    save_figure(spec, b, dpi=250)
    with Image.open(a) as ia, Image.open(b) as ib:
        assert ia.info["dpi"][0] == pytest.approx(100, abs=0.05)
        assert ib.info["dpi"][0] == pytest.approx(250, abs=0.05)
        ratio_w = ib.size[0] / ia.size[0]
        ratio_h = ib.size[1] / ia.size[1]
        assert ratio_w == pytest.approx(2.5, rel=0.02) and ratio_h == pytest.approx(2.5, rel=0.02)
        # 3 columns of 1.7-inch panels: the figure is about 5.2 inches wide.
        assert 4.6 < ia.size[0] / 100 < 5.8
        assert not ib.getexif()
    data = b.read_bytes()
    assert set(png_text_chunks(data)) <= {b"IHDR", b"pHYs", b"IDAT", b"IEND"}
    assert b"matplotlib" not in data.lower()


def test_png_shows_the_panels(tmp_path):
    """The rendered pixels hold the colour maps: deep red (positive IG), inferno yellow, blue."""
    rgb = figure_to_rgb(example_spec(), dpi=80)
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    assert np.count_nonzero((r > 150) & (g < 60) & (b < 60)) > 20  # RdBu_r positive end
    assert np.count_nonzero((r > 200) & (g > 200) & (b < 120)) > 20  # inferno's top
    assert np.count_nonzero((b > 120) & (r < 60)) > 20  # RdBu_r negative end


# --- SVG ------------------------------------------------------------------------------------------


def svg_groups(root: ET.Element, prefix: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG_NS}g") if (g.get("id") or "").startswith(prefix)]


def test_svg_holds_every_panel_title_colorbar_and_annotation(tmp_path):
    spec = example_spec()
    path = save_figure(spec, tmp_path / "fig.svg")
    root = ET.parse(path).getroot()
    panels = svg_groups(root, "panel-")
    assert len(panels) == 5
    titles = {g.get("id"): "".join(g.itertext()).strip() for g in svg_groups(root, "title-")}
    assert titles == {
        "title-0": "Model input",
        "title-1": "Integrated Gradients",
        "title-2": "Saliency",
        "title-3": "IG − SmoothGrad",
        "title-4": "Similarity",
    }
    # Colour bars for the four map panels (not for the input image), with values as tick labels.
    cbars = svg_groups(root, "colorbar-")
    assert sorted(g.get("id") for g in cbars) == ["colorbar-1", "colorbar-2", "colorbar-3", "colorbar-4"]
    cbar_text = "".join(svg_groups(root, "colorbar-1")[0].itertext())
    assert "0" in cbar_text and "−" in cbar_text  # signed: negative, zero and positive ticks
    # Every panel embeds exactly one raster image.
    for g in panels:
        assert len(list(g.iter(f"{SVG_NS}image"))) == 1
    # Two regions outlined on the two annotated panels, with their labels.
    assert len(svg_groups(root, "annotation-0-")) == 2 and len(svg_groups(root, "annotation-1-")) == 2
    text = path.read_text(encoding="utf-8")
    assert "Hypertelorism" in text and "Syndrome A (p = 0.87)" in text
    # Fonts are consistent: one family everywhere.
    families = set(re.findall(r"font-family: *'?([^;']+)'?", text)) | set(
        re.findall(r'font-family="([^"]+)"', text)
    )
    assert families and all("DejaVu Sans" in f for f in families)


def test_svg_has_no_creator_or_date_metadata(tmp_path):
    text = figure_bytes(example_spec(), "svg").decode("utf-8")
    assert "<dc:date>" not in text and "<dc:creator>" not in text.replace(" ", "")
    assert "matplotlib.org" not in text.split("<defs>")[-1]


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_is_one_page_with_one_image_per_panel_and_no_metadata(tmp_path):
    path = save_figure(example_spec(), tmp_path / "fig.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    # One image per panel plus one per colour bar (matplotlib draws colour-bar gradients as images).
    assert len(re.findall(rb"/Subtype\s*/Image", data)) == 5 + 4
    for key in (b"/Producer", b"/Creator", b"/CreationDate", b"/ModDate", b"matplotlib"):
        assert key not in data, key
    # Fonts are embedded TrueType (Type 42), as journals require; a single family.
    assert b"/FontFile2" in data
    fonts = set(re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", data))
    assert fonts and all(b"DejaVuSans" in f for f in fonts)


def test_pdf_renders_with_poppler(tmp_path):
    path = save_figure(example_spec(), tmp_path / "fig.pdf")
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / "page")], check=True, timeout=60
    )
    (page,) = sorted(tmp_path.glob("page*.png"))
    with Image.open(page) as im:
        arr = np.asarray(im.convert("RGB")).astype(int)
    assert np.count_nonzero((arr[..., 0] > 150) & (arr[..., 1] < 60) & (arr[..., 2] < 60)) > 5


# --- spec behaviour -------------------------------------------------------------------------------


def test_shared_scale_puts_maps_on_one_colour_scale():
    m1 = synthetic_map()
    m2 = 3 * synthetic_map(seed=5)
    spec = FigureSpec(
        panels=[PanelSpec("map", map=m1, title="a"), PanelSpec("map", map=m2, title="b")],
        shared_scale=True,
        dpi=50,
    )
    fig = render_figure(spec)
    cbars = [ax for ax in fig.axes if (ax.get_gid() or "").startswith("colorbar-")]
    limits = [tuple(round(v, 6) for v in ax.get_xlim()) for ax in cbars]
    assert limits[0] == limits[1]
    fig2 = render_figure(FigureSpec(panels=spec.panels, dpi=50))
    cbars2 = [ax for ax in fig2.axes if (ax.get_gid() or "").startswith("colorbar-")]
    assert cbars2[0].get_xlim() != cbars2[1].get_xlim()


def test_long_annotation_labels_stay_inside_their_panel():
    long = "Thin upper lip vermilion (HP:0000219)"  # narrower than the panel, wider than the room
    shapes = [
        AnnotationShape(Geometry.rect(40, 50, 50, 60), (100.0, 100.0), long),  # left half, runs off the right
        AnnotationShape(Geometry.rect(50, 70, 62, 80), (100.0, 100.0), long),  # right half, runs off the left
    ]
    spec = FigureSpec(panels=[PanelSpec("image", image=synthetic_face(), annotations=shapes)], dpi=100)
    fig = render_figure(spec)
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    box = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text() == long]
    assert len(labels) == 2
    for t in labels:
        bb = t.get_window_extent(renderer)
        assert box.x0 - 0.5 <= bb.x0 and bb.x1 <= box.x1 + 0.5


def test_zero_map_gets_a_note_instead_of_a_scale():
    fig = render_figure(FigureSpec(panels=[PanelSpec("map", map=np.zeros((10, 10)), title="z")], dpi=50))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "map is zero everywhere" in texts


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (FigureSpec(panels=[]), "at least one panel"),
        (FigureSpec(panels=[PanelSpec("image")]), "needs an image, a map"),
        (FigureSpec(panels=[PanelSpec("map", map=np.zeros((4, 4)))], dpi=5), "DPI"),
        (FigureSpec(panels=[PanelSpec("nonsense", map=np.zeros((4, 4)))]), "unknown panel kind"),
        (FigureSpec(panels=[PanelSpec("map", map=np.full((4, 4), np.nan))]), "NaN"),
    ],
)
def test_invalid_specs_are_user_errors(spec, message):
    with pytest.raises(Exception, match=message) as info:
        render_figure(spec)
    from gmxai_desktop.core.base.errors import GmxaiError

    assert isinstance(info.value, GmxaiError)


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="cannot export"):
        save_figure(example_spec(), tmp_path / "fig.bmp")


# --- the CLI --------------------------------------------------------------------------------------


class TinyNet(torch.nn.Module):
    """A 32x32 RGB classifier: small enough that the CLI tests spend their time on the figure.

    The attributes describe the input the way the model loader reads them from a trusted,
    fully pickled model.
    """

    input_size = (32, 32)
    channels = 3
    mean = (0.5, 0.5, 0.5)
    std = (0.5, 0.5, 0.5)
    class_names = ("Syndrome A", "Syndrome B", "Syndrome C")
    template = "none"

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.save(TinyNet().eval(), path)  # a whole pickled module: needs --trust-pickle
    return str(path)


@pytest.fixture()
def patient_folder(tmp_path):
    folder = tmp_path / f"clinic_{SECRET}"
    folder.mkdir()
    for k in range(2):
        img = Image.fromarray(np.roll(synthetic_face(), 3 * k, axis=1))
        exif = Image.Exif()
        exif[0x010E] = f"ImageDescription {SECRET}"  # EXIF that must not travel
        img.save(folder / f"patient_{SECRET}_{k}.jpg", quality=95, exif=exif)
    return folder


def run_cli(*argv: str) -> int:
    """``gmxai figure ...`` in-process; the tiny test model is a pickled module, hence --trust-pickle."""
    from gmxai_desktop.cli.main import main

    return main([argv[0], "--trust-pickle", *argv[1:]])


def assert_private(data: bytes, folder) -> None:
    assert SECRET.encode() not in data
    assert str(folder).encode() not in data
    assert b"patient_" not in data


def test_cli_single_image_all_formats_without_leaks(tiny_model, patient_folder, tmp_path, capsys):
    image = patient_folder / f"patient_{SECRET}_0.jpg"
    for fmt in ("pdf", "svg"):  # PNG metadata is covered above; the CLI adds only titles
        out = tmp_path / f"fig.{fmt}"
        rc = run_cli(
            "figure", "--model", tiny_model, "--methods", "saliency,gradcam", "--dpi", "80", "--out",
            str(out), str(image),
        )
        assert rc == 0, capsys.readouterr().err
        assert_private(out.read_bytes(), patient_folder)
    root = ET.parse(tmp_path / "fig.svg").getroot()
    assert len(svg_groups(root, "panel-")) == 3  # input + 2 methods
    titles = ["".join(g.itertext()).strip() for g in svg_groups(root, "title-")]
    assert titles[0] == "Model input" and len(titles) == 3
    # Asked for explicitly, the name appears (so the check above can fail).
    out = tmp_path / "named.svg"
    assert (
        run_cli(
            "figure", "--model", tiny_model, "--methods", "saliency", "--include-filename", "--out",
            str(out), str(image),
        )
        == 0
    )
    assert f"patient_{SECRET}_0.jpg" in out.read_text(encoding="utf-8")


def test_cli_batch_with_annotations_and_region_metrics(tiny_model, patient_folder, tmp_path, capsys):
    import csv

    from gmxai_desktop.core.inputs.imageio import load_image

    image = patient_folder / f"patient_{SECRET}_1.jpg"
    rgb = load_image(image)
    doc = AnnotationDocument(ImageRef.from_file(image, rgb), Alignment.scaling((100, 100), (100, 100)))
    doc.add_region(Geometry.ellipse(35, 42, 10, 7), "original", hpo_id="HP:0000316", hpo_name="Hypertelorism")
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir()
    save_document(doc, ann_dir / "anything.gmxai-annotations.json")
    out_dir = tmp_path / "figs"
    metrics = tmp_path / "regions.csv"
    rc = run_cli(
        "figure", "--model", tiny_model, "--methods", "saliency,gradcam", "--format", "svg", "--dpi", "60",
        "--annotations", str(ann_dir), "--region-metrics", str(metrics), "--cols", "2", "--numbered",
        "--out", str(out_dir), str(patient_folder),
    )
    assert rc == 0, capsys.readouterr().err
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == ["figure-0001.svg", "figure-0002.svg"]
    roots = [ET.parse(out_dir / f).getroot() for f in files]
    assert [len(svg_groups(r, "panel-")) for r in roots] == [3, 3]  # the same layout for each image
    annotated = [
        len([g for g in r.iter(f"{SVG_NS}g") if re.fullmatch(r"annotation-\d+-\d+", g.get("id") or "")])
        for r in roots
    ]
    assert annotated == [0, 3]  # only image 1 has annotations: outlined on all three panels
    for f in files:
        assert_private((out_dir / f).read_bytes(), patient_folder)
    rows = list(csv.DictReader(io.StringIO(metrics.read_text(encoding="utf-8-sig"))))
    assert [(r["region"], r["method"]) for r in rows] == [
        ("Hypertelorism", "saliency"),
        ("Hypertelorism", "gradcam"),
    ]
    assert 0.0 <= float(rows[0]["mass_absolute"]) <= 1.0  # saliency: |gradient| everywhere
    # The region on the 100x100 photo, rasterised onto the 32x32 model input (pi * 3.2 * 2.24 = 22.5).
    want = int(Geometry.ellipse(35, 42, 10, 7).rasterize((32, 32), (100, 100)).sum())
    assert int(rows[0]["pixels"]) == want and 18 < want < 28
    assert rows[0]["image_sha256"] == sha256_file(image)


def test_cli_user_errors(tiny_model, patient_folder, tmp_path, capsys):
    image = str(patient_folder / f"patient_{SECRET}_0.jpg")
    assert (
        run_cli(
            "figure", "--model", tiny_model, "--methods", "saliency", "--out", str(tmp_path / "x.bmp"), image
        )
        == 2
    )
    assert "cannot export" in capsys.readouterr().err
    other = AnnotationDocument(ImageRef("b" * 64, 10, 10))
    save_document(other, tmp_path / "other.json")
    assert (
        run_cli(
            "figure", "--model", tiny_model, "--methods", "saliency", "--annotations",
            str(tmp_path / "other.json"), "--out", str(tmp_path / "x.pdf"), image,
        )
        == 1
    )
    assert "different image" in capsys.readouterr().err
    assert (
        run_cli(
            "figure", "--model", tiny_model, "--methods", "saliency", "--alpha", "3", "--out",
            str(tmp_path / "x.pdf"), image,
        )
        == 2
    )
