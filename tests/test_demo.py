"""`tracker demo`: the demo data set, its accounts, reproducibility, and large synthetic sets."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import sign_in
from sqlalchemy import delete, func, select

from tracker import demo, demo_plan
from tracker.models import (
    LEOPARD,
    AuditLog,
    Camera,
    Deployment,
    Image,
    Individual,
    Sighting,
    Species,
    Station,
    User,
)
from tracker.synthetic import jpeg_bytes

COUNTED = (Station, Deployment, Camera, Individual, Sighting, User, AuditLog)


def counts(session) -> dict[str, int]:
    session.expire_all()
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in COUNTED}


def password_in(output: str) -> str:
    assert "demo accounts (password shown once): " in output
    return re.search(r"password: (\S+)", output).group(1)


def local_sightings(session) -> list[tuple]:
    """(sighting, local start, deployment) for every sighting, local to the deployment."""
    rows = session.execute(select(Sighting, Deployment).join(Deployment)).all()
    return [(s, s.event_start.astimezone(ZoneInfo(d.timezone)), d) for s, d in rows]


@pytest.fixture
def loaded(runner, session):
    """The default demo (without photos: they have a test of their own), through the command."""
    result = runner.invoke(args=["demo", "--no-photos"])
    assert result.exit_code == 0, result.output
    return result.output


def test_default_demo_has_a_park_worth_of_data(loaded, session):
    n = counts(session)
    assert n["Station"] == 12
    assert n["Deployment"] >= 12
    assert 6 <= n["Individual"] <= 8
    assert 200 <= n["Sighting"] <= 999
    assert f"12 stations, {n['Deployment']} deployments" in loaded
    assert f"{n['Individual']} individuals, {n['Sighting']} sightings in " in loaded
    codes = session.scalars(select(Station.code).order_by(Station.code)).all()
    assert codes == [f"KP-{i:02d}" for i in range(1, 13)]
    for station in session.scalars(select(Station)):
        assert 42.95 <= station.latitude <= 43.25 and 131.25 <= station.longitude <= 131.5
        assert station.name


def test_deployments_one_active_per_station_some_closed(loaded, session):
    for station in session.scalars(select(Station)):
        assert 1 <= len(station.deployments) <= 2
        assert [d.is_active for d in station.deployments][-1] is True
        assert sum(d.is_active for d in station.deployments) == 1
    deployments = session.scalars(select(Deployment)).all()
    assert any(not d.is_active for d in deployments)
    assert {d.timezone for d in deployments} == {"Asia/Vladivostok"}
    assert sum(d.clock_offset_s != 0 for d in deployments) >= 2
    assert all(d.camera is not None and d.camera.serial for d in deployments)
    assert len({d.camera.serial for d in deployments}) == len(deployments)


def test_every_sighting_lies_within_its_deployment(loaded, session):
    rows = local_sightings(session)
    assert rows
    for sighting, start, deployment in rows:
        assert deployment.start_date <= start.date() <= (deployment.end_date or demo.LAST_DAY)
        assert sighting.event_end >= sighting.event_start


def test_species_mix_is_realistic(loaded, session):
    by_species = dict(
        session.execute(
            select(Species.scientific_name, func.count(Sighting.id))
            .join(Sighting)
            .group_by(Species.scientific_name)
        ).all()
    )
    # Every seeded species is sighted but the review form's catch-alls (other animal, unknown).
    assert set(by_species) == {name for name, _, _ in demo.SEED_SPECIES} - {"Animalia", "Unknown"}
    assert by_species["Cervus nippon"] > by_species["Panthera tigris altaica"]
    assert by_species[LEOPARD] > by_species["Panthera tigris altaica"]
    unidentified = session.scalar(
        select(func.count())
        .select_from(Sighting)
        .join(Species)
        .where(Species.scientific_name == LEOPARD, Sighting.individual_id.is_(None))
    )
    assert 0 < unidentified < by_species[LEOPARD]


def test_identified_leopards_keep_their_sex_and_stage(loaded, session):
    rows = session.execute(select(Sighting, Individual).join(Individual)).all()
    assert len({i.code for _, i in rows}) == counts(session)["Individual"]
    for sighting, individual in rows:
        assert sighting.species.scientific_name == LEOPARD
        assert individual.species.scientific_name == LEOPARD
        assert sighting.sex == individual.sex
    stages = {i.code: {s.life_stage for s, j in rows if j is i} for _, i in rows}
    assert stages["AL-06"] == stages["AL-07"] == {"cub"}
    assert stages["AL-05"] == {"subadult"}


def test_cubs_appear_later_and_only_with_their_mother(loaded, session):
    rows = local_sightings(session)
    by_code = {}
    for sighting, _, _ in rows:
        if sighting.individual is not None:
            by_code.setdefault(sighting.individual.code, []).append(sighting)
    mother = by_code["AL-02"]
    for cub in by_code["AL-06"] + by_code["AL-07"]:
        assert cub.event_start.astimezone(demo_plan.TZ).date() >= demo_plan.CUBS_FROM
        assert any(
            m.deployment_id == cub.deployment_id
            and abs(m.event_start - cub.event_start) <= timedelta(minutes=10)
            for m in mother
        )
    assert any(m.event_start.astimezone(demo_plan.TZ).date() < demo_plan.CUBS_FROM for m in mother)


def test_the_subadult_disperses_to_other_stations(loaded, session):
    rows = session.execute(
        select(Sighting.event_start, Deployment.station_id)
        .join(Deployment)
        .join(Individual)
        .where(Individual.code == "AL-05")
    ).all()
    before = {s for t, s in rows if t.astimezone(demo_plan.TZ).date() < demo_plan.DISPERSAL}
    after = {s for t, s in rows if t.astimezone(demo_plan.TZ).date() >= demo_plan.DISPERSAL}
    assert before and after
    assert after - before


def test_leopards_are_seen_mostly_at_night(loaded, session):
    hours = [
        start.hour
        for sighting, start, _ in local_sightings(session)
        if sighting.species.scientific_name == LEOPARD
    ]
    night = sum(h >= 18 or h < 6 for h in hours)
    assert len(hours) >= 30
    assert night / len(hours) > 0.6


def test_sightings_come_in_bursts_minutes_apart(loaded, session):
    rows = session.execute(
        select(Sighting.deployment_id, Sighting.species_id, Sighting.event_start).order_by(
            Sighting.deployment_id, Sighting.event_start
        )
    ).all()
    close = sum(
        a.deployment_id == b.deployment_id
        and a.species_id == b.species_id
        and b.event_start - a.event_start <= timedelta(minutes=20)
        for a, b in pairwise(rows)
    )
    assert close >= 20


def test_demo_accounts_sign_in_with_the_printed_password(app, runner):
    output = runner.invoke(args=["demo", "--no-photos"]).output
    password = password_in(output)
    assert len(password) >= 16
    assert output.count(password) == 1
    for role in ("ranger", "researcher", "admin"):
        assert f"{role}@demo.test" in output
        client = app.test_client()
        assert sign_in(client, f"{role}@demo.test", "not-the-password").status_code == 200
        assert sign_in(client, f"{role}@demo.test", password).status_code == 302
        assert client.get("/").status_code == 200


def test_demo_load_is_audited_once_with_its_counts(loaded, session):
    entries = session.scalars(select(AuditLog).where(AuditLog.action == "demo-load")).all()
    assert len(entries) == 1
    n = counts(session)
    assert entries[0].details == {
        "seed": demo.DEFAULT_SEED,
        "stations": n["Station"],
        "deployments": n["Deployment"],
        "individuals": n["Individual"],
        "sightings": n["Sighting"],
    }
    roles = dict(session.execute(select(User.email, User.role)).all())
    assert roles == {f"{r}@demo.test": r for r in ("ranger", "researcher", "admin")}


def remove_demo_data(session) -> None:
    for model in (Sighting, Individual, Deployment, Camera, Station):
        session.execute(delete(model))
    session.commit()


def test_same_seed_gives_the_same_data_and_a_new_password(runner, session):
    def load(seed: int) -> tuple[str, list, int]:
        result = runner.invoke(args=["demo", "--seed", str(seed), "--no-photos"])
        assert result.exit_code == 0, result.output
        stations = session.execute(
            select(Station.code, Station.name, Station.latitude, Station.longitude).order_by(
                Station.code
            )
        ).all()
        return password_in(result.output), stations, counts(session)["Sighting"]

    first = load(11)
    remove_demo_data(session)
    again = load(11)
    assert again[1:] == first[1:]
    assert again[0] != first[0]
    other = demo.make_plan(random.Random(12), 12, None)
    assert [(s.latitude, s.longitude) for s in other.stations] != [s[2:] for s in first[1]]


def test_the_same_seed_makes_the_same_photo():
    """The demo's photos are the same bytes each time, so the same hashes (noise included)."""
    taken = datetime(2024, 3, 10, 22, 15)
    first = jpeg_bytes(taken, size=(320, 240), seed=5, subject="leopard")
    assert jpeg_bytes(taken, size=(320, 240), seed=5, subject="leopard") == first
    assert jpeg_bytes(taken, size=(320, 240), seed=6, subject="leopard") != first


def test_if_empty_leaves_a_database_with_data_alone(loaded, runner, session):
    before = counts(session)
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0
    assert "database already has data; demo not loaded" in result.output
    assert "password" not in result.output
    assert counts(session) == before


def test_if_empty_loads_an_empty_database_with_photos(app, runner, session):
    """What `make run` does on a fresh machine: the full demo, photos included."""
    result = runner.invoke(args=["demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert counts(session)["Station"] == 12
    images = session.scalars(select(Image)).all()
    assert len(images) > 100
    assert all(Path(app.config["MEDIA_DIR"], i.stored_path).is_file() for i in images)
    assert all(i.timestamp_issue is None for i in images)
    linked = session.scalars(select(Sighting).where(Sighting.images.any())).all()
    assert len(linked) >= 50
    for sighting in linked:
        # The camera wrote its own (uncorrected) clock; ingest's correction lands on the sighting.
        times = [i.taken_at_utc for i in sighting.images]
        assert min(times) == sighting.event_start
        assert all(i.deployment_id == sighting.deployment_id for i in sighting.images)
    untagged = [i for i in images if not i.original_filename.split("/")[-1].startswith("S")]
    assert len(untagged) >= 9


def test_loading_twice_is_refused(loaded, runner, session):
    before = counts(session)
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 2
    assert "already has stations" in result.output
    assert counts(session) == before


def test_large_synthetic_set(runner, session):
    result = runner.invoke(args=["demo", "--stations", "50", "--sightings", "20000", "--seed", "7"])
    assert result.exit_code == 0, result.output
    n = counts(session)
    assert n["Station"] == 50
    assert n["Sighting"] == 20_000
    assert n["Individual"] == 7
    assert n["Deployment"] >= 50
    for _, start, deployment in local_sightings(session):
        assert deployment.start_date <= start.date() <= (deployment.end_date or demo.LAST_DAY)


def test_stations_and_leopards_scale_with_the_station_count():
    plan = demo.make_plan(random.Random(3), 300, 0)
    assert len(plan.stations) == 300
    assert len({s.code for s in plan.stations}) == 300
    assert plan.stations[0].code == "KP-001"
    assert len(plan.leopards) == 30
    assert plan.leopards[-1].code == "AL-30"
    assert all(set(p.homes) <= set(range(300)) and p.homes for p in plan.leopards)
    assert demo.make_plan(random.Random(3), 300, 0) == plan
