"""GestaltMatcher-Arc loading: ONNX and whole-model pickles, both onnx2torch naming schemes, safely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.fx.graph_module as fx_gm
from arc_fixtures import forget_my_arcface, make_arc_files, my_arcface_class, tiny_iresnet

from gmxai_desktop.core.base.errors import CheckpointError
from gmxai_desktop.core.models import load_model
from gmxai_desktop.core.models.arc.iresnet import iresnet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def arc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return make_arc_files(tmp_path_factory.mktemp("arc"))


def _x(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 112, 112, generator=torch.Generator().manual_seed(4)) * 2 - 1


@pytest.mark.parametrize("key", ["pth_new", "pth_old"])
def test_whole_model_pickle_loads_without_trust(arc, key):
    adapter = load_model(arc[key])
    ref = arc[key.replace("pth", "model")]
    x = _x()
    with torch.no_grad():
        ref_logits, ref_emb = ref(x)
    logits, emb = adapter.predict(x)
    assert adapter.arch == "gestaltmatcher-arc" and adapter.extra["format"] == "arc-pickle"
    assert adapter.extra["code_from_file_run"] is False and adapter.extra["embedding_dim"] == 512
    assert adapter.num_classes == 7 and emb.shape == (3, 512)
    assert torch.allclose(emb, ref_emb, atol=1e-5) and torch.allclose(logits, ref_logits, atol=1e-5)
    assert adapter.input_size == (112, 112) and adapter.template == "arcface112"
    assert adapter.mean == (0.5, 0.5, 0.5) and adapter.std == (0.5, 0.5, 0.5)
    cam = adapter.layer(adapter.default_cam_layer)
    assert isinstance(cam, torch.nn.BatchNorm2d)
    seen: dict[str, tuple[int, ...]] = {}

    def hook(module, inputs, output) -> None:  # type: ignore[no-untyped-def]
        seen["shape"] = tuple(output.shape)

    handle = cam.register_forward_hook(hook)
    adapter.predict(x[:1])
    handle.remove()
    assert seen["shape"][2:] == (7, 7)


def test_old_scheme_names_are_upstreams(arc):
    adapter = load_model(arc["pth_old"])
    names = dict(adapter.net.named_modules())
    assert adapter.default_cam_layer == "base.BatchNormalization_4"  # r50: _24, r100: _49
    assert "base.Conv_0" in names and "base.Add_3" in names and "features.0" in names


def test_onnx_backbone_is_embedding_only(arc):
    adapter = load_model(arc["onnx"])
    x = _x()
    with torch.no_grad():
        ref = arc["iresnet"](x)
    logits, emb = adapter.predict(x)
    assert adapter.extra["format"] == "onnx" and adapter.num_classes == 0 and logits.shape == (3, 0)
    assert torch.allclose(emb, ref, atol=1e-5)


def test_preprocessing_is_upstreams(arc):
    import numpy as np

    adapter = load_model(arc["onnx"])
    rgb = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    x = adapter.preprocess(rgb)
    expected = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    assert torch.allclose(x[0], expected, atol=1e-6)


def _payload_pickle(tmp_path: Path, arc: dict[str, object], marker: Path) -> Path:
    """A MyArcFace whose stored GraphModule source and import block create ``marker`` when run."""
    model = arc["model_new"]
    body = {k: v for k, v in model.base.__dict__.items() if k != "_graph"}
    evil = f"open({str(marker)!r}, 'w').close()\n"
    body["_code"] = evil + model.base.code.replace(
        "def forward(self, input_1):", "def forward(self, input_1):\n    " + evil
    )

    class Tampered:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (fx_gm.reduce_graph_module, (body, "import torch\n" + evil))

    cls = my_arcface_class(tmp_path / "_code")
    outer = cls.__new__(cls)
    outer.__dict__.update(model.__dict__)
    outer.__dict__["_modules"] = dict(model._modules, base=Tampered())
    path = tmp_path / "s2_glint360k_r100_512d_gmdb__v1.0.3_bs128_size112_channels3_last_model.pth"
    torch.save(outer, path)
    forget_my_arcface(tmp_path / "_code")
    return path


def test_stored_forward_payload_never_runs(tmp_path, arc):
    marker = tmp_path / "pwned"
    path = _payload_pickle(tmp_path, arc, marker)
    with pytest.raises(CheckpointError, match=r"stored forward code.*nothing in it was run"):
        load_model(path)
    assert not marker.exists()
    # The fixture is a real attack: a plain torch.load (upstream's way) runs it. Checked in a
    # child process so that nothing of it stays in this one.
    code = (
        "import sys, torch; sys.path.insert(0, sys.argv[2]); "
        "import arc_fixtures as af; af.my_arcface_class(__import__('pathlib').Path(sys.argv[3])); "
        "torch.load(sys.argv[1], weights_only=False)"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(Path(__file__).parent), str(tmp_path / "_code2")],
        capture_output=True,
        timeout=300,
    )
    assert marker.exists()


def test_structure_mismatch_is_refused(tmp_path, arc):
    model = arc["model_new"]
    cls = my_arcface_class(tmp_path / "_code")
    outer = cls.__new__(cls)
    outer.__dict__.update(model.__dict__)
    outer.__dict__["_modules"] = dict(model._modules, features=torch.nn.Sequential(torch.nn.Identity()))
    path = tmp_path / "odd_last_model.pth"
    torch.save(outer, path)
    forget_my_arcface(tmp_path / "_code")
    with pytest.raises(CheckpointError, match=r"'features' is not Linear -> BatchNorm1d.*refused"):
        load_model(path)


def test_truncated_and_wrong_files_get_one_line(tmp_path, arc):
    data = Path(arc["pth_new"]).read_bytes()
    cut = tmp_path / "cut_last_model.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut_last_model\.pth .*(damaged|truncated)") as err:
        load_model(cut)
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07" + b"not really onnx" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.onnx is not a (readable|valid) ONNX model"):
        load_model(junk)
    half = tmp_path / "half.onnx"
    onnx_bytes = Path(arc["onnx"]).read_bytes()
    half.write_bytes(onnx_bytes[: len(onnx_bytes) // 2])
    with pytest.raises(CheckpointError, match=r"half\.onnx"):
        load_model(half)


def test_onnx_that_is_not_arcface_is_refused(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(), torch.nn.Linear(2 * 110 * 110, 4)
    ).eval()
    path = tmp_path / "classifier.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), opset_version=11, dynamo=False)
    with pytest.raises(CheckpointError, match=r"classifier\.onnx: the network does not end in Gemm"):
        load_model(path)


def test_cli_predict_json_embedding_only(arc, tmp_path):
    import numpy as np
    from PIL import Image

    img = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(img)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gmxai_desktop.cli.main",
            "predict",
            "--model",
            str(arc["onnx"]),
            "--json",
            "--align",
            "none",
            str(img),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)[0]
    assert rec["logits"] is None and rec["top"] == [] and len(rec["embedding"]) == 512


def test_reference_topologies_have_upstreams_bn_counts():
    # The ONNX export keeps each block's first BN plus the final BN2d and BatchNorm1d: 26 for r50,
    # 51 for r100, hence upstream's BatchNormalization_25 / _50 as the embedding's BN.
    for name, blocks in (("r50", 24), ("r100", 49)):
        with torch.device("meta"):
            net = iresnet(name)
        first_bns = sum(1 for n, _ in net.named_modules() if n.endswith(".bn1") and n.startswith("layer"))
        assert first_bns == blocks
    assert tiny_iresnet() is not None


def test_onnx_with_aliased_initializers(tmp_path):
    # A freshly initialised network has equal folded biases; the exporter then aliases one tensor
    # through Identity nodes, which onnx2torch cannot read as a conv bias by itself.
    import onnx
    from arc_fixtures import export_onnx

    from gmxai_desktop.core.models.arc.iresnet import IResNet

    torch.manual_seed(2)
    net = IResNet((1, 1, 1, 1), widths=(8, 8, 16, 16)).eval()
    path = export_onnx(net, tmp_path / "fresh.onnx")
    assert any(n.op_type == "Identity" for n in onnx.load(str(path)).graph.node)
    x = _x(2)
    with torch.no_grad():
        assert torch.allclose(load_model(path).embed(x), net(x), atol=1e-5)


def test_trust_pickle_still_reads_arc_files_safely(arc):
    # Upstream's module (lib.models.my_arcface) is not importable here, so a full unpickling
    # would fail; with --trust-pickle the safe reader is still tried first.
    adapter = load_model(arc["pth_new"], trust_pickle=True)
    assert adapter.extra["format"] == "arc-pickle" and adapter.extra["code_from_file_run"] is False
