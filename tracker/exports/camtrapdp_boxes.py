"""Boxes in Camtrap DP: bbox fields on people's media-level observations, and the detector's
own observations for the boxes no person has looked at.

Camtrap DP's bbox fields are MegaDetector's: `bboxX`, `bboxY` (top left), `bboxWidth`,
`bboxHeight`, fractions of the photo. A sighting's media-level row carries the (largest) box a
person tied to it on that photo. A detector box at or above its run's threshold that is tied to
no sighting and that nobody corrected is a media-level observation of its own:
`classificationMethod` machine, `classifiedBy` the detector, its confidence as
`classificationProbability`. A person's tag (tying the box to a sighting, or correcting it)
makes it that person's: it is then exported with the sighting, as `human`.

A mixin of the package writer (tracker.exports.camtrapdp._Package), whose state it reads.
"""

from __future__ import annotations

from sqlalchemy import select

from tracker.detections.boxes import counts
from tracker.exports.camtrapdp_schema import OBSERVATION_FIELDS, as_text, stamp, utc_stamp
from tracker.models import Annotation, DetectionRun, Image

# MegaDetector's categories as Camtrap DP observation types.
OBSERVATION_TYPES = {"animal": "animal", "person": "human", "vehicle": "vehicle"}
PRIVATE_CATEGORIES = ("person", "vehicle")  # never in public, as people's sightings are not


def bbox_fields(bbox) -> dict[str, float | str]:
    """The four bbox columns of a box (empty without one)."""
    if bbox is None:
        return {"bboxX": "", "bboxY": "", "bboxWidth": "", "bboxHeight": ""}
    x, y, w, h = (round(min(max(v, 0.0), 1.0), 4) for v in bbox)
    # Camtrap DP wants a width and a height above zero: a sliver rounds to nothing.
    return {"bboxX": x, "bboxY": y, "bboxWidth": max(w, 1e-15), "bboxHeight": max(h, 1e-15)}


class BoxRows:
    """Boxes of the exported deployments: people's (on their sightings' rows) and machines'."""

    def _sighting_boxes(self) -> dict[tuple[int, int], list[float]]:
        """{(sighting id, image id): bbox} of the boxes people tied to sightings, the largest
        when a sighting has several on one photo (its row counts them all)."""
        rows = self.session.execute(
            select(Annotation.sighting_id, Annotation.image_id, Annotation.x, Annotation.y,
                   Annotation.width, Annotation.height)
            .join(Image, Image.id == Annotation.image_id)
            .where(Annotation.sighting_id.is_not(None),
                   Image.deployment_id.in_(list(self.by_deployment)))
            .order_by((Annotation.width * Annotation.height).desc())
        )  # fmt: skip
        found: dict[tuple[int, int], list[float]] = {}
        for sighting_id, image_id, x, y, w, h in rows:
            found.setdefault((sighting_id, image_id), [x, y, w, h])
        return found

    def _box_images(self, categories: tuple[str, ...]) -> set[int]:
        """Photos of the exported deployments with a box of these categories that counts."""
        return set(
            self.session.scalars(
                select(Annotation.image_id)
                .outerjoin(DetectionRun, DetectionRun.id == Annotation.run_id)
                .join(Image, Image.id == Annotation.image_id)
                .where(
                    Image.deployment_id.in_(list(self.by_deployment)),
                    Annotation.category.in_(categories),
                    counts(self.options.detection_threshold),
                )
            )
        )

    def _machine_query(self):
        """Detector boxes at or above the threshold that no person tied or corrected."""
        query = (
            select(Annotation.id, Annotation.image_id, Annotation.category, Annotation.x,
                   Annotation.y, Annotation.width, Annotation.height, Annotation.confidence,
                   Image.deployment_id, Image.taken_at_utc, DetectionRun.detector,
                   DetectionRun.imported_at)
            .join(DetectionRun, DetectionRun.id == Annotation.run_id)
            .join(Image, Image.id == Annotation.image_id)
            .where(Image.deployment_id.in_(list(self.by_deployment)),
                   Annotation.sighting_id.is_(None), Annotation.reviewed_by_id.is_(None),
                   counts(self.options.detection_threshold))
            .order_by(Image.taken_at_utc, Image.id, Annotation.id)
        )  # fmt: skip
        if self.options.public:
            query = query.where(Annotation.category.not_in(PRIVATE_CATEGORIES))
        return query

    def _machine_observations(self, table) -> None:
        """One media-level row per detector box no person has looked at."""
        if self.filters.species_id is not None or self.filters.individual_id is not None:
            return  # a detector names no species and no individual
        before = table.rows
        for row in self.session.execute(self._machine_query().execution_options(yield_per=1000)):
            # Only on photos in the package: timed, inside the export, not in an outage.
            if self._placed(row.deployment_id, row.taken_at_utc) != "ok":
                continue
            span = self.by_deployment[row.deployment_id]
            piece = span.piece_at(row.taken_at_utc)
            if piece is None or (self.options.public and row.image_id in self.people_images):
                continue
            moment = stamp(row.taken_at_utc, span.zone)
            values = {
                "observationID": f"B{row.id}",
                "deploymentID": piece.deployment_id,
                "mediaID": f"M{row.image_id}",
                "eventStart": moment,
                "eventEnd": moment,
                "observationLevel": "media",
                "observationType": OBSERVATION_TYPES[row.category],
                "count": 1,
                "classificationMethod": "machine",
                "classifiedBy": row.detector,
                "classificationTimestamp": utc_stamp(row.imported_at),
                "classificationProbability": round(row.confidence, 4),
                "observationTags": "source:detector",
            }
            values |= bbox_fields([row.x, row.y, row.width, row.height])
            if self.options.public:  # who classified what stays in the team
                values["classifiedBy"] = ""
            table.write([as_text(values.get(name)) for name in OBSERVATION_FIELDS])
        self.tally.machine_rows = table.rows - before
