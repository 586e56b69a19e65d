"""Reading an ``.onnx`` file: protobuf data, checked, then converted to torch layers by onnx2torch.

ONNX holds a graph and tensors, never Python, so no trust prompt is needed. onnx2torch turns each
node into a torch layer; :mod:`.graph` then reads the node list instead of running the generated
code, so the same interpreter runs ONNX and pickled networks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...base.errors import CheckpointError


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def read_onnx(path: Path) -> Any:
    """The checked ``onnx.ModelProto``; one clear :class:`CheckpointError` for anything else."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, truncated files, ...
        raise CheckpointError(
            f"{path.name} is not a readable ONNX model; the file may be damaged or incomplete ({_first(exc)})"
        ) from None
    if not proto.graph.node:
        raise CheckpointError(f"{path.name} is not a readable ONNX model (it holds no graph)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise CheckpointError(f"{path.name} keeps its weights in separate files; save it as one .onnx file")
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        raise CheckpointError(f"{path.name} is not a valid ONNX model ({_first(exc)})") from None
    return proto


def constants_to_initializers(proto: Any) -> Any:
    """Constant tensors become initializers (the same data, where onnx2torch looks for it).

    Two export habits hide weights from onnx2torch, which reads a conv's weight and bias from the
    initializers only: tensor-valued ``Constant`` nodes, and ``Identity`` nodes that alias one
    initializer under another name (torch deduplicates equal tensors, e.g. all-zero biases).
    """
    known = {t.name: t for t in proto.graph.initializer}
    keep = []
    moved = False
    for node in proto.graph.node:  # node order is topological, so aliases of aliases resolve too
        value = next((a for a in node.attribute if a.name == "value" and a.HasField("t")), None)
        source = None
        if node.op_type == "Constant" and value is not None and len(node.output) == 1:
            source = value.t
        elif node.op_type == "Identity" and len(node.input) == 1 and node.input[0] in known:
            source = known[node.input[0]]
        if source is None:
            keep.append(node)
            continue
        tensor = proto.graph.initializer.add()
        tensor.CopyFrom(source)
        tensor.name = node.output[0]
        known[tensor.name] = tensor
        moved = True
    if moved:
        del proto.graph.node[:]
        proto.graph.node.extend(keep)
    return proto


def convert(proto: Any, name: str) -> Any:
    """onnx2torch's GraphModule for ``proto`` (the layers; its generated code is not used)."""
    import onnx2torch

    try:
        return onnx2torch.convert(constants_to_initializers(proto))
    except Exception as exc:
        raise CheckpointError(f"{name}: onnx2torch cannot convert this ONNX model ({_first(exc)})") from None
