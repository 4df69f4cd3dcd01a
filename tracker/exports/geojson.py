"""GeoJSON of the sighting log: one Point feature per sighting, or one per station with counts.

Positions are the stations' ([longitude, latitude], RFC 7946), generalised to the public grid in
public exports; the sightings' properties are the CSV's columns.
"""

from __future__ import annotations

import json
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import events
from tracker.exports.core import Filters, Options, counts, station_place, stations
from tracker.exports.tables import (
    SIGHTING_COLUMNS,
    coordinates_at,
    fetch_batches,
    public_rows,
    sightings_query,
    text_stream,
)
from tracker.models import Deployment, Sighting, Species

GEOJSON_TYPE = "application/geo+json"


def write_geojson(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Sightings as Point features, or with options.per_station one feature per station."""
    if options.per_station:
        features = station_features(session, filters, options)
        return _write_features(out, features)
    lat = coordinates_at(SIGHTING_COLUMNS)
    batches = fetch_batches(session, sightings_query(session, filters, options))
    if options.public:
        batches = public_rows(batches, options, lat)
    return _write_features(out, _sighting_features(batches, lat))


def _sighting_features(batches, lat: int):
    names = SIGHTING_COLUMNS[:lat] + SIGHTING_COLUMNS[lat + 2 :]
    for batch in batches:
        for row in batch:
            properties = dict(zip(names, (*row[:lat], *row[lat + 2 :]), strict=True))
            yield _feature(row[lat], row[lat + 1], properties)


def _feature(latitude: float, longitude: float, properties: dict) -> dict:
    # GeoJSON (RFC 7946) orders a position longitude first.
    point = {"type": "Point", "coordinates": [longitude, latitude]}
    return {"type": "Feature", "geometry": point, "properties": properties}


def _write_features(out: BinaryIO, features) -> int:
    text = text_stream(out)
    text.write('{"type": "FeatureCollection", "features": [')
    written = 0
    for feature in features:
        text.write(",\n" if written else "\n")
        text.write(json.dumps(feature, ensure_ascii=False))
        written += 1
    text.write("\n]}\n")
    text.flush()
    text.detach()
    return written


def station_features(session: Session, filters: Filters, options: Options) -> list[dict]:
    """One feature per station (those filtered, or all): sightings, independent events and
    identified individuals within the filters, in total and per species."""
    where = [events.time_trusted(), *filters.conditions(options.timezone), *options.shown()]
    by_place = (Deployment.station_id, Sighting.species_id)
    sightings = counts(
        session,
        select(*by_place, func.count())
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .where(*where)
        .group_by(*by_place),
    )
    starts = events.event_starts(options.minutes, where=where).subquery("starts")
    found = counts(
        session,
        select(starts.c.station_id, starts.c.species_id, func.count()).group_by(
            starts.c.station_id, starts.c.species_id
        ),
    )
    individuals = dict(
        session.execute(
            select(Deployment.station_id, func.count(func.distinct(Sighting.individual_id)))
            .join(Deployment, Deployment.id == Sighting.deployment_id)
            .where(Sighting.individual_id.is_not(None), *where)
            .group_by(Deployment.station_id)
        ).all()
    )
    species = {s.id: s for s in session.scalars(select(Species).order_by(Species.id))}
    features = []
    for station in stations(session, filters):
        seen = sorted({sp for (st, sp) in sightings if st == station.id})
        per_species = [
            {
                "scientificName": species[sp].scientific_name,
                "vernacularName": species[sp].common_name,
                "sightings": sightings.get((station.id, sp), 0),
                "independentEvents": found.get((station.id, sp), 0),
            }
            for sp in seen
        ]
        properties = {
            "locationID": station.code,
            "locationName": None if options.public else station.name,
            "sightings": sum(s["sightings"] for s in per_species),
            "independentEvents": sum(s["independentEvents"] for s in per_species),
            "individuals": individuals.get(station.id, 0),
            "species": per_species,
        }
        features.append(_feature(*station_place(station, options), properties))
    return features
