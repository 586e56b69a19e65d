"""Per-image loop shared by the folder-processing subcommands.

A folder run must carry on past a bad file and say what failed at the end: this loop turns each
per-image :class:`GmxaiError` into a recorded failure instead of stopping the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.base.errors import GmxaiError


@dataclass
class RunSummary:
    ok: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if not self.failed else 1

    def print(self, command: str) -> None:
        """Summary on stderr (stdout may carry JSON), only when something failed."""
        if not self.failed:
            return
        total = len(self.ok) + len(self.failed)
        print(f"gmxai {command}: {len(self.failed)} of {total} images failed:", file=sys.stderr)
        for path, reason in self.failed:
            print(f"  {path.name}: {reason}", file=sys.stderr)


def run_images(paths: Iterable[Path], fn: Callable[[Path], Any], summary: RunSummary) -> list[Any]:
    """Apply ``fn`` to every path, recording per-image user errors and continuing."""
    results = []
    for path in paths:
        try:
            results.append(fn(path))
            summary.ok.append(path)
        except GmxaiError as exc:
            summary.failed.append((path, str(exc)))
    return results
