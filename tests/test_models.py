"""Model loading: exact upstream layouts, auto-detection, safe unpickling and clear refusals."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from gmxai_desktop.core.base.device import describe_device, pick_device
from gmxai_desktop.core.base.errors import CheckpointError, GmxaiError, ParameterError
from gmxai_desktop.core.models import ARCHITECTURES, detect_arch, load_model, read_class_names
from gmxai_desktop.core.models import torchvision_zoo as tvz
from gmxai_desktop.core.models.base import LogitsOnly
from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

# torch.jit.trace/script/save announce their deprecation; the tests use them to make fixtures.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:FutureWarning")

REFERENCE_SHAPES = Path(__file__).parent / "data" / "gestaltmatcher_v1_state_dict_shapes.json"


# ------------------------------------------------------------------------------------------------
# helpers (module level so that pickles can name them)


class Marker:
    """Unpickling this would create a file: proof of code execution if the file ever appears."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


class ShellMarker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.path}",))


class TinyNet(nn.Module):
    """A network no adapter knows, returning (logits, embedding)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.conv(x).mean(dim=(2, 3))
        return self.head(emb), emb


class Fixed112(nn.Module):
    """Only accepts 112x112 RGB (a flatten into a fixed-size linear layer, like GestaltMatcher-Arc)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, stride=16, padding=1)
        self.fc = nn.Linear(2 * 7 * 7, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.conv(x), 1))


class WithAttributes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input_size = [64, 48]
        self.channels = 1
        self.mean = [0.5]
        self.std = [0.25]
        self.class_names = ["a", "b", "c"]
        self.conv = nn.Conv2d(1, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


@pytest.fixture(scope="module")
def v1_model() -> GestaltMatcherV1:
    torch.manual_seed(0)
    net = GestaltMatcherV1(139).eval()
    # Non-trivial BN statistics so that eval-mode differences would show.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


@pytest.fixture()
def v1_file(tmp_path: Path, v1_model: GestaltMatcherV1) -> Path:
    path = tmp_path / "s2_gmdb_aug_adam_DeepGestalt_e310_ReLU_BN_bs280.pt"
    torch.save(v1_model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def resnet18_7() -> nn.Module:
    torch.manual_seed(1)
    return torchvision.models.resnet18(num_classes=7).eval()


def _x(channels: int = 1, size: int = 100, n: int = 2) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(3))


# ------------------------------------------------------------------------------------------------
# GestaltMatcher v1


def test_v1_state_dict_layout_is_exactly_upstream(v1_model):
    ref = json.loads(REFERENCE_SHAPES.read_text())
    assert len(ref) == 67
    got = {k: list(v.shape) for k, v in v1_model.state_dict().items()}
    assert list(got) == list(ref)
    assert got == ref


def test_v1_round_trip(v1_file, v1_model):
    adapter = load_model(v1_file, device="cpu")
    assert adapter.arch == "gestaltmatcher-v1"
    assert set(adapter.net.state_dict()) == set(v1_model.state_dict())
    assert (adapter.input_size, adapter.channels, adapter.mean, adapter.std) == (
        (100, 100),
        1,
        (0.0,),
        (1.0,),
    )
    assert adapter.template == "gm-v1" and adapter.default_cam_layer == "base.13"
    assert adapter.has_embedding and adapter.embedding_index == 1 and adapter.embedding_is_spatial_mean
    assert isinstance(adapter.logits_module, LogitsOnly)
    assert adapter.class_names == [f"class {i}" for i in range(139)]
    assert adapter.device == torch.device("cpu") and not adapter.net.training

    x = _x()
    with torch.no_grad():
        ref_logits, ref_rep = v1_model(x)
        logits, rep = adapter.net(x)
    assert torch.allclose(logits, ref_logits, atol=1e-6) and torch.allclose(rep, ref_rep, atol=1e-6)
    assert torch.equal(adapter.logits_module(x), logits)
    assert torch.equal(adapter.logits_module(x), adapter.logits_module(x))  # eval: dropout is off

    # The representation is 320-d and equals the spatial mean of base.13's output.
    seen = []
    handle = adapter.layer("base.13").register_forward_hook(lambda m, i, o: seen.append(o))
    _, emb = adapter.predict(x)
    handle.remove()
    assert emb is not None and emb.shape == (2, 320)
    assert seen[0].shape == (2, 320, 7, 7)
    assert torch.allclose(emb, seen[0].mean(dim=(2, 3)), atol=1e-6)


def test_model_id_is_stable_and_content_based(v1_file, tmp_path, v1_model):
    a = load_model(v1_file, device="cpu")
    b = load_model(v1_file, device="cpu")
    digest = hashlib.sha256(v1_file.read_bytes()).hexdigest()
    assert a.model_id == b.model_id == f"gestaltmatcher-v1:{v1_file.name}:{digest[:12]}"
    assert a.extra["sha256"] == digest and a.source == str(v1_file) and a.extra["file_name"] == v1_file.name
    other = tmp_path / "other.pt"
    state = v1_model.state_dict()
    state["classifier.0.bias"] = state["classifier.0.bias"] + 1
    torch.save(state, other)
    assert load_model(other, device="cpu").model_id.split(":")[2] != digest[:12]


def test_v1_face_recognition_class_count(tmp_path):
    torch.manual_seed(0)
    casia = GestaltMatcherV1(10575)
    path = tmp_path / "FaceRecogNet.pt"
    torch.save(casia.state_dict(), path)
    adapter = load_model(path, device="cpu")
    assert adapter.arch == "gestaltmatcher-v1" and adapter.num_classes == 10575
    assert adapter.logits(_x(n=1)).shape == (1, 10575)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: {"module." + k: v for k, v in s.items()},
        lambda s: {"state_dict": s, "epoch": 12, "best_acc": np.float64(0.61)},
        lambda s: {"model_state_dict": {"module." + k: v for k, v in s.items()}, "optimizer": {"lr": 0.1}},
        lambda s: {"model": s, "args": __import__("argparse").Namespace(lr=0.01), "hist": np.zeros(3)},
        lambda s: {"_orig_mod." + k: v for k, v in s.items()},
    ],
    ids=["dataparallel", "state_dict+numpy", "model_state_dict", "model+namespace", "torch.compile"],
)
def test_v1_wrapped_checkpoints(tmp_path, v1_model, wrap):
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(v1_model.state_dict()), path)
    adapter = load_model(path, device="cpu")
    x = _x(n=1)
    assert torch.allclose(adapter.logits(x), v1_model(x)[0], atol=1e-6)


def test_half_precision_and_missing_num_batches_tracked(tmp_path, v1_model):
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in v1_model.state_dict().items()}
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "half.pt"
    torch.save(state, path)
    adapter = load_model(path, device="cpu")
    assert all(p.dtype == torch.float32 for p in adapter.net.parameters())
    x = _x(n=1)
    ref = GestaltMatcherV1(139).eval()
    ref.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    assert torch.allclose(adapter.logits(x), ref(x)[0], atol=1e-5)


def test_preprocess_matches_upstream_pipeline_bit_exactly(v1_file):
    from skimage import data
    from torchvision import transforms

    photo = data.astronaut()
    adapter = load_model(v1_file, device="cpu")
    upstream = transforms.Compose(
        [transforms.Resize((100, 100)), transforms.Grayscale(1), transforms.ToTensor()]
    )
    ref = upstream(Image.fromarray(photo)).unsqueeze(0)
    x = adapter.preprocess(photo)
    assert x.shape == (1, 1, 100, 100) and x.dtype == torch.float32
    assert torch.equal(x, ref)
    assert torch.equal(adapter.logits(x), adapter.logits(ref))


def test_preprocess_torchvision_convention(tmp_path, resnet18_7):
    from skimage import data
    from torchvision import transforms

    path = tmp_path / "r18.pt"
    torch.save(resnet18_7.state_dict(), path)
    adapter = load_model(path, device="cpu")
    photo = data.astronaut()
    ref = transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )(Image.fromarray(photo))
    assert torch.allclose(adapter.preprocess(photo)[0], ref, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# torchvision


def test_torchvision_resnet18_round_trip(tmp_path, resnet18_7):
    path = tmp_path / "r18.pt"
    torch.save(resnet18_7.state_dict(), path)
    adapter = load_model(path, device="cpu")
    assert adapter.arch == "torchvision:resnet18" and adapter.num_classes == 7
    assert (adapter.input_size, adapter.channels, adapter.template) == ((224, 224), 3, "none")
    assert adapter.mean == (0.485, 0.456, 0.406) and adapter.std == (0.229, 0.224, 0.225)
    assert adapter.default_cam_layer == "layer4" and not adapter.has_embedding
    x = _x(3, 64)
    with torch.no_grad():
        assert torch.allclose(adapter.logits(x), resnet18_7(x), atol=1e-6)
    # Forcing the right architecture, or just the family, loads the same thing.
    assert load_model(path, arch="torchvision:resnet18").arch == "torchvision:resnet18"
    assert load_model(path, arch="torchvision").arch == "torchvision:resnet18"
    assert detect_arch(resnet18_7.state_dict()) == "torchvision:resnet18"
    assert detect_arch(resnet18_7) == "torchvision:resnet18"


def test_torchvision_mobilenet_round_trip(tmp_path):
    torch.manual_seed(2)
    net = torchvision.models.mobilenet_v3_small(num_classes=3).eval()
    path = tmp_path / "mnv3.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    adapter = load_model(path)
    assert adapter.arch == "torchvision:mobilenet_v3_small" and adapter.num_classes == 3
    assert adapter.default_cam_layer == "features"
    x = _x(3, 64)
    with torch.no_grad():
        assert torch.allclose(adapter.logits(x), net(x), atol=1e-5)
    # The CAM layer really is a spatial feature map.
    out = []
    handle = adapter.layer("features").register_forward_hook(lambda m, i, o: out.append(o.shape))
    adapter.logits(x)
    handle.remove()
    assert len(out[0]) == 4 and out[0][2] > 1


@pytest.mark.parametrize(
    ("builder", "kwargs", "expected"),
    [
        ("resnet18", {}, "resnet18"),
        ("resnet34", {}, "resnet34"),
        ("mobilenet_v3_small", {}, "mobilenet_v3_small"),
        ("googlenet", {"aux_logits": False, "init_weights": False}, "googlenet"),
        ("squeezenet1_1", {}, "squeezenet1_1"),
        ("regnet_y_400mf", {}, "regnet_y_400mf"),
        ("efficientnet_b0", {}, "efficientnet_b0"),
    ],
)
def test_detector_recognises_models_built_by_installed_torchvision(builder, kwargs, expected):
    """Whatever torchvision the machine resolved: a model it builds is detected as itself.

    The reference is the installed torchvision's own builder, not the shipped signature table, so
    a stale table (or a table the detector disagrees with) makes this fail.
    """
    net = torchvision.models.get_model(builder, weights=None, num_classes=5, **kwargs)
    assert detect_arch(net.state_dict()) == f"torchvision:{expected}"


def test_default_cam_layers_for_families():
    expected = {
        "vgg11": "features.19",  # the ReLU after the last conv, as Grad-CAM used for VGG
        "alexnet": "features.11",
        "densenet121": "features",
        "convnext_tiny": "features",
        "swin_t": "permute",  # channels-first view of the last stage
        "maxvit_t": "blocks.3",  # the last stage; the ModuleList itself is never called
        "vit_b_16": "",  # tokens, no spatial map
        "resnet50": "layer4",
        "efficientnet_b0": "features",
        "regnet_y_400mf": "trunk_output",
        "googlenet": "inception5b",
    }
    for arch, layer in expected.items():
        model = tvz.build(tvz.variants(arch)[0], 10)
        assert tvz.default_cam_layer(arch, model) == layer, arch
        assert layer == "" or layer in dict(model.named_modules())


# ------------------------------------------------------------------------------------------------
# TorchScript and trusted whole modules


def test_torchscript_traced_round_trip(tmp_path):
    torch.manual_seed(4)
    net = TinyNet().eval()
    path = tmp_path / "tiny_traced.pt"
    traced = torch.jit.trace(net, torch.zeros(1, 3, 224, 224))
    torch.jit.save(traced, str(path))
    adapter = load_model(path)
    assert adapter.arch == "torchscript" and adapter.extra["format"] == "torchscript"
    assert adapter.num_classes == 5 and adapter.has_embedding and adapter.embedding_index == 1
    assert (adapter.input_size, adapter.channels, adapter.mean) == ((224, 224), 3, (0.485, 0.456, 0.406))
    # Layers of compiled code cannot be hooked: no CAM layer, but the last conv is reported.
    assert adapter.default_cam_layer == "" and adapter.extra["last_conv_layer"] == "conv"
    x = _x(3, 224, 1)
    with torch.no_grad():
        logits, emb = net(x)
    assert torch.allclose(adapter.logits(x), logits, atol=1e-6)
    assert torch.allclose(adapter.embed(x), emb, atol=1e-6)
    # Input gradients flow through the compiled module (what attribution methods need).
    xg = x.clone().requires_grad_(True)
    adapter.logits_module(xg)[0, 2].backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_torchscript_attributes_and_metadata_file(tmp_path):
    scripted = torch.jit.script(WithAttributes().eval())
    path = tmp_path / "attrs.pt"
    torch.jit.save(scripted, str(path))
    adapter = load_model(path)
    assert adapter.input_size == (64, 48) and adapter.channels == 1
    assert adapter.mean == (0.5,) and adapter.std == (0.25,)
    assert adapter.class_names == ["a", "b", "c"] and adapter.extra["classes_source"] == "model"

    traced = torch.jit.trace(Fixed112().eval(), torch.zeros(1, 3, 112, 112))
    meta_path = tmp_path / "meta.pt"
    meta = {"input_size": 112, "channels": 3, "mean": 0.5, "std": 0.5, "template": "arcface112"}
    torch.jit.save(traced, str(meta_path), _extra_files={"gmxai.json": json.dumps(meta)})
    adapter = load_model(meta_path)
    assert adapter.input_size == (112, 112) and adapter.template == "arcface112"
    assert adapter.mean == (0.5, 0.5, 0.5) and adapter.num_classes == 4
    assert "notes" not in adapter.extra or not any("probing" in n for n in adapter.extra["notes"])


class InternalNorm(nn.Module):
    """Normalises inside the network: its mean/std buffers must not be taken as preprocessing."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv((x - self.mean) / self.std).mean(dim=(2, 3))


def test_internal_normalisation_buffers_are_not_preprocessing(tmp_path):
    path = tmp_path / "internal.pth"
    torch.save(InternalNorm().eval(), path)
    adapter = load_model(path, trust_pickle=True)
    assert adapter.arch == "pickled:InternalNorm" and adapter.num_classes == 2
    assert adapter.mean == (0.485, 0.456, 0.406)  # the default convention, not the buffers


def test_input_size_is_probed_when_unknown(tmp_path):
    traced = torch.jit.trace(Fixed112().eval(), torch.zeros(1, 3, 112, 112))
    path = tmp_path / "arc_like.pt"
    torch.jit.save(traced, str(path))
    adapter = load_model(path)
    assert adapter.input_size == (112, 112) and adapter.channels == 3 and adapter.template == "arcface112"
    assert any("probing" in n for n in adapter.extra["notes"])


def test_pickled_whole_model_is_refused_then_trusted(tmp_path, v1_model):
    path = tmp_path / "gm_last_model.pth"
    torch.save(v1_model, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert "pickled Python objects" in msg and "--trust-pickle" in msg and "run code" in msg
    assert "GestaltMatcherV1" in msg  # names what the file would build

    adapter = load_model(path, trust_pickle=True)
    assert adapter.arch == "gestaltmatcher-v1" and adapter.extra["format"] == "pickled-module"
    x = _x(n=1)
    assert torch.allclose(adapter.logits(x), v1_model(x)[0], atol=1e-6)


def test_trusted_unknown_module_is_wrapped(tmp_path):
    torch.manual_seed(5)
    net = TinyNet().eval()
    path = tmp_path / "tiny.pth"
    torch.save({"model": net, "epoch": 3}, path)
    adapter = load_model(path, trust_pickle=True)
    assert adapter.arch == "pickled:TinyNet" and adapter.num_classes == 5
    assert adapter.default_cam_layer == "conv" and adapter.has_embedding
    x = _x(3, 224, 1)
    assert torch.allclose(adapter.logits(x), net(x)[0], atol=1e-6)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("payload", [Marker, ShellMarker])
def test_refused_pickle_runs_nothing(tmp_path, payload, legacy):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(
        {"weight": torch.zeros(2), "x": payload(str(marker))}, path, _use_new_zipfile_serialization=not legacy
    )
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        load_model(path)
    assert not marker.exists()


def test_raw_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Marker(str(marker)), protocol=2))
    with pytest.raises(CheckpointError):
        load_model(path)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------
# refusals


def test_missing_empty_and_non_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match=r"model file nothing\.pt not found"):
        load_model(tmp_path / "nothing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty"):
        load_model(tmp_path / "empty.pt")
    Image.new("RGB", (8, 8)).save(tmp_path / "face.jpg")
    with pytest.raises(CheckpointError, match=r"face\.jpg is a JPEG image, not a model checkpoint"):
        load_model(tmp_path / "face.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "face.png")
    with pytest.raises(CheckpointError, match="PNG image"):
        load_model(tmp_path / "face.png")
    (tmp_path / "notes.pt").write_text("hello\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt is not a PyTorch checkpoint"):
        load_model(tmp_path / "notes.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model(tmp_path)


def test_truncated_checkpoint(tmp_path, v1_file):
    data = v1_file.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt .*(damaged|truncated)"):
        load_model(cut)


def test_non_finite_weights_are_refused(tmp_path, v1_model):
    state = v1_model.state_dict()
    state["base.7.conv.weight"] = state["base.7.conv.weight"].clone()
    state["base.7.conv.weight"][0, 0, 0, 0] = float("nan")
    state["classifier.0.bias"] = state["classifier.0.bias"].clone()
    state["classifier.0.bias"][3] = float("inf")
    path = tmp_path / "diverged.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert "NaN or infinite" in msg and "base.7.conv.weight (1 of" in msg and "classifier.0.bias (1 of" in msg


def test_v1_with_a_missing_key_and_a_wrong_shape(tmp_path, v1_model):
    state = dict(v1_model.state_dict())
    del state["base.12.norm.running_var"]
    state["base.13.weight"] = torch.zeros(320, 160, 5, 5)
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = str(err.value)
    assert msg.startswith("broken.pt does not fit gestaltmatcher-v1")
    assert "1 missing key (base.12.norm.running_var)" in msg
    assert "1 shape mismatch (base.13.weight: checkpoint (320, 160, 5, 5) vs model (320, 160, 3, 3))" in msg


def test_resnet_forced_as_v1_lists_everything_once(tmp_path, resnet18_7):
    path = tmp_path / "r18.pt"
    torch.save(resnet18_7.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        load_model(path, arch="gestaltmatcher-v1")
    msg = str(err.value)
    assert "missing keys (base.0.conv.weight" in msg and "and 48 more" in msg
    assert "122 unexpected keys (conv1.weight" in msg and "and 112 more" in msg
    assert "look like torchvision:resnet18" in msg
    with pytest.raises(CheckpointError, match="does not fit torchvision:resnet34"):
        load_model(path, arch="torchvision:resnet34")


def test_unknown_architectures(tmp_path, resnet18_7):
    path = tmp_path / "r18.pt"
    torch.save(resnet18_7.state_dict(), path)
    with pytest.raises(ParameterError, match=r"choices: gestaltmatcher-v1, torchvision:<arch>"):
        load_model(path, arch="resnet18")
    with pytest.raises(ParameterError, match=r"unknown torchvision architecture 'resnet19'.*resnet18"):
        load_model(path, arch="torchvision:resnet19")
    with pytest.raises(CheckpointError, match="not a TorchScript archive"):
        load_model(path, arch="torchscript")
    strange = tmp_path / "strange.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.weight": torch.zeros(3)}, strange)
    with pytest.raises(CheckpointError, match=r"match no supported architecture.*encoder\.weight"):
        load_model(strange)
    no_weights = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "note": "hello"}, no_weights)
    with pytest.raises(CheckpointError, match="no model weights were found"):
        load_model(no_weights)


def test_torchscript_file_forced_as_state_dict(tmp_path):
    path = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.trace(TinyNet().eval(), torch.zeros(1, 3, 8, 8)), str(path))
    with pytest.raises(CheckpointError, match="is a TorchScript archive"):
        load_model(path, arch="gestaltmatcher-v1")


def test_architectures_list():
    assert ARCHITECTURES == ["gestaltmatcher-v1", "torchvision:<arch>", "torchscript", "gestaltmatcher-arc"]


# ------------------------------------------------------------------------------------------------
# class names


def test_read_class_names_formats(tmp_path):
    upstream = tmp_path / "lookup_table.txt"
    upstream.write_text("index_id to disorder_id\n[2, 14, 35, 900]\n")
    assert read_class_names(upstream) == ["2", "14", "35", "900"]
    plain = tmp_path / "names.txt"
    plain.write_text("\ufeffCornelia de Lange\n\nWilliams-Beuren\n  Kabuki  \n\n")
    assert read_class_names(plain) == ["Cornelia de Lange", "Williams-Beuren", "Kabuki"]
    hostile = tmp_path / "hostile.txt"
    marker = tmp_path / "pwned"
    hostile.write_text(f"index_id to disorder_id\n[__import__('os').system('touch {marker}')]\n")
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_class_names(hostile)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="empty"):
        (tmp_path / "blank.txt").write_text("\n\n")
        read_class_names(tmp_path / "blank.txt")
    with pytest.raises(CheckpointError, match="not found"):
        read_class_names(tmp_path / "nope.txt")


def test_class_names_applied_and_checked(tmp_path, v1_file):
    names = tmp_path / "lookup.txt"
    names.write_text("index_id to disorder_id\n" + repr(list(range(1000, 1139))) + "\n")
    adapter = load_model(v1_file, classes=names)
    assert adapter.class_names[0] == "1000" and adapter.num_classes == 139
    assert adapter.extra["classes_source"] == "lookup.txt"
    short = tmp_path / "short.txt"
    short.write_text("a\nb\n")
    with pytest.raises(CheckpointError, match=r"short\.txt lists 2 classes but the model has 139 outputs"):
        load_model(v1_file, classes=short)


def test_sibling_class_files(tmp_path, v1_file):
    table = v1_file.with_name("lookup_table.txt")
    table.write_text("index_id to disorder_id\n[1, 2, 3]\n")  # belongs to another model
    adapter = load_model(v1_file)
    assert adapter.class_names[:2] == ["class 0", "class 1"]
    assert any("ignored lookup_table.txt" in n for n in adapter.extra["notes"])
    table.write_text("index_id to disorder_id\n" + repr(list(range(139))) + "\n")
    assert load_model(v1_file).extra["classes_source"] == "lookup_table.txt"
    own = v1_file.with_name(v1_file.stem + ".classes.txt")
    own.write_text("\n".join(f"syndrome {i}" for i in range(139)))
    adapter = load_model(v1_file)
    assert adapter.class_names[5] == "syndrome 5" and adapter.extra["classes_source"] == own.name


# ------------------------------------------------------------------------------------------------
# demo models


def test_demo_model_resolution(tmp_path, monkeypatch, v1_file):
    import gmxai_desktop.core.models.spec as models_pkg

    names = tmp_path / "demo_classes.txt"
    names.write_text("\n".join(f"demo {i}" for i in range(139)))
    calls = []

    def fake(name: str = "demo") -> tuple[Path, Path]:
        calls.append(name)
        return v1_file, names

    monkeypatch.setattr(models_pkg, "demo_model_paths", fake)
    adapter = load_model("demo-imbalanced")
    assert calls == ["demo-imbalanced"] and adapter.class_names[0] == "demo 0"

    monkeypatch.setattr(models_pkg, "demo_model_paths", lambda name="demo": (tmp_path / "gone.pt", names))
    with pytest.raises(CheckpointError, match="demo model is not bundled"):
        load_model("demo")


def test_demo_model_missing_resources(monkeypatch, tmp_path):
    monkeypatch.setenv("GMXAI_RESOURCES", str(tmp_path))  # an installation without resources/
    with pytest.raises(CheckpointError, match="demo model is not bundled"):
        load_model("demo")


# ------------------------------------------------------------------------------------------------
# devices


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(" CPU ") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    expected = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    assert pick_device(None) == expected and pick_device("auto") == expected
    with pytest.raises(GmxaiError, match="unknown device 'gpu'"):
        pick_device("gpu")
    with pytest.raises(GmxaiError, match="unknown device"):
        pick_device("cuda:x")
    with pytest.raises(GmxaiError):
        pick_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(GmxaiError, match=r"CUDA is not available.*--device cpu"):
            pick_device("cuda")


def test_describe_device():
    text = describe_device(torch.device("cpu"))
    assert text == f"CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''})"


def test_module_format_versions_survive_or_are_supplied(tmp_path):
    # MNASNet reads the format version torch.save records with a state_dict and refuses to load
    # without one; a plain dict (as some scripts save) gets the current version.
    torch.manual_seed(6)
    net = torchvision.models.mnasnet0_5(num_classes=4).eval()
    x = _x(3, 64, 1)
    for name, obj in [("with_meta.pt", net.state_dict()), ("plain.pt", dict(net.state_dict()))]:
        torch.save({"module." + k: v for k, v in obj.items()} if name == "plain.pt" else obj, tmp_path / name)
        adapter = load_model(tmp_path / name)
        assert adapter.arch == "torchvision:mnasnet0_5" and adapter.default_cam_layer == "layers"
        with torch.no_grad():
            assert torch.allclose(adapter.logits(x), net(x), atol=1e-5)
