"""Camtrap DP 1.0.2's tables and vocabulary as the tracker writes them, and how values are spelt."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from pyproj import Geod

VERSION = "1.0.2"
BASE = f"https://raw.githubusercontent.com/tdwg/camtrap-dp/{VERSION}"
PROFILE = f"{BASE}/camtrap-dp-profile.json"

DEPLOYMENT_FIELDS = (
    "deploymentID", "locationID", "locationName", "latitude", "longitude",
    "coordinateUncertainty", "deploymentStart", "deploymentEnd", "setupBy", "cameraID",
    "cameraModel", "cameraDelay", "cameraHeight", "cameraDepth", "cameraTilt", "cameraHeading",
    "detectionDistance", "timestampIssues", "baitUse", "featureType", "habitat",
    "deploymentGroups", "deploymentTags", "deploymentComments",
)  # fmt: skip
MEDIA_FIELDS = (
    "mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic",
    "fileName", "fileMediatype", "exifData", "favorite", "mediaComments",
)  # fmt: skip
OBSERVATION_FIELDS = (
    "observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
    "observationLevel", "observationType", "cameraSetupType", "scientificName", "count",
    "lifeStage", "sex", "behavior", "individualID", "individualPositionRadius",
    "individualPositionAngle", "individualSpeed", "bboxX", "bboxY", "bboxWidth", "bboxHeight",
    "classificationMethod", "classifiedBy", "classificationTimestamp",
    "classificationProbability", "observationTags", "observationComments",
)  # fmt: skip
INDIVIDUALS_SCHEMA = {
    "fields": [
        {"name": "individualID", "type": "string", "constraints": {"required": True},
         "description": "Code of the individual, as in observations.individualID."},
        {"name": "individualName", "type": "string"},
        {"name": "scientificName", "type": "string"},
        {"name": "sex", "type": "string", "constraints": {"enum": ["female", "male"]}},
        {"name": "formerIDs", "type": "string",
         "description": "Codes it was known by before a rename or a merge, pipe-separated."},
        {"name": "individualComments", "type": "string"},
    ],
    "primaryKey": ["individualID"],
    "missingValues": [""],
}  # fmt: skip
INDIVIDUAL_FIELDS = tuple(f["name"] for f in INDIVIDUALS_SCHEMA["fields"])

RUSSIAN_NAMES = {
    "Panthera pardus orientalis": "дальневосточный леопард",
    "Panthera tigris altaica": "амурский тигр",
    "Cervus nippon": "пятнистый олень",
    "Capreolus pygargus": "сибирская косуля",
    "Sus scrofa": "кабан",
    "Lepus mandshuricus": "маньчжурский заяц",
    "Homo sapiens": "человек",
}
LIFE_STAGES = {"adult": "adult", "subadult": "subadult", "cub": "juvenile"}
NAMED_KINDS = ("animal", "human")  # kinds whose species name is a scientificName
GPS_UNCERTAINTY_M = 30  # a handheld GPS, as camtrapdp assumes when none is recorded


def stamp(moment: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 in whole seconds with the zone's offset: 2024-03-10T22:15:00+10:00."""
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_bool(value: bool) -> str:
    return "true" if value else "false"


def as_text(value) -> str:
    return "" if value is None else str(value)


@cache
def cell_uncertainty(latitude: float, longitude: float, grid: float) -> int:
    """Metres from a grid cell's centre to its farthest corner, plus a GPS's error, rounded up:
    the smallest circle sure to hold a station that was moved to the centre of its cell."""
    geod = Geod(ellps="WGS84")
    half = grid / 2
    reach = max(
        geod.inv(longitude, latitude, longitude + dx, latitude + dy)[2]
        for dx in (-half, half)
        for dy in (-half, half)
    )
    return math.ceil(reach + GPS_UNCERTAINTY_M)
