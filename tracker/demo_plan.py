"""The demo's plan: stations, deployments and leopards (ranges, families, a disperser), all from
one seed, so that a seed always gives the same park. `tracker demo` (tracker.demo) loads it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

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
