"""Spatial verification of one query box against one reference box, HotSpotter's way.

Each match is a hypothesis on its own: the affine map that carries the query keypoint's
elliptical region onto the reference keypoint's (Hessian-affine regions give the full shape,
and the cameras keep the gravity direction, so no rotation is estimated). The hypothesis whose
map brings the most match weight within a small distance of its partner, with a region of a
consistent size, wins; a least-median affine fit on its inliers then gathers the matches a
slightly bent flank still agrees with. A local test like this tolerates a coat that is not one
rigid plane, where one global RANSAC fit over noisy matches mostly finds noise.
"""

from __future__ import annotations

import cv2
import numpy as np

from tracker.reid.features import BoxFeatures


def _shape_matrices(f: BoxFeatures, rows: np.ndarray) -> np.ndarray:
    """The lower-triangular [[a, 0], [c, d]] of each keypoint in `rows`: unit circle -> region."""
    s = f.region_shapes()[rows].astype(np.float64)
    m = np.zeros((len(rows), 2, 2))
    m[:, 0, 0], m[:, 1, 0], m[:, 1, 1] = s[:, 0], s[:, 1], s[:, 2]
    return m


def verify(
    query: BoxFeatures,
    reference: BoxFeatures,
    qi: np.ndarray,
    ri: np.ndarray,
    weight: np.ndarray,
    xy: float = 0.01,
    scale: float = 2.0,
) -> np.ndarray:
    """Positions (into qi, ri, weight) of the matches consistent with the best hypothesis, one
    per query keypoint. `xy` is the inlier distance as a share of the reference's diagonal."""
    if len(qi) < 3:
        return np.zeros(0, np.int64)
    qx = query.keypoints[qi, :2].astype(np.float64)
    rx = reference.keypoints[ri, :2].astype(np.float64)
    qv, rv = _shape_matrices(query, qi), _shape_matrices(reference, ri)
    dets_q = np.abs(np.linalg.det(qv))
    dets_r = np.abs(np.linalg.det(rv))
    ok_shape = (dets_q > 1e-9) & (dets_r > 1e-9)
    qv[~ok_shape] = np.eye(2)
    dets_q[~ok_shape] = 1.0
    maps = rv @ np.linalg.inv(qv)  # hypothesis h: x -> maps[h] (x - qx[h]) + rx[h]
    pred = np.einsum("hij,hmj->hmi", maps, qx[None, :, :] - qx[:, None, :]) + rx[:, None, :]
    span = np.ptp(reference.keypoints[:, :2], axis=0)
    diag = max(float(np.hypot(*span)), 1.0)
    ok = np.linalg.norm(pred - rx[None], axis=2) < xy * diag
    # Region sizes: the query's region carried by the map against the reference's.
    size = np.sqrt(np.abs(np.linalg.det(maps))[:, None] * dets_q[None, :] / dets_r[None, :])
    ok &= (size < scale) & (size > 1 / scale)
    ok &= ok_shape[:, None]
    best = int(np.argmax(ok @ weight))
    inliers = np.flatnonzero(ok[best])
    if len(inliers) >= 4:
        fit, _ = cv2.estimateAffine2D(
            qx[inliers].astype(np.float32), rx[inliers].astype(np.float32), method=cv2.LMEDS
        )
        if fit is not None:
            err = np.linalg.norm(qx @ fit[:, :2].T + fit[:, 2] - rx, axis=1)
            wider = np.flatnonzero(err < 2 * xy * diag)
            if weight[wider].sum() > weight[inliers].sum():
                inliers = wider
    # A query keypoint counts once even if it matched the reference twice.
    _, first = np.unique(qi[inliers], return_index=True)
    return inliers[first]
