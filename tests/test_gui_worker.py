"""The one compute worker and WorkerCalls: one-off jobs with callbacks, errors as one line, cancel.

Features (photo identification, figure preview/export, HPO warm-up) run through WorkerCalls instead
of their own thread pools, so these tests pin what those callers rely on.
"""

from __future__ import annotations

import threading

import pytest

pytest.register_assert_rewrite("gui_helpers")

from gmxai_desktop.core.base.errors import GmxaiError  # noqa: E402
from gmxai_desktop.gui.widgets import check_box, combo_box, spin_box  # noqa: E402
from gmxai_desktop.gui.worker import ComputeWorker, WorkerCalls  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


@pytest.fixture()
def worker(qtbot):
    w = ComputeWorker()
    yield w
    w.shutdown()


def _collect(qtbot, calls: WorkerCalls, name: str, fn, **kw) -> dict:
    out: dict = {}
    calls.submit(name, fn, out.setdefault("done", []).append, out.setdefault("failed", []).append, **kw)
    return out


def test_results_and_errors_come_back_on_the_callbacks(qtbot, worker) -> None:
    calls = WorkerCalls(worker)

    def unreadable(job):
        raise GmxaiError("face01.png: not an image")

    ok = _collect(qtbot, calls, "ok", lambda job: 6 * 7)
    user = _collect(qtbot, calls, "user", unreadable)
    bug = _collect(qtbot, calls, "bug", lambda job: 1 // 0)
    qtbot.waitUntil(lambda: bool(ok["done"] and user["failed"] and bug["failed"]), timeout=10_000)
    assert ok == {"done": [42], "failed": []}
    assert user == {"done": [], "failed": ["face01.png: not an image"]}  # the user's message, as is
    assert bug["done"] == [] and bug["failed"][0].startswith("internal error (ZeroDivisionError")


def test_latest_only_cancels_the_earlier_job_of_that_name(qtbot, worker) -> None:
    calls = WorkerCalls(worker)
    started, gate = threading.Event(), threading.Event()

    def slow(job):
        started.set()
        gate.wait(10)
        job.check()  # cancelled meanwhile: raises, so nothing is delivered
        return "stale"

    first = _collect(qtbot, calls, "preview", slow, latest_only=True)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    second = _collect(qtbot, calls, "preview", lambda job: "fresh", latest_only=True)
    gate.set()
    qtbot.waitUntil(lambda: bool(second["done"]), timeout=10_000)
    qtbot.waitUntil(lambda: worker.pending_count() == 0, timeout=10_000)
    assert first == {"done": [], "failed": []}
    assert second == {"done": ["fresh"], "failed": []}


def test_cancel_drops_queued_jobs_and_other_owners_are_untouched(qtbot, worker) -> None:
    mine, theirs = WorkerCalls(worker), WorkerCalls(worker)
    started, gate = threading.Event(), threading.Event()

    def blocker(job):
        started.set()
        gate.wait(10)
        return "blocker"

    hold = _collect(qtbot, theirs, "hold", blocker)
    qtbot.waitUntil(started.is_set, timeout=10_000)
    dropped = _collect(qtbot, mine, "export", lambda job: "written")
    kept = _collect(qtbot, theirs, "export", lambda job: "theirs")  # same name, other owner
    mine.cancel("export")
    gate.set()
    qtbot.waitUntil(lambda: bool(kept["done"]), timeout=10_000)
    qtbot.waitUntil(lambda: worker.pending_count() == 0, timeout=10_000)
    assert dropped == {"done": [], "failed": []}
    assert hold["done"] == ["blocker"] and kept["done"] == ["theirs"]


def test_widget_factories(qtbot) -> None:
    ints = spin_box(50, 1200, 300, step=50, suffix=" dpi")
    floats = spin_box(0.5, 8.0, 1.7, step=0.1)
    auto = spin_box(0, 12, special="automatic")
    assert type(ints).__name__ == "QSpinBox"
    assert (ints.minimum(), ints.maximum(), ints.value()) == (50, 1200, 300)
    assert ints.singleStep() == 50 and ints.suffix() == " dpi"
    assert type(floats).__name__ == "QDoubleSpinBox" and floats.value() == pytest.approx(1.7)
    assert auto.value() == 0 and auto.text() == "automatic"
    box = combo_box([("a", "Alpha", "first"), ("b", "Beta")], name="pick", tip="choose")
    assert [box.itemData(i) for i in range(box.count())] == ["a", "b"]
    assert [box.itemText(i) for i in range(box.count())] == ["Alpha", "Beta"]
    assert box.objectName() == "pick" and box.toolTip() == "choose"
    assert box.itemData(0, 3) == "first" and box.itemData(1, 3) is None  # 3: Qt.ToolTipRole
    assert check_box("x", True).isChecked() and not check_box("y").isChecked()
