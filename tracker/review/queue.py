"""A deployment's untagged trigger bursts, in order, and where a ranger is among them.

Where a ranger is in the queue travels in the address as an image id: the burst holding it, or
the one just after or before it. Positions are ranks in the deployment's image order, as the
database sorts it, so they stay right while other bursts are being tagged. Bursts whose every
photo is likely empty (see `tracker.detections.empty`) are left out of the queue by default:
they wait on the likely-empty page, where one key confirms a screenful as blank.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import exists, literal, select
from sqlalchemy.orm import contains_eager

from tracker.detections.empty import likely_empty
from tracker.models import Deployment, Image, ImageCount, Station, sighting_image
from tracker.sightings import SEQUENCE_ORDER, bursts

MAX_ID_DIGITS = 9


def parse_id(text) -> int | None:
    """An id as typed in an address or a form; anything but a whole number is None."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


def deployments_to_review(session) -> list[tuple[Deployment, int, int]]:
    """(deployment, photos, untagged photos) of every deployment with photos, those with work
    left first; the counts are the ones the database keeps (ImageCount)."""
    query = (
        select(Deployment, ImageCount.images, ImageCount.untagged)
        .join(Deployment.station)
        .join(ImageCount, ImageCount.deployment_id == Deployment.id)
        .where(ImageCount.images > 0)
        .options(contains_eager(Deployment.station))
        .order_by(Station.code, Deployment.start_date.desc(), Deployment.id.desc())
    )
    rows = [tuple(row) for row in session.execute(query)]
    rows.sort(key=lambda row: row[2] == 0)  # deployments with work left first, stable otherwise
    return rows


@dataclass
class Queue:
    """A deployment's untagged bursts, and every image's rank in the deployment's order.

    Bursts hold rows of the few columns a burst shows (id, taken_at_utc, original_filename,
    timestamp_issue), not whole images: one light query keeps a deployment of ten thousand
    photos quick to step through.
    """

    deployment: Deployment
    groups: list[list]
    rank: dict[int, int]
    empty_groups: list[list]

    @classmethod
    def load(
        cls,
        session,
        deployment: Deployment,
        gap_seconds: int,
        threshold: float,
        hide_likely_empty: bool = True,
    ) -> Queue:
        tagged = exists().where(sighting_image.c.image_id == Image.id)
        empty = likely_empty(threshold) if hide_likely_empty else literal(False)
        rows = session.execute(
            select(
                Image.id,
                Image.taken_at_utc,
                Image.original_filename,
                Image.timestamp_issue,
                tagged.label("tagged"),
                empty.label("likely_empty"),
            )
            .where(Image.deployment_id == deployment.id)
            .order_by(*SEQUENCE_ORDER)
        ).all()
        groups, empty_groups = [], []
        for group in bursts((row for row in rows if not row.tagged), gap_seconds):
            (empty_groups if all(r.likely_empty for r in group) else groups).append(group)
        return cls(deployment, groups, {row.id: n for n, row in enumerate(rows)}, empty_groups)

    @property
    def untagged(self) -> int:
        return sum(len(g) for g in self.groups) + self.likely_empty

    @property
    def likely_empty(self) -> int:
        """Untagged photos in likely-empty bursts, left out of the queue."""
        return sum(len(g) for g in self.empty_groups)

    def _firsts(self) -> list[int]:
        return [self.rank[g[0].id] for g in self.groups]

    def _lasts(self) -> list[int]:
        return [self.rank[g[-1].id] for g in self.groups]

    def index_at(self, image_id: int | None) -> int:
        """The burst holding this image, or the first one after it (0 if unknown)."""
        if image_id not in self.rank:
            return 0
        return bisect.bisect_left(self._lasts(), self.rank[image_id])

    def index_after(self, image_id: int) -> int:
        return bisect.bisect_right(self._firsts(), self.rank[image_id])

    def index_before(self, image_id: int) -> int:
        """The last burst ending before this image; -1 if there is none."""
        return bisect.bisect_left(self._lasts(), self.rank[image_id]) - 1

    def position(self, args: Mapping[str, str]) -> tuple[int, str | None]:
        """Which burst the address asks for (`at`, `after` or `before` an image id): (index,
        the parameter that was not understood)."""
        for name, locate in (
            ("at", self.index_at),
            ("after", self.index_after),
            ("before", self.index_before),
        ):
            if name not in args:
                continue
            image_id = parse_id(args[name])
            if image_id is None or image_id not in self.rank:
                return 0, name
            return locate(image_id), None
        return 0, None
