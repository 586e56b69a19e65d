"""The package's layers, checked statically on every import statement (function-level ones too).

``core`` is the Qt-free engine; ``cli`` and ``gui`` are two front ends over it and never import
each other's code (the GUI would otherwise drag argparse-shaped state into widgets, the CLI Qt).
Inside ``core``, ``base`` is the foundation and imports no other core layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gmxai_desktop"

# (importing subpackage prefix, forbidden target prefix, why)
RULES: tuple[tuple[str, str, str], ...] = (
    ("gmxai_desktop.core", "gmxai_desktop.cli", "core must not depend on a front end"),
    ("gmxai_desktop.core", "gmxai_desktop.gui", "core must not depend on a front end"),
    ("gmxai_desktop.gui", "gmxai_desktop.cli", "the GUI uses core, never the CLI"),
    ("gmxai_desktop.cli", "gmxai_desktop.gui", "the CLI never needs Qt"),
    ("gmxai_desktop.core.base", "gmxai_desktop.core.", "base is the bottom layer"),
)
ALLOWED_IN_BASE = "gmxai_desktop.core.base"


def module_name(path: Path, root: Path = PACKAGE) -> tuple[str, bool]:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts.pop()
    return ".".join(parts), is_pkg


def imported_modules(source: str, module: str, is_pkg: bool) -> list[tuple[int, str]]:
    """Every module an ``import``/``from`` statement anywhere in ``source`` names, resolved."""
    found: list[tuple[int, str]] = []
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def violations(root: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        module, is_pkg = module_name(path, root)
        for lineno, target in imported_modules(path.read_text(encoding="utf-8"), module, is_pkg):
            for source_prefix, forbidden, why in RULES:
                inside = module == source_prefix or module.startswith(source_prefix + ".")
                hits = target == forbidden.rstrip(".") or target.startswith(forbidden.rstrip(".") + ".")
                if forbidden.endswith("."):  # "anything in core other than base itself"
                    hits = target.startswith(forbidden) and not (
                        target == ALLOWED_IN_BASE or target.startswith(ALLOWED_IN_BASE + ".")
                    )
                if inside and hits:
                    out.append(f"{path.relative_to(root.parent)}:{lineno}: {module} imports {target} ({why})")
    return sorted(set(out))


def test_layers_are_respected():
    assert violations() == []


def test_resolver_sees_relative_and_function_level_imports():
    source = "def f():\n    from ..cli.common import add_model_args\n"
    found = imported_modules(source, "gmxai_desktop.gui.panels", is_pkg=False)
    assert (2, "gmxai_desktop.cli.common") in found


@pytest.mark.parametrize(
    ("where", "statement"),
    [
        ("gui/zz_probe.py", "def later():\n    from ..cli import common\n"),
        ("core/zz_probe.py", "import gmxai_desktop.gui.panels\n"),
        ("core/base/zz_probe.py", "from ..models import load_model\n"),
    ],
)
def test_checker_fails_on_a_forbidden_import(tmp_path, where, statement):
    """A copy of the package with one forbidden import added must be reported."""
    import shutil

    copy = tmp_path / "gmxai_desktop"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / where).write_text(statement, encoding="utf-8")
    assert any("zz_probe" in v for v in violations(copy))
