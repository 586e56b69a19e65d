"""Synthetic eye-tracking data for the demo faces (``resources/demo/fixations.csv``).

SYNTHETIC: no person looked at these faces. The file exists so that ``gmxai gaze`` and the app's
gaze view work out of the box, and so that the metrics have something with a known structure to
measure. Each simulated observer views each face for 3–5 s. Fixations last 100–400 ms (log-normal,
median 230 ms) and are separated by 20–60 ms saccades, which gives about 3 fixations per second,
within the 2–4 /s of free viewing. The first fixation is on the centre (where a fixation cross
would have been). Each later fixation goes to one of three targets, with observer-specific
weights:

* the centre of the image (the centre bias every viewer has);
* one of the eyes (faces draw the gaze to the eyes);
* a pixel of the class's ground-truth region (the mask: where the syndrome changed the face), the
  region a clinician is looking for. Unaffected faces have no region; those fixations go to the
  eyes and the centre instead.

A Gaussian scatter of 2.5 px (at 112 px) around the target stands for fixational eye movement
and tracker error. Each observer also has a constant offset of about 1 px (calibration error).
Everything derives from :data:`DEMO_FIXATIONS_SEED` and each face's own seed, so
``python -m gmxai_desktop.core.demo.fixations`` rewrites the bundled file byte for byte.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import numpy as np

from ..base.atomic import atomic_write_text
from .classes import UNAFFECTED

DEMO_FIXATIONS_SEED = 20241213
N_OBSERVERS = 5
VIEW_SECONDS = (3.0, 5.0)
DURATION_MEDIAN_MS = 230.0
DURATION_RANGE_MS = (100.0, 400.0)
SACCADE_MS = (20.0, 60.0)
TARGET_SCATTER_PX = 2.5
WEIGHT_CONCENTRATION = (2.0, 3.0, 5.0)  # Dirichlet: centre, eyes, region


def observer_names(n: int = N_OBSERVERS) -> list[str]:
    return [f"synthetic-{i + 1}" for i in range(n)]


def _eye_centres(spec: object, size: int) -> np.ndarray:
    """The face's eye centres after its pose jitter (the similarity the renderer applies)."""
    eyes = np.array([spec.eye_l, spec.eye_r], dtype=np.float64)  # type: ignore[attr-defined]
    a = math.radians(spec.rot_deg)  # type: ignore[attr-defined]
    s = spec.scale  # type: ignore[attr-defined]
    c = size / 2.0
    # cv2.getRotationMatrix2D(c, angle, scale): [[α, β], [-β, α]], α = s·cos, β = s·sin
    rot = np.array([[s * math.cos(a), s * math.sin(a)], [-s * math.sin(a), s * math.cos(a)]])
    return (eyes - c) @ rot.T + c + np.array(spec.shift)  # type: ignore[attr-defined]


def simulate_image(rng: np.random.Generator, mask: np.ndarray, eyes: np.ndarray,
                   weights: np.ndarray, offset: np.ndarray) -> list[tuple[float, float, float, float]]:
    """(x, y, duration_ms, t_ms) of one observer viewing one face."""
    h, w = mask.shape
    region = np.argwhere(mask > 0)
    wts = weights.copy()
    if len(region) == 0:
        wts[2] = 0.0
    wts = wts / wts.sum()
    view_ms = rng.uniform(*VIEW_SECONDS) * 1000.0
    out = []
    t = rng.uniform(150.0, 250.0)  # latency of the first saccade-free fixation after onset
    first = True
    while t < view_ms:
        if first:
            target = np.array([w / 2.0, h / 2.0])
            first = False
        else:
            k = rng.choice(3, p=wts)
            if k == 0:
                target = np.array([w / 2.0, h / 2.0]) + rng.normal(0.0, w / 10.0, 2)
            elif k == 1:
                target = eyes[rng.integers(2)]
            else:
                r, c = region[rng.integers(len(region))]
                target = np.array([c + 0.5, r + 0.5])
        xy = target + offset + rng.normal(0.0, TARGET_SCATTER_PX, 2)
        xy = np.clip(xy, 0.0, np.array([w, h]) - 0.01)  # stays inside after rounding to 0.01
        dur = float(np.clip(DURATION_MEDIAN_MS * math.exp(rng.normal(0.0, 0.3)), *DURATION_RANGE_MS))
        out.append((float(xy[0]), float(xy[1]), round(dur), round(t)))
        t += dur + rng.uniform(*SACCADE_MS)
    return out


def demo_fixations_csv(data_dir: Path, seed: int = DEMO_FIXATIONS_SEED,
                       n_observers: int = N_OBSERVERS) -> str:
    """The CSV text for the demo set in ``data_dir`` (images/, masks/, labels.csv, dataset.json)."""
    import json

    from PIL import Image

    from .dataset import face_rngs
    from .faces import apply_class, sample_identity

    meta = json.loads((data_dir / "dataset.json").read_text())
    face_seed = int(meta["seed"])
    with open(data_dir / "labels.csv", newline="") as fh:
        labels = [(r["image"], r["label"]) for r in csv.DictReader(fh)]
    obs_rng = np.random.default_rng([seed, 0])
    names = observer_names(n_observers)
    weights = {o: obs_rng.dirichlet(WEIGHT_CONCENTRATION) for o in names}
    offsets = {o: obs_rng.normal(0.0, 1.0, 2) for o in names}
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["image", "observer", "x", "y", "duration_ms", "t_ms"])
    for n, (rel, label) in enumerate(labels):
        stem = Path(rel).stem
        index = int(stem.rsplit("_", 1)[1])
        identity_rng, variant_rng = face_rngs(face_seed, label, index)
        spec = apply_class(sample_identity(identity_rng), label, variant_rng)
        with Image.open(data_dir / "masks" / f"{stem}.png") as im:
            mask = np.asarray(im.convert("L"))
        if label == UNAFFECTED:
            mask = np.zeros_like(mask)
        eyes = _eye_centres(spec, mask.shape[1])
        for k, o in enumerate(names):
            rng = np.random.default_rng([seed, 1 + n, k])
            for x, y, d, t in simulate_image(rng, mask, eyes, weights[o], offsets[o]):
                wr.writerow([rel, o, f"{x:.2f}", f"{y:.2f}", f"{d:.0f}", f"{t:.0f}"])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Rewrite resources/demo/fixations.csv (or the path given) from the seed."""
    from . import demo_data_dir

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else demo_data_dir() / "fixations.csv"
    atomic_write_text(out, demo_fixations_csv(demo_data_dir()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
