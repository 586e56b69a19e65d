"""How the controller turns state into worker jobs: wanted keys, cache hits, scheduling of the
current image's preparation and maps, comparison maps, statuses and progress.

A mixin of :class:`~gmxai_desktop.gui.controller.Controller`. ``_is_wanted`` here is the single
check that keeps a result for another image, model, method, parameter set, target or alignment
out of the panels.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from ..core.models.base import ModelAdapter
from .controller_jobs import COMPARE, PRIMARY, PreparedEntry, explain_job, prepare_entry
from .state import ImageStatus, JobKey, PanelSpec, PrepareKey
from .worker import PRIORITY_COMPARE, PRIORITY_EXPLAIN, PRIORITY_PREPARE


class ComputeScheduling:
    """Job keys the state asks for, and submitting what the caches cannot serve."""

    def _cancel_unwanted(self) -> None:
        wanted = self._wanted_keys()
        self.worker.cancel_where(lambda k: isinstance(k, JobKey) and k not in wanted)

    def _selection_changed(self, relayout: bool) -> None:
        self._cancel_unwanted()
        if relayout:
            self.panels_changed.emit(self.state.panels())
        self._schedule_explains()
        self._schedule_compare()

    def _wanted_keys(self) -> set[JobKey]:
        keys: set[JobKey] = set()
        if self.state.image is None:
            return keys
        for role, methods in ((PRIMARY, self.state.methods), (COMPARE, self.compare_methods)):
            adapter = self.adapters[role]
            if adapter is None:
                continue
            for m in methods:
                try:
                    keys.add(self._job_key(role, m))
                except GmxaiError:
                    continue
        return keys

    def _job_key(self, role: str, method: str) -> JobKey:
        adapter = self.adapters[role]
        assert adapter is not None
        key = self.state.job_key(adapter.model_id, method)
        if role == COMPARE:
            key = replace(key, target=self.compare_target())
        return key

    def compare_target(self) -> str:
        """The comparison model explains the class the primary model's panels explain.

        "Why does model B see Noonan syndrome here, compared with model A?" is the useful
        question; each model explaining its own prediction would compare different classes.
        Falls back to the selected target when the comparison model lacks that class.
        """
        cmp_adapter, target = self.compare_adapter, self.state.target
        if cmp_adapter is None:
            return target
        name: str | None = None
        if target == "predicted" or target.startswith("top:"):
            entry = self._current_entry(PRIMARY)
            top = getattr(getattr(entry, "prediction", None), "top", None)
            name = top[0][1] if top else None
        else:
            name = target.removeprefix("name:")
        return f"name:{name}" if name is not None and name in cmp_adapter.class_names else target

    def _current_entry(self, role: str) -> PreparedEntry | None:
        adapter = self.adapters[role]
        if adapter is None or self.state.image is None:
            return None
        return self.prepared_cache.get(self.state.prepare_key(adapter.model_id))

    def _is_wanted(self, key: Hashable) -> bool:
        return isinstance(key, JobKey) and key in self._wanted_keys()

    def _refresh_current(self) -> None:
        """Show what the cache has for the current image and queue the rest."""
        self.current = {}
        path, adapter = self.state.image, self.adapter
        if path is None or adapter is None:
            return
        pkey = self.state.prepare_key(adapter.model_id)
        entry = self.prepared_cache.get(pkey)
        if entry is not None:
            self.prepared.emit(path, entry)
            self._schedule_explains()
        else:
            for spec in self.state.panels():
                self.panel_pending.emit(spec.panel_id)
            self._prefetch.pop(pkey, None)
            self._submit_prepare(adapter, pkey, PRIORITY_PREPARE, "preparing image")
        self._schedule_compare()
        self._emit_overall()

    def _schedule_explains(self) -> None:
        adapter, path = self.adapter, self.state.image
        if adapter is None or path is None:
            return
        entry = self.prepared_cache.get(self.state.prepare_key(adapter.model_id))
        if entry is None:
            return
        self.current = {}
        for i, method in enumerate(self.state.methods):
            key = self._job_key(PRIMARY, method)
            cached = self.results.get(key)
            if cached is not None:
                self._show_method_results(method, cached)
                continue
            for spec in self._method_panels(method):
                self.panel_pending.emit(spec.panel_id)
            self._submit_explain(adapter, entry, key, PRIORITY_EXPLAIN + min(i, 9))
        self._emit_overall()

    def _show_method_results(self, method: str, results: list) -> None:
        for pid, res in self._panel_results(method, results):
            self.current[pid] = res
            self.panel_result.emit(pid, res)
        for spec in self._method_panels(method)[len(results) :]:
            self.panel_failed.emit(spec.panel_id, f"the model has only {len(results)} classes")

    def _schedule_compare(self) -> None:
        adapter, path = self.compare_adapter, self.state.image
        if adapter is None or path is None or not self.compare_methods:
            return
        pkey = self.state.prepare_key(adapter.model_id)
        entry = self.prepared_cache.get(pkey)
        if entry is None:
            self._submit_prepare(adapter, pkey, PRIORITY_COMPARE, "preparing image for the comparison model")
            return
        if self.adapter is not None and self._current_entry(PRIMARY) is None:
            return  # the target depends on the primary model's prediction: wait for it
        for method in self.compare_methods:
            key = self._job_key(COMPARE, method)
            cached = self.results.get(key)
            if cached is not None:
                self.compare_result.emit(method, self._first_for_target(cached))
            else:
                self.compare_result.emit(method, None)
                self._submit_explain(adapter, entry, key, PRIORITY_COMPARE)

    def _submit_prepare(self, adapter: ModelAdapter, key: PrepareKey, priority: int, label: str) -> None:
        def run(job: JobControl) -> PreparedEntry:
            return prepare_entry(adapter, Path(key.image), key.align, job)

        self.worker.submit(key, run, priority, label)

    def _submit_explain(
        self, adapter: ModelAdapter, entry: PreparedEntry, key: JobKey, priority: int
    ) -> None:
        shared = self._shared.setdefault(key.prepare_key, {})
        self.worker.submit(
            key, lambda job: explain_job(adapter, entry, key, shared, job), priority, key.method
        )

    def _method_panels(self, method: str) -> list[PanelSpec]:
        return [s for s in self.state.panels() if s.method == method]

    def _panel_results(self, method: str, results: list) -> list[tuple[str, Any]]:
        specs = self._method_panels(method)
        return [(spec.panel_id, res) for spec, res in zip(specs, results, strict=False)]

    @staticmethod
    def _first_for_target(results: list) -> Any:
        return results[0] if results else None

    def _set_status(self, path: Path, entry: PreparedEntry) -> None:
        pred = entry.prediction
        top = pred.top[0] if getattr(pred, "top", None) else None
        status = ImageStatus(
            predicted=top[1] if top else None,
            score=float(top[2]) if top else None,
            alignment=entry.alignment,
            alignment_message=entry.alignment_message,
            aligned=entry.aligned,
        )
        self.statuses[path] = status
        self.image_status.emit(path, status)

    def _emit_overall(self) -> None:
        total = len(self.state.panels()) if self.state.image is not None and self.adapter is not None else 0
        done = sum(1 for s in self.state.panels() if s.panel_id in self.current)
        self.overall_progress.emit(done, total)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
