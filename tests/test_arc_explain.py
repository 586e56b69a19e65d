"""Explaining GestaltMatcher-Arc: class logits, similarity targets, exact pair maps, ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from arc_fixtures import make_arc_files

from gmxai_desktop.core.analysis.arc_pairs import affine_maps, ensemble_pair_maps
from gmxai_desktop.core.analysis.similarity import similarity_maps
from gmxai_desktop.core.attribution.engine import explain
from gmxai_desktop.core.attribution.methods import REGISTRY
from gmxai_desktop.core.attribution.targets import similarity_adapter, syndrome_centroid
from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.models import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def arc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    files = make_arc_files(tmp_path_factory.mktemp("arcx"))
    files["adapter"] = load_model(files["pth_old"])
    files["onnx_adapter"] = load_model(files["onnx"])
    return files


def _x(seed: int) -> torch.Tensor:
    return torch.rand(1, 3, 112, 112, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum() / (a.norm() * b.norm())


def test_all_methods_run_on_a_members_logits(arc):
    adapter = arc["adapter"]
    x = _x(1)
    params = {
        "integrated_gradients": {"steps": 8},
        "smoothgrad": {"n_samples": 3},
        "occlusion": {"window": 28, "stride": 28},
    }
    results = explain(adapter, x, sorted(REGISTRY), target="predicted", params=params)
    assert len(results) == len(REGISTRY) == 11
    for r in results:
        assert r.map.shape == (112, 112) and np.isfinite(r.map).all(), r.method
    # Input x gradient of the logit, written out on the reference (upstream) model:
    ref = arc["model_old"]
    xr = x.clone().requires_grad_(True)
    logits, _ = ref(xr)
    target = int(logits.argmax())
    (grad,) = torch.autograd.grad(logits[0, target], xr)
    sal = next(r for r in results if r.method == "saliency")
    assert np.allclose(sal.map, grad[0].abs().sum(0).numpy(), atol=1e-5)
    # DeepLIFT through the PReLUs (rewritten as two ReLUs) keeps completeness: the map sums to the
    # logit difference to the black baseline, computed here on the unmodified upstream model.
    with torch.no_grad():
        diff = float(ref(x)[0][0, target] - ref(-torch.ones_like(x))[0][0, target])
    deeplift = next(r for r in results if r.method == "deeplift")
    assert abs(float(deeplift.map.sum()) - diff) < 1e-3 * max(1.0, abs(diff))


def test_similarity_to_an_image_for_gradient_perturbation_and_cam(arc):
    adapter = arc["onnx_adapter"]  # embedding only: only similarity targets make sense
    x, other = _x(2), _x(3)
    with pytest.raises(ParameterError, match=r"no classifier.*similarity"):
        explain(adapter, x, ["saliency"])
    ref_net = arc["iresnet"]
    with torch.no_grad():
        e_other = ref_net(other)[0]
    sim = similarity_adapter(adapter, [("similar to other", e_other.numpy())])
    res = {
        r.method: r
        for r in explain(
            sim,
            x,
            ["integrated_gradients", "occlusion", "gradcam"],
            target=0,
            params={"integrated_gradients": {"steps": 64}, "gradcam": {"relu": False}},
        )
    }
    with torch.no_grad():
        cos_x = float(_cos(ref_net(x)[0], e_other))
        cos_black = float(_cos(ref_net(-torch.ones_like(x))[0], e_other))
    assert abs(res["integrated_gradients"].logit - cos_x) < 1e-5
    # Integrated Gradients completeness against the black baseline (closed form).
    assert abs(float(res["integrated_gradients"].map.sum()) - (cos_x - cos_black)) < 2e-2 * max(
        abs(cos_x - cos_black), 1e-3
    )
    # Grad-CAM of the cosine at the 7x7 BN, computed directly on the reference network.
    feats: dict[str, torch.Tensor] = {}
    handle = ref_net.bn2.register_forward_hook(lambda m, i, o: feats.__setitem__("a", o))
    score = _cos(ref_net(x)[0], e_other)
    handle.remove()
    (g,) = torch.autograd.grad(score, feats["a"])
    cam = (g.mean(dim=(2, 3), keepdim=True) * feats["a"]).sum(1)[0].detach()
    up = torch.nn.functional.interpolate(
        cam[None, None], size=(112, 112), mode="bilinear", align_corners=False
    )
    assert np.allclose(res["gradcam"].map, up[0, 0].numpy(), atol=1e-5)
    assert np.isfinite(res["occlusion"].map).all() and np.abs(res["occlusion"].map).sum() > 0


def test_syndrome_centroid_is_mean_of_normalised_embeddings():
    emb = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    labels = ["a", "b", "a"]
    expected = (np.array([0.6, 0.8]) + np.array([0.0, 1.0])) / 2
    assert np.allclose(syndrome_centroid(emb, labels, "a"), expected)
    with pytest.raises(ParameterError, match="no gallery image has the label 'c'"):
        syndrome_centroid(emb, labels, "c")


@pytest.mark.parametrize("key", ["adapter", "onnx_adapter"])
def test_affine_pair_maps_sum_with_bias_to_the_cosine(arc, key):
    adapter = arc[key]
    xa, xb = _x(4), _x(5)
    pm = similarity_maps(adapter, xa, xb)
    assert pm.method == "affine" and pm.cells_a.shape == (7, 7)
    with torch.no_grad():
        ea, eb = adapter.net(xa)[1][0].double(), adapter.net(xb)[1][0].double()
    cos = float(_cos(ea, eb))
    assert abs(pm.cosine - cos) < 1e-6
    assert abs(float(pm.cells_a.sum()) + pm.bias_a - cos) < 1e-5
    assert abs(float(pm.cells_b.sum()) + pm.bias_b - cos) < 1e-5
    # One position's share, written out from the definition: zero every other position's features.
    cells = _position_share(adapter, xa, eb, 3, 4)
    assert abs(cells - pm.cells_a[3, 4]) < 1e-6


def _position_share(adapter, x, e_other, y, xpos) -> float:  # type: ignore[no-untyped-def]
    """(e(F with only position (y, x) kept) - e(F = 0)) . e_other / (|e| |e_other|)."""
    layer = adapter.layer(adapter.default_cam_layer)
    keep = {}

    def hook(m, i, o):  # type: ignore[no-untyped-def]
        mask = torch.zeros_like(o)
        if keep["on"]:
            mask[:, :, y, xpos] = 1
        return o * mask

    with torch.no_grad():
        e = adapter.net(x)[1][0].double()
        handle = layer.register_forward_hook(hook)
        keep["on"] = True
        with_pos = adapter.net(x)[1][0].double()
        keep["on"] = False
        without = adapter.net(x)[1][0].double()
        handle.remove()
    return float((with_pos - without) @ e_other) / float(e.norm() * e_other.norm())


def test_ensemble_pair_maps_side_by_side(arc):
    members = [("m1", arc["adapter"]), ("m2", arc["onnx_adapter"])]
    xa, xb = _x(6), _x(7)
    ens = ensemble_pair_maps(members, [xa, xa], [xb, xb])
    assert ens.members == ["m1", "m2"] and len(ens.maps) == 2
    assert np.allclose(ens.mean_cells_a, (ens.maps[0].cells_a + ens.maps[1].cells_a) / 2)
    assert ens.agreement.shape == (2, 2) and ens.agreement[0, 0] == 1.0
    assert ens.agreement[0, 1] == ens.agreement[1, 0] and -1.0 <= ens.agreement[0, 1] <= 1.0
    direct = affine_maps(arc["adapter"], xa, xb)
    assert np.allclose(direct.cells_a, ens.maps[0].cells_a)


def test_cli_explain_similarity_and_similar_maps(arc, tmp_path, capsys):
    import json

    from PIL import Image

    from gmxai_desktop.cli.main import main

    rng = np.random.default_rng(5)
    faces = []
    for i in range(3):
        path = tmp_path / "g" / f"syn{i % 2}" / f"f{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(path)
        faces.append(path)
    out = tmp_path / "out"
    rc = main(
        [
            "explain",
            "--model",
            str(arc["onnx"]),
            "--similar-to",
            str(faces[1]),
            "--methods",
            "saliency,gradcam",
            "--out",
            str(out),
            "--align",
            "none",
            str(faces[0]),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    res = manifest["images"][0]["results"]
    assert {r["method"] for r in res} == {"saliency", "gradcam"}
    assert res[0]["target_name"] == "similarity to f1.png" and -1 <= res[0]["logit"] <= 1
    rc = main(
        [
            "explain",
            "--model",
            str(arc["onnx"]),
            "--centroid",
            "syn0",
            "--gallery",
            str(tmp_path / "g"),
            "--methods",
            "occlusion",
            "--param",
            "occlusion.window=28",
            "--param",
            "occlusion.stride=28",
            "--out",
            str(tmp_path / "out2"),
            "--align",
            "none",
            str(faces[1]),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    maps = tmp_path / "maps"
    rc = main(
        [
            "similar",
            "--model",
            str(arc["pth_new"]),
            "--gallery",
            str(tmp_path / "g"),
            "--query",
            str(faces[0]),
            "--align",
            "none",
            "--maps",
            str(maps),
            "--top",
            "2",
            "--json",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    pairs = json.loads((maps / "pairs.json").read_text())["pairs"]
    for p in pairs:
        assert p["method"] == "affine"
        assert abs(p["cells_sum_query"] + p["bias_share_query"] - p["similarity"]) < 1e-5
        assert abs(p["cells_sum_match"] + p["bias_share_match"] - p["similarity"]) < 1e-5
