"""`tracker demo --images N`: image rows without files, as a season of photos looks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from test_image_counts import kept, recount

from tracker import clock
from tracker.models import Deployment, Image, Sighting, Species, sighting_image


@pytest.fixture
def season(runner, session, app):
    args = ["demo", "--stations", "20", "--sightings", "500", "--images", "3000", "--no-photos"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "added 3000 image rows without files" in result.output
    return app


def test_exactly_n_rows_and_no_files(season, session):
    assert session.scalar(select(func.count()).select_from(Image)) == 3000
    media = Path(season.config["MEDIA_DIR"])
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_most_photos_are_untagged_or_blank(season, session):
    linked = select(sighting_image.c.image_id)
    untagged = session.scalar(select(func.count()).where(Image.id.not_in(linked)))
    blank = session.scalar(
        select(func.count(func.distinct(sighting_image.c.image_id)))
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .join(Species, Species.id == Sighting.species_id)
        .where(Species.kind == "blank")
    )
    assert 0.6 * 3000 <= untagged + blank <= 0.8 * 3000
    assert blank > 0


def test_linked_photos_are_taken_during_their_sighting_at_its_deployment(season, session):
    rows = session.execute(
        select(Image, Sighting)
        .join(sighting_image, sighting_image.c.image_id == Image.id)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
    ).all()
    assert len(rows) >= 500
    for image, sighting in rows:
        assert image.deployment_id == sighting.deployment_id
        assert sighting.event_start <= image.taken_at_utc <= sighting.event_end
        assert image.timestamp_issue is None


def test_untagged_photos_lie_in_their_deployment_unless_flagged(season, session):
    rows = session.execute(select(Image, Deployment).join(Deployment)).all()
    flagged = [i for i, _ in rows if i.timestamp_issue]
    assert 0 < len(flagged) < 0.05 * len(rows)
    assert any(i.taken_at_utc is None for i in flagged)
    assert any(i.taken_at_raw == "2000:01:01 00:00:00" for i in flagged)
    for image, deployment in rows:
        if image.timestamp_issue is None:
            start, end = clock.period_utc(deployment)
            assert start <= image.taken_at_utc and (end is None or image.taken_at_utc < end)


def test_new_images_get_ids_after_the_demo_rows(season, session):
    """The ids were given by the loader; PostgreSQL's sequence must carry on after them."""
    deployment = session.scalars(select(Deployment)).first()
    image = Image(
        sha256="f" * 64,
        stored_path="x.jpg",
        original_filename="x.jpg",
        bytes=1,
        deployment=deployment,
    )
    session.add(image)
    session.flush()
    assert image.id == 3001


def test_fewer_photos_than_sightings_link_each_at_most_once(runner, session):
    args = ["demo", "--stations", "5", "--sightings", "300", "--images", "100", "--no-photos"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert session.scalar(select(func.count()).select_from(Image)) == 100
    links = session.scalar(select(func.count()).select_from(sighting_image))
    assert 0 < links <= 100


def test_kept_counts_match_the_photos_and_the_triggers_are_back_on(season, session):
    """On PostgreSQL the loader switches the per-photo count triggers off and recounts once."""
    assert kept(session) == recount(session)
    if session.get_bind().dialect.name == "postgresql":
        states = session.execute(
            text("SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal")
        ).all()
        assert states and all(enabled == "O" for _, enabled in states), states
    deployment = session.scalars(select(Deployment).order_by(Deployment.id)).first()
    before = kept(session)[deployment.id]
    session.add(
        Image(
            sha256="e" * 64,
            stored_path="y.jpg",
            original_filename="y.jpg",
            bytes=1,
            deployment=deployment,
        )
    )
    session.flush()
    after = kept(session)[deployment.id]
    assert after[:2] == (before[0] + 1, before[1] + 1)  # one more photo, untagged
