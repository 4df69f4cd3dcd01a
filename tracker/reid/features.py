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
# together. Keeping one field (deinterlace=True) was the first recipe; on the shared snow
# leopards the frame as stored matched better (bench/reid.py, README), so it is off by default.
INTERLACED_SIZES = frozenset({(1920, 1080)})
# Longest side of the region described; bigger regions are scaled down. Pattern boxes are
# described at the photo's own resolution (scaling them to 700 px lost rosettes that matched);
# the cap only bounds the time of a whole-photo query on a very large photo.
MAX_SIDE = 2048
# How the stored features are made (PatternFeatures.detector): features stored by another
# recipe are made again before they are compared.
RECIPE = "hesaff-full"
MAX_KEYPOINTS = 1200
DETECTORS = ("hesaff", "sift")


class UnreadableImage(ValueError):
    """The file is not an image OpenCV can decode (the reason a ranger sees)."""


@dataclass(frozen=True)
class BoxFeatures:
    """Keypoints of one box in the image's own pixels, and their descriptors.

    `keypoints` rows are (x, y, scale) and `descriptors` are 128-byte SIFT vectors (uint8).
    `shapes` rows are the affine region of each keypoint, (a, c, d) of the lower-triangular
    matrix [[a, 0], [c, d]] that maps the unit circle onto it in the photo's pixels (features
    stored before they were kept have none: a circle of the keypoint's scale stands in).
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    detector: str
    shapes: np.ndarray | None = None

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
            shapes=self.region_shapes().astype(np.float32),
        )
        return buf.getvalue()

    def region_shapes(self) -> np.ndarray:
        """(a, c, d) per keypoint; a circle of the keypoint's scale when none was kept."""
        if self.shapes is not None:
            return self.shapes
        r = self.keypoints[:, 2] if len(self.keypoints) else np.zeros(0, np.float32)
        return np.column_stack([r, np.zeros_like(r), r]).astype(np.float32)

    @classmethod
    def from_bytes(cls, blob: bytes) -> BoxFeatures:
        with np.load(io.BytesIO(blob)) as data:
            shapes = data["shapes"] if "shapes" in data.files else None
            return cls(data["keypoints"], data["descriptors"], str(data["detector"]), shapes)


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
    s = min(1.0, max_side / side) if side and max_side else 1.0
    out = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
    return clahe.apply(out), s, s * sy


def _detect(image: np.ndarray, detector: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y, a, c, d) rows and uint8 descriptors in the normalised image's pixels."""
    empty = np.zeros((0, 5), np.float32), np.zeros((0, 128), np.uint8)
    if detector == "hesaff":
        import pyhesaff  # imported late: it loads a large native library

        kpts, desc = pyhesaff.detect_feats_in_image(np.ascontiguousarray(image))
        if len(kpts) == 0:
            return empty
        # HotSpotter's keypoint format: x, y, then the lower-triangular (a, c, d) shape.
        return kpts[:, :5].astype(np.float32), desc
    if detector == "sift":
        sift = cv2.SIFT_create(nfeatures=MAX_KEYPOINTS)
        kps, desc = sift.detectAndCompute(image, None)
        if desc is None:
            return empty
        pts = np.array([(k.pt[0], k.pt[1], k.size / 2, 0, k.size / 2) for k in kps], np.float32)
        return pts, np.clip(desc, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown detector {detector!r}; use one of {', '.join(DETECTORS)}")


def _describe(grey, region, inside_of, skip, detector, deinterlace, max_side):
    """Keypoints of one region, in the photo's pixels: (x, y, a, c, d) rows and descriptors,
    only those whose centre is inside one of the boxes `inside_of` and none of `skip`."""
    x0, y0, x1, y1 = region
    if x1 - x0 < 8 or y1 - y0 < 8:
        return np.zeros((0, 5), np.float32), np.zeros((0, 128), np.uint8)
    image, sx, sy = normalise(grey[y0:y1, x0:x1], deinterlace, max_side)
    pts, desc = _detect(image, detector)
    # Back to the photo's pixels: the shape [[a, 0], [c, d]] scales by rows.
    photo = np.column_stack(
        [pts[:, 0] / sx + x0, pts[:, 1] / sy + y0, pts[:, 2] / sx, pts[:, 3] / sy, pts[:, 4] / sy]
    )
    keep = _within(photo, inside_of) & ~_within(photo, skip)
    return photo[keep], desc[keep]


def _within(pts: np.ndarray, boxes) -> np.ndarray:
    inside = np.zeros(len(pts), bool)
    for bx, by, bw, bh in boxes:
        xs, ys = pts[:, 0], pts[:, 1]
        inside |= (xs >= bx) & (xs < bx + bw) & (ys >= by) & (ys < by + bh)
    return inside


def extract(
    grey: np.ndarray,
    boxes: list[list[float]],
    detector: str = "hesaff",
    deinterlace: bool | None = False,
    max_side: int = MAX_SIDE,
    per_box: bool = False,
) -> BoxFeatures:
    """Features of the coat inside `boxes` ([x, y, w, h] pixel boxes of one animal).

    Several boxes (flank, shoulder, tail) are described together on their union, keeping only
    keypoints whose centre is inside one of them; with `per_box`, each box is described on its
    own (a keypoint where boxes overlap is kept once). `deinterlace` None means: for the frame
    sizes known to be interlaced. `max_side` 0 describes the region at the photo's resolution.
    """
    h, w = grey.shape
    if deinterlace is None:
        deinterlace = (w, h) in INTERLACED_SIZES
    if per_box:
        parts = [
            _describe(grey, _region(grey, [b]), [b], boxes[:i], detector, deinterlace, max_side)
            for i, b in enumerate(boxes)
        ]
    else:
        parts = [_describe(grey, _region(grey, boxes), boxes, [], detector, deinterlace, max_side)]
    pts = np.vstack([p[0] for p in parts]) if parts else np.zeros((0, 5), np.float32)
    desc = np.vstack([p[1] for p in parts]) if parts else np.zeros((0, 128), np.uint8)
    scale = np.sqrt(np.abs(pts[:, 2] * pts[:, 4]))
    keep = np.arange(len(pts))
    if len(keep) > MAX_KEYPOINTS:
        # The largest regions carry the rosettes; the smallest are fur texture and noise.
        keep = np.sort(np.argsort(-scale)[:MAX_KEYPOINTS])
    kp = np.column_stack([pts[keep, :2], scale[keep]]).astype(np.float32)
    return BoxFeatures(
        kp, np.ascontiguousarray(desc[keep], np.uint8), detector, pts[keep, 2:5].astype(np.float32)
    )
