"""Camtrap DP's observations at both levels: one row per independent event, one per sighting and
photo (eventID links them), and the count of what had no usable time.

A mixin of the package writer (tracker.exports.camtrapdp._Package), whose state it reads.
"""

from __future__ import annotations

from sqlalchemy import case, func, select

from tracker.exports.archive import CsvMember
from tracker.exports.camtrapdp_boxes import bbox_fields
from tracker.exports.camtrapdp_schema import (
    LIFE_STAGES,
    NAMED_KINDS,
    OBSERVATION_FIELDS,
    as_text,
    stamp,
    utc_stamp,
)
from tracker.exports.spans import sighting_conditions
from tracker.models import Image, Individual, Sighting, sighting_image


class ObservationRows:
    """The observations table, the individuals it names, and the tally of what was left out."""

    def _individual(self, individual_id: int | None) -> Individual | None:
        if individual_id is None:
            return None
        if individual_id not in self.individuals:
            self.individuals[individual_id] = self.session.get(Individual, individual_id)
        self.used_individuals.add(individual_id)
        return self.individuals[individual_id]

    def _observation(self, species_id, individual_id, **given) -> list:
        species = self.species[species_id]
        individual = self._individual(individual_id)
        animal = species.kind in NAMED_KINDS
        if animal:
            self.used_species.add(species_id)
        sex = given.pop("sex", None)
        if individual is not None and individual.sex in ("female", "male"):
            sex = individual.sex  # the catalogue knows the animal best
        row = given | {
            "observationType": species.kind,
            "scientificName": species.scientific_name if animal else "",
            "count": "" if species.kind == "blank" else given.get("count", ""),
            "lifeStage": LIFE_STAGES.get(given.get("lifeStage") or "", ""),
            "sex": sex if sex in ("female", "male") else "",
            "individualID": individual.code if individual else "",
            "classificationMethod": "human",
        }
        if self.options.public:
            row["classifiedBy"] = row["observationComments"] = ""
        return [as_text(row.get(name)) for name in OBSERVATION_FIELDS]

    def _event_observations(self, table: CsvMember) -> None:
        """One row per independent event; life stage and sex when its sightings agree."""
        se = self.events.c
        sex = case((Sighting.sex.in_(("female", "male")), Sighting.sex), else_=None)
        note = case((Sighting.comments == "", None), else_=Sighting.comments)
        grouped = (
            select(
                se.event_id,
                se.species_id,
                se.individual_id,
                func.min(se.event_start).label("start"),
                func.max(se.event_end).label("end"),
                func.max(se.count).label("count"),
                func.count().label("sightings"),
                func.min(Sighting.life_stage).label("stage_lo"),
                func.max(Sighting.life_stage).label("stage_hi"),
                func.min(sex).label("sex_lo"),
                func.max(sex).label("sex_hi"),
                func.aggregate_strings(note, " | ").label("comments"),
            )
            .join(Sighting, Sighting.id == se.sighting_id)
            .group_by(se.event_id, se.species_id, se.individual_id)
            .subquery("grouped")
        )
        g = grouped.c
        query = (
            select(grouped, Sighting.deployment_id, Sighting.logged_by_id, Sighting.logged_at)
            .join(Sighting, Sighting.id == g.event_id)  # the event's first sighting
            .order_by(g.start, g.event_id)
        )
        for row in self.session.execute(query.execution_options(yield_per=1000)):
            span = self.by_deployment[row.deployment_id]
            piece = span.piece_at(row.start)
            if piece is None:  # on a day the camera was recorded as not working
                self.tally.in_outage_events += 1
                continue
            table.write(
                self._observation(
                    row.species_id,
                    row.individual_id,
                    observationID=f"E{row.event_id}",
                    deploymentID=piece.deployment_id,
                    eventID=f"E{row.event_id}",
                    # Inside its deployment: an event that goes on past a camera swap at
                    # midnight ends, here, when its first camera's deployment does.
                    eventStart=stamp(max(row.start, piece.start), span.zone),
                    eventEnd=stamp(min(row.end, piece.end), span.zone),
                    observationLevel="event",
                    count=row.count,
                    lifeStage=row.stage_lo if row.stage_lo == row.stage_hi else None,
                    sex=row.sex_lo if row.sex_lo == row.sex_hi else None,
                    classifiedBy=self.users.get(row.logged_by_id, ""),
                    classificationTimestamp=utc_stamp(row.logged_at),
                    observationTags=f"sightings:{row.sightings}",
                    observationComments=row.comments,
                )
            )
        self.tally.event_rows = table.rows

    def _media_observations(self, table: CsvMember) -> None:
        """One row per sighting and photo, at the photo's time."""
        se = self.events.c
        query = (
            select(
                Sighting.id,
                Sighting.species_id,
                Sighting.individual_id,
                Sighting.count,
                Sighting.life_stage,
                Sighting.sex,
                Sighting.flank,
                Sighting.source,
                Sighting.comments,
                Sighting.logged_by_id,
                Sighting.logged_at,
                Image.id.label("image_id"),
                Image.deployment_id,
                Image.taken_at_utc,
                se.event_id,
            )
            .join(self.events, se.sighting_id == Sighting.id)
            .join(sighting_image, sighting_image.c.sighting_id == Sighting.id)
            .join(Image, Image.id == sighting_image.c.image_id)
            .where(Image.deployment_id.in_(list(self.by_deployment)))
            .order_by(Image.taken_at_utc, Image.id, Sighting.id)
        )
        before = table.rows
        tied = self._sighting_boxes()
        for row in self.session.execute(query.execution_options(yield_per=1000)):
            if self._placed(row.deployment_id, row.taken_at_utc) != "ok":
                continue
            span = self.by_deployment[row.deployment_id]
            piece = span.piece_at(row.taken_at_utc)
            if piece is None:
                continue
            zone = span.zone
            moment = stamp(row.taken_at_utc, zone)
            tags = [f"flank:{row.flank}"] if row.flank else []
            table.write(
                self._observation(
                    row.species_id,
                    row.individual_id,
                    observationID=f"S{row.id}-M{row.image_id}",
                    deploymentID=piece.deployment_id,
                    mediaID=f"M{row.image_id}",
                    eventID=f"E{row.event_id}",
                    eventStart=moment,
                    eventEnd=moment,
                    observationLevel="media",
                    count=row.count,
                    lifeStage=row.life_stage,
                    sex=row.sex,
                    classifiedBy=self.users.get(row.logged_by_id, ""),
                    classificationTimestamp=utc_stamp(row.logged_at),
                    observationTags=" | ".join([*tags, f"source:{row.source}"]),
                    observationComments=row.comments,
                    **bbox_fields(tied.get((row.id, row.image_id))),
                )
            )
        self.tally.media_rows = table.rows - before

    def _count_untimed(self) -> None:
        """Untimed photos and sightings of the exported deployments: no date can select them."""
        undated = sighting_conditions(
            self.filters, self.options, list(self.by_deployment), dates=False
        )
        images = self._chosen_images(undated).where(Image.taken_at_utc.is_(None))
        self.tally.untimed_images = self.session.scalar(
            select(func.count()).select_from(images.subquery())
        )
        self.tally.untimed_sightings = self.session.scalar(
            select(func.count())
            .select_from(Sighting)
            .where(Sighting.event_start.is_(None), *undated)
        )
        self.tally.misdated_sightings = len(self.misdated)
