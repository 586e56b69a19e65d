"""A restricted unpickler for upstream's whole-model ``*_last_model.pth`` files.

Those files are ``torch.save(MyArcFace)``: a container whose ``base`` is an onnx2torch
``torch.fx.GraphModule``. A plain ``torch.load`` rebuilds the GraphModule through
``torch.fx.graph_module.reduce_graph_module``, which ``exec``s the forward source stored in the
file, so a tampered file runs arbitrary code. Here every global the pickle names is looked up in
an explicit allow-list instead:

* tensors and storages (torch's own rebuild functions), ``OrderedDict``/``set``;
* the layer classes a converted iResNet consists of (``torch.nn`` and onnx2torch node modules),
  rebuilt from their state by ``nn.Module.__setstate__``, i.e. library code only;
* ``reduce_graph_module`` is replaced by a stand-in that records the stored state and source as
  data (:class:`StoredGraph`), and ``lib.models.my_arcface.MyArcFace`` by a plain record;
* ``getattr`` only for the math functions onnx2torch stores (``torch.add`` ...).

Anything else stops the unpickling before it is built (:class:`NotArcPickle`), and the caller
shows the usual pickle refusal. :mod:`.graph` then parses the stored source with ``ast``, never
executing it.
"""

from __future__ import annotations

import collections
import operator
import pickle
import types
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from ...base.errors import CheckpointError

CONTAINER = "lib.models.my_arcface.MyArcFace"


class NotArcPickle(Exception):  # noqa: N818 - a verdict, not a failure: the caller refuses
    """The pickle names a global outside the allow-list: it is not an upstream Arc file."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class StoredGraph:
    """What ``reduce_graph_module`` would have received: module state plus ``_code``, as data."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise CheckpointError("the stored graph module is malformed (its state is not a dict)")
        self.body = body

    @property
    def code(self) -> str:
        code = self.body.get("_code")
        if not isinstance(code, str):
            raise CheckpointError("the stored graph module carries no forward source to check")
        return code

    @property
    def modules(self) -> dict[str, Any]:
        mods = self.body.get("_modules")
        return dict(mods) if isinstance(mods, dict) else {}

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.body.get("_parameters") or {})

    @property
    def buffers(self) -> dict[str, Any]:
        return dict(self.body.get("_buffers") or {})


class ContainerRecord:
    """Stands in for ``MyArcFace``: its state is kept as a dict, no method of the file's class runs."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise CheckpointError("the MyArcFace container is malformed (its state is not a dict)")
        self.state = state

    @property
    def modules(self) -> dict[str, Any]:
        mods = self.state.get("_modules")
        return dict(mods) if isinstance(mods, dict) else {}


def _graph_standin(body: Any, import_block: Any = None) -> StoredGraph:
    return StoredGraph(body)


class _TorchFunctions:
    """Stands in for ``torch._C._VariableFunctionsClass``; only :func:`_safe_getattr` reads it."""


_MATH = {"add", "sub", "mul", "div", "matmul"}


def _safe_getattr(obj: Any, name: str) -> Any:
    if obj is _TorchFunctions and name in _MATH:
        return getattr(torch, name)
    raise NotArcPickle(f"getattr({getattr(obj, '__name__', type(obj).__name__)}, {name!r})")


def _allowed() -> dict[tuple[str, str], Any]:
    import onnx2torch.node_converters as oc

    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("__builtin__", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "getattr"): _safe_getattr,
        ("__builtin__", "getattr"): _safe_getattr,
        ("torch._C", "_VariableFunctionsClass"): _TorchFunctions,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
        ("torch", "Size"): torch.Size,
        ("torch.fx.graph_module", "reduce_graph_module"): _graph_standin,
        ("lib.models.my_arcface", "MyArcFace"): ContainerRecord,
    }
    for fn in (operator.add, operator.sub, operator.mul, operator.truediv):
        table[("_operator", fn.__name__)] = fn
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64):
        table[("torch", str(dtype).split(".")[1])] = dtype
    layers = (
        nn.Module,
        nn.Sequential,
        nn.Conv2d,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.Linear,
        nn.Dropout,
        nn.Flatten,
        nn.PReLU,
        nn.Identity,
        nn.ReLU,
    )
    for cls in layers:
        table[(cls.__module__, cls.__qualname__)] = cls
    for mod_name, names in (
        ("identity", ("OnnxCopyIdentity",)),
        ("activations", ("OnnxPReLU",)),
        ("binary_math_operations", ("OnnxBinaryMathOperation",)),
        ("flatten", ("OnnxFlatten",)),
        ("batch_norm", ("OnnxBatchNorm",)),
    ):
        module = getattr(oc, mod_name, None)
        for name in names:
            cls = getattr(module, name, None) if module is not None else None
            if isinstance(cls, type) and issubclass(cls, nn.Module):
                table[(cls.__module__, name)] = cls
    return table


class _RestrictedUnpickler(pickle.Unpickler):
    table: ClassVar[dict[tuple[str, str], Any]] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = self.table.get((module, name))
        if found is None:
            raise NotArcPickle(f"{module}.{name}")
        return found


def _pickle_module() -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load`` whose Unpickler only knows the allow-list."""
    mod = types.ModuleType("gmxai_restricted_pickle")
    _RestrictedUnpickler.table = _allowed()

    def load(fh: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(fh, **kwargs).load()

    mod.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
    mod.load = load  # type: ignore[attr-defined]
    mod.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]
    mod.__dict__["loads"] = None
    return mod


def read_arc_pickle(path: Path) -> ContainerRecord | StoredGraph:
    """The recovered container (or bare graph) of an upstream Arc ``.pth``; nothing in it runs.

    Raises :class:`NotArcPickle` when the file names anything outside the allow-list, and
    :class:`CheckpointError` when the file is damaged.
    """
    try:
        # weights_only=False only lets torch accept our pickle_module; that module's Unpickler
        # resolves globals from the allow-list above and nowhere else.
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_pickle_module())
    except NotArcPickle:
        raise
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(f"not enough memory to load {path.name}") from None
    except Exception as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, NotArcPickle):
            raise cause from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(
            f"{path.name} cannot be read; the file may be damaged or incomplete ({first})"
        ) from None
    if not isinstance(obj, (ContainerRecord, StoredGraph)):
        raise NotArcPickle(type(obj).__name__)
    return obj
