"""The catalogue's reference index, built once per process and kept while the references hold.

Building the FLANN index is the slow part of a photo-ID page (77 s for 2,016 references, one
query then takes under 2 s), so each web worker keeps the last one built. It is served only
while the references are exactly what it was built from: the key is a digest of everything
`identify.references` reads except the descriptors themselves (which boxes are references,
their individuals, flanks, photos and places, and the features' recipe, box and size), so a new
reference, a box marked unusable, a merge or a moved box all give a fresh index, and nothing
else does. Not the figures' data version: that moves with every tag in the review queue, most of
which change no reference. A lock around the build: threads of one worker wait for one build.

Same-event exclusion stays per query (`matcher.rank` leaves the query's own event out of a
shared index), so one index serves every query.
"""

from __future__ import annotations

import hashlib
import threading

from sqlalchemy import func
from sqlalchemy.orm import Session

from tracker.models import Annotation, Image, Individual, PatternFeatures, Sighting
from tracker.reid import identify
from tracker.reid.matcher import ReferenceIndex

STATE = (
    PatternFeatures.annotation_id,
    PatternFeatures.detector,
    PatternFeatures.keypoints,
    PatternFeatures.bbox,
    PatternFeatures.computed_at,
    func.length(PatternFeatures.data),
    Annotation.flank,
    Sighting.flank,
    Individual.code,
    Image.id,
    Image.deployment_id,
    Image.taken_at_utc,
)


def state(session: Session, setting: str) -> str:
    """A digest of the references as `identify.references` would read them, without the
    descriptors: one light query."""
    digest = hashlib.sha256(setting.encode())
    for row in session.execute(identify.reference_query(session, setting, *STATE)):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


class IndexCache:
    """The last reference index built, with the state of the references it was built from."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._index: ReferenceIndex | None = None
        self._lock = threading.Lock()
        self.built = 0  # how many times an index was built, for tests and benchmarks

    def get(self, session: Session, setting: str) -> ReferenceIndex:
        """The index of the catalogue's references as they are now."""
        key = state(session, setting)
        with self._lock:
            if self._key != key or self._index is None:
                self._index = ReferenceIndex(identify.references(session, setting))
                self._key = key
                self.built += 1
            return self._index


def reference_index(session: Session, setting: str, cache: IndexCache | None) -> ReferenceIndex:
    """The catalogue's index: the cache's when there is one (a web worker), else built now."""
    if cache is None:
        return ReferenceIndex(identify.references(session, setting))
    return cache.get(session, setting)
