"""A converted ArcFace graph as plain data: a list of module calls, run by a tiny interpreter.

Both ways an Arc network arrives end here. The ``.onnx`` backbone is converted by onnx2torch
into an fx graph whose nodes we read; the pickled ``.pth`` carries the forward source of its
GraphModule, which we parse with :mod:`ast` and never execute. Either way the result is a
:class:`GraphNet`: registered submodules (so hooks, CAM layers and ``.to(device)`` work as usual)
plus a list of ``(output, kind, target, args)`` steps. Only three kinds of step exist: read an
attribute (a constant tensor), call a submodule, and return. A source that does anything else,
such as calling a function, importing or assigning to an attribute, is refused before any step
runs.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...base.errors import CheckpointError


@dataclass(frozen=True)
class Step:
    out: str
    kind: str  # "attr" | "call"
    target: str  # dotted path inside the graph module ("layer1/Add" segments may contain "/")
    args: tuple[Any, ...]  # ("ref", name) or ("const", value)


class GraphNet(nn.Module):
    """Runs :class:`Step`s over registered submodules; the only code that runs is this class's."""

    def __init__(
        self,
        modules: dict[str, nn.Module],
        tensors: dict[str, torch.Tensor],
        steps: list[Step],
        input_name: str,
        output: str,
    ) -> None:
        super().__init__()
        for name, module in modules.items():
            self.add_module(name, module)
        for name, tensor in tensors.items():
            self.register_buffer(name, tensor)
        self.steps = steps
        self.input_name = input_name
        self.output = output

    def _tensor(self, path: str) -> torch.Tensor:
        owner, _, leaf = path.rpartition(".")
        module = self.get_submodule(owner) if owner else self
        if leaf in module._buffers:
            return module._buffers[leaf]  # type: ignore[return-value]
        return module._parameters[leaf]  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {self.input_name: x}
        for step in self.steps:
            if step.kind == "attr":
                env[step.out] = self._tensor(step.target)
                continue
            args = [env[v] if k == "ref" else v for k, v in step.args]
            env[step.out] = self.get_submodule(step.target)(*args)
        return env[self.output]


def _refuse(name: str, node: ast.AST | None, why: str) -> CheckpointError:
    where = f" (line {getattr(node, 'lineno', '?')}: {ast.unparse(node)[:120]})" if node is not None else ""
    return CheckpointError(
        f"{name}: its stored forward code {why}{where}; a converted ArcFace network never does that, "
        "so the file was refused and nothing in it was run"
    )


def _target_path(expr: ast.expr, name: str) -> str | None:
    """``self.a.b`` or ``getattr(self, "a/b")`` (nested) as a dotted path; None if not that form."""
    if isinstance(expr, ast.Name) and expr.id == "self":
        return ""
    if isinstance(expr, ast.Attribute):
        base = _target_path(expr.value, name)
        return None if base is None else (f"{base}.{expr.attr}" if base else expr.attr)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "getattr"
        and len(expr.args) == 2
        and not expr.keywords
        and isinstance(expr.args[1], ast.Constant)
        and isinstance(expr.args[1].value, str)
        and "." not in expr.args[1].value
    ):
        base = _target_path(expr.args[0], name)
        return None if base is None else (f"{base}.{expr.args[1].value}" if base else expr.args[1].value)
    return None


def _arg(expr: ast.expr, known: set[str], name: str) -> tuple[str, Any]:
    if isinstance(expr, ast.Name) and expr.id in known:
        return ("ref", expr.id)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float, bool, type(None))):
        return ("const", expr.value)
    raise _refuse(name, expr, "passes an argument that is neither a value computed before nor a number")


def parse_forward(code: str, name: str) -> tuple[str, list[Step], str]:
    """(input name, steps, output name) from an fx-generated forward source, without executing it."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CheckpointError(f"{name}: its stored forward code is not valid Python; refused") from None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
    if len(funcs) != 1 or others or funcs[0].name != "forward":
        raise _refuse(name, others[0] if others else None, "is more than one forward function")
    fn = funcs[0]
    params = fn.args
    if (
        fn.decorator_list
        or params.vararg
        or params.kwarg
        or params.kwonlyargs
        or params.defaults
        or len(params.args) != 2
        or params.args[0].arg != "self"
    ):
        raise _refuse(name, None, "does not have the signature forward(self, input)")
    input_name = params.args[1].arg
    known = {input_name}
    steps: list[Step] = []
    output: str | None = None
    for stmt in fn.body:
        if output is not None:
            raise _refuse(name, stmt, "continues after its return")
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if isinstance(stmt, ast.Return):
            if not (isinstance(stmt.value, ast.Name) and stmt.value.id in known):
                raise _refuse(name, stmt, "returns something other than one computed value")
            output = stmt.value.id
            continue
        if not isinstance(stmt, ast.Assign) or not all(isinstance(t, ast.Name) for t in stmt.targets):
            raise _refuse(name, stmt, "contains a statement other than an assignment or return")
        value = stmt.value
        if isinstance(value, ast.Constant) and value.value is None:
            continue  # fx frees intermediate values with "a = b = None"
        if len(stmt.targets) != 1:
            raise _refuse(name, stmt, "assigns one value to several names")
        out = stmt.targets[0].id  # type: ignore[attr-defined]
        path = _target_path(value, name)
        if path:
            steps.append(Step(out, "attr", path, ()))
        elif isinstance(value, ast.Call) and not value.keywords and _target_path(value.func, name):
            args = tuple(_arg(a, known, name) for a in value.args)
            steps.append(Step(out, "call", str(_target_path(value.func, name)), args))
        else:
            raise _refuse(name, stmt, "calls something other than one of its own layers")
        known.add(out)
    if output is None:
        raise _refuse(name, None, "never returns")
    return input_name, steps, output


def steps_from_fx(graph: Any, name: str) -> tuple[str, list[Step], str]:
    """The same steps from an fx Graph built by onnx2torch in this process (the ONNX path)."""
    input_name, output = "", ""
    steps: list[Step] = []
    for node in graph.nodes:
        if node.op == "placeholder":
            if input_name:
                raise CheckpointError(f"{name}: the network takes more than one input")
            input_name = node.name
        elif node.op in ("get_attr", "call_module"):
            args = []
            for a in node.args:
                if hasattr(a, "name") and hasattr(a, "op"):
                    args.append(("ref", a.name))
                elif isinstance(a, (int, float, bool, type(None))):
                    args.append(("const", a))
                else:
                    raise CheckpointError(
                        f"{name}: node {node.name} takes an argument of an unsupported kind"
                    )
            if node.kwargs:
                raise CheckpointError(f"{name}: node {node.name} takes keyword arguments")
            steps.append(
                Step(node.name, "attr" if node.op == "get_attr" else "call", str(node.target), tuple(args))
            )
        elif node.op == "output":
            out = node.args[0]
            if not hasattr(out, "name"):
                raise CheckpointError(f"{name}: the network has more than one output")
            output = out.name
        else:
            raise CheckpointError(
                f"{name}: the converted graph uses {node.op} ({node.target}); ArcFace graphs use layers only"
            )
    return input_name, steps, output


def check_targets(
    modules: dict[str, nn.Module], tensors: dict[str, torch.Tensor], steps: list[Step], name: str
) -> None:
    """Every step must name a layer (call) or a tensor (attr) that the file really holds."""
    holder = nn.Module()
    for key, module in modules.items():
        holder.add_module(key, module)
    tensor_names = set(tensors)
    tensor_names.update(key for key, _ in holder.named_buffers())
    tensor_names.update(key for key, _ in holder.named_parameters())
    named = dict(holder.named_modules())
    for step in steps:
        if step.kind == "call":
            if step.target not in named or step.target == "":
                raise CheckpointError(
                    f"{name}: its graph calls a layer {step.target!r} that the file does not hold"
                )
        elif step.target not in tensor_names:
            raise CheckpointError(
                f"{name}: its graph reads a tensor {step.target!r} that the file does not hold"
            )
