"""Rank known individuals for one query box: nearest neighbours, LNBNN, RANSAC re-ranking.

The recipe is HotSpotter's (Crall et al. 2013): every reference descriptor goes into one FLANN
index; each query descriptor votes for the individuals among its nearest neighbours with the
LNBNN weight (how much closer than the next, "background", neighbour); the best references are
then verified geometrically and re-ranked by the weight of their RANSAC inliers. Pure numpy and
OpenCV: no Flask, no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracker.reid.features import BoxFeatures

FLANN_KDTREE = 1


@dataclass(frozen=True)
class Reference:
    """A box of a sighting whose individual is known."""

    key: Hashable  # what the caller knows it by: an image id, a file name
    individual: str
    features: BoxFeatures
    flank: str | None = None
    event: Hashable | None = None  # same event as the query: never a reference for it


@dataclass(frozen=True)
class Candidate:
    individual: str
    score: float  # weight of geometrically verified matches (0 when none verified)
    reference: Hashable  # the reference box that matched best
    vote: float  # LNBNN vote before verification
    inliers: int
    flank_match: bool = True  # False: found only on references of the opposite flank
    matches: tuple = field(default=(), repr=False)  # (query xy, reference xy) inlier pairs


@dataclass(frozen=True)
class Settings:
    k: int = 4  # neighbours that vote
    search: int = 24  # neighbours fetched, so excluded ones can be skipped
    root: bool = True  # RootSIFT (Arandjelovic & Zisserman 2012)
    shortlist: int = 10  # individuals whose references are verified geometrically
    per_individual: int = 3  # references verified per shortlisted individual
    ratio: float = 0.8  # Lowe's ratio test in the one-to-one matching
    vote: str = "distinct"  # "distinct": normalised by the nearest other cat; "lnbnn"
    ransac_px: float = 0.04  # inlier distance, as a share of the reference region's diagonal
    min_inliers: int = 5
    checks: int = 64  # FLANN leaves visited per search: speed against exactness


def _prepare(desc: np.ndarray, root: bool) -> np.ndarray:
    d = desc.astype(np.float32)
    if root:
        d /= np.maximum(d.sum(axis=1, keepdims=True), 1e-7)
        return np.sqrt(d)
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-7)


class ReferenceIndex:
    """All reference descriptors in one FLANN k-d forest, built once per catalogue."""

    def __init__(self, references: Iterable[Reference], settings: Settings | None = None):
        self.settings = settings or Settings()
        self.references = [r for r in references if len(r.features)]
        sizes = [len(r.features) for r in self.references]
        self.owner = np.repeat(np.arange(len(self.references)), sizes).astype(np.int32)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.individuals = sorted({r.individual for r in self.references})
        ind_pos = {name: i for i, name in enumerate(self.individuals)}
        self.ref_individual = np.array([ind_pos[r.individual] for r in self.references], np.int32)
        self._index = None
        if self.references:
            stacked = np.vstack([r.features.descriptors for r in self.references])
            data = _prepare(stacked, self.settings.root)
            self._data = data  # FLANN keeps a pointer to it
            self._index = cv2.flann_Index(data, {"algorithm": FLANN_KDTREE, "trees": 4})

    def __len__(self) -> int:
        return len(self.references)

    def neighbours(self, desc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(reference positions, distances) of each query descriptor's k nearest."""
        q = _prepare(desc, self.settings.root)
        k = min(k, len(self._data))
        idx, dist2 = self._index.knnSearch(q, k, params={"checks": self.settings.checks})
        return idx, np.sqrt(np.maximum(dist2, 0))


def lnbnn_votes(
    index: ReferenceIndex, query: BoxFeatures, allowed: np.ndarray
) -> tuple[np.ndarray, dict[int, list[tuple[int, int, float]]]]:
    """LNBNN vote of each individual, and the weighted matches of each reference.

    `allowed` is a boolean per reference. A query descriptor gives each individual at most one
    vote (its best neighbour of that individual), so a cat with many references does not win
    by number alone.
    """
    s = index.settings
    idx, dist = index.neighbours(query.descriptors, s.search)
    ref = index.owner[idx]
    ok = allowed[ref]
    votes = np.zeros(len(index.individuals))
    matches: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for qi in range(len(idx)):
        cols = np.flatnonzero(ok[qi])
        if len(cols) < 2:
            continue
        if s.vote == "distinct":
            _distinct_vote(index, qi, cols, idx, dist, ref, votes, matches)
            continue
        voters, norm = cols[: s.k], dist[qi, cols[min(s.k, len(cols) - 1)]]
        seen: set[int] = set()
        for c in voters:
            w = float(norm - dist[qi, c])
            if w <= 0:
                break
            r = int(ref[qi, c])
            matches[r].append((qi, int(idx[qi, c] - index.offsets[r]), w))
            ind = int(index.ref_individual[r])
            if ind not in seen:
                seen.add(ind)
                votes[ind] += w
    return votes, matches


def _distinct_vote(index, qi, cols, idx, dist, ref, votes, matches) -> None:
    """Vote for the nearest neighbour's individual by how much nearer it is than the nearest
    neighbour of any other individual: a cat with many references does not win by number."""
    first = int(ref[qi, cols[0]])
    ind = index.ref_individual[first]
    others = cols[index.ref_individual[ref[qi, cols]] != ind]
    # No other cat among the neighbours fetched (a catalogue of one): the farthest fetched is
    # the background, as in LNBNN.
    norm = dist[qi, others[0]] if len(others) else dist[qi, cols[-1]]
    w = float(norm - dist[qi, cols[0]])
    if w > 0:
        votes[ind] += w
        for c in cols[: index.settings.k]:
            r = int(ref[qi, c])
            if index.ref_individual[r] == ind:
                matches[r].append((qi, int(idx[qi, c] - index.offsets[r]), w))


def one_to_one(query: BoxFeatures, reference: BoxFeatures, s: Settings) -> list:
    """Query-to-reference matches that pass Lowe's ratio test, weighted by its margin."""
    if len(query) < 2 or len(reference) < 2:
        return []
    a, b = _prepare(query.descriptors, s.root), _prepare(reference.descriptors, s.root)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(a, b, k=2)
    out = []
    for m in pairs:
        if len(m) == 2 and m[0].distance < s.ratio * m[1].distance:
            out.append((m[0].queryIdx, m[0].trainIdx, 1.0 - m[0].distance / m[1].distance))
    return out


def verify(
    query: BoxFeatures, reference: BoxFeatures, pairs: list[tuple[int, int, float]], s: Settings
) -> tuple[float, int, tuple]:
    """Weight of the matches consistent with one affine map of the coat, their number, and the
    matched points (for drawing). A flank seen from another angle is close to affine."""
    if len(pairs) < max(3, s.min_inliers):
        return 0.0, 0, ()
    qi = np.array([p[0] for p in pairs])
    ri = np.array([p[1] for p in pairs])
    w = np.array([p[2] for p in pairs])
    src = query.keypoints[qi, :2].astype(np.float32)
    dst = reference.keypoints[ri, :2].astype(np.float32)
    span = np.ptp(reference.keypoints[:, :2], axis=0)
    thresh = max(3.0, s.ransac_px * float(np.hypot(*span)))
    _, mask = cv2.estimateAffine2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=thresh, maxIters=500, confidence=0.99
    )
    if mask is None:
        return 0.0, 0, ()
    inl = mask.ravel().astype(bool)
    # One query keypoint counts once even if it matched the reference twice.
    _, first = np.unique(qi[inl], return_index=True)
    n = len(first)
    if n < s.min_inliers:
        return 0.0, n, ()
    pts = tuple(zip(src[inl].tolist(), dst[inl].tolist(), strict=True))
    return float(w[inl][first].sum()), n, pts


def _ranked(
    index: ReferenceIndex, query: BoxFeatures, allowed: np.ndarray, flank_match: bool
) -> list[Candidate]:
    """Shortlist by votes, then match the shortlisted cats' best references one to one and
    keep the weight of the RANSAC inliers: the final score of an individual is its best
    reference's."""
    s = index.settings
    votes, matches = lnbnn_votes(index, query, allowed)
    per_ref = {r: sum(m[2] for m in ms) for r, ms in matches.items()}
    refs_of: dict[int, list[int]] = defaultdict(list)
    for r in sorted(per_ref, key=lambda r: -per_ref[r]):
        refs_of[int(index.ref_individual[r])].append(r)
    ranked = sorted(refs_of, key=lambda i: -votes[i])
    best: dict[int, Candidate] = {}
    for n, ind in enumerate(ranked):
        for r in refs_of[ind][: s.per_individual if n < s.shortlist else 1]:
            ref = index.references[r]
            score, inl, pts = 0.0, 0, ()
            if n < s.shortlist:
                score, inl, pts = verify(query, ref.features, one_to_one(query, ref.features, s), s)
            if ind not in best or score > best[ind].score:
                best[ind] = Candidate(
                    ref.individual, score, ref.key, float(votes[ind]), inl, flank_match, pts
                )
    return sorted(best.values(), key=lambda c: (-c.score, -c.vote, c.individual))


def rank(
    index: ReferenceIndex,
    query: BoxFeatures,
    exclude_events: Iterable[Hashable] = (),
    flank: str | None = None,
) -> list[Candidate]:
    """Every individual the query's descriptors voted for, best first.

    References of an excluded event (the query's own burst) never count. With a known flank,
    references of the same or an unknown flank are compared first; individuals seen only on
    the opposite flank follow, marked `flank_match=False`.
    """
    if not len(index) or not len(query):
        return []
    excluded = set(exclude_events)
    allowed = np.array([r.event not in excluded for r in index.references], bool)
    if flank is None:
        return _ranked(index, query, allowed, True)
    same = np.array([r.flank in (None, flank) for r in index.references], bool)
    first = _ranked(index, query, allowed & same, True)
    known = {c.individual for c in first}
    rest = _ranked(index, query, allowed & ~same, False)
    return first + [c for c in rest if c.individual not in known]


# Below this verified score the animal may be new. Chance matches between different cats scored
# 1.0-1.3 (about five RANSAC inliers) in the shared snow-leopard diagnostics, the same rosettes
# seen again 8 or more; bench/reid.py prints the calibration (each query ranked again with its
# own cat removed) to set it from the data.
NEW_BELOW = 2.0


def probably_new(candidates: list[Candidate], threshold: float = NEW_BELOW) -> bool:
    """True when even the best candidate is too weak to be the same animal."""
    return not candidates or candidates[0].score < threshold
