"""Camtrap DP's individuals table and datapackage.json: coverage, description and publisher.

A mixin of the package writer (tracker.exports.camtrapdp._Package), whose state it reads.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date

from sqlalchemy import select

from tracker.exports.camtrapdp_schema import (
    BASE,
    INDIVIDUAL_FIELDS,
    INDIVIDUALS_SCHEMA,
    PROFILE,
    RUSSIAN_NAMES,
    utc_stamp,
)
from tracker.models import IndividualCode


class PackageMetadata:
    """What the package says about itself, from what the other tables wrote."""

    def _individuals(self, archive) -> None:
        with self._table(archive, "individuals.csv", INDIVIDUAL_FIELDS) as table:
            ids = sorted(self.used_individuals)
            former: dict[int, list[str]] = {}
            for individual_id, code in self.session.execute(
                select(IndividualCode.individual_id, IndividualCode.code)
                .where(IndividualCode.individual_id.in_(ids))
                .order_by(IndividualCode.replaced_at, IndividualCode.id)
            ):
                former.setdefault(individual_id, []).append(code)
            for individual in sorted((self.individuals[i] for i in ids), key=lambda i: i.code):
                species = self.species[individual.species_id]
                table.write(
                    [
                        individual.code,
                        individual.name,
                        species.scientific_name,
                        individual.sex if individual.sex in ("female", "male") else "",
                        " | ".join(former.get(individual.id, [])),
                        "" if self.options.public else individual.notes,
                    ]
                )

    def _spatial(self) -> dict:
        points = {self._position(s.deployment.station)[:2] for s in self.spans}
        if not points:
            return {"type": "GeometryCollection", "geometries": []}
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        south, north, west, east = min(lats), max(lats), min(lons), max(lons)
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {"type": "Polygon", "coordinates": [ring]}

    def _temporal(self, today: date) -> dict:
        if self.spans:
            first = min(s.first for s in self.spans)
            last = max(s.last for s in self.spans)
        else:
            first = self.filters.date_from or self.filters.date_to or today
            last = self.filters.date_to or max(first, today)
        return {"start": first.isoformat(), "end": last.isoformat()}

    def _taxonomic(self) -> list[dict]:
        taxa = []
        for species in sorted(
            (self.species[i] for i in self.used_species), key=lambda s: s.scientific_name
        ):
            names = {"eng": species.common_name}
            if species.scientific_name in RUSSIAN_NAMES:
                names["rus"] = RUSSIAN_NAMES[species.scientific_name]
            entry = {"scientificName": species.scientific_name}
            words = len(species.scientific_name.split())
            if species.confirmed and words in (2, 3):
                entry["taxonRank"] = "species" if words == 2 else "subspecies"
            entry["vernacularNames"] = names
            taxa.append(entry)
        return taxa

    def _description(self) -> str:
        t, o = self.tally, self.options
        lines = [
            f"Camera-trap records exported by the tracker: {len(self.spans)} deployments, "
            f"{t.media} photos, {t.event_rows} independent events and {t.media_rows} "
            "photo-level observations.",
            f"Event-level observations are independent events: sightings of one species (and "
            f"one individual when identified) at one station less than {o.minutes} minutes "
            "apart. Their counts can be summed; photo-level observations repeat them per photo.",
        ]
        if self.filters.described and any(self.filters.described.values()):
            chosen = ", ".join(f"{k} {v}" for k, v in self.filters.described.items() if v)
            lines.append(f"Filtered: {chosen}.")
        left_out = [
            f"{_n(count, what)} {why.format(its='its' if count == 1 else 'their')}"
            for count, what, why in (
                (t.untimed_images, "photo", "without a usable capture time"),
                (t.misdated_images, "photo", "dated outside {its} deployment"),
                (t.untimed_sightings, "sighting", "without a time"),
                (t.misdated_sightings, "sighting", "dated outside {its} deployment"),
            )
            if count
        ]
        if left_out:
            lines.append(
                f"Left out until their camera clock is fixed: {'; '.join(left_out)}. Their "
                "deployments are marked timestampIssues."
            )
        if t.in_outage_images or t.in_outage_events:
            lines.append(
                f"Left out as dated on a day their camera was recorded as not working (an "
                f"outage; the deployment is split around it): {_n(t.in_outage_images, 'photo')}, "
                f"{_n(t.in_outage_events, 'independent event')}."
            )
        if o.public:
            lines.append(
                f"Coordinates are generalised to the centre of a {o.grid} degree grid cell to "
                "protect a critically endangered, poached species; coordinateUncertainty is the "
                "cell's reach. Photo files, EXIF positions, station names, free-text comments "
                "and people are not included."
            )
        elif not o.include_media:
            lines.append(
                "Photo files are not included: filePath is the tracker's address of each photo "
                "(for signed-in users), or its name had the photos been included."
            )
        return "\n\n".join(lines)

    def _descriptor(self) -> dict:
        now = self.options.moment
        publisher = self.options.publisher
        resources = [
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": f"{BASE}/{name}-table-schema.json",
            }
            for name in ("deployments", "media", "observations")
        ]
        resources.append(
            {
                "name": "individuals",
                "path": "individuals.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "description": "The identified animals in observations.individualID (not part "
                "of the Camtrap DP model).",
                "schema": INDIVIDUALS_SCHEMA,
            }
        )
        descriptor = {
            "resources": resources,
            "profile": PROFILE,
            "name": publisher.package,
            "id": str(uuid.uuid4()),
            "created": utc_stamp(now),
            "title": publisher.title,
            "contributors": publisher.contributors(),
            "description": self._description(),
            "version": "1.0",
            "keywords": ["camera traps", "Amur leopard", "Panthera pardus orientalis"],
            "sources": [{"title": "tracker", "version": _version()}],
            "licenses": publisher.licenses(),
            "project": publisher.project_metadata(),
            "spatial": self._spatial(),
            "temporal": self._temporal(now.astimezone(UTC).date()),
            "taxonomic": self._taxonomic(),
            "gbifIngestion": {"observationLevel": "event"},
        }
        if self.options.public:
            descriptor["coordinatePrecision"] = self.options.grid
        return descriptor


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracker")
    except PackageNotFoundError:
        return "unknown"
