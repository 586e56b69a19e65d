"""GestaltMatcher-Arc matching: 12-variant TTA, mean cosine distance, all_encodings.csv, caching."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from arc_fixtures import make_arc_files
from PIL import Image

from gmxai_desktop.cli.main import main
from gmxai_desktop.core.analysis.encodings import read_encodings
from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.models import load_model
from gmxai_desktop.core.models.ensemble import load_ensemble

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("arcmatch")
    a = make_arc_files(root / "a", seed=0)
    b = make_arc_files(root / "b", seed=1)
    ens = root / "saved_models"
    ens.mkdir()
    shutil.copy(
        a["pth_new"], ens / "s1_glint360k_r50_512d_gmdb__v1.0.3_bs64_size112_channels3_last_model.pth"
    )
    shutil.copy(
        b["pth_old"], ens / "s2_glint360k_r100_512d_gmdb__v1.0.3_bs128_size112_channels3_last_model.pth"
    )
    shutil.copy(a["onnx"], ens / "glint360k_r100.onnx")
    members = {"m0": a["model_new"], "m1": b["model_old"], "m2": a["iresnet"]}
    gallery = root / "gallery"
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    for i in range(6):
        label = f"syn{i % 3}"
        (gallery / label).mkdir(parents=True, exist_ok=True)
        noise = rng.integers(-60, 60, (112, 112, 3))
        img = np.clip(base.astype(int) + noise * (i + 1) // 3, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(gallery / label / f"img{i}.png")
    query = root / "query.png"
    Image.fromarray(
        np.clip(base.astype(int) + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)
    ).save(query)
    return {"ens": ens, "members": members, "gallery": gallery, "query": query, "root": root}


def _gray_fixed_point(rgb: np.ndarray) -> np.ndarray:
    """Upstream's gray: the OpenCV call itself (its fixed-point coefficients change between OpenCV
    releases: 14-bit in 4.x, 15-bit in 5.x), replicated to three channels."""
    y = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return np.repeat(y[..., None], 3, axis=2)


def _direct_variants(members: dict[str, torch.nn.Module], rgb: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for mid, net in members.items():
        for flip in (0, 1):
            for gray in (0, 1):
                img = _gray_fixed_point(rgb) if gray else rgb
                img = img[:, ::-1] if flip else img
                x = (torch.from_numpy(img.copy()).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
                with torch.no_grad():
                    res = net(x[None])
                emb = res[1] if isinstance(res, tuple) else res
                out[f"{mid}/f{flip}/g{gray}"] = emb[0].double().numpy()
    return out


def _direct_distance(q: dict[str, np.ndarray], g: dict[str, np.ndarray]) -> float:
    total = 0.0
    for key, a in q.items():
        b = g[key]
        total += 1 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return total / len(q)


def _ens_args(setup: dict, *extra: str) -> list[str]:
    """The ensemble, the query and no alignment: what every ranking test here shares."""
    return ["--model", str(setup["ens"]), "--query", str(setup["query"]), "--align", "none", *extra]


def _similar(capsys, *argv: str) -> tuple[int, dict | str, str]:
    rc = main(["similar", *argv])
    out, err = capsys.readouterr()
    if rc == 0 and "--json" in argv:
        return rc, json.loads(out), err
    return rc, out, err


def test_folder_is_recognised_as_upstream_ensemble(setup):
    ens = load_ensemble(setup["ens"])
    assert [m.id for m in ens.members] == ["m0", "m1", "m2"]
    assert [m.adapter.num_classes for m in ens.members] == [7, 7, 0]
    assert ens.source == "upstream saved_models/ file names"
    assert load_model(setup["ens"]).extra["member"] == "m0"


def test_ensemble_ranking_equals_direct_mean_cosine_distance(setup, capsys, tmp_path):
    cached = _ens_args(
        setup, "--gallery", str(setup["gallery"]), "--json", "--cache", str(tmp_path / "cache")
    )
    rc, res, err = _similar(capsys, *cached, "--top", "6")
    assert rc == 0, err
    members = setup["members"]
    q = _direct_variants(members, np.asarray(Image.open(setup["query"]).convert("RGB")))
    direct = {}
    for path in sorted(Path(setup["gallery"]).rglob("*.png")):
        g = _direct_variants(members, np.asarray(Image.open(path).convert("RGB")))
        assert len(g) == 12
        direct[str(path.relative_to(setup["gallery"]))] = _direct_distance(q, g)
    expected = sorted(direct, key=direct.get)
    assert [m["image"] for m in res["matches"]] == expected
    for m in res["matches"]:
        assert abs(m["distance"] - direct[m["image"]]) < 1e-5
        assert abs(m["similarity"] - (1 - m["distance"])) < 1e-6
    # The cache holds all 4 variants per member, keyed by member fingerprint and image content.
    records = list((tmp_path / "cache").rglob("*.npz"))
    assert len(records) == 3 * 6
    with np.load(records[0]) as rec:
        assert {"emb_f0g0", "emb_f0g1", "emb_f1g0", "emb_f1g1", "aligned"} <= set(rec.files)
    rc, again, _ = _similar(capsys, *cached, "--top", "6")
    assert again["matches"] == res["matches"]

    # Per syndrome: each syndrome counts with its nearest image.
    rc, per, _ = _similar(capsys, *cached, "--per-syndrome")
    best: dict[str, float] = {}
    for image, d in direct.items():
        label = image.split("/")[0]
        best[label] = min(best.get(label, 9.0), d)
    assert [m["label"] for m in per["matches"]] == sorted(best, key=best.get)
    assert all(abs(m["distance"] - best[m["label"]]) < 1e-5 for m in per["matches"])


def test_tta_off_uses_one_encoding_per_member(setup, capsys):
    rc, res, err = _similar(
        capsys, *_ens_args(setup, "--gallery", str(setup["gallery"])), "--json", "--top", "3", "--tta", "off"
    )
    assert rc == 0, err
    members = setup["members"]
    q = {
        k: v
        for k, v in _direct_variants(members, np.asarray(Image.open(setup["query"]))).items()
        if "f0/g0" in k
    }
    top = res["matches"][0]
    g = _direct_variants(members, np.asarray(Image.open(setup["gallery"] / top["image"])))
    assert abs(top["distance"] - _direct_distance(q, {k: g[k] for k in q})) < 1e-5


def _write_encodings(path: Path, setup: dict, broken: str = "") -> None:
    lines = ["img_name;model;flip;gray;class_conf;representations"]
    for img in sorted(Path(setup["gallery"]).rglob("*.png")):
        g = _direct_variants(setup["members"], np.asarray(Image.open(img).convert("RGB")))
        for key, vec in g.items():
            mid, f, gr = key.split("/")
            values = [float(v) for v in vec]
            if broken == "nan" and img.name == "img2.png":
                values[3] = float("nan")
            lines.append(f"{img.name};{mid};{f[1]};{gr[1]};[0.1, 0.2];{values!r}")
    path.write_text("\n".join(lines) + "\n")


def test_gallery_encodings_csv_ranks_like_the_images(setup, capsys, tmp_path):
    enc = tmp_path / "all_encodings.csv"
    _write_encodings(enc, setup)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,label\n" + "".join(f"img{i}.png,syn{i % 3}\n" for i in range(6)))
    rc, res, err = _similar(
        capsys,
        *_ens_args(setup, "--gallery-encodings", str(enc), "--labels", str(labels), "--json", "--top", "6"),
    )
    assert rc == 0, err
    rc, imgs, _ = _similar(
        capsys, *_ens_args(setup, "--gallery", str(setup["gallery"])), "--json", "--top", "6"
    )
    assert [m["image"] for m in res["matches"]] == [Path(m["image"]).name for m in imgs["matches"]]
    assert [m["label"] for m in res["matches"]] == [m["label"] for m in imgs["matches"]]
    for a, b in zip(res["matches"], imgs["matches"], strict=True):
        assert abs(a["distance"] - b["distance"]) < 1e-5


def test_malformed_encodings_get_one_clear_line(setup, capsys, tmp_path):
    missing = tmp_path / "missing.csv"
    missing.write_text("img_name;model;flip;representations\na.png;m0;0;[1.0, 2.0]\n")
    nan = tmp_path / "nan.csv"
    _write_encodings(nan, setup, broken="nan")
    pickled = tmp_path / "all_encodings.pkl"
    pickled.write_bytes(pickle.dumps({"not": "a frame"}))
    for path, pattern in (
        (missing, "lacks the columns gray, class_conf"),
        (nan, "contains NaN"),
        (pickled, "pickled DataFrame.*--trust-pickle"),
    ):
        rc, _out, err = _similar(capsys, *_ens_args(setup, "--gallery-encodings", str(path)))
        assert rc == 2 and err.count("\n") == 1 and err.startswith("gmxai similar: error: ")
        assert re.search(pattern, err), err
    with pytest.raises(ParameterError, match="lack some variants"):
        short = tmp_path / "short.csv"
        short.write_text(
            "img_name;model;flip;gray;class_conf;representations\na.png;m0;0;0;[0];[1.0, 2.0]\n"
            "a.png;m0;1;0;[0];[1.0, 2.0]\nb.png;m0;0;0;[0];[1.0, 2.0]\n"
        )
        read_encodings(short)


def test_gray_and_flip_are_upstreams(setup):
    from gmxai_desktop.core.analysis.variants import variant_input

    adapter = load_model(setup["ens"] / "glint360k_r100.onnx")
    rgb = np.random.default_rng(3).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    x = variant_input(adapter, rgb, flip=True, gray=True)[0]
    expected = (
        torch.from_numpy(_gray_fixed_point(rgb)[:, ::-1].copy()).permute(2, 0, 1).float() / 255 - 0.5
    ) / 0.5
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # ITU-R BT.601
    assert np.abs(_gray_fixed_point(rgb)[..., 0] - luma).max() <= 1.0
    assert torch.allclose(x, expected, atol=1e-6)


def test_ensemble_pair_maps_in_similar(setup, capsys, tmp_path):
    maps = tmp_path / "maps"
    rc, _res, err = _similar(
        capsys,
        *_ens_args(setup, "--gallery", str(setup["gallery"]), "--json", "--top", "1", "--maps", str(maps)),
    )
    assert rc == 0, err
    pair = json.loads((maps / "pairs.json").read_text())["pairs"][0]
    ens = pair["ensemble"]
    assert ens["members"] == ["m0", "m1", "m2"] and len(ens["agreement_spearman"]) == 3
    cells = np.load(maps / "01_members_query_cells.npy")
    assert cells.shape == (3, 7, 7)
    for i in range(3):
        assert abs(cells[i].sum() + ens["bias_shares_query"][i] - ens["cosines"][i]) < 1e-5
    assert np.allclose(np.load(maps / "01_mean_query_cells.npy"), cells.mean(axis=0))
