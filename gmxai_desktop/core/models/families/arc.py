"""Family ``gestaltmatcher-arc``: GestaltMatcher-Arc / ArcFace iResNet networks, ONNX or pickled.

Input 112x112 RGB aligned to the ArcFace template, normalised to (x/255 - 0.5)/0.5. The
embedding (512-d) always exists; logits exist where the file has a classifier (the fine-tuned
``MyArcFace`` models), the raw ONNX backbone has none. Default CAM layer: the BatchNorm2d right
before the flatten, the last 7x7 feature map.

Nothing stored in the file runs: ONNX is data, and pickles are read by the allow-listed unpickler
and rebuilt by :mod:`..arc.graph` from the parsed (never executed) forward source.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...base.errors import CheckpointError
from ..arc.graph import parse_forward, steps_from_fx
from ..arc.net import ArcNet, check_classifier, check_runs, split_head
from ..arc.onnx_reader import convert
from ..arc.unpickle import ContainerRecord, StoredGraph
from ..built import Built
from ..content import ARC_PICKLE, ONNX, Content

KIND = "gestaltmatcher-arc"
LABEL = KIND
FORMATS = (ONNX, ARC_PICKLE)
INPUT_SIZE = (112, 112)
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
NO_CODE_RUN = "no code from the file was run"


def detect(content: Content) -> float:
    return 1.0 if content.format in FORMATS else 0.0


def build(content: Content, variant: str | None = None, forced: bool = False) -> Built:
    name = content.name
    if content.format == ONNX:
        graph_module = convert(content.payload, name)
        input_name, steps, output = steps_from_fx(graph_module.graph, name)
        modules = dict(graph_module.named_children())
        base, features, cam = split_head(modules, {}, steps, input_name, output, name, None)
        net = ArcNet(base, features, None)
        source = "ONNX graph converted by onnx2torch"
    else:
        net, cam, source = _from_pickle(content.payload, name)
    dim = check_runs(net, name)
    num_classes = net.num_classes
    notes = (
        []
        if num_classes
        else [
            "embedding-only network (no classifier): explain it with an embedding target "
            "(similarity to an image or a syndrome centroid)"
        ]
    )
    extra: dict[str, Any] = {
        "embedding_dim": dim,
        "rebuilt_from": source,
        "code_from_file_run": False,
        "notes": notes,
    }
    return Built(
        arch=KIND,
        net=net,
        num_classes=num_classes,
        input_size=INPUT_SIZE,
        channels=3,
        mean=MEAN,
        std=STD,
        template="arcface112",
        cam_layer=cam,
        logits_index=0,
        has_embedding=True,
        embedding_index=1,
        extra=extra,
    )


def _from_pickle(record: ContainerRecord | StoredGraph, name: str) -> tuple[ArcNet, str, str]:
    if isinstance(record, StoredGraph):
        graph, features, classifier = record, None, None
        source = "onnx2torch graph pickle (stored code parsed, not run)"
    else:
        mods = record.modules
        graph, features, classifier = mods.get("base"), mods.get("features"), mods.get("classifier")
        if not isinstance(graph, StoredGraph):
            raise CheckpointError(
                f"{name}: the MyArcFace container has no converted graph as 'base'; refused"
            )
        if features is None:
            raise CheckpointError(f"{name}: the MyArcFace container has no 'features' head; refused")
        source = "MyArcFace pickle (allow-listed unpickling; stored code parsed, not run)"
    input_name, steps, output = parse_forward(graph.code, name)
    modules = {k: v for k, v in graph.modules.items()}
    bad = [k for k, v in modules.items() if not isinstance(v, nn.Module)]
    if bad:
        raise CheckpointError(f"{name}: the graph holds non-layer entries ({', '.join(bad[:3])}); refused")
    tensors = {k: v for k, v in {**graph.buffers, **graph.parameters}.items() if isinstance(v, torch.Tensor)}
    base, features, cam = split_head(modules, tensors, steps, input_name, output, name, features)
    if classifier is not None:
        classifier = check_classifier(classifier, features[1].num_features, name)
    return ArcNet(base, features, classifier), cam, source
