"""Rank known individuals for one query box: nearest neighbours, LNBNN, spatial verification.

The recipe is HotSpotter's (Crall et al. 2013): every reference descriptor goes into one FLANN
index; each query descriptor matches its nearest neighbours with the LNBNN weight (how much
closer than the next, "background", neighbour); the best-voted references (and the best few of
every individual) are verified with HotSpotter's one-match affine hypotheses (`spatial`), and
an individual scores its best reference's weight of verified matches. Pure numpy and OpenCV:
no Flask, no database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from tracker.reid import spatial
from tracker.reid.features import BoxFeatures

FLANN_KDTREE = 1
# FLANN splits its randomised k-d trees with OpenCV's random generator, one per thread, whose
# state is whatever the thread drew before: the same catalogue could rank a photo differently
# from one process to the next (near the "probably new" line, a test failed in a full parallel
# run and passed alone). Each index is built from this seed instead.
FLANN_SEED = 20240310


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
    vote: float  # LNBNN weight of its best-voted reference's matches, before verification
    inliers: int
    flank_match: bool = True  # False: found only on references of the opposite flank
    matches: tuple = field(default=(), repr=False)  # (query xy, reference xy) inlier pairs


@dataclass(frozen=True)
class Settings:
    k: int = 4  # neighbours that vote
    search: int = 24  # neighbours fetched, so excluded ones can be skipped (more when needed)
    root: bool = True  # RootSIFT (Arandjelovic & Zisserman 2012)
    shortlist: int = 20  # references verified, the best-voted first
    per_individual: int = 3  # and the best-voted few of every individual voted for
    sv_xy: float = 0.01  # inlier distance, as a share of the reference region's diagonal
    sv_scale: float = 2.0  # an inlier's region may differ in size by this factor at most
    max_matches: int = 400  # matches of one reference verified (the heaviest)
    checks: int = 256  # FLANN leaves visited per search: speed against exactness


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
            cv2.setRNGSeed(FLANN_SEED)
            self._index = cv2.flann_Index(data, {"algorithm": FLANN_KDTREE, "trees": 4})

    def __len__(self) -> int:
        return len(self.references)

    def neighbours(self, desc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(reference positions, distances) of each query descriptor's k nearest."""
        q = _prepare(desc, self.settings.root)
        k = min(k, len(self._data))
        idx, dist2 = self._index.knnSearch(q, k, params={"checks": self.settings.checks})
        # FLANN marks a neighbour it did not find with -1: one as far as can be stands in.
        missing = idx < 0
        idx[missing], dist2[missing] = 0, 2.0  # the farthest two RootSIFT vectors can be
        return idx, np.sqrt(np.maximum(dist2, 0))


def lnbnn_matches(
    index: ReferenceIndex, query: BoxFeatures, allowed: np.ndarray
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each allowed reference's matches with the query: (query rows, reference rows, weights).

    A query descriptor matches its k nearest allowed reference descriptors, each weighted by
    LNBNN (Crall et al. 2013): how much nearer it is than the next, "background", neighbour.
    `allowed` is a boolean per reference; rows whose fetched neighbours are mostly excluded
    are searched again deeper.
    """
    s = index.settings
    k = s.k
    idx, dist = index.neighbours(query.descriptors, s.search)
    ok = allowed[index.owner[idx]]
    short = np.flatnonzero(ok.sum(axis=1) <= k)
    if len(short) and idx.shape[1] < len(index.owner):
        more_idx, more_dist = index.neighbours(query.descriptors[short], s.search * 8)
        more_ok = allowed[index.owner[more_idx]]
        # Keep the k + 1 first allowed of each row searched again.
        order = np.argsort(~more_ok, axis=1, kind="stable")[:, : idx.shape[1]]
        idx[short] = np.take_along_axis(more_idx, order, 1)[:, : idx.shape[1]]
        dist[short] = np.take_along_axis(more_dist, order, 1)[:, : idx.shape[1]]
        ok[short] = np.take_along_axis(more_ok, order, 1)[:, : idx.shape[1]]
    # Position of each allowed neighbour among the allowed ones of its row.
    rank_in_row = np.cumsum(ok, axis=1) - 1
    n_allowed = ok.sum(axis=1)
    norm_col = np.argmax(ok & (rank_in_row == np.minimum(k, n_allowed - 1)[:, None]), axis=1)
    norm = dist[np.arange(len(dist)), norm_col]
    voter = ok & (rank_in_row < np.minimum(k, n_allowed - 1)[:, None])
    weight = norm[:, None] - dist
    voter &= weight > 0
    rows, cols = np.nonzero(voter)
    pos = idx[rows, cols]
    refs = index.owner[pos]
    local = pos - index.offsets[refs]
    w = weight[rows, cols].astype(np.float64)
    order = np.argsort(refs, kind="stable")
    refs, rows, local, w = refs[order], rows[order], local[order], w[order]
    bounds = np.flatnonzero(np.diff(refs)) + 1
    out = {}
    starts = np.concatenate([[0], bounds])
    for st, q, r, ww in zip(
        starts, np.split(rows, bounds), np.split(local, bounds), np.split(w, bounds), strict=True
    ):
        if len(q):
            out[int(refs[st])] = (q, r, ww)
    return out


def _verified(index: ReferenceIndex, query: BoxFeatures, ref: int, match) -> tuple:
    """(score, inliers, matched points) of one reference: the LNBNN weight of its matches
    that agree spatially."""
    s = index.settings
    qi, ri, w = match
    if len(w) > s.max_matches:
        keep = np.argsort(-w)[: s.max_matches]
        qi, ri, w = qi[keep], ri[keep], w[keep]
    features = index.references[ref].features
    inl = spatial.verify(query, features, qi, ri, w, s.sv_xy, s.sv_scale)
    pts = tuple(
        zip(
            query.keypoints[qi[inl], :2].tolist(),
            features.keypoints[ri[inl], :2].tolist(),
            strict=True,
        )
    )
    return float(w[inl].sum()), len(inl), pts


def _ranked(
    index: ReferenceIndex, query: BoxFeatures, allowed: np.ndarray, flank_match: bool
) -> list[Candidate]:
    """Shortlist references by their LNBNN vote (the best overall and the best few of each
    individual, so that a cat with few references is verified too), verify them spatially;
    an individual's score is its best reference's (not a sum: a cat with many references does
    not win by number)."""
    s = index.settings
    matches = lnbnn_matches(index, query, allowed)
    vote = {r: float(m[2].sum()) for r, m in matches.items()}
    by_vote = sorted(vote, key=lambda r: -vote[r])
    chosen = set(by_vote[: s.shortlist])
    seen: dict[int, int] = defaultdict(int)
    for r in by_vote:
        ind = int(index.ref_individual[r])
        if seen[ind] < s.per_individual:
            chosen.add(r)
        seen[ind] += 1
    best: dict[str, Candidate] = {}
    for r in by_vote:
        ref = index.references[r]
        score, inl, pts = _verified(index, query, r, matches[r]) if r in chosen else (0.0, 0, ())
        old = best.get(ref.individual)
        if old is None or score > old.score:
            vote_of = max(vote[r], old.vote if old else 0.0)
            best[ref.individual] = Candidate(
                ref.individual, score, ref.key, vote_of, inl, flank_match, pts
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


# Below this verified score the animal may be new. In bench/reid.py's calibration on the shared
# snow leopards (each query ranked again with its own cat removed from a catalogue of about 280
# references), 0.33 kept 75 % of the correct top-1 matches and called 87 % of the absent cats
# new, 0.63 kept half and called 95 % new; the same rosettes seen again seconds apart score 2
# to 9. LNBNN weights run higher in a catalogue of a handful of references (its background
# neighbours are fewer and farther): there a chance match scored up to 0.46.
NEW_BELOW = 0.5


def probably_new(candidates: list[Candidate], threshold: float = NEW_BELOW) -> bool:
    """True when even the best candidate is too weak to be the same animal."""
    return not candidates or candidates[0].score < threshold
