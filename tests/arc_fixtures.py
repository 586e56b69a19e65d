"""Tiny GestaltMatcher-Arc files made the way upstream makes them, for tests and benchmarks.

An insightface-layout iResNet (depths 1,1,1,1, narrow) is exported to ONNX in eval mode,
converted with onnx2torch, cut as upstream's ``MyArcFace`` does (base ends at the flatten,
``features`` = Gemm + BatchNorm1d moved out) and saved whole with ``torch.save`` under the module
path ``lib.models.my_arcface``. Both onnx2torch naming schemes are produced: the installed
(>= 1.5.7) node-name scheme, and the <= 1.5.6 ``{OpType}_{counter}`` scheme emulated by renaming.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path

import onnx
import onnx2torch
import torch
from torch import nn

from gmxai_desktop.core.models.arc.iresnet import IResNet

MY_ARCFACE_SOURCE = """
from torch import nn


class MyArcFace(nn.Module):
    def __init__(self, base, features, num_classes, mv):
        super().__init__()
        self.base = base
        self.features = features
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(512, num_classes))
        self.mv = mv

    def forward(self, x):
        rep = self.features(self.base(x))
        return self.classifier(rep), rep
"""


def tiny_iresnet(seed: int = 0, widths: tuple[int, int, int, int] = (8, 8, 16, 16)) -> IResNet:
    torch.manual_seed(seed)
    net = IResNet((1, 1, 1, 1), widths=widths).eval()
    with torch.no_grad():  # non-trivial BN statistics, so that eval-mode folding matters
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.1, 0.4)
    return net


def export_onnx(net: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            torch.zeros(1, 3, 112, 112),
            str(path),
            input_names=["input.1"],
            output_names=["embedding"],
            opset_version=11,
            dynamo=False,
        )
    return path


def old_naming(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """onnx2torch <= 1.5.6 names: ``{OpType}_{counter}`` in node order (Conv_0, Add_0, Gemm_0...)."""
    counts: Counter[str] = Counter()
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    root: dict[str, object] = {}
    for node in gm.graph.nodes:
        args = torch.fx.map_arg(node.args, lambda n: env[n])
        if node.op == "placeholder":
            env[node] = graph.placeholder("input_1")
        elif node.op == "get_attr":
            env[node] = graph.get_attr(node.target)
            root[node.target] = gm.get_buffer(node.target)
        elif node.op == "call_module":
            op = node.target.split("/")[-1].split("_")[0]
            target = f"{op}_{counts[op]}"
            counts[op] += 1
            env[node] = graph.call_module(target, args)
            root[target] = gm.get_submodule(node.target)
        elif node.op == "output":
            graph.output(args[0])
    return torch.fx.GraphModule(root, graph)


def upstream_surgery(gm: torch.fx.GraphModule) -> tuple[torch.fx.GraphModule, nn.Sequential]:
    """Cut the graph at its flatten and move Gemm + BatchNorm1d out, as MyArcFace does."""
    nodes = list(gm.graph.nodes)
    flat = next(
        n for n in nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.Flatten)
    )
    after = nodes[nodes.index(flat) + 1 :]
    gemm, bn = (n.target for n in after if n.op == "call_module")
    features = nn.Sequential(gm.get_submodule(gemm), gm.get_submodule(bn))
    for node in reversed(after):
        gm.graph.erase_node(node)
    gm.graph.output(flat)
    gm.delete_submodule(gemm)
    gm.delete_submodule(bn)
    gm.recompile()
    return gm, features


def my_arcface_class(root: Path) -> type:
    """``lib.models.my_arcface.MyArcFace`` importable from ``root`` (for pickling it)."""
    pkg = root / "lib" / "models"
    pkg.mkdir(parents=True, exist_ok=True)
    (root / "lib" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "my_arcface.py").write_text(MY_ARCFACE_SOURCE)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    for name in ("lib.models.my_arcface", "lib.models", "lib"):
        sys.modules.pop(name, None)
    from lib.models.my_arcface import MyArcFace  # type: ignore[import-not-found]

    return MyArcFace


def forget_my_arcface(root: Path) -> None:
    """Make the class unimportable again, as on a machine without upstream's code."""
    for name in ("lib.models.my_arcface", "lib.models", "lib"):
        sys.modules.pop(name, None)
    while str(root) in sys.path:
        sys.path.remove(str(root))


def make_arc_files(folder: Path, num_classes: int = 7, seed: int = 0) -> dict[str, object]:
    """ONNX + whole-model pickles in both naming schemes, plus the in-memory reference models."""
    folder.mkdir(parents=True, exist_ok=True)
    net = tiny_iresnet(seed)
    onnx_path = export_onnx(net, folder / "glint360k_r100.onnx")
    cls = my_arcface_class(folder / "_code")
    out: dict[str, object] = {"onnx": onnx_path, "iresnet": net}
    for scheme in ("new", "old"):
        gm = onnx2torch.convert(onnx.load(str(onnx_path)))
        if scheme == "old":
            gm = old_naming(gm)
        gm, features = upstream_surgery(gm)
        torch.manual_seed(seed + 1)
        model = cls(gm, features, num_classes, "5").eval()
        path = folder / f"s1_glint360k_r50_512d_gmdb__v1.0.3_bs64_size112_channels3_{scheme}_last_model.pth"
        torch.save(model, path)
        out[f"pth_{scheme}"] = path
        out[f"model_{scheme}"] = model
    forget_my_arcface(folder / "_code")
    return out
