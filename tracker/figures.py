"""Figures over every sighting (the dashboard, maps, effort), cached with exact invalidation.

Such a figure reruns the independent-event rule over all sightings: seconds at a season's size.
The database counts every write to what these figures rest on (data_version, bumped by triggers
on sightings, their photos' links, images, deployments, outages, stations, species and
individuals, from any code path), and a cached figure is served only while that count has not
moved since it was computed. The first request after a change computes it again; every other
one reads one row.

Computing one no longer reruns the rule over every sighting either: the events are kept per
sighting (tracker.eventstore) and only the groups a change touched are recomputed, which this
cache does (and commits: a GET's small write) before it computes a figure.

The cache is per process (each web worker keeps its own, a few dozen entries, least recently
used first out); values must be plain data, never ORM objects tied to a session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tracker import db_errors, eventstore
from tracker.models import DataVersion

T = TypeVar("T")
SIZE = 64


def data_version(session: Session) -> int | None:
    """How many times what the figures rest on has changed; None before the first change."""
    return session.scalar(select(DataVersion.changes).where(DataVersion.name == "figures"))


class FigureCache:
    """key -> value, valid for one data version."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self._entries: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many times a figure was computed, for tests and benchmarks

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of `key` at the database's current data version, or compute it."""
        full = (key, data_version(session))
        with self._lock:
            if full in self._entries:
                self._entries.move_to_end(full)
                return self._entries[full]  # type: ignore[return-value]
        _refresh(session)
        value = compute()
        with self._lock:
            self.computed += 1
            self._entries[full] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value


def _refresh(session: Session, tries: int = 3) -> None:
    """The kept events brought up to date in a transaction of their own, committed before a
    figure reads them: a later figure (or another worker) finds them done. A refresh that lost
    a race (a busy SQLite file, a PostgreSQL deadlock) runs again."""
    for attempt in range(tries):
        try:
            eventstore.refresh(session)
            session.commit()
            return
        except DBAPIError as exc:
            session.rollback()
            if not db_errors.retryable(exc) or attempt == tries - 1:
                raise
