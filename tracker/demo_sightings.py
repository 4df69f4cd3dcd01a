"""The demo's sightings: visits (bursts of sightings minutes apart) of each species at its hours,
leopards at the stations of their ranges, cubs with their mother, generated lazily as Core insert
rows so that millions take no memory."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from itertools import accumulate, islice

from tracker.demo_plan import CUBS_FROM, DISPERSAL, FIRST_DAY, LAST_DAY, TZ, Plan
from tracker.models import LEOPARD

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
