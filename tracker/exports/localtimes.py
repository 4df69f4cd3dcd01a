"""Stored UTC times written as local ISO 8601 text with their offset, by the database.

A million-row export never turns its times into Python datetimes one by one: SQL shifts them by
the zone's offset and appends it (`2024-05-02T09:40:00+10:00`, whole seconds).
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, String, case, func, literal, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from tracker import clock
from tracker.models import Deployment
from tracker.stats import utc_offsets

DAY = timedelta(days=1)


class local_iso(FunctionElement):
    """A stored (naive UTC) time shifted by a number of seconds, as `YYYY-MM-DDThh:mm:ss`."""

    type = String()
    inherit_cache = True


@compiles(local_iso, "sqlite")
def _local_iso_sqlite(element, compiler, **kw):
    # datetime() with a constant modifier, its space made a T: a fifth faster than strftime()
    # with a computed one, over the three times of a million-row export.
    moment, shift = element.clauses.clauses
    seconds = int(compiler.process(shift, **kw))
    return f"replace(datetime({compiler.process(moment, **kw)}, '{seconds:+d} seconds'), ' ', 'T')"


@compiles(local_iso, "postgresql")
def _local_iso_postgresql(element, compiler, **kw):
    moment, shift = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"""to_char({moment} + ({shift}) * INTERVAL '1 second', 'YYYY-MM-DD"T"HH24:MI:SS')"""


class LocalTimes:
    """Writes stored times as local ISO 8601 text with the offset, in SQL.

    The zone's offsets over the field seasons (the deployments' dates, up to today) are found
    once in Python, as the dashboard does: a single offset and no CASE at all in Vladivostok, a
    CASE where clocks change. A time outside the seasons (a camera clock years off) is written
    with the nearest season's offset: the same instant, in an offset the zone may not have used.
    """

    def __init__(self, session: Session, timezone: str, today: date):
        zone = ZoneInfo(timezone)
        first, last = session.execute(
            select(func.min(Deployment.start_date), func.max(Deployment.end_date))
        ).one()
        first = first or today
        last = max(last or today, today)
        self.offsets = utc_offsets(
            zone,
            clock.local_day_bounds(first, timezone),
            clock.local_day_bounds(last, timezone) + DAY,
        )

    def __call__(self, moment: ColumnElement) -> ColumnElement[str]:
        (_, initial), *changes = self.offsets
        if not changes:
            return _with_offset(moment, initial)
        whens, previous = [], initial
        for since, offset in changes:
            whens.append((moment < since, _with_offset(moment, previous)))
            previous = offset
        return case(*whens, else_=_with_offset(moment, previous))


def _with_offset(moment: ColumnElement, seconds: int) -> ColumnElement[str]:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    suffix = f"{sign}{hours:02d}:{minutes:02d}"
    # The shift is written into the SQL, so it is part of the statement's cache key: as a bound
    # value, two exports in different zones with one offset each shared a compiled statement.
    return local_iso(moment, literal_column(str(int(seconds)), Integer)) + literal(suffix, String)
