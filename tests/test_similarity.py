"""Gallery ranking and similarity maps against direct computations and pytorch-grad-cam."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _composite_fixtures import make_adapter, save_checkpoint, smooth_face, write_folder
from PIL import Image

from gmxai_desktop.core.analysis.embeddings import Gallery, embed_gallery
from gmxai_desktop.core.analysis.similarity import (
    decomposition_maps,
    embed_file,
    gradcam_maps,
    rank_matches,
    similarity_maps,
)
from gmxai_desktop.core.attribution import engine
from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.inputs.pipeline import prepare_file


@pytest.fixture(scope="module")
def adapter():
    return make_adapter()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    return write_folder(tmp_path_factory.mktemp("gallery"), per_class=(4, 3, 4), seed=5)


@pytest.fixture(scope="module")
def query(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("query") / "query.png"
    Image.fromarray(smooth_face(np.random.default_rng(99), 1)).save(path)
    return path


def direct_embedding(adapter, path: Path) -> np.ndarray:
    return engine.predict(adapter, prepare_file(adapter, path, align="none").x).embedding.astype(np.float64)


def test_ranking_equals_direct_cosine(adapter, folder, query) -> None:
    gallery = embed_gallery(adapter, folder, align="none", batch_size=4)
    assert gallery.paths == list(folder) and gallery.labels == list(folder.values())
    q = direct_embedding(adapter, query)
    emb = np.stack([direct_embedding(adapter, p) for p in folder])
    cos = emb @ q / (np.linalg.norm(emb, axis=1) * np.linalg.norm(q))
    assert np.ptp(cos) > 1e-3, "similarities too close to tell a wrong order apart"
    order = np.argsort(-cos)
    q_emb, _ = embed_file(adapter, query, align="none")
    matches = rank_matches(q_emb, gallery, top=len(folder))
    assert [m.index for m in matches] == order.tolist()
    np.testing.assert_allclose([m.similarity for m in matches], cos[order], atol=1e-5)
    assert [m.rank for m in matches] == list(range(1, len(folder) + 1))
    assert len(rank_matches(q_emb, gallery, top=3)) == 3


def test_per_syndrome_ranking_keeps_each_syndromes_best_image() -> None:
    angles = np.deg2rad([0, 10, 20, 30, 40, 50, 60])
    emb = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    labels = ["A", "A", "B", None, "A", "C", None]
    gallery = Gallery([Path(f"g{i}.png") for i in range(7)], labels, emb, "m")
    q = np.array([1.0, 0.0])
    per = rank_matches(q, gallery, top=10, per_syndrome=True)
    assert [(m.index, m.label, m.rank) for m in per] == [(0, "A", 1), (2, "B", 2), (3, None, 3), (5, "C", 4),
                                                         (6, None, 5)]
    assert [m.index for m in rank_matches(q, gallery, top=2, per_syndrome=True)] == [0, 2]
    assert [m.index for m in rank_matches(q, gallery, top=3)] == [0, 1, 2]
    excl = rank_matches(q, gallery, top=2, per_syndrome=True, exclude=[0])
    assert [(m.index, m.label) for m in excl] == [(1, "A"), (2, "B")]
    np.testing.assert_allclose(per[1].similarity, np.cos(np.deg2rad(20)))
    with pytest.raises(ParameterError):
        rank_matches(q, gallery, top=0)
    with pytest.raises(ParameterError, match="same model"):
        rank_matches(np.ones(3), gallery)


def test_decomposition_sums_to_cosine(adapter, folder, query) -> None:
    pa = prepare_file(adapter, query, align="none")
    for path in list(folder)[:3]:
        pb = prepare_file(adapter, path, align="none")
        ea, eb = direct_embedding(adapter, query), direct_embedding(adapter, path)
        cos = float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))
        pm = similarity_maps(adapter, pa.x, pb.x)
        assert pm.method == "decomposition" and pm.layer == "base.13"
        assert pm.cells_a.shape == (7, 7) and pm.map_a.shape == (100, 100)
        assert abs(pm.cells_a.sum() - cos) < 1e-5 and abs(pm.cells_b.sum() - cos) < 1e-5
        assert abs(pm.pairwise.sum() - cos) < 1e-5 and abs(pm.cosine - cos) < 1e-5
        np.testing.assert_allclose(pm.pairwise.sum(1).reshape(7, 7), pm.cells_a, rtol=1e-12)
        assert not np.allclose(pm.cells_a, pm.cells_a.mean()), "map must not be flat"
        # Swapping the pair swaps the maps.
        swapped = decomposition_maps(adapter, pb.x, pa.x)
        np.testing.assert_allclose(swapped.cells_a, pm.cells_b, rtol=1e-10, atol=1e-14)


def _cam_reference(adapter, x: torch.Tensor, partner: torch.Tensor, detached: bool) -> np.ndarray:
    """pytorch-grad-cam's GradCAM of the similarity to a fixed partner embedding (ReLU + min-max)."""
    from pytorch_grad_cam import GradCAM

    class Embedder(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)[1]

    unit = F.normalize(partner, dim=0)

    def target(out: torch.Tensor) -> torch.Tensor:
        norm = out.norm().detach() if detached else out.norm()
        return (out * unit).sum() / norm

    with GradCAM(model=Embedder(adapter.net).eval(), target_layers=[adapter.layer("base.13")]) as cam:
        return cam(input_tensor=x.clone(), targets=[target])[0]


def _minmax(c: np.ndarray) -> np.ndarray:
    c = c - c.min()
    return c / (1e-7 + c.max())


def _relu_minmax_resized(cells: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's post-processing: ReLU, min-max, bilinear resize, min-max again."""
    return _minmax(cv2.resize(_minmax(np.maximum(cells, 0)).astype(np.float32), (100, 100)))


@pytest.mark.parametrize("normalization", ["detached", "full"])
def test_embedding_gradcam_matches_pytorch_grad_cam(adapter, folder, query, normalization: str) -> None:
    pa = prepare_file(adapter, query, align="none")
    pb = prepare_file(adapter, next(iter(folder)), align="none")
    pm = gradcam_maps(adapter, pa.x, pb.x, normalization=normalization)
    with torch.no_grad():
        ea, eb = adapter.net(pa.x)[1][0], adapter.net(pb.x)[1][0]
    ref_a = _cam_reference(adapter, pa.x, eb, normalization == "detached")
    ref_b = _cam_reference(adapter, pb.x, ea, normalization == "detached")
    assert ref_a.max() > 0.5 and (np.maximum(pm.cells_a, 0) > 0).sum() > 1
    np.testing.assert_allclose(_relu_minmax_resized(pm.cells_a), ref_a, atol=1e-4)
    np.testing.assert_allclose(_relu_minmax_resized(pm.cells_b), ref_b, atol=1e-4)


def test_gradcam_with_fixed_norms_equals_exact_decomposition(adapter, folder, query) -> None:
    pa = prepare_file(adapter, query, align="none")
    pb = prepare_file(adapter, list(folder)[-1], align="none")
    exact = decomposition_maps(adapter, pa.x, pb.x)
    grad = gradcam_maps(adapter, pa.x, pb.x, normalization="detached")
    scale = np.abs(exact.cells_a).max()
    np.testing.assert_allclose(grad.cells_a, exact.cells_a, atol=1e-6 * scale)
    np.testing.assert_allclose(grad.cells_b, exact.cells_b, atol=1e-6 * scale)
    np.testing.assert_allclose(grad.map_a, exact.map_a, atol=1e-5 * scale)
    # The full cosine's gradient is orthogonal to a mean-pooled embedding: its Grad-CAM sums to 0.
    full = gradcam_maps(adapter, pa.x, pb.x, normalization="full")
    assert abs(full.cells_a.sum()) < 1e-6 * np.abs(full.cells_a).sum()
    assert np.abs(full.cells_a).sum() > 0


def test_decomposition_refuses_a_layer_that_is_not_pooled(adapter, query) -> None:
    x = prepare_file(adapter, query, align="none").x
    with pytest.raises(ParameterError, match="not the spatial mean"):
        decomposition_maps(adapter, x, x, layer="base.12")


def test_models_without_embedding_are_refused(query) -> None:
    from dataclasses import replace

    plain = replace(make_adapter(), has_embedding=False, embedding_index=None)
    with pytest.raises(ParameterError, match="no embedding"):
        embed_file(plain, query, align="none")
    with pytest.raises(ParameterError, match="no embedding"):
        embed_gallery(plain, [query])


def test_gallery_cache(adapter, folder, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG broken")
    images = {**folder, bad: "alpha"}
    first_status: list[str] = []
    first = embed_gallery(adapter, images, align="none", cache_dir=tmp_path / "c",
                          on_image=lambda e: first_status.append(e.status))
    assert first_status.count("computed") == len(folder) and first_status.count("skipped") == 1
    assert [p for p, _ in first.skipped] == [bad]
    statuses: list[str] = []
    second = embed_gallery(adapter, images, align="none", cache_dir=tmp_path / "c",
                           on_image=lambda e: statuses.append(e.status))
    assert statuses.count("cached") == len(folder) and statuses.count("skipped") == 1
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    direct = np.stack([direct_embedding(adapter, p) for p in folder])
    np.testing.assert_allclose(second.embeddings, direct, rtol=1e-4, atol=1e-5)


def test_cli_similar(adapter, folder, query, tmp_path: Path, capsys) -> None:
    from gmxai_desktop.cli.main import main

    gallery_dir = next(iter(folder)).parent.parent
    ckpt, classes = save_checkpoint(adapter.net, tmp_path / "model")
    maps = tmp_path / "maps"
    base = ["similar", "--model", str(ckpt), "--classes", str(classes), "--gallery", str(gallery_dir),
            "--align", "none", "--json"]
    assert main([*base, "--query", str(query), "--top", "3", "--maps", str(maps)]) == 0
    out = json.loads(capsys.readouterr().out)
    gallery = embed_gallery(adapter, folder, align="none")
    expected = rank_matches(embed_file(adapter, query, align="none")[0], gallery, top=3)
    assert out["query"] == str(query)
    assert [m["image"] for m in out["matches"]] == [str(m.path.relative_to(gallery_dir)) for m in expected]
    assert [m["label"] for m in out["matches"]] == [m.label for m in expected]
    np.testing.assert_allclose([m["similarity"] for m in out["matches"]], [m.similarity for m in expected],
                               atol=1e-5)
    pairs = json.loads((maps / "pairs.json").read_text())["pairs"]
    assert len(pairs) == 3
    for pair in pairs:
        assert abs(pair["cells_sum_query"] - pair["similarity"]) < 1e-5
        for f in pair["files"]:
            assert (maps / f).is_file()
    assert np.load(maps / "01_query_cells.npy").shape == (7, 7)
    assert np.load(maps / "01_match.npy").shape == (100, 100)

    # Per-syndrome: one image per label; and a gallery image used as the query is left out.
    member = next(iter(folder))
    assert main([*base, "--query", str(member), "--top", "5", "--per-syndrome"]) == 0
    res = json.loads(capsys.readouterr().out)
    labels = [m["label"] for m in res["matches"]]
    assert sorted(labels) == ["alpha", "beta", "gamma"]
    assert str(member.relative_to(gallery_dir)) not in [m["image"] for m in res["matches"]]


def test_cli_similar_table_and_errors(adapter, folder, query, tmp_path: Path, capsys) -> None:
    from gmxai_desktop.cli.main import main

    gallery_dir = next(iter(folder)).parent.parent
    ckpt, classes = save_checkpoint(adapter.net, tmp_path / "model")
    base = ["similar", "--model", str(ckpt), "--classes", str(classes), "--gallery", str(gallery_dir),
            "--align", "none"]
    assert main([*base, "--query", str(query), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "rank"
    assert main([*base, "--query", str(tmp_path / "missing.png")]) == 2
    assert "missing.png" in capsys.readouterr().err
