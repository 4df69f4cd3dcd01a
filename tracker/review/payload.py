"""The review queue's bursts as `review.js` shows them: the JSON the page and its fetches get.

The keys are the page's contract with `review.js`; addresses come from the web layer's
`url_for`, passed in, so this module runs without Flask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tracker import sightings
from tracker.detections import boxes
from tracker.models import Image, Sighting, sighting_image
from tracker.review.choices import Choices
from tracker.review.queue import Queue
from tracker.review.tagging import summary


@dataclass
class Payloads:
    """One queue's bursts as JSON; `url` builds addresses (the web layer's `url_for`)."""

    session: object
    todo: Queue
    threshold: float  # detection boxes below this score are not shown
    url: Callable[..., str]

    def page(self, index: int, choices: Choices) -> dict:
        """What the queue page hands review.js: this burst and the next, addresses, keys."""
        current = self.at(index)
        dep = self.todo.deployment
        urls = {
            "queue": self.url("review.queue", deployment_id=dep.id),
            "tag": self.url("review.tag", deployment_id=dep.id),
            "next": self.url("review.next_sequence", deployment_id=dep.id),
        }
        return {
            "urls": urls,
            "timezone": dep.timezone,
            "current": current,
            "next": self.at(index + 1) if current else None,
            "quick": [{"key": str(n), "id": s.id} for n, s in enumerate(choices.quick, 1)],
            "leopard_id": choices.leopard.id if choices.leopard else None,
            "blank_id": choices.blank.id if choices.blank else None,
        }

    def at(self, index: int) -> dict | None:
        """One sequence as review.js shows it (None past either end of the queue)."""
        if not 0 <= index < len(self.todo.groups):
            return None
        return self.burst(self.todo.groups[index], index)

    def again(self, images: list[Image]) -> dict:
        """A burst just tagged, shown again for the next animal in it (a mother, then her cubs)."""
        payload = self.burst(images, self.todo.index_at(images[0].id))
        on_these = select(sighting_image.c.sighting_id).where(
            sighting_image.c.image_id.in_([i.id for i in images])
        )
        tagged = self.session.scalars(
            select(Sighting)
            .where(Sighting.id.in_(on_these))
            .options(selectinload(Sighting.species), selectinload(Sighting.individual))
            .order_by(Sighting.id)
        )
        return payload | {"again": True, "tagged": [summary(s) for s in tagged]}

    def burst(self, group: list, index: int) -> dict:
        todo, url = self.todo, self.url
        zone = ZoneInfo(todo.deployment.timezone)
        times = [i.taken_at_utc for i in group if i.taken_at_utc is not None]
        first, last = group[0].id, group[-1].id
        found = boxes.shown(self.session, [i.id for i in group], self.threshold)
        dep = todo.deployment.id
        return {
            "deployment_id": dep,
            "position": index + 1,
            "total": len(todo.groups),
            "untagged": todo.untagged,
            "likely_empty": todo.likely_empty,
            "images_total": len(todo.rank),
            "image_ids": [i.id for i in group],
            "first_id": first,
            "last_id": last,
            "span_seconds": int((max(times) - min(times)).total_seconds()) if times else None,
            "has_previous": index > 0,
            "has_next": index + 1 < len(todo.groups),
            "url": url("review.queue", deployment_id=dep, at=first),
            "previous_url": url("review.queue", deployment_id=dep, before=first),
            "next_url": url("review.queue", deployment_id=dep, after=last),
            "images": [self.image(i, zone, found) for i in group],
            "timestamp_warning": sightings.timestamp_warning(group),
            "again": False,
            "tagged": [],
        }

    def image(self, image, zone: ZoneInfo, found: list) -> dict:
        """An image (or a row with its id, times, name and issue) as review.js shows it."""
        url = self.url
        local = image.taken_at_utc.astimezone(zone) if image.taken_at_utc else None
        return {
            "id": image.id,
            "file_name": image.original_filename,
            "time_utc": image.taken_at_utc.isoformat() if image.taken_at_utc else None,
            "local_time": local.strftime("%Y-%m-%d %H:%M:%S") if local else None,
            "timestamp_issue": image.timestamp_issue,
            "preview_url": url("images.preview", image_id=image.id),
            "detail_url": url("images.detail", image_id=image.id),
            "boxes": [boxes.as_dict(b) for b in found if b.image_id == image.id],
            "boxes_url": url("boxes.create", image_id=image.id),
        }

    def tagged(self, sighting: Sighting, new_individual: bool, following: dict | None) -> dict:
        """The answer to a tagging: what was saved, how to undo or edit it, and what is next.

        The undo link deletes the sighting, and the individual created with it unless it is
        in use by then; a new individual created in place goes to review.js's code list."""
        created = sighting.individual_id if new_individual else None
        individual = sighting.individual
        return {
            "ok": True,
            "sighting_id": sighting.id,
            "summary": summary(sighting),
            "undo_url": self.url(
                "review.delete_sighting", sighting_id=sighting.id, new_individual=created
            ),
            "edit_url": self.url("review.edit_sighting", sighting_id=sighting.id),
            "individual": (
                {"code": individual.code, "name": individual.name}
                if individual is not None and new_individual
                else None
            ),
            "next": following,
        }
