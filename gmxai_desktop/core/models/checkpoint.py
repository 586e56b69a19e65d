"""Reading checkpoint files safely and turning what they hold into a clean state_dict.

A ``.pt``/``.pth`` file is a Python pickle. Unpickling an arbitrary pickle runs whatever code the
file's author put in it, so checkpoints are read with ``torch.load(weights_only=True)``: only
tensors, containers and plain values can come out, and anything else is refused before it is
built. Besides PyTorch's own list, a few data-only types that training scripts commonly store next
to the weights are allowed (numpy scalars/arrays/dtypes, ``argparse.Namespace``); they hold
values, never code. Everything else needs the explicit ``trust_pickle=True`` opt-in.

Every problem becomes one :class:`CheckpointError` written for the person who picked the file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..base.errors import CheckpointError
from ..base.hashing import file_sha256  # noqa: F401 (re-exported: models/__init__ uses it)

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
_STRIP_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"GIF8", "a GIF image"),
)


class UnsafePickleError(CheckpointError):
    """The file holds pickled objects beyond weights; a safe reader may still recognise them."""


def check_file(path: Path) -> None:
    name = path.name
    if not path.exists():
        raise CheckpointError(f"model file {name} not found")
    if path.is_dir():
        raise CheckpointError(f"{name} is a folder; give the checkpoint file inside it")
    if path.stat().st_size == 0:
        raise CheckpointError(f"model file {name} is empty (0 bytes); the download or copy may have failed")


def sniff(path: Path) -> str:
    """``'torchscript'``, ``'zip'`` (torch.save since PyTorch 1.6), ``'legacy'`` (older pickle) or
    ``'onnx'`` (a protobuf, read as data by :mod:`.arc.onnx_reader`).

    Anything else is refused here, before a loader sees it, with a message saying what the file
    looks like instead (a photo chosen as the model is the usual mistake).
    """
    with path.open("rb") as fh:
        head = fh.read(16)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise CheckpointError(
                f"{path.name} is a damaged zip archive ({exc}); the file may be truncated"
            ) from None
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return "zip"
        raise CheckpointError(f"{path.name} is a zip archive but not a PyTorch checkpoint")
    if head[:1] == b"\x80":
        return "legacy"
    for magic, what in _IMAGE_MAGIC:
        if head.startswith(magic):
            raise CheckpointError(f"{path.name} is {what}, not a model checkpoint")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        raise CheckpointError(f"{path.name} is a WebP image, not a model checkpoint")
    if path.suffix.lower() == ".onnx" or (head[:1] == b"\x08" and b"onnx" in _read_some(path)):
        return "onnx"
    if path.suffix.lower() == ".safetensors":
        raise CheckpointError(f"{path.name} is a safetensors file; save it as a PyTorch state_dict (.pt)")
    raise CheckpointError(f"{path.name} is not a PyTorch checkpoint (.pt/.pth state_dict or TorchScript)")


def _read_some(path: Path, n: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def _data_only_globals() -> list[Any]:
    """Types that carry values, not behaviour, and that training scripts often save with weights."""
    import argparse

    import numpy as np

    allowed: list[Any] = [np.ndarray, np.dtype, argparse.Namespace]
    for mod_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            mod = __import__(mod_name, fromlist=["scalar", "_reconstruct"])
        except ImportError:
            continue
        allowed += [mod.scalar, mod._reconstruct]
        break
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType") and n != "ObjectDType"]
    return allowed


def read_checkpoint(path: Path, *, trust_pickle: bool) -> Any:
    """``torch.load`` the file on the CPU: weights only unless the user trusts the file."""
    try:
        if trust_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_data_only_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc) and not trust_pickle:
            raise UnsafePickleError(_pickle_refusal(path)) from None
        raise CheckpointError(
            f"{path.name} cannot be read as a PyTorch checkpoint ({_first_line(exc)})"
        ) from None
    except MemoryError:
        raise CheckpointError(f"not enough memory to load {path.name}") from None
    except Exception as exc:  # torch reports damaged files with RuntimeError, EOFError, KeyError...
        raise CheckpointError(
            f"{path.name} cannot be read as a PyTorch checkpoint; the file may be damaged or "
            f"incomplete ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _pickle_refusal(path: Path) -> str:
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:
        found = []
    found = [g for g in found if not _is_allowed_name(g)]
    # The file's own classes say most about where it came from; PyTorch's building blocks go last.
    found.sort(key=lambda g: g.startswith(("torch.", "collections.", "builtins.")))
    what = f" (it stores {_short_list(found, 5)})" if found else ""
    return (
        f"{path.name} contains pickled Python objects, not only weights{what}. Loading it would run "
        "code stored in the file, so it was not loaded. If you trust its source, load it with "
        "--trust-pickle (only for files from a source you trust); better, re-save just the weights "
        "with torch.save(model.state_dict(), path)."
    )


def _is_allowed_name(name: str) -> bool:
    allowed = {
        f"{getattr(g, '__module__', '')}.{getattr(g, '__qualname__', '')}" for g in _data_only_globals()
    }
    return name in allowed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line[:300]


def _short_list(items: list[str], limit: int = 10) -> str:
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def is_tensor_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def unwrap(obj: Any, name: str, _depth: int = 0) -> dict[str, torch.Tensor] | nn.Module:
    """The state_dict (or, after trusted unpickling, the module) inside what ``torch.load`` returned.

    Accepts a bare state_dict, the usual training-checkpoint wrappers (``{"state_dict": ...}``,
    ``{"model_state_dict": ...}``, ``{"model": ...}``, ...) and key prefixes added by
    ``DataParallel`` (``module.``) or ``torch.compile`` (``_orig_mod.``).
    """
    if isinstance(obj, nn.Module):
        return obj
    if is_tensor_dict(obj):
        return strip_prefixes(with_metadata(obj, metadata_of(obj)))
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module):
                return inner
            if is_tensor_dict(inner):
                return strip_prefixes(with_metadata(inner, metadata_of(inner)))
            if isinstance(inner, Mapping) and _depth < 2:
                try:
                    return unwrap(inner, name, _depth + 1)
                except CheckpointError:
                    pass
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors and len(tensors) >= len(obj) / 2:
            # A state_dict with a few stray entries (e.g. an "epoch" counter saved into it).
            return strip_prefixes(with_metadata(tensors, metadata_of(obj)))
        keys = _short_list([repr(k) for k in list(obj)[:20]], 8)
        raise CheckpointError(
            f"{name} holds a dictionary but no model weights were found in it (top-level keys: {keys}); "
            "expected a state_dict, or one under 'state_dict' / 'model_state_dict' / 'model'"
        )
    if isinstance(obj, torch.Tensor):
        raise CheckpointError(f"{name} holds a single tensor, not a model state_dict")
    raise CheckpointError(f"{name} holds a {type(obj).__name__}, not a model state_dict")


def metadata_of(state: Any) -> dict[str, Any] | None:
    """The per-module format versions ``state_dict()`` records (``_metadata``), if the file kept them.

    Some modules read them while loading: MNASNet refuses to load without one, and BatchNorm uses
    it to decide whether ``num_batches_tracked`` must be present.
    """
    meta = getattr(state, "_metadata", None)
    return meta if isinstance(meta, Mapping) else None


def with_metadata(
    items: Mapping[str, torch.Tensor], meta: Mapping[str, Any] | None
) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = OrderedDict(items)
    if meta is not None:
        out._metadata = OrderedDict(meta)  # type: ignore[attr-defined]
    return out


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    meta = metadata_of(state)
    changed = True
    while changed:
        changed = False
        for prefix in _STRIP_PREFIXES:
            if state and all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                if meta is not None:
                    root = prefix[:-1]
                    meta = {
                        ("" if k == root else k[len(prefix) :]): v
                        for k, v in meta.items()
                        if k == root or k.startswith(prefix)
                    }
                changed = True
    return with_metadata(state, meta)


def check_finite(named: Mapping[str, torch.Tensor] | list[tuple[str, torch.Tensor]], name: str) -> None:
    """Refuse NaN/Inf weights: such a network still runs, and draws maps of garbage."""
    items = named.items() if isinstance(named, Mapping) else named
    bad: list[str] = []
    for key, tensor in items:
        if tensor.is_floating_point() or tensor.is_complex():
            t = tensor.detach()
            # One reduction per tensor is cheap; NaN and Inf survive a sum, so only a tensor whose
            # sum is not finite needs the element-wise count (which also rules out a mere overflow).
            if t.numel() and not bool(torch.isfinite(t.sum())):
                n_bad = int((~torch.isfinite(t)).sum())
                if n_bad:
                    bad.append(f"{key} ({n_bad} of {t.numel()} values)")
    if bad:
        raise CheckpointError(
            f"{name} contains NaN or infinite weights in {_short_list(bad, 5)}; the training run that "
            "produced it probably diverged"
        )


def to_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Half/bfloat16 checkpoints become float32: gradients of attribution methods need it on CPUs."""
    items = {
        k: (v.float() if v.is_floating_point() and v.dtype != torch.float32 else v) for k, v in state.items()
    }
    return with_metadata(items, metadata_of(state))


def fit_problems(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[str]]:
    """Missing keys, unexpected keys and shape mismatches of ``state`` against a model's layout.

    A missing ``num_batches_tracked`` is not a problem: checkpoints from before PyTorch 0.4.1 lack
    it and it does not affect inference.
    """
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k])}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    return missing, unexpected, mismatched


def fit_message(
    name: str, arch: str, missing: list[str], unexpected: list[str], mismatched: list[str], hint: str = ""
) -> str:
    def plural(n: int, word: str, suffix: str = "s") -> str:
        return f"{n} {word}{suffix if n != 1 else ''}"

    parts = []
    if missing:
        parts.append(f"{plural(len(missing), 'missing key')} ({_short_list(missing)})")
    if unexpected:
        parts.append(f"{plural(len(unexpected), 'unexpected key')} ({_short_list(unexpected)})")
    if mismatched:
        parts.append(f"{plural(len(mismatched), 'shape mismatch', 'es')} ({_short_list(mismatched)})")
    return f"{name} does not fit {arch}: " + "; ".join(parts) + (f". {hint}" if hint else "")


def fill_num_batches_tracked(state: dict[str, torch.Tensor], expected: Mapping[str, Any]) -> None:
    for k in expected:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.tensor(0, dtype=torch.long)


def load_into(model: nn.Module, state: dict[str, torch.Tensor], name: str, arch: str) -> nn.Module:
    """Strict load after :func:`fit_problems` found nothing; the tensors are taken over, not copied."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing, unexpected, mismatched = fit_problems(state, expected)
    if missing or unexpected or mismatched:
        raise CheckpointError(fit_message(name, arch, missing, unexpected, mismatched))
    # A checkpoint without format versions was written by the current code, as far as we can tell.
    meta = metadata_of(state)
    if meta is None:
        meta = metadata_of(model.state_dict())
    state = with_metadata(state, meta)
    fill_num_batches_tracked(state, expected)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{name} cannot be loaded into {arch}: {_first_line(exc)}") from None
    return model
