"""`tracker demo`: a reproducible demo data set of the park, and large synthetic ones to benchmark.

Everything except the demo accounts' password comes from one `random.Random(seed)`, so a seed
always gives the same stations, deployments, leopards and sightings. Stations, cameras, deployments
and individuals are few and go in as ORM objects. Sightings can number in the millions, so they are
generated lazily and inserted in batches with Core executemany: memory stays flat whatever the
count, and the whole load is one transaction, so an interrupted load leaves an empty database.
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from itertools import accumulate, islice
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tracker import accounts, audit, clock
from tracker.cli import fail
from tracker.db import get_session
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
TIMEZONE = "Asia/Vladivostok"
TZ = ZoneInfo(TIMEZONE)
# Two field years ending on a fixed day rather than today, so a seed gives the same data whenever
# it is loaded.
FIRST_DAY = date(2024, 7, 1)
LAST_DAY = date(2026, 6, 30)
CUBS_FROM = date(2025, 8, 20)  # AL-02's cubs first walk past a camera with her
DISPERSAL = date(2025, 10, 1)  # AL-05 leaves its mother's range
# Without --sightings, the count follows camera effort: a few hundred for the 12 default stations.
SIGHTINGS_PER_CAMERA_DAY = 0.05
# The park's core west of Amur Bay (Kedrovaya Pad is at 43.08 N 131.50 E); the box stays inland.
LATITUDES = (43.00, 43.25)
LONGITUDES = (131.25, 131.46)
DEMO_ROLES = ("ranger", "researcher", "admin")

PLACES = (
    "Kedrovaya river gorge",
    "Sukhorechensky ridge",
    "Gora Uglovaya",
    "Upper Barabashevka",
    "Narva river valley",
    "Gora Skalistaya caves",
    "Leopard's Lair trail",
    "Barsovy oak ridge",
    "Chyornye Gory foothills",
    "Borisovka plateau edge",
    "Kravtsovka waterfalls",
    "Gryaznaya river",
)
CAMERA_MODELS = (("HyperFire 2 Professional Covert", "H2PC"), ("HC500 HyperFire", "H500"))
# (correction in seconds, why): a camera's clock is wrong now and then; most are right.
CLOCK_ERRORS = (
    (36_000, "Camera clock was set to UTC instead of local time."),
    (-412, "Camera clock ran 6 min 52 s fast by the time the card was collected."),
    (3_600, "Clock lost an hour after a battery change in the cold."),
)


@dataclass(frozen=True)
class StationPlan:
    code: str
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class DeploymentPlan:
    station: int  # index into Plan.stations
    serial: str
    model: str
    start: date
    end: date | None
    clock_offset_s: int = 0
    notes: str = ""


@dataclass(frozen=True)
class LeopardPlan:
    code: str
    name: str
    sex: str
    life_stage: str
    weight: float  # how often it passes a camera, relative to the others
    homes: tuple[int, ...]  # stations in its range, the most used first
    later_homes: tuple[int, ...] = ()  # its range after DISPERSAL, for a dispersing subadult
    mother: int | None = None  # index of its mother, for a cub: seen only with her
    notes: str = ""


@dataclass(frozen=True)
class Plan:
    stations: list[StationPlan]
    deployments: list[DeploymentPlan]
    leopards: list[LeopardPlan]
    sightings: int


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


# --- the plan: stations, deployments and leopards, all from the seed -----------------------------


def make_plan(rng: random.Random, stations: int, sightings: int | None) -> Plan:
    station_plans = plan_stations(rng, stations)
    deployments = plan_deployments(rng, stations)
    leopards = plan_leopards(rng, station_plans)
    if sightings is None:
        camera_days = sum(((d.end or LAST_DAY) - d.start).days + 1 for d in deployments)
        sightings = round(camera_days * SIGHTINGS_PER_CAMERA_DAY)
    return Plan(station_plans, deployments, leopards, sightings)


def plan_stations(rng: random.Random, n: int) -> list[StationPlan]:
    """Stations on a jittered grid over the park, as camera-trap surveys lay them out."""
    (lat0, lat1), (lon0, lon1) = LATITUDES, LONGITUDES
    km_ns, km_ew = (lat1 - lat0) * 111.0, (lon1 - lon0) * 111.0 * math.cos(math.radians(lat0))
    cols = max(1, round(math.sqrt(n * km_ew / km_ns)))
    rows = math.ceil(n / cols)
    width = max(2, len(str(n)))
    plans = []
    for i, cell in enumerate(rng.sample(range(rows * cols), n)):
        row, col = divmod(cell, cols)
        lat = lat0 + (row + rng.uniform(0.15, 0.85)) * (lat1 - lat0) / rows
        lon = lon0 + (col + rng.uniform(0.15, 0.85)) * (lon1 - lon0) / cols
        name = PLACES[i % len(PLACES)] + (f" {i // len(PLACES) + 1}" if i >= len(PLACES) else "")
        plans.append(StationPlan(f"KP-{i + 1:0{width}d}", name, round(lat, 5), round(lon, 5)))
    return plans


def plan_deployments(rng: random.Random, n_stations: int) -> list[DeploymentPlan]:
    """One or two deployments per station: some cameras were swapped in year one, all still run."""
    serial = rng.randint(100_000, 400_000)
    plans = []
    for station in range(n_stations):
        model, prefix = rng.choice(CAMERA_MODELS)
        start = FIRST_DAY + timedelta(days=rng.randint(0, 90))
        if rng.random() < 0.6:
            swap = date(2025, 3, 1) + timedelta(days=rng.randint(0, 240))
            plans.append(DeploymentPlan(station, f"{prefix}{serial}", model, start, swap))
            start, serial = swap + timedelta(days=rng.randint(0, 3)), serial + 1
        plans.append(DeploymentPlan(station, f"{prefix}{serial}", model, start, None))
        serial += 1
    return _with_clock_errors(rng, plans)


def _with_clock_errors(rng: random.Random, plans: list[DeploymentPlan]) -> list[DeploymentPlan]:
    wrong = rng.sample(range(len(plans)), min(len(plans), max(2, len(plans) // 10)))
    for n, i in enumerate(sorted(wrong)):
        offset, why = CLOCK_ERRORS[n % len(CLOCK_ERRORS)]
        plans[i] = replace(plans[i], clock_offset_s=offset, notes=why)
    return plans


# The named cast: (name, sex, life stage, weight). AL-02 is the mother of the two cubs, AL-05 is
# AL-03's son who disperses; any further individuals (large sets) are unnamed resident adults.
CAST = (
    ("Kedr", "male", "adult", 1.3),
    ("Alyona", "female", "adult", 1.0),
    ("Taiga", "female", "adult", 1.0),
    ("Sever", "male", "adult", 1.2),
    ("Veter", "male", "subadult", 1.0),
    ("Iskra", "female", "cub", 0.0),
    ("Ugolyok", "unknown", "cub", 0.0),
)


def plan_leopards(rng: random.Random, stations: list[StationPlan]) -> list[LeopardPlan]:
    """The cast, then unnamed adults up to one per ten stations, each with a home range."""
    count = max(len(CAST), len(stations) // 10)
    width = max(2, len(str(count)))
    codes = [f"AL-{i + 1:0{width}d}" for i in range(count)]
    leopards = []
    for i in range(count):
        name, sex, stage, weight = CAST[i] if i < len(CAST) else ("", "", "adult", 1.0)
        sex = sex or rng.choice(("female", "male"))
        homes = _range_around(stations, rng.randrange(len(stations)), sex)
        leopards.append(LeopardPlan(codes[i], name, sex, stage, weight, homes))
    return _family_ties(leopards, stations, codes)


def _range_around(stations: list[StationPlan], centre: int, sex: str) -> tuple[int, ...]:
    """The stations nearest to a centre: a male's range is about twice a female's."""
    per_leopard = len(stations) / max(len(CAST), len(stations) // 10)
    size = max(2, round(1.5 * per_leopard)) * (2 if sex == "male" else 1)
    return tuple(
        sorted(range(len(stations)), key=lambda s: _km(stations[centre], stations[s]))[:size]
    )


def _km(a: StationPlan, b: StationPlan) -> float:
    dx = (a.longitude - b.longitude) * 111.0 * math.cos(math.radians(a.latitude))
    return math.hypot((a.latitude - b.latitude) * 111.0, dx)


def _family_ties(
    leopards: list[LeopardPlan], stations: list[StationPlan], codes: list[str]
) -> list[LeopardPlan]:
    """AL-02 with her two cubs; AL-05, AL-03's son, moves to the far side of the park."""
    alyona, taiga, veter = leopards[1], leopards[2], leopards[4]
    far = max(range(len(stations)), key=lambda s: _km(stations[taiga.homes[0]], stations[s]))
    leopards[4] = replace(
        veter,
        homes=taiga.homes,
        later_homes=_range_around(stations, far, veter.sex),
        notes=f"Born 2023 to {codes[2]} Taiga; left her range in autumn 2025 and settled "
        f"around {stations[far].code}.",
    )
    leopards[1] = replace(
        alyona, notes=f"Mother of {codes[5]} and {codes[6]}, first seen with them {CUBS_FROM}."
    )
    for cub in (5, 6):
        leopards[cub] = replace(
            leopards[cub],
            homes=alyona.homes,
            mother=1,
            notes=f"Cub of {codes[1]} Alyona, born 2025; seen only with her.",
        )
    return leopards


# --- sightings: visits (bursts of sightings minutes apart), generated lazily ---------------------

# Relative activity per local hour, 0 to 23: the cats and boar by night, deer at dusk and dawn,
# people by day; blanks (sun, wind in the grass) mostly by day.
NOCTURNAL = (8, 8, 7, 7, 8, 9, 6, 3, 2, 1, 1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 9, 8)
CREPUSCULAR = (3, 2, 2, 3, 6, 9, 9, 7, 4, 2, 2, 2, 2, 2, 2, 3, 5, 8, 9, 8, 6, 4, 3, 3)
DIURNAL = (0, 0, 0, 0, 0, 1, 2, 4, 7, 9, 9, 8, 7, 8, 9, 8, 6, 3, 1, 0, 0, 0, 0, 0)
SUNLIT = (2, 2, 2, 2, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 2, 2, 2, 2)
HOURS = range(24)


@dataclass(frozen=True)
class Kind:
    """How one species shows up on camera."""

    species: str
    weight: float  # share of all visits
    hours: tuple[int, ...]
    counts: tuple[int, ...] = (1,)  # group sizes, drawn uniformly
    again: float = 0.3  # chance that one more sighting follows a few minutes later
    sexed: bool = False  # sex is often visible (antlers), so it is recorded


KINDS = (
    Kind(LEOPARD, 20, NOCTURNAL, again=0.35),
    Kind("Panthera tigris altaica", 3, NOCTURNAL, (1, 1, 1, 1, 2)),
    Kind("Cervus nippon", 26, CREPUSCULAR, (1, 1, 1, 2, 2, 3, 4), 0.5, sexed=True),
    Kind("Capreolus pygargus", 16, CREPUSCULAR, (1, 1, 1, 2, 3), 0.4, sexed=True),
    Kind("Sus scrofa", 10, NOCTURNAL, (1, 1, 2, 3, 5, 8), 0.5),
    Kind("Lepus mandshuricus", 5, NOCTURNAL, again=0.2),
    Kind("Homo sapiens", 8, DIURNAL, (1, 1, 2, 3)),
    Kind("Blank", 18, SUNLIT, again=0.4),
)
IDENTIFIED = 0.7  # share of leopard visits with rosettes clear enough to tell who it is
WITH_CUBS = 0.6  # share of the mother's visits (once they are born) where her cubs follow her
MAX_BURST = 6
# The longest burst, cubs included: on a camera's last day a visit starts early enough to fit.
MAX_BURST_S = MAX_BURST * 20 * 60 + 300


@dataclass(frozen=True)
class LoadedIds:
    """Database ids of what the plan put in, in plan order."""

    species: dict[str, int]
    deployments: list[int]
    leopards: list[int]
    loggers: tuple[int, ...]  # users who log sightings, repeated by how often they do


class SightingRows:
    """The plan's sightings as Core insert rows, one visit at a time, exactly plan.sightings."""

    def __init__(self, rng: random.Random, plan: Plan, ids: LoadedIds):
        self.rng, self.plan, self.ids = rng, plan, ids
        self.coverage = _coverage(plan, ids.deployments)
        self.busy = list(accumulate(rng.uniform(0.5, 2.0) for _ in plan.stations))
        self.kinds = list(accumulate(k.weight for k in KINDS))
        self.hours = {k.species: list(accumulate(k.hours)) for k in KINDS}
        self.leopard_weights = list(accumulate(p.weight for p in plan.leopards))
        self.cubs: dict[int, list[int]] = {}
        for i, leopard in enumerate(plan.leopards):
            if leopard.mother is not None:
                self.cubs.setdefault(leopard.mother, []).append(i)
        self.first, self.days = FIRST_DAY.toordinal(), (LAST_DAY - FIRST_DAY).days + 1

    def __iter__(self) -> Iterator[dict]:
        return islice(self._endless(), self.plan.sightings)

    def _endless(self) -> Iterator[dict]:
        while True:
            yield from self._visit()

    def _visit(self) -> list[dict]:
        kind = self.rng.choices(KINDS, cum_weights=self.kinds)[0]
        if kind.species == LEOPARD:
            return self._leopard_visit(kind)
        deployment, day, last = self._where_when(self._busy_station)
        count = self.rng.choice(kind.counts)
        rows = []
        for start in self._burst(self._start(day, kind, last), kind.again):
            sex = self.rng.choice(("female", "male", "unknown")) if kind.sexed else None
            rows.append(self._row(kind, deployment, start, count=count, sex=sex))
        return rows

    def _leopard_visit(self, kind: Kind) -> list[dict]:
        """A leopard at a station of its range; named when the rosettes can be read."""
        who = self.rng.choices(range(len(self.plan.leopards)), cum_weights=self.leopard_weights)[0]
        deployment, day, last = self._where_when(lambda day: self._home_station(who, day))
        start = self._start(day, kind, last)
        if self.rng.random() > IDENTIFIED:  # a glimpse: rarely more than one sighting
            flank = self.rng.choice(("left", "right", "both"))
            return [self._row(kind, deployment, t, flank=flank) for t in self._burst(start, 0.2)]
        burst = self._burst(start, kind.again)
        rows = [self._row(kind, deployment, t, **self._known(who)) for t in burst]
        if day >= CUBS_FROM.toordinal() and self.rng.random() < WITH_CUBS:
            for cub in self.cubs.get(who, ()):
                later = start + timedelta(seconds=self.rng.randint(5, 300))
                rows.append(self._row(kind, deployment, later, **self._known(cub)))
        return rows

    def _known(self, who: int) -> dict:
        """An identified leopard's fields: its own sex and life stage, whichever flank showed."""
        leopard = self.plan.leopards[who]
        return {
            "individual_id": self.ids.leopards[who],
            "sex": leopard.sex,
            "life_stage": leopard.life_stage,
            "flank": self.rng.choice(("left", "right", "left", "right", "both")),
        }

    def _where_when(self, pick_station: Callable[[int], int]) -> tuple[int, int, bool]:
        """A deployment, a local day (ordinal) it ran, and whether that was its last day."""
        for _ in range(1000):
            day = self.first + self.rng.randrange(self.days)
            for first, last, deployment in self.coverage[pick_station(day)]:
                if first <= day <= last:
                    return deployment, day, day == last
        # Cannot happen: every station has a deployment running to LAST_DAY.
        raise RuntimeError("no deployment covers the days drawn")

    def _busy_station(self, _day: int) -> int:
        return self.rng.choices(range(len(self.plan.stations)), cum_weights=self.busy)[0]

    def _home_station(self, who: int, day: int) -> int:
        leopard = self.plan.leopards[who]
        homes = leopard.homes
        if leopard.later_homes and day >= DISPERSAL.toordinal():
            homes = leopard.later_homes
        return self.rng.choices(homes, cum_weights=_rank_weights(len(homes)))[0]

    def _start(self, day: int, kind: Kind, last: bool) -> datetime:
        """A local time on that day, drawn from the species' activity by hour."""
        hour = self.rng.choices(HOURS, cum_weights=self.hours[kind.species])[0]
        second = hour * 3600 + self.rng.randrange(3600)
        if last:  # the whole visit must start before the camera was taken down
            second = min(second, 86_399 - MAX_BURST_S)
        return datetime.fromordinal(day).replace(tzinfo=TZ) + timedelta(seconds=second)

    def _burst(self, start: datetime, again: float) -> Iterator[datetime]:
        """A visit's sightings: the animal lingers, or comes back, minutes apart."""
        yield start
        for _ in range(MAX_BURST - 1):
            if self.rng.random() >= again:
                return
            start += timedelta(seconds=self.rng.randint(60, 20 * 60))
            yield start

    def _row(self, kind: Kind, deployment: int, start: datetime, **fields) -> dict:
        # Every row has every key: executemany compiles one statement from the first row.
        rng = self.rng
        return {
            "species_id": self.ids.species[kind.species],
            "deployment_id": deployment,
            "individual_id": None,
            "event_start": start,
            "event_end": start + timedelta(seconds=rng.randint(2, 90)),
            "count": 1,
            "life_stage": None,
            "sex": None,
            "flank": None,
            "comments": "",
            "source": "demo",
            "logged_by_id": rng.choice(self.ids.loggers),
            "logged_at": start + timedelta(days=rng.randint(3, 40), seconds=rng.randrange(86_400)),
        } | fields


def _coverage(plan: Plan, deployment_ids: list[int]) -> list[list[tuple[int, int, int]]]:
    """Per station, (first day, last day, deployment id) of each deployment, days as ordinals."""
    coverage = [[] for _ in plan.stations]
    for d, deployment_id in zip(plan.deployments, deployment_ids, strict=True):
        last = (d.end or LAST_DAY).toordinal()
        coverage[d.station].append((d.start.toordinal(), last, deployment_id))
    return coverage


@cache
def _rank_weights(n: int) -> list[int]:
    """Cumulative weights n, n-1, ... 1: a leopard uses the stations near its centre most."""
    return list(accumulate(range(n, 0, -1)))


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
