"""What every model shares: the declarative base with its naming convention, UTC times, and
the closed vocabularies the tables check."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    MetaData,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("ranger", "researcher", "admin")
SEXES = ("female", "male", "unknown")
LIFE_STAGES = ("adult", "subadult", "cub")
FLANKS = ("left", "right", "both")
SPECIES_KINDS = ("animal", "human", "blank", "vehicle", "unknown")
LOCATION_SOURCES = ("exif", "station")
# Boxes: MegaDetector's categories, and the side of the animal a box shows.
BOX_CATEGORIES = ("animal", "person", "vehicle")
BOX_FLANKS = ("left", "right", "front", "rear")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored naive in UTC on every backend."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: say which time zone it is in")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: the column holds one of these words."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, date: Date, dict: JSON, list: JSON}
