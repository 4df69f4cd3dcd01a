"""`tracker demo`: a reproducible demo data set of the park, and large synthetic ones to benchmark.

Everything except the demo accounts' password comes from one `random.Random(seed)`, so a seed
always gives the same stations, deployments, leopards and sightings. Stations, cameras, deployments
and individuals are few and go in as ORM objects. Sightings can number in the millions, so they are
generated lazily and inserted in batches with Core executemany: memory stays flat whatever the
count, and the whole load is one transaction, so an interrupted load leaves an empty database.

The plan (stations, deployments, leopards) is tracker.demo_plan, the sightings
tracker.demo_sightings; `--images` rows are tracker.demo_images and the photos of the default
demo tracker.demo_photos.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tracker import accounts, audit, clock
from tracker.cli import fail
from tracker.db import get_session
from tracker.demo_plan import LAST_DAY, TIMEZONE, LeopardPlan, Plan, make_plan
from tracker.demo_sightings import LoadedIds, SightingRows
from tracker.errors import InvalidInput
from tracker.models import (
    LEOPARD,
    SEED_SPECIES,
    Camera,
    Deployment,
    Individual,
    Sighting,
    Species,
    Station,
    User,
)

DEFAULT_SEED = 2024
DEFAULT_STATIONS = 12
BATCH = 10_000
DEMO_ROLES = ("ranger", "researcher", "admin")


@dataclass(frozen=True)
class DemoSummary:
    stations: int
    deployments: int
    individuals: int
    sightings: int
    accounts: tuple[str, ...]
    password: str

    def counts(self) -> dict[str, int]:
        return {
            "stations": self.stations,
            "deployments": self.deployments,
            "individuals": self.individuals,
            "sightings": self.sightings,
        }


# --- loading ----------------------------------------------------------------------------------


def has_stations(session: Session) -> bool:
    return session.scalar(select(Station.id).limit(1)) is not None


def load_demo(
    session: Session,
    *,
    stations: int = DEFAULT_STATIONS,
    sightings: int | None = None,
    seed: int = DEFAULT_SEED,
) -> DemoSummary:
    """Load a demo data set into a database without stations; flushes, the caller commits."""
    if has_stations(session):
        raise InvalidInput(
            {"database": "It already has stations; the demo loads only into an empty database."}
        )
    species = _seeded_species(session)
    rng = random.Random(seed)
    plan = make_plan(rng, stations, sightings)
    password = secrets.token_urlsafe(12)  # never a fixed password, even for a demo
    users = demo_accounts(session, password)
    ids = LoadedIds(
        species=species,
        deployments=_insert_places(session, plan),
        leopards=_insert_leopards(session, plan.leopards, species[LEOPARD]),
        loggers=(users[0].id, users[0].id, users[0].id, users[1].id),  # rangers log most
    )
    count = _insert_sightings(session, iter(SightingRows(rng, plan, ids)))
    emails = tuple(u.email for u in users)
    summary = DemoSummary(
        len(plan.stations), len(plan.deployments), len(plan.leopards), count, emails, password
    )
    audit.record(session, None, "demo-load", "database", None, seed=seed, **summary.counts())
    session.flush()
    return summary


def _seeded_species(session: Session) -> dict[str, int]:
    species = dict(session.execute(select(Species.scientific_name, Species.id)).all())
    missing = [name for name, _, _ in SEED_SPECIES if name not in species]
    if missing:
        raise InvalidInput(
            {"species": f"{', '.join(missing)} missing; run `tracker db upgrade` first."}
        )
    return species


def demo_accounts(session: Session, password: str) -> list[User]:
    """One account per role at demo.test with this password; an existing one gets it too."""
    users = []
    for role in DEMO_ROLES:
        email = f"{role}@demo.test"
        user = session.scalar(select(User).where(func.lower(User.email) == email))
        if user is None:
            user = accounts.create_user(session, email, password, role)
        else:
            accounts.set_password(session, user, password, None)
            accounts.update_user(session, user, role=role, active=True, actor=None)
        users.append(user)
    return users


def _insert_places(session: Session, plan: Plan) -> list[int]:
    """Stations, cameras and deployments; returns the deployment ids in plan order."""
    stations = [
        Station(code=s.code, name=s.name, latitude=s.latitude, longitude=s.longitude)
        for s in plan.stations
    ]
    deployments = [
        Deployment(
            station=stations[d.station],
            camera=Camera(serial=d.serial, make="RECONYX", model=d.model),
            start_date=d.start,
            end_date=d.end,
            timezone=TIMEZONE,
            clock_offset_s=d.clock_offset_s,
            notes=d.notes,
        )
        for d in plan.deployments
    ]
    session.add_all(stations + deployments)
    session.flush()
    return [d.id for d in deployments]


def _insert_leopards(session: Session, leopards: list[LeopardPlan], species_id: int) -> list[int]:
    individuals = [
        Individual(code=p.code, name=p.name, sex=p.sex, species_id=species_id, notes=p.notes)
        for p in leopards
    ]
    session.add_all(individuals)
    session.flush()
    return [i.id for i in individuals]


def _insert_sightings(session: Session, rows: Iterator[dict]) -> int:
    """Batches of BATCH rows through Core executemany: no ORM objects, so memory stays flat."""
    table, total = Sighting.__table__, 0
    while batch := list(islice(rows, BATCH)):
        session.execute(insert(table), batch)
        total += len(batch)
    return total


# --- the command ------------------------------------------------------------------------------


@click.command("demo")
@click.option(
    "--stations",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_STATIONS,
    show_default=True,
    help="Stations to create; there is one leopard per ten stations, at least seven.",
)
@click.option(
    "--sightings",
    type=click.IntRange(min=0),
    default=None,
    help="Sightings to create [default: 0.05 per camera-day, a few hundred for 12 stations].",
)
@click.option(
    "--images",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Image rows (no files) to add: bursts at the sightings, the rest untagged.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--if-empty", is_flag=True, help="Skip quietly (exit 0) if there are stations.")
@click.option(
    "--photos/--no-photos",
    default=None,
    help="Generate photos for recent sightings and a few untagged bursts "
    "[default: only for the default-size demo].",
)
@with_appcontext
def demo_command(
    stations: int,
    sightings: int | None,
    images: int,
    seed: int,
    if_empty: bool,
    photos: bool | None,
) -> None:
    """Load demo data: stations, deployments, leopards and sightings over two years.

    The same options and seed always give the same data (July 2024 to June 2026), so demos and
    benchmarks are reproducible. Large sets (--sightings 1000000) load in batches in one
    transaction. --images 1000000 adds a season of image rows without files (most untagged or
    blank, some with timestamp issues), for benchmarks of the pages. The accounts ranger@,
    researcher@ and admin@demo.test get one new random password, printed once.

    Loads only into a database without stations: otherwise it refuses with exit status 2, or,
    with --if-empty (as `make run` does on every start), says so and exits 0.
    """
    session = get_session()
    if if_empty and has_stations(session):
        click.echo("database already has data; demo not loaded")
        return
    began = time.perf_counter()
    try:
        summary = load_demo(session, stations=stations, sightings=sightings, seed=seed)
    except InvalidInput as exc:
        fail(exc)
    if images:
        from tracker.demo_images import add_images

        last = clock.local_day_bounds(LAST_DAY + timedelta(days=1), TIMEZONE)
        added = add_images(session, images, seed, last)
        click.echo(f"added {added} image rows without files")
    session.commit()
    if images:
        from tracker.demo_images import compact_counts

        compact_counts(session.get_bind())
    default_size = sightings is None and stations == DEFAULT_STATIONS and not images
    if photos or (photos is None and default_size):
        from tracker.demo_photos import add_photos

        added = add_photos(session, current_app.config["MEDIA_DIR"], seed)
        click.echo(f"generated and imported {added} demo photos")
    click.echo(
        f"loaded demo data (seed {seed}): {summary.stations} stations, "
        f"{summary.deployments} deployments, {summary.individuals} individuals, "
        f"{summary.sightings} sightings in {time.perf_counter() - began:.1f} s"
    )
    click.echo(f"demo accounts (password shown once): {', '.join(summary.accounts)}")
    click.echo(f"  password: {summary.password}")
