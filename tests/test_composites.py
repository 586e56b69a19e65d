"""Composites: faces and syndrome-wise maps against independent per-image computations.

References are computed image by image with the public pipeline (``prepare_file`` + ``explain``)
and numpy (mean / ``np.median``), never with the composite code's own accumulators.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from _composite_fixtures import CLASSES, make_adapter, make_net, save_checkpoint, write_folder
from PIL import Image

from gmxai_desktop.core.analysis.composites import (
    ALL,
    _Accumulator,
    compute_composites,
    match_labels,
)
from gmxai_desktop.core.analysis.composites_io import load_composites
from gmxai_desktop.core.attribution import engine
from gmxai_desktop.core.base.errors import Cancelled, ParameterError
from gmxai_desktop.core.base.jobs import JobControl
from gmxai_desktop.core.inputs.pipeline import prepare_file

METHODS = ["saliency", "gradcam"]


@pytest.fixture(scope="module")
def adapter():
    return make_adapter()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    return write_folder(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def few(folder) -> dict[Path, str]:
    """Four images covering every class, for the tests about caching and bookkeeping."""
    firsts = {lab: p for p, lab in reversed(list(folder.items()))}
    extra = next(p for p in folder if p not in firsts.values())
    return {p: folder[p] for p in folder if p in firsts.values() or p == extra}


@pytest.fixture(scope="module")
def per_image(adapter, folder) -> dict[Path, dict]:
    """Independent per-image reference: prediction, face pixels, and every map for both targets,
    computed one image at a time with the public API (prepare_file + explain)."""
    out = {}
    for path, label in folder.items():
        prep = prepare_file(adapter, path, align="none")
        predicted = int(adapter.logits(prep.x).argmax())
        true_maps = {r.method: r.map.astype(np.float64)
                     for r in engine.explain(adapter, prep.x, METHODS, target=CLASSES.index(label))}
        pred_maps = {r.method: r.map.astype(np.float64)
                     for r in engine.explain(adapter, prep.x, METHODS, target="predicted")}
        face = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        out[path] = {"label": label, "correct": predicted == CLASSES.index(label), "face": face,
                     "true": true_maps, "predicted": pred_maps}
    n_correct = sum(v["correct"] for v in out.values())
    assert 0 < n_correct < len(out), "the fixture model must classify some images right and some wrong"
    return out


def _check_against_reference(result, per_image: dict[Path, dict], target: str, only_correct: bool) -> None:
    used = {p: v for p, v in per_image.items() if v["correct"] or not only_correct}
    groups = {cls: [v for v in used.values() if v["label"] == cls] for cls in CLASSES}
    groups[ALL] = list(used.values())
    for cls, items in groups.items():
        assert result.counts[cls] == len(items)
        if not items:
            assert cls not in result.maps and cls not in result.faces
            continue
        np.testing.assert_allclose(result.faces[cls], np.mean([v["face"] for v in items], axis=0), atol=1e-4)
        for m in result.methods:
            ref = np.mean([v[target][m] for v in items], axis=0)
            assert np.abs(ref).max() > 0, "reference map is all zero: the test would be vacuous"
            np.testing.assert_allclose(result.maps[cls][m], ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("target", ["true", "predicted"])
def test_composite_equals_mean_of_per_image_maps(adapter, folder, per_image, target: str) -> None:
    result = compute_composites(adapter, folder, METHODS, target=target, align="none")
    assert result.classes == CLASSES and result.complete
    assert result.skipped == [] and result.excluded == []
    _check_against_reference(result, per_image, target, only_correct=False)


def test_only_correct_uses_exactly_the_correctly_classified_images(adapter, folder, per_image) -> None:
    result = compute_composites(adapter, folder, METHODS, only_correct=True, align="none")
    _check_against_reference(result, per_image, "true", only_correct=True)
    wrong = [p for p, v in per_image.items() if not v["correct"]]
    assert sorted(p for p, _ in result.excluded) == sorted(wrong)
    assert all("misclassified" in reason for _, reason in result.excluded)
    assert result.skipped == []


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_histogram_median_is_exactly_numpy_median(n: int) -> None:
    rng = np.random.default_rng(n)
    stack = rng.integers(0, 256, size=(n, 7, 5, 3), dtype=np.uint8)
    stack[:, 0, 0, :] = 17  # constant pixel
    acc = _Accumulator((7, 5, 3), median=True)
    for img in stack:
        acc.add(img, {})
    np.testing.assert_array_equal(acc.face(), np.median(stack.astype(np.float64), axis=0))


def test_median_composite_faces(adapter, folder) -> None:
    result = compute_composites(adapter, folder, [], statistic="median", align="none")
    for cls in CLASSES:
        paths = [p for p, lab in folder.items() if lab == cls]
        stack = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
        np.testing.assert_array_equal(result.faces[cls], np.median(stack.astype(np.float64), axis=0))
    everything = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in folder])
    np.testing.assert_array_equal(result.faces[ALL], np.median(everything.astype(np.float64), axis=0))
    assert result.maps[ALL] == {}


class CountingExplain:
    """Wraps engine.explain to count (image, method) computations."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.real = engine.explain

    def __call__(self, adapter, x, methods, **kw):
        self.calls.append(list(methods))
        return self.real(adapter, x, methods, **kw)


def test_cancel_then_resume_from_cache(adapter, folder, per_image, tmp_path: Path, monkeypatch) -> None:
    counter = CountingExplain()
    monkeypatch.setattr(engine, "explain", counter)
    cache = tmp_path / "cache"
    job = JobControl()
    seen = []

    def cancel_after_five(event) -> None:
        seen.append(event.status)
        snap = event.snapshot()
        assert not snap.complete and snap.counts[ALL] == len(seen)
        if len(seen) == 5:
            job.cancel()

    with pytest.raises(Cancelled):
        compute_composites(adapter, folder, METHODS, align="none", cache_dir=cache, job=job,
                           on_image=cancel_after_five)
    assert len(counter.calls) == 5 and seen == ["computed"] * 5

    counter.calls.clear()
    statuses = []
    resumed = compute_composites(adapter, folder, METHODS, align="none", cache_dir=cache,
                                 on_image=lambda e: statuses.append(e.status))
    assert len(counter.calls) == len(folder) - 5, "finished images must not be recomputed"
    assert statuses.count("cached") == 5 and resumed.cached == 5 and resumed.computed == len(folder) - 5
    _check_against_reference(resumed, per_image, "true", only_correct=False)

    counter.calls.clear()
    again = compute_composites(adapter, folder, [*METHODS, "hirescam"], align="none",
                               cache_dir=cache)
    assert counter.calls == [["hirescam"]] * len(folder), "only the new method is computed"
    np.testing.assert_array_equal(again.maps[ALL]["gradcam"], resumed.maps[ALL]["gradcam"])

    counter.calls.clear()
    compute_composites(adapter, folder, METHODS, align="none", cache_dir=cache, target="predicted")
    # Maps are keyed by the explained class: only misclassified images need new maps.
    n_wrong = sum(not v["correct"] for v in per_image.values())
    assert 0 < n_wrong < len(folder) and len(counter.calls) == n_wrong


def test_cache_is_keyed_by_model(adapter, few, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    first = compute_composites(adapter, few, ["saliency"], align="none", cache_dir=cache)
    other = make_adapter(make_net(seed=3), model_id="other-model")
    counter = CountingExplain()
    monkeypatch.setattr(engine, "explain", counter)
    second = compute_composites(other, few, ["saliency"], align="none", cache_dir=cache)
    assert len(counter.calls) == len(few), "another model must never be served cached maps"
    assert not np.allclose(first.maps[ALL]["saliency"], second.maps[ALL]["saliency"])


def test_corrupt_cache_file_is_recomputed(adapter, few, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = compute_composites(adapter, few, ["saliency"], align="none", cache_dir=cache)
    files = sorted(cache.rglob("*.npz"))
    assert len(files) == len(few)
    files[0].write_bytes(b"PK\x03\x04 truncated")
    second = compute_composites(adapter, few, ["saliency"], align="none", cache_dir=cache)
    assert second.computed == 1 and second.cached == len(few) - 1
    np.testing.assert_array_equal(first.maps[ALL]["saliency"], second.maps[ALL]["saliency"])


def test_unknown_labels(adapter, few) -> None:
    labels = dict(few)
    odd = next(iter(labels))
    labels[odd] = "Kabuki syndrome"
    with pytest.raises(ParameterError, match="Kabuki syndrome") as info:
        compute_composites(adapter, labels, [], align="none")
    assert "'alpha'" in str(info.value)  # the message lists the model's classes
    skipped = compute_composites(adapter, labels, [], align="none", unknown_labels="skip")
    assert skipped.excluded == [(odd, "label 'Kabuki syndrome' is not a class of this model")]
    assert skipped.counts[ALL] == len(few) - 1
    predicted = compute_composites(adapter, labels, ["saliency"], target="predicted", align="none")
    assert predicted.classes[-1] == "Kabuki syndrome" and predicted.counts["Kabuki syndrome"] == 1
    assert predicted.class_indices["Kabuki syndrome"] is None


def test_label_matching_ignores_case_and_spaces() -> None:
    mapping, unknown = match_labels({Path("a"): " Alpha", Path("b"): "BETA", Path("c"): "x"}, CLASSES)
    assert mapping == {" Alpha": 0, "BETA": 1, "x": None} and unknown == ["x"]
    mapping, unknown = match_labels({Path("a"): "ab"}, ["AB", "ab ", "Ab"])
    assert mapping == {"ab": None}  # ambiguous loose match is not guessed


def test_bad_images_are_skipped_with_reason(adapter, few, tmp_path: Path) -> None:
    bad = tmp_path / "alpha" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not an image")
    labels = {**few, bad: "alpha"}
    result = compute_composites(adapter, labels, ["saliency"], align="none")
    assert [p for p, _ in result.skipped] == [bad]
    assert "broken.png" in result.skipped[0][1]
    assert result.counts[ALL] == len(few)


def test_options_are_validated(adapter, folder) -> None:
    with pytest.raises(ParameterError, match="statistic"):
        compute_composites(adapter, folder, [], statistic="mode")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="target"):
        compute_composites(adapter, folder, [], target="best")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="not among the requested"):
        compute_composites(adapter, folder, ["saliency"], params={"gradcam": {}})
    with pytest.raises(ParameterError):
        compute_composites(adapter, folder, ["no-such-method"])


def test_progress_reaches_one(adapter, few) -> None:
    fractions: list[float] = []
    job = JobControl(on_progress=lambda f, _m: fractions.append(f), min_interval_s=0.0)
    compute_composites(adapter, few, ["saliency"], align="none", job=job)
    assert len(fractions) > len(few)
    assert fractions[-1] == 1.0
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(fractions))


def test_cli_composite_end_to_end(adapter, folder, tmp_path: Path, capsys) -> None:
    from gmxai_desktop.cli.main import main

    images = next(iter(folder)).parent.parent
    ckpt, classes = save_checkpoint(adapter.net, tmp_path / "model")
    out = tmp_path / "out"
    argv = ["composite", "--model", str(ckpt), "--classes", str(classes), "--images", str(images),
            "--methods", "saliency,gradcam", "--align", "none", "--cache", str(tmp_path / "c"),
            "--statistic", "median", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    counts = json.loads((out / "counts.json").read_text())
    assert counts == {"alpha": 4, "beta": 3, "gamma": 5}
    direct = compute_composites(adapter, folder, METHODS, statistic="median", align="none")
    for cls in CLASSES:
        assert (out / cls / "face.png").is_file()
        for m in METHODS:
            np.testing.assert_allclose(np.load(out / cls / f"{m}.npy"), direct.maps[cls][m], rtol=1e-4,
                                       atol=1e-6 * np.abs(direct.maps[cls][m]).max())
    np.testing.assert_allclose(np.load(out / "_all" / "gradcam.npy"), direct.maps[ALL]["gradcam"], rtol=1e-4,
                               atol=1e-6 * np.abs(direct.maps[ALL]["gradcam"]).max())
    loaded = load_composites(out)
    assert loaded.classes == CLASSES and loaded.counts[ALL] == len(folder)
    manifest = json.loads((out / "manifest.json").read_text())
    assert str(tmp_path) not in json.dumps(manifest), "no absolute paths in outputs"
    # Second run: everything from the cache.
    assert main(argv) == 0
    assert "12 from the cache" in capsys.readouterr().out


def test_cli_composite_unknown_label_is_a_clear_error(adapter, folder, tmp_path: Path, capsys) -> None:
    from gmxai_desktop.cli.main import main

    images = next(iter(folder)).parent.parent
    csv = tmp_path / "labels.csv"
    rows = ["image,label"] + [f"{p.relative_to(images)},{'Zzz' if i == 0 else lab}"
                              for i, (p, lab) in enumerate(folder.items())]
    csv.write_text("\n".join(rows) + "\n")
    ckpt, classes = save_checkpoint(adapter.net, tmp_path / "model")
    code = main(["composite", "--model", str(ckpt), "--classes", str(classes), "--images", str(images),
                 "--labels", str(csv), "--align", "none", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "'Zzz'" in err and "Traceback" not in err
