"""Pattern features of one animal box: keypoints on the coat, described by SIFT-like vectors.

No Flask and no database here: an image file or array in, a `BoxFeatures` out. Keypoints come
from Hessian-affine regions (`pyhesaff`, the detector HotSpotter and Wildbook use) or OpenCV's
SIFT, on a grey image normalised with CLAHE so infrared night shots and colour day shots give
comparable gradients. Only keypoints whose centre lies inside the box(es) are kept: with a
padded box the rocks behind the cat match their own station, not the cat.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

# 1920 x 1080 camera-trap frames are interlaced video stills: two fields of 540 rows woven
# together, so the real vertical detail is half the rows and alternate rows disagree.
INTERLACED_SIZES = frozenset({(1920, 1080)})
# Longest side of the region described; bigger boxes are scaled down (speed, and scale parity
# between close and distant cats), smaller ones are left alone.
MAX_SIDE = 700
MAX_KEYPOINTS = 1200
DETECTORS = ("hesaff", "sift")


class UnreadableImage(ValueError):
    """The file is not an image OpenCV can decode (the reason a ranger sees)."""


@dataclass(frozen=True)
class BoxFeatures:
    """Keypoints of one box in the image's own pixels, and their descriptors.

    `keypoints` rows are (x, y, scale) and `descriptors` are 128-byte SIFT vectors (uint8).
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    detector: str

    def __len__(self) -> int:
        return len(self.descriptors)

    def to_bytes(self) -> bytes:
        """A compact blob for the database (npz, about 140 bytes a keypoint)."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            keypoints=self.keypoints.astype(np.float32),
            descriptors=self.descriptors.astype(np.uint8),
            detector=np.array(self.detector),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> BoxFeatures:
        with np.load(io.BytesIO(blob)) as data:
            return cls(data["keypoints"], data["descriptors"], str(data["detector"]))


def read_grey(source: str | bytes) -> np.ndarray:
    """A photo as one grey channel, whatever its colour mode (day colour or infrared grey)."""
    if isinstance(source, bytes):
        grey = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_GRAYSCALE)
    else:
        grey = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise UnreadableImage("not a JPEG or other image OpenCV can read")
    return grey


def banner_rows(grey: np.ndarray) -> tuple[int, int]:
    """The rows between the cameras' black text banners (date, temperature, logo) at top and
    bottom; keypoints on the letters would match every photo of the same camera model."""
    medians = np.median(grey[:, :: max(1, grey.shape[1] // 256)], axis=1)
    dark = medians <= 12
    top = 0
    while top < len(dark) // 8 and dark[top]:
        top += 1
    bottom = len(dark)
    while bottom > len(dark) - len(dark) // 8 and dark[bottom - 1]:
        bottom -= 1
    # The banner's letters break the run of dark rows: skip a few rows of margin past it.
    return (top + 4 if top else 0), (bottom - 4 if bottom < len(dark) else bottom)


def _region(grey: np.ndarray, boxes: list[list[float]]) -> tuple[int, int, int, int]:
    w = grey.shape[1]
    top, bottom = banner_rows(grey)
    x0 = max(0, int(min(b[0] for b in boxes)))
    y0 = max(top, int(min(b[1] for b in boxes)))
    x1 = min(w, int(max(b[0] + b[2] for b in boxes)))
    y1 = min(bottom, int(max(b[1] + b[3] for b in boxes)))
    return x0, y0, x1, y1


def normalise(
    crop: np.ndarray, interlaced: bool, max_side: int = MAX_SIDE
) -> tuple[np.ndarray, float, float]:
    """Grey crop -> the image described, and its x and y scale from the crop's pixels."""
    sy = 1.0
    if interlaced:
        crop = crop[::2]  # one field: real detail, no combing between the two exposures
        sy = 0.5
    side = max(crop.shape[0] / sy, crop.shape[1])
    s = min(1.0, max_side / side) if side else 1.0
    out = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(out), s, s * sy


def _detect(image: np.ndarray, detector: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y, scale) rows and uint8 descriptors in the normalised image's pixels."""
    if detector == "hesaff":
        import pyhesaff  # imported late: it loads a large native library

        kpts, desc = pyhesaff.detect_feats_in_image(np.ascontiguousarray(image))
        if len(kpts) == 0:
            return np.zeros((0, 3), np.float32), np.zeros((0, 128), np.uint8)
        # HotSpotter's keypoint format: x, y, then the lower-triangular (a, c, d) shape.
        scale = np.sqrt(np.abs(kpts[:, 2] * kpts[:, 4]))
        return np.column_stack([kpts[:, 0], kpts[:, 1], scale]), desc
    if detector == "sift":
        sift = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS)
        kps, desc = sift.detectAndCompute(image, None)
        if desc is None:
            return np.zeros((0, 3), np.float32), np.zeros((0, 128), np.uint8)
        pts = np.array([(k.pt[0], k.pt[1], k.size / 2) for k in kps], np.float32)
        return pts, np.clip(desc, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown detector {detector!r}; use one of {', '.join(DETECTORS)}")


def extract(
    grey: np.ndarray,
    boxes: list[list[float]],
    detector: str = "hesaff",
    deinterlace: bool | None = None,
    max_side: int = MAX_SIDE,
) -> BoxFeatures:
    """Features of the coat inside `boxes` ([x, y, w, h] pixel boxes of one animal).

    Several boxes (flank, shoulder, tail) are described together on their union, keeping only
    keypoints whose centre is inside one of them. `deinterlace` None means: for the frame
    sizes known to be interlaced.
    """
    h, w = grey.shape
    if deinterlace is None:
        deinterlace = (w, h) in INTERLACED_SIZES
    x0, y0, x1, y1 = _region(grey, boxes)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return BoxFeatures(np.zeros((0, 3), np.float32), np.zeros((0, 128), np.uint8), detector)
    image, sx, sy = normalise(grey[y0:y1, x0:x1], deinterlace, max_side)
    pts, desc = _detect(image, detector)
    # Back to the photo's pixels.
    xs = pts[:, 0] / sx + x0
    ys = pts[:, 1] / sy + y0
    inside = np.zeros(len(pts), bool)
    for bx, by, bw, bh in boxes:
        inside |= (xs >= bx) & (xs < bx + bw) & (ys >= by) & (ys < by + bh)
    keep = np.flatnonzero(inside)
    if len(keep) > MAX_KEYPOINTS:
        # The largest regions carry the rosettes; the smallest are fur texture and noise.
        keep = keep[np.argsort(-pts[keep, 2])[:MAX_KEYPOINTS]]
    kp = np.column_stack([xs[keep], ys[keep], pts[keep, 2] / sx]).astype(np.float32)
    return BoxFeatures(kp, np.ascontiguousarray(desc[keep], np.uint8), detector)
