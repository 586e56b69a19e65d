"""Atomic writes (core/atomic.py), including real processes killed with SIGKILL mid-save."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gmxai_desktop.core.annotations import AnnotationDocument, load_document
from gmxai_desktop.core.base import atomic

REPO = Path(__file__).resolve().parents[1]


def test_write_replaces_content_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic.atomic_write_text(p, "first")
    atomic.atomic_write_text(p, "second ünïcode")
    assert p.read_text(encoding="utf-8") == "second ünïcode"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]


def test_failure_inside_the_block_keeps_the_old_file(tmp_path):
    p = tmp_path / "a.bin"
    atomic.atomic_write_bytes(p, b"old complete content")
    with pytest.raises(RuntimeError), atomic.atomic_open(p, "wb") as fh:
        fh.write(b"half of the new")
        raise RuntimeError("killed halfway")
    assert p.read_bytes() == b"old complete content"
    assert atomic.stale_temps(p) == []


def test_failing_rename_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "a.bin"
    atomic.atomic_write_bytes(p, b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(atomic.SaveError, match="No space left"):
        atomic.atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    assert atomic.stale_temps(p) == []


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(atomic.SaveError, match="does not exist"):
        atomic.atomic_write_text(tmp_path / "nope" / "a.txt", "x")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_existing_permissions_are_kept(tmp_path):
    p = tmp_path / "private.json"
    p.write_text("x")
    os.chmod(p, 0o600)
    atomic.atomic_write_text(p, "y")
    assert (p.stat().st_mode & 0o777) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_file_gets_the_plain_open_mode_without_touching_the_umask(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        calls = []
        monkeypatch.setattr(atomic.os, "umask", lambda mask: calls.append(mask) or 0)
        p = tmp_path / "new.txt"
        atomic.atomic_write_text(p, "y")
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert calls == []  # changing the umask, even briefly, races with other threads' file creation
    assert (p.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777) == 0o640


def test_file_sha256_matches_hashlib_across_chunks(tmp_path):
    import hashlib

    from gmxai_desktop.core.base.hashing import CHUNK, file_sha256

    data = os.urandom(2 * CHUNK + 123)  # three chunks, the last one partial
    p = tmp_path / "blob.bin"
    p.write_bytes(data)
    assert file_sha256(p) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    with pytest.raises(OSError):
        file_sha256(tmp_path / "missing")


def test_remove_stale_temps_only_removes_old_leftovers(tmp_path):
    p = tmp_path / "doc.json"
    old = tmp_path / ".doc.json.abc123.tmp"
    new = tmp_path / ".doc.json.def456.tmp"
    other = tmp_path / ".other.json.xyz.tmp"
    for f in (old, new, other):
        f.write_text("partial")
    past = time.time() - 3600
    os.utime(old, (past, past))
    assert atomic.remove_stale_temps(p, older_than_s=60) == [old]
    assert new.exists() and other.exists() and not old.exists()


# --- a real process killed while saving ---------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from gmxai_desktop.core.annotations import (AnnotationDocument, Geometry, ImageRef, save_document)

    def make(version):
        doc = AnnotationDocument(ImageRef("a" * 64, 4000, 3000), author="writer", clock=lambda: "t")
        for k in range(60):
            pts = [(float(i), float(version * 1000 + k)) for i in range(300)]
            doc.add_region(Geometry.brush(pts, 3.0), note=f"v{{version}} region {{k}} ✓", hpo_id="HP:0000316")
        return doc

    path = sys.argv[1]
    docs = [make(v) for v in range(3)]
    version = 0
    while True:
        save_document(docs[version % 3], path)
        print(version % 3, flush=True)
        version += 1
    """
)


def _expected_regions():
    from gmxai_desktop.core.annotations import Geometry, ImageRef

    out = []
    for version in range(3):
        doc = AnnotationDocument(ImageRef("a" * 64, 4000, 3000), author="writer", clock=lambda: "t")
        for k in range(60):
            pts = [(float(i), float(version * 1000 + k)) for i in range(300)]
            doc.add_region(Geometry.brush(pts, 3.0), note=f"v{version} region {k} ✓", hpo_id="HP:0000316")
        out.append([(r.geometry, r.note) for r in doc.regions])
    return out


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_never_leaves_a_partial_file(tmp_path):
    """A writer saving a ~3 MB annotation document in a loop is SIGKILLed at random moments.

    After every kill the file must parse and equal one of the complete versions; the region ids
    differ between processes, so versions are compared by geometry and note.
    """
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(repo=str(REPO)), encoding="utf-8")
    target = tmp_path / "doc.gmxai-annotations.json"
    expected = _expected_regions()
    rng = random.Random(1234)
    kills = 0
    for _round in range(5):
        proc = subprocess.Popen([sys.executable, str(script), str(target)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # one complete save done; now saves run back to back
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
        kills += proc.returncode == -signal.SIGKILL
        doc = load_document(target)  # raises if partial or corrupt
        got = [(r.geometry, r.note) for r in doc.regions]
        assert got in expected
    assert kills == 5
    # Killed saves can leave hidden temp files; the next save cleans the old ones up.
    leftovers = atomic.stale_temps(target)
    past = time.time() - 3600
    for f in leftovers:
        os.utime(f, (past, past))
    from gmxai_desktop.core.annotations import save_document

    save_document(doc, target)
    assert atomic.stale_temps(target) == []


def test_atomic_save_npy_round_trips_and_keeps_the_old_map_on_failure(tmp_path, monkeypatch):
    import numpy as np

    p = tmp_path / "saliency.npy"
    old = np.arange(6, dtype=np.float32).reshape(2, 3)
    atomic.atomic_save_npy(p, old)
    np.testing.assert_array_equal(np.load(p), old)

    def full(src, dst):
        raise OSError(28, "disk full")

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(atomic.SaveError, match="disk full"):
        atomic.atomic_save_npy(p, np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(np.load(p), old)
    assert atomic.stale_temps(p) == []
