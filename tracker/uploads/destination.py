"""Where a card goes: checked before any byte is sent, settled by the photos' dates.

A ranger names a deployment, or a station code (any case). A station's card goes to the station's
deployment that covers the photos' dates, so an old card brought back after its deployment ended
still lands there; a card whose dates no deployment covers (a camera clock reset) goes to the
station's one active deployment, where the review flags its times.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import fieldwork, storage
from tracker.errors import InvalidInput
from tracker.exif import read_exif
from tracker.models import Deployment, Station
from tracker.sources import Item

# Photos whose dates decide a station's deployment: the first few readable ones of the card.
SAMPLE = 20


def check(session: Session, deployment_id: str | None, station_code: str | None):
    """The deployment or the station an upload names; InvalidInput says what is wrong.

    Returns (deployment, None) or (None, station). A station must have a deployment to take
    a card at all; which one is settled by the photos' dates (deployment_for_card).
    """
    deployment_id, station_code = (deployment_id or "").strip(), (station_code or "").strip()
    if deployment_id and station_code:
        raise InvalidInput({"deployment": "Give a deployment or a station, not both."})
    if deployment_id:
        wanted = int(deployment_id) if deployment_id.isdigit() and len(deployment_id) < 10 else 0
        deployment = session.get(Deployment, wanted) if wanted else None
        if deployment is None:
            raise InvalidInput({"deployment": f"No deployment with id {deployment_id!r}."})
        return deployment, None
    if not station_code:
        raise InvalidInput({"deployment": "Choose a deployment, or enter a station code."})
    station = fieldwork.station_by_code(session, station_code)
    if not _deployments(session, station):
        raise InvalidInput(
            {"station": f"Station {station.code} has no deployment yet; add one first."}
        )
    return None, station


def _deployments(session: Session, station: Station) -> list[Deployment]:
    query = select(Deployment).where(Deployment.station_id == station.id)
    return list(session.scalars(query.order_by(Deployment.start_date)))


def deployment_for_card(session: Session, station: Station, dates: Iterable[date]) -> Deployment:
    """The station's deployment covering most of the photos' dates, else its active one."""
    deployments = _deployments(session, station)
    votes = Counter(
        d.id
        for day in dates
        for d in deployments
        if d.start_date <= day and (d.end_date is None or day <= d.end_date)
    )
    if votes:
        best = votes.most_common(1)[0][0]
        return next(d for d in deployments if d.id == best)
    active = [d for d in deployments if d.end_date is None]
    if len(active) == 1:
        return active[0]
    raise InvalidInput(
        {
            "station": f"No deployment at station {station.code} covers the photos' dates "
            f"and it has {len(active) or 'no'} active deployment{'s' if len(active) != 1 else ''}"
            "; choose a deployment."
        }
    )


def sample_dates(items: Iterable[Item]) -> tuple[list[date], Iterator[Item]]:
    """The dates the first photos were taken, and the same items, none lost, to ingest."""
    items = iter(items)
    head = list(itertools.islice(items, SAMPLE))
    dates = []
    for item in head:
        data, reason = item.load()
        if reason is None and data:
            taken = read_exif(io.BufferedReader(storage.MemoryFile(memoryview(data)))).taken_at
            if taken is not None:
                dates.append(taken.date())
    return dates, itertools.chain(head, items)
