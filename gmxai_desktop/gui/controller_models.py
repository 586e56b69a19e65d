"""Controller intents that open things: models (checkpoint, demo, comparison) and image folders.

A mixin of :class:`~gmxai_desktop.gui.controller.Controller`; loading runs on the worker ahead of
everything else, folder listing on a short-lived thread (it must not wait behind a model job).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from ..core.models.base import ModelAdapter
from .controller_jobs import COMPARE, PRIMARY, LoadKey, ModelRequest
from .worker import PRIORITY_MODEL


class ModelsAndFolders:
    """open_model / open_demo / set_model / unload_compare / open_folder and their results."""

    def open_model(self, request: ModelRequest, role: str = PRIMARY) -> None:
        """Load a checkpoint (or a bundled demo) on the worker, ahead of everything else."""
        from ..core.models import load_model

        def run(job: JobControl) -> ModelAdapter:
            job.report(0.0, "loading model")
            return load_model(request.spec, **request.load_options())

        self._start_load(role, request, run, "loading model")

    def _start_load(self, role: str, request: ModelRequest, run: Any, label: str) -> None:
        """Replace any load of this role still queued or running; the newest request wins."""
        self._load_tokens[role] += 1
        key = LoadKey(role, request.spec, self._load_tokens[role])
        self.worker.cancel_where(lambda k: isinstance(k, LoadKey) and k.role == role)
        self.requests[role] = request
        self._cancel_model_work(role)
        self.model_loading.emit(role, request.label())
        self.worker.submit(key, run, PRIORITY_MODEL, label)

    def _cancel_model_work(self, role: str) -> None:
        """A model is being replaced: its running job would only delay the new one (single worker)."""
        old = self.adapters[role]
        if old is not None:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)

    def open_demo(self, name: str = "demo", device: str | None = None) -> None:
        """Load a bundled demo model as the primary model, and open its demo image folder."""
        from ..core.demo import load_demo

        def run(job: JobControl) -> Any:
            job.report(0.0, "loading demo")
            return load_demo(name, device=device)

        self._start_load(PRIMARY, ModelRequest(name, device=device), run, "loading demo")

    def set_model(self, adapter: ModelAdapter, role: str = PRIMARY) -> None:
        """Install an already loaded adapter (used after loading and by embedding applications)."""
        old = self.adapters[role]
        self.adapters[role] = adapter
        self._installed_requests[role] = self.requests[role]
        if old is not None and old.model_id != adapter.model_id:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)
        self._shared = {k: v for k, v in self._shared.items() if k.model_id != getattr(old, "model_id", None)}
        if role == PRIMARY:
            self.statuses.clear()
            self._prefetch.clear()
            self.statuses_reset.emit()
            t = self.state.target
            if t.startswith("name:") and t[5:] not in adapter.class_names:
                self.state.target = "predicted"
        self.model_loaded.emit(role, adapter)
        if role == PRIMARY:
            self.panels_changed.emit(self.state.panels())
            self._refresh_current()
        else:
            self._schedule_compare()

    def unload_compare(self) -> None:
        old = self.adapters[COMPARE]
        self.adapters[COMPARE] = None
        self.requests[COMPARE] = None
        if old is not None:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)
        self.model_loaded.emit(COMPARE, None)

    def open_folder(self, folder: Path, labels_csv: Path | None = None) -> None:
        """List a folder (recursively) and read its labels off the GUI thread.

        Listing 10,000 files takes a noticeable fraction of a second on a slow disk, so it runs
        on a short-lived thread (not the compute worker, which may be busy with a long job);
        ``folder_loaded`` follows. Thumbnails and predictions then come lazily. Labels come from
        ``labels_csv``, a ``labels.csv`` in or beside the folder, or class subfolders; unusable
        label rows are summarised in a notice and never block the images.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise GmxaiError(f"{folder.name or folder}: is not a folder")
        self._folder_token += 1
        token = self._folder_token
        thread = threading.Thread(target=self._list_folder, args=(folder, labels_csv, token),
                                  name="gmxai-folder", daemon=True)
        thread.start()

    def _list_folder(self, folder: Path, labels_csv: Path | None, token: int) -> None:
        from ..core.inputs.imageio import iter_image_paths
        from ..core.inputs.labels import read_label_table

        try:
            paths = iter_image_paths([folder])
        except GmxaiError as exc:
            self._folder_listed.emit(token, folder, [], {}, str(exc), "")
            return
        labels: dict[Path, str] = {}
        label_error, notice = "", ""
        try:
            table = read_label_table(folder, labels_csv)
        except GmxaiError as exc:
            label_error = f"The images are open, but the labels could not be read: {exc}"
        else:
            if table.labels:
                by_resolved = {p.resolve(): lab for p, lab in table.labels.items()}
                labels = {p: by_resolved[r] for p in paths if (r := p.resolve()) in by_resolved}
            if table.source == "csv" and table.problems:
                more = f" (and {len(table.problems) - 1} more)" if len(table.problems) > 1 else ""
                notice = f"labels: {table.problems[0]}{more}"
        self._folder_listed.emit(token, folder, paths, labels, label_error, notice)

    def _on_folder_listed(self, token: int, folder: Path, paths: list, labels: dict, error: str,
                          notice: str) -> None:
        if token != self._folder_token:
            return  # another folder was opened meanwhile
        self.paths = paths
        self.labels = labels
        self.folder = folder
        self.folder_loaded.emit(paths, labels)
        if notice:
            self.notice.emit(notice)
        if error:
            self.folder_failed.emit(error)

    def _on_model_loaded(self, key: LoadKey, result: Any) -> None:
        if key.token != self._load_tokens[key.role]:
            return
        if hasattr(result, "adapter"):  # a DemoBundle
            bundle = result
            self.set_model(bundle.adapter, key.role)
            if key.role == PRIMARY and getattr(bundle, "images_dir", None):
                try:
                    self.open_folder(Path(bundle.images_dir), getattr(bundle, "labels_csv", None))
                except GmxaiError as exc:
                    self.model_failed.emit(key.role, str(exc))
        else:
            self.set_model(result, key.role)
