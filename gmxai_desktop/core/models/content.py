"""Step 2 of loading: read the file once, safely, into a :class:`Content` the families can score.

The format is sniffed from the bytes (:func:`.checkpoint.sniff`), then exactly one reader runs:

* TorchScript archives: ``torch.jit.load`` (TorchScript, not Python pickle code);
* ONNX: protobuf data, checked (:mod:`.arc.onnx_reader`);
* ``torch.save`` pickles: ``torch.load(weights_only=True)``; if that refuses the file because it
  holds objects, the allow-listed Arc unpickler (:mod:`.arc.unpickle`) gets one try, and if the
  file names anything outside its list the usual refusal (naming the file's classes) stands.
  ``trust_pickle=True`` is the explicit full-unpickling fallback, used only for files that no
  safe reader understood (so a trusted Arc file is still read without running its code).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..base.errors import CheckpointError
from .checkpoint import (
    UnsafePickleError,
    check_file,
    metadata_of,
    read_checkpoint,
    sniff,
    unwrap,
    with_metadata,
)

STATE_DICT, MODULE, TORCHSCRIPT, ONNX, ARC_PICKLE = (
    "state_dict",
    "pickled-module",
    "torchscript",
    "onnx",
    "arc-pickle",
)


@dataclass
class Content:
    """What a file holds: ``format`` (one of the constants above) and the object read from it."""

    path: Path
    format: str
    payload: Any
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    def state(self) -> dict[str, torch.Tensor] | None:
        """The tensors as a state_dict (state_dict files and trusted modules), else None."""
        if self.format == STATE_DICT:
            return self.payload
        if self.format == MODULE:
            full = self.payload.state_dict()
            tensors = {k: v for k, v in full.items() if isinstance(v, torch.Tensor)}
            return with_metadata(tensors, metadata_of(full))
        return None


def read_content(path: Path, *, trust_pickle: bool) -> Content:
    check_file(path)
    fmt = sniff(path)
    if fmt == "torchscript":
        return _read_torchscript(path)
    if fmt == "onnx":
        from .arc.onnx_reader import read_onnx

        return Content(path, ONNX, read_onnx(path))
    try:
        obj = unwrap(read_checkpoint(path, trust_pickle=False), path.name)
    except UnsafePickleError as refusal:
        from .arc.unpickle import NotArcPickle, read_arc_pickle

        try:
            return Content(path, ARC_PICKLE, read_arc_pickle(path))
        except NotArcPickle:
            if not trust_pickle:
                raise refusal from None
        # The explicit fallback: only files no safe reader understood are fully unpickled.
        obj = unwrap(read_checkpoint(path, trust_pickle=True), path.name)
    if isinstance(obj, nn.Module):
        return Content(path, MODULE, obj)
    return Content(path, STATE_DICT, obj)


def _read_torchscript(path: Path) -> Content:
    files = {"gmxai.json": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": not for users
            net = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name} cannot be loaded as TorchScript ({first})") from None
    meta: dict[str, Any] = {}
    if files.get("gmxai.json"):
        try:
            meta = json.loads(files["gmxai.json"])
        except (ValueError, TypeError):
            raise CheckpointError(f"{path.name}: its gmxai.json metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path.name}: its gmxai.json metadata must be a JSON object")
    return Content(path, TORCHSCRIPT, net, meta)
