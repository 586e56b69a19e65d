"""Private, hook-safe copies of the user's model for the attribution methods.

Why this exists. Hook-based methods (DeepLIFT, guided backpropagation, deconvolution, and our CAM
capture) attach hooks to modules. Three things common in real networks break them:

* **Reused modules.** torchvision's ResNet blocks call one ``self.relu`` two or three times per
  forward. Captum's DeepLIFT stores one input/output per module, so a second call overwrites the
  first and DeepLIFT fails ("A Module ReLU(inplace=True) was detected that does not contain some
  of the input/output attributes ...").
* **In-place activations** (``ReLU(inplace=True)``) overwrite tensors that hooks or autograd
  still need.
* **Functional activations** (``F.relu(x)`` in ``forward``) are invisible to module hooks, so
  DeepLIFT and guided backprop would silently treat them as linear: a wrong map, no error.

:func:`acquire_private` makes a copy that shares the user's parameters and buffers (no memory
cost, always in sync with the weights) but owns its module objects, then repairs it:

1. every module's ``inplace`` flag is switched off;
2. a probe forward records which leaf modules are called more than once and which modules call
   ``relu``/``sigmoid``/``tanh`` functionally;
3. only those calling modules are traced with :mod:`torch.fx` (their children stay opaque, so
   layer names users know, such as ``layer4`` or ``base.13``, survive), every extra call site of a
   reused module gets its own copy, and functional activations become modules;
4. the copy's output is compared with the original's on the probe input; any difference undoes
   the repairs and records why (methods that need them then raise a clear error).

The user's model is never modified and never gets hooks, so the GUI can keep using it from other
threads while a method runs on the copy. Copies are pooled per model (a weak reference, so they
die with it): the first costs a deep copy of the module tree and one traced forward; concurrent
jobs each borrow their own copy, so hooks never cross between jobs.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from ...base.errors import GmxaiError

# Activations that captum's DeepLIFT has a rule for (``captum.attr._core.deep_lift``).
DEEPLIFT_NONLINEAR: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ELU,
    nn.LeakyReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.Softmax,
)
# Nonlinear modules with no DeepLIFT rule: captum would pass plain gradients through them.
_UNSUPPORTED_NONLINEAR: tuple[type[nn.Module], ...] = (
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Mish,
    nn.ReLU6,
    nn.PReLU,
    nn.SELU,
    nn.CELU,
    nn.GLU,
    nn.Hardtanh,
    nn.LogSigmoid,
    nn.Softsign,
    nn.Tanhshrink,
    nn.Threshold,
    nn.RReLU,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.LogSoftmax,
)

# Functional activations we turn into modules: name -> module factory.
_FUNCTIONAL_TO_MODULE: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu_": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "sigmoid_": nn.Sigmoid,
    "tanh": nn.Tanh,
    "tanh_": nn.Tanh,
}
_FUNCTIONAL_TARGETS: dict[Any, str] = {
    torch.relu: "relu",
    torch.relu_: "relu_",
    F.relu: "relu",
    F.relu_: "relu_",
    torch.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    F.sigmoid: "sigmoid",
    F.tanh: "tanh",
}
# Functional nonlinearities that stay functional: DeepLIFT would treat them as linear.
_FUNCTIONAL_UNSUPPORTED = {
    "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool2d", "silu", "gelu", "hardswish",
    "hardsigmoid", "mish", "relu6", "elu", "leaky_relu", "softplus", "softmax", "log_softmax",
    "hardtanh", "selu", "celu", "prelu",
}


class SurgeryError(GmxaiError):
    """The model cannot be made safe for a hook-based method (shown to the user as is)."""


@dataclass
class PrivateModel:
    """A borrowed copy: run methods on ``module``; layer names match the original's.

    The original is held weakly: the pool is keyed weakly by it, so a strong reference here would
    keep every model ever explained alive after the GUI unloads it.
    """

    module: nn.Module
    original_ref: weakref.ref[nn.Module]
    hookable: bool = True
    surgery_error: str | None = None
    deeplift_problems: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict)  # per-copy derived structures (occlusion plans)
    converted: list[tuple[torch.Tensor, int]] = field(default_factory=list)  # see _channels_last_weights

    @property
    def original(self) -> nn.Module | None:
        return self.original_ref()

    def inference_module(self) -> nn.Module:
        """The copy for inference-only work (occlusion): channels-last convolutions on the CPU."""
        if "inference" not in self.cache:
            module = self.module
            first = next(module.parameters(), None)
            if self.hookable and first is not None and first.device.type == "cpu":
                module = shallow_copy(module)
                self.converted = _channels_last_weights(module)
            self.cache["inference"] = module
        return self.cache["inference"]

    def stale(self) -> bool:
        """True if weights this copy holds its own layout of were changed in the original."""
        return any(t._version != v for t, v in self.converted)

    def require_surgery(self, method_label: str) -> nn.Module:
        """The repaired copy, or a clear error if this network could not be repaired."""
        if not self.hookable:
            raise SurgeryError(
                f"{method_label} needs hooks on the network's activation layers, which TorchScript "
                "models do not allow. Load the model from a state_dict checkpoint to use it."
            )
        if self.surgery_error:
            raise SurgeryError(f"{method_label} cannot run on this network: {self.surgery_error}")
        return self.module

    def submodule(self, qualified_name: str) -> nn.Module:
        try:
            return self.module.get_submodule(qualified_name)
        except AttributeError:
            raise SurgeryError(
                f"layer {qualified_name!r} cannot be hooked in this network (it is not a module "
                "called from the network's forward code)"
            ) from None


class _Pool:
    def __init__(self) -> None:
        self.free: list[PrivateModel] = []


_POOLS: weakref.WeakKeyDictionary[nn.Module, _Pool] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def acquire_private(model: nn.Module, example: torch.Tensor) -> PrivateModel:
    """Borrow a repaired private copy of ``model`` (made on first use). Give it back with
    :func:`release_private`; a copy that is never given back is simply garbage-collected."""
    with _LOCK:
        pool = _POOLS.setdefault(model, _Pool())
        while pool.free:
            private = pool.free.pop()
            if private.stale():
                continue
            return private
    return make_private(model, example)


def release_private(private: PrivateModel, clean: bool = True) -> None:
    """Return a borrowed copy to its pool. A copy used by a job that failed or was cancelled
    (``clean=False``) is dropped instead: a library interrupted mid-call (captum sets attributes
    and hooks on modules) may have left state behind that would corrupt the next job."""
    if not clean or not private.hookable or _has_hooks(private.module):
        return  # (a TorchScript wrapper holds its model strongly; it costs nothing to remake)
    original = private.original
    if original is None:
        return
    with _LOCK:
        pool = _POOLS.get(original)
        if pool is not None and len(pool.free) < 4:
            pool.free.append(private)


def _has_hooks(model: nn.Module) -> bool:
    return any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
        for m in model.modules()
    )


def _is_scripted(model: nn.Module) -> bool:
    return any(isinstance(m, torch.jit.ScriptModule) for m in model.modules())


class _ScriptedRoot(nn.Module):
    """A Python wrapper so the engine's forward pre-hooks work on a TorchScript model."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def shallow_copy(model: nn.Module) -> nn.Module:
    """A copy that owns its module objects (hooks, flags) but shares parameters and buffers."""
    memo: dict[int, Any] = {id(t): t for t in model.parameters()}
    memo.update({id(t): t for t in model.buffers()})
    clone = copy.deepcopy(model, memo)
    for m in clone.modules():
        for name in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_forward_pre_hooks_with_kwargs",
        ):
            hooks = getattr(m, name, None)
            if hooks is not None:
                hooks.clear()
    return clone


def make_private(model: nn.Module, example: torch.Tensor) -> PrivateModel:
    """Build a repaired copy (see the module docstring). Never modifies ``model``."""
    if _is_scripted(model):
        return PrivateModel(module=_ScriptedRoot(model), original_ref=weakref.ref(model), hookable=False)
    # Copies are always in eval mode, whatever the user's model is in: explanations are of the
    # deployed network, and a training-mode forward would update the shared BatchNorm statistics.
    with torch.no_grad():
        reference = _as_tensor(shallow_copy(model).eval()(example))
    clone = shallow_copy(model).eval()
    try:
        repaired, rewritten, problems = _repair(clone, example)
        with torch.no_grad():
            out = _as_tensor(repaired(example))
        scale = float(reference.abs().max()) + 1e-6
        if out.shape != reference.shape or float((out - reference).abs().max()) > 1e-4 * scale:
            raise _RepairError(
                "after making its activations separate and not in-place, the network computed "
                "different outputs (its forward code relies on an in-place side effect)"
            )
    except _RepairError as exc:
        private = PrivateModel(
            module=shallow_copy(model).eval(), original_ref=weakref.ref(model), surgery_error=str(exc)
        )
    else:
        private = PrivateModel(
            module=repaired,
            original_ref=weakref.ref(model),
            rewritten=rewritten,
            deeplift_problems=problems,
        )
    return private


def _channels_last_weights(model: nn.Module) -> list[tuple[torch.Tensor, int]]:
    """Give the copy's convolutions their own channels-last weights.

    On the CPU, oneDNN convolutions run markedly faster in channels-last layout (measured on
    GestaltMatcher v1: forwards ~1.6x; ResNet-50 ~1.15x). Only inference-only work (occlusion)
    uses it: the convolutions round differently in this layout, and gradient methods, whose maps
    can cancel to a small fraction of the terms summed, then differ from the reference libraries
    by more than float32 noise. Only the copy changes: the user's tensors keep their layout. The
    weights cost their memory once per model; :func:`acquire_private` rebuilds the copy if the
    original weights change. Returns (original weight, its version counter) pairs for that check.
    """
    originals = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and isinstance(m.weight, torch.Tensor) and m.weight.dim() == 4:
            source = m.weight
            m.weight = nn.Parameter(
                source.detach().contiguous(memory_format=torch.channels_last), requires_grad=False
            )
            originals.append((source, source._version))
    return originals


class _RepairError(Exception):
    pass


def _as_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out


class _CallRecorder(TorchFunctionMode):
    """Notes functional nonlinearities and which module's forward called them."""

    def __init__(self, stack: list[nn.Module], calls: list[tuple[nn.Module | None, str]]) -> None:
        super().__init__()
        self.stack = stack
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = getattr(func, "__name__", "")
        if name in _FUNCTIONAL_TO_MODULE or name in _FUNCTIONAL_UNSUPPORTED:
            owner = self.stack[-1] if self.stack else None
            self.calls.append((owner, name))
        return func(*args, **(kwargs or {}))


def _probe(model: nn.Module, example: torch.Tensor) -> tuple[
    dict[int, list[nn.Module]], list[tuple[nn.Module | None, str]]
]:
    """Run one forward recording, for every leaf module, who called it, and functional calls."""
    stack: list[nn.Module] = []
    callers: dict[int, list[nn.Module]] = {}
    functional: list[tuple[nn.Module | None, str]] = []
    handles = []

    def pre(module: nn.Module, _inp: Any) -> None:
        if not list(module.children()) and stack:
            callers.setdefault(id(module), []).append(stack[-1])
        stack.append(module)

    def post(_module: nn.Module, _inp: Any, _out: Any) -> None:
        stack.pop()

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    try:
        with torch.no_grad(), _CallRecorder(stack, functional):
            model(example)
    except Exception as exc:
        raise _RepairError(f"a probe forward pass failed ({type(exc).__name__}: {exc})") from exc
    finally:
        for h in handles:
            h.remove()
    return callers, functional


def _qualified_names(model: nn.Module) -> dict[int, str]:
    return {id(m): name for name, m in model.named_modules(remove_duplicate=False)}


class _OpaqueChildren(fx.Tracer):
    """Trace only the given module's own forward code; every child module stays one call."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def _repair(clone: nn.Module, example: torch.Tensor) -> tuple[nn.Module, list[str], list[str]]:
    for m in clone.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    callers, functional = _probe(clone, example)
    names = _qualified_names(clone)
    by_id = {id(m): m for m in clone.modules()}

    reused = {mid for mid, who in callers.items() if len(who) > 1}
    owners: dict[int, nn.Module] = {}
    for mid in reused:
        for caller in callers[mid]:
            owners[id(caller)] = caller
    problems: list[str] = []
    for owner, fname in functional:
        if owner is None:
            continue
        if isinstance(owner, (*DEEPLIFT_NONLINEAR, *_UNSUPPORTED_NONLINEAR)):
            continue  # the activation module's own implementation
        if fname in _FUNCTIONAL_TO_MODULE:
            owners[id(owner)] = owner
        else:
            problems.append(f"{fname} called functionally in {names.get(id(owner), '?') or 'the top level'}")
    for m in clone.modules():
        if isinstance(m, _UNSUPPORTED_NONLINEAR):
            problems.append(f"{type(m).__name__} at {names.get(id(m), '?')}")

    # Rewrite the deepest owners first so the parents' references stay valid.
    order = sorted(owners.values(), key=lambda m: names.get(id(m), "").count("."), reverse=True)
    claimed: set[int] = set()
    rewritten: list[str] = []
    root = clone
    for owner in order:
        qname = names.get(id(owner))
        if qname is None:
            raise _RepairError("a module is called from code outside the network")
        new = _rewrite_owner(owner, reused, by_id, claimed, qname)
        rewritten.append(qname or "<top level>")
        if qname == "":
            root = new
        else:
            parent_name, _, child = qname.rpartition(".")
            parent = clone.get_submodule(parent_name) if parent_name else clone
            parent._modules[child] = new
    return root, rewritten, sorted(set(problems))


def _later_than(gm: fx.GraphModule, node: fx.Node, replacement: fx.Node) -> Callable[[fx.Node], bool]:
    """Select the users that come after ``node`` in the graph (and are not ``replacement``)."""
    position = {n: i for i, n in enumerate(gm.graph.nodes)}
    here = position[node]
    return lambda user: user is not replacement and position.get(user, 1 << 30) > here


def _rewrite_owner(
    owner: nn.Module, reused: set[int], by_id: dict[int, nn.Module], claimed: set[int], qname: str
) -> nn.Module:
    try:
        graph = _OpaqueChildren().trace(owner)
    except Exception as exc:
        where = qname or "the top-level module"
        raise _RepairError(
            f"the forward code of {where} ({type(owner).__name__}) reuses an activation module or "
            f"calls an activation function, and it cannot be traced to separate them "
            f"({type(exc).__name__}: {str(exc)[:160]})"
        ) from exc
    gm = fx.GraphModule(owner, graph, class_name=type(owner).__name__)
    used_names = {name for name, _ in gm.named_modules()} | {name for name, _ in owner.named_modules()}

    def fresh_name(base: str) -> str:
        base = base.replace(".", "_")
        k = 1
        while f"{base}_{k}" in used_names:
            k += 1
        used_names.add(f"{base}_{k}")
        return f"{base}_{k}"

    for node in list(gm.graph.nodes):
        if node.op == "call_module":
            target_module = gm.get_submodule(node.target)
            mid = id(target_module)
            if mid not in reused:
                continue
            if mid not in claimed:
                claimed.add(mid)
                continue
            name = fresh_name(str(node.target))
            memo = {id(p): p for p in target_module.parameters()}
            memo.update({id(b): b for b in target_module.buffers()})
            gm.add_submodule(name, copy.deepcopy(target_module, memo))
            node.target = name
        elif node.op in ("call_function", "call_method"):
            fname = node.target if node.op == "call_method" else _FUNCTIONAL_TARGETS.get(node.target)
            if not isinstance(fname, str) or fname not in _FUNCTIONAL_TO_MODULE:
                continue
            inplace = fname.endswith("_") or bool(node.kwargs.get("inplace", False))
            name = fresh_name(f"{fname.rstrip('_')}_fn")
            gm.add_submodule(name, _FUNCTIONAL_TO_MODULE[fname]())
            source = node.args[0]
            with gm.graph.inserting_after(node):
                replacement = gm.graph.call_module(name, (source,))
            node.replace_all_uses_with(replacement)
            if inplace and isinstance(source, fx.Node):
                # An in-place call also changed its input; later readers of the input must see
                # the activated value.
                source.replace_all_uses_with(replacement, delete_user_cb=_later_than(gm, node, replacement))
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm
