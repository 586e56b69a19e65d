"""End-to-end tests of the ``gmxai`` command line on a small v1 checkpoint and real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gmxai_desktop.cli.main import main
from gmxai_desktop.core.attribution.methods import list_methods
from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = GestaltMatcherV1(num_classes=4).eval()
    # Non-trivial BN statistics so a broken load (default BN) would change the outputs.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    d = tmp_path_factory.mktemp("model")
    path = d / "tiny_v1.pt"
    torch.save(net.state_dict(), path)
    (d / "tiny_v1.classes.txt").write_text("alpha\nbeta\ngamma\ndelta\n")
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(2):
        arr = (rng.random((100, 100, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(d / f"face{i}.png")
    return d


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_subcommands() -> None:
    out = subprocess.run([sys.executable, "-m", "gmxai_desktop.cli.main", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for cmd in ("predict", "explain", "methods"):
        assert cmd in out.stdout


def test_predict_json_matches_direct_forward(ckpt: Path, images: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "predict", "--model", str(ckpt), "--json", "--top", "3",
                             "--align", "none", str(images))
    assert code == 0, err
    records = json.loads(out)
    assert [Path(r["image"]).name for r in records] == ["face0.png", "face1.png"]
    net = GestaltMatcherV1(num_classes=4).eval()
    net.load_state_dict(torch.load(ckpt, weights_only=True))
    img = Image.open(images / "face0.png").resize((100, 100), Image.BILINEAR).convert("L")
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None, None]
    with torch.no_grad():
        logits, rep = net(x)
    rec = records[0]
    np.testing.assert_allclose(rec["logits"], logits[0].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rec["embedding"], rep[0].numpy(), rtol=1e-4, atol=1e-5)
    assert len(rec["top"]) == 3
    assert rec["top"][0]["index"] == int(logits.argmax())
    assert rec["top"][0]["name"] == ["alpha", "beta", "gamma", "delta"][int(logits.argmax())]


def test_explain_writes_maps_overlays_and_manifest(ckpt: Path, images: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "explain", "--model", str(ckpt), "--methods", "gradcam,saliency",
                           "--param", "gradcam.relu=false", "--align", "none", "--out", str(out_dir),
                           str(images / "face0.png"))
    assert code == 0, err
    m = np.load(out_dir / "face0" / "gradcam.npy")
    assert m.shape == (100, 100) and m.dtype == np.float32
    assert m.min() < 0 < m.max(), "relu=false must keep the signed Grad-CAM"
    assert (out_dir / "face0" / "saliency.png").stat().st_size > 0
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["params"]["gradcam"]["relu"] is False
    assert manifest["images"][0]["status"] == "ok"
    assert {"torch", "captum", "gmxai_desktop"} <= set(manifest["versions"])


def test_explain_topk_writes_one_file_per_target(ckpt: Path, images: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "explain", "--model", str(ckpt), "--methods", "saliency",
                           "--target", "top:2", "--align", "none", "--out", str(tmp_path),
                           str(images / "face1.png"))
    assert code == 0, err
    assert (tmp_path / "face1" / "saliency.top1.npy").exists()
    assert (tmp_path / "face1" / "saliency.top2.npy").exists()


def test_folder_run_continues_past_bad_files(ckpt: Path, images: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"this is not a jpeg")
    (bad / "empty.png").write_bytes(b"")
    Image.open(images / "face0.png").save(bad / "good.png")
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "explain", "--model", str(ckpt), "--methods", "saliency",
                           "--align", "none", "--out", str(out_dir), str(bad))
    assert code == 1
    assert "2 of 3 images failed" in err
    assert "Traceback" not in err
    manifest = json.loads((out_dir / "manifest.json").read_text())
    status = {Path(e["image"]).name: e["status"] for e in manifest["images"]}
    assert status == {"broken.jpg": "error", "empty.png": "error", "good.png": "ok"}
    assert (out_dir / "good" / "saliency.npy").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--model", "/nonexistent/model.pt"], "model.pt"),
        (["--model", "{ckpt}", "--methods", "nosuchmethod"], "unknown method"),
        (["--model", "{ckpt}", "--param", "occlusion.size=3"], "not in --methods"),
        (["--model", "{ckpt}", "--param", "saliency.bogus=1"], "no parameter"),
        (["--model", "{ckpt}", "--target", "no-such-class"], "no-such-class"),
    ],
)
def test_user_errors_are_one_line(argv, needle, ckpt: Path, images: Path, tmp_path: Path, capsys) -> None:
    argv = [a.replace("{ckpt}", str(ckpt)) for a in argv]
    if "--methods" not in argv:
        argv += ["--methods", "saliency"]
    code, _, err = run_cli(capsys, "explain", *argv, "--align", "none", "--out", str(tmp_path),
                           str(images / "face0.png"))
    assert code != 0
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3


def test_methods_lists_every_thesis_method(capsys) -> None:
    code, out, _ = run_cli(capsys, "methods", "--json")
    assert code == 0
    names = [m["name"] for m in json.loads(out)]
    assert names == [m.name for m in list_methods()]  # the registry, in the thesis order
    occ = next(m for m in json.loads(out) if m["name"] == "occlusion")
    defaults = {p["name"]: p["default"] for p in occ["params"]}
    assert defaults.get("stride") == 5


def test_console_script_runs(ckpt: Path, images: Path) -> None:
    exe = Path(sys.executable).with_name("gmxai")
    if not exe.exists():
        pytest.skip("gmxai console script not installed next to this interpreter")
    out = subprocess.run([str(exe), "predict", "--model", str(ckpt), "--align", "none",
                          str(images / "face0.png")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "face0.png:" in out.stdout
