"""Sightings: tagging images, sightings from photo-ID tags at import, audited edits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import row_counts
from sqlalchemy import select

from tracker import individuals, ingest, sightings, sources
from tracker.errors import InvalidInput
from tracker.models import LEOPARD, AuditLog, Image, Individual, IndividualCode, Sighting, Species
from tracker.sightings import SightingInput, TagRules
from tracker.synthetic import jpeg_bytes, xmp_packet

TAKEN = datetime(2024, 3, 10, 22, 15, 0)


def species(session, name=LEOPARD) -> Species:
    return session.scalar(select(Species).where(Species.scientific_name == name))


def add_images(session, app, deployment, *specs, rules=None):
    """Ingest generated photos; each spec is (seconds after TAKEN, xmp keywords or None)."""
    items = []
    for i, (seconds, tags) in enumerate(specs):
        taken = TAKEN + timedelta(seconds=seconds)
        xmp = xmp_packet([], tags) if tags else None
        items.append(sources.Item(f"IMG_{i:04}.JPG", jpeg_bytes(taken, seed=i, xmp=xmp)))
    ingest.ingest(session, items, deployment, app.config["MEDIA_DIR"], tag_rules=rules)
    return list(session.scalars(select(Image).order_by(Image.original_filename)))


def test_a_sequence_becomes_one_sighting_spanning_its_images(app, session, deployment):
    images = add_images(session, app, deployment, (0, None), (3, None), (6, None))
    data = SightingInput(species_id=species(session).id, count=2, life_stage="adult", flank="left")
    sighting = sightings.tag_images(session, images, data)
    session.commit()
    assert len(sighting.images) == 3
    assert sighting.event_start == datetime(2024, 3, 10, 12, 15, 0, tzinfo=UTC)
    assert (sighting.event_end - sighting.event_start).total_seconds() == 6
    assert sighting.individual is None and sighting.count == 2
    entry = session.scalar(select(AuditLog).where(AuditLog.entity == "sighting"))
    assert entry.action == "create" and entry.details["flank"] == "left"


def test_new_individual_in_place_and_former_codes(app, session, deployment):
    (image,) = add_images(session, app, deployment, (0, None))
    data = SightingInput(
        species_id=species(session).id, individual_code="AL-20", new_individual=True,
        individual_name="Kedrovaya", sex="female",
    )  # fmt: skip
    sighting = sightings.tag_images(session, [image], data)
    assert sighting.individual.code == "AL-20" and sighting.individual.sex == "female"
    session.add(
        IndividualCode(individual_id=sighting.individual.id, code="AL-OLD", reason="rename")
    )
    session.flush()
    assert individuals.find(session, "al-old").id == sighting.individual.id


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"individual_code": "AL-99"}, "individual_code", "No individual with code AL-99"),
        ({"count": 0}, "count", "from 1 to"),
        ({"count": None}, "count", "from 1 to"),
        ({"species_id": 9999}, "species_id", "Choose a species"),
        ({"life_stage": "kitten"}, "life_stage", "adult, subadult, cub"),
        ({"individual_code": "AL 1", "new_individual": True}, "individual_code", "letters"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(app, session, deployment, changes, field, words):
    (image,) = add_images(session, app, deployment, (0, None))
    session.commit()
    before = row_counts(app)
    data = SightingInput(species_id=species(session).id)
    for key, value in changes.items():
        setattr(data, key, value)
    with pytest.raises(InvalidInput) as refused:
        sightings.tag_images(session, [image], data)
    session.rollback()
    assert words in refused.value.errors[field]
    assert row_counts(app) == before


def test_blank_frames_have_no_individual_and_count_one(app, session, deployment):
    (image,) = add_images(session, app, deployment, (0, None))
    blank = species(session, "Blank")
    sighting = sightings.tag_images(session, [image], SightingInput(species_id=blank.id, count=5))
    assert sighting.count == 1 and sighting.individual is None


def test_edit_and_delete_are_audited_with_before_and_after(app, session, deployment):
    (image,) = add_images(session, app, deployment, (0, None))
    leopard = species(session)
    sighting = sightings.tag_images(session, [image], SightingInput(species_id=leopard.id))
    sightings.update_sighting(session, sighting, SightingInput(species_id=leopard.id, count=3))
    sightings.delete_sighting(session, sighting)
    session.commit()
    entries = session.scalars(select(AuditLog).where(AuditLog.entity == "sighting")).all()
    assert [e.action for e in entries] == ["create", "update", "delete"]
    assert entries[1].details["before"]["count"] == 1
    assert entries[1].details["after"]["count"] == 3
    assert entries[2].details["before"]["count"] == 3
    assert session.scalar(select(Sighting)) is None


def test_sequences_split_on_the_gap_and_leave_untimed_images_alone(app, session, deployment):
    add_images(session, app, deployment, (0, None), (3, None), (20, None), (25, None))
    untimed = jpeg_bytes(None, seed=99)
    ingest.ingest(session, [sources.Item("IMG_9999.JPG", untimed)], deployment,
                  app.config["MEDIA_DIR"])  # fmt: skip
    groups = sightings.sequences(session, deployment.id, gap_seconds=10)
    names = [[i.original_filename for i in group] for group in groups]
    assert names == [
        ["IMG_0000.JPG", "IMG_0001.JPG"],
        ["IMG_0002.JPG", "IMG_0003.JPG"],
        ["IMG_9999.JPG"],
    ]


def test_photo_id_tags_become_sightings_at_import(app, session, deployment, runner, tmp_path):
    session.add(Individual(code="AL-12", sex="male", species=species(session)))
    session.commit()
    tagged = {
        "a.jpg": ["Species|Amur leopard", "individual|AL-12"],
        "b.jpg": ["individual|AL-30"],  # new individual, no species: a leopard
        "c.jpg": ["Species|Mammalia|Raccoon dog"],  # a species not in the list yet
        "d.jpg": ["individual|AL 7"],  # not a valid code: kept in the comments
        "e.jpg": ["Places|Kedrovaya"],  # not a photo-ID tag
    }
    card = tmp_path / "card"
    card.mkdir()
    for i, (name, tags) in enumerate(tagged.items()):
        (card / name).write_bytes(jpeg_bytes(TAKEN, seed=i, xmp=xmp_packet([], tags)))
    result = runner.invoke(args=["import", str(card), "--deployment", str(deployment.id),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["summary"]["added"] == 5
    rows = {
        s.images[0].original_filename.rsplit("/", 1)[-1]: s
        for s in session.scalars(select(Sighting))
    }
    assert set(rows) == {"a.jpg", "b.jpg", "c.jpg", "d.jpg"}
    assert all(s.source == "tags" for s in rows.values())
    assert rows["a.jpg"].individual.code == "AL-12"
    assert rows["b.jpg"].individual.code == "AL-30"
    assert rows["b.jpg"].species.scientific_name == LEOPARD
    assert rows["c.jpg"].species.common_name == "Raccoon dog"
    assert rows["c.jpg"].species.confirmed is False
    assert rows["d.jpg"].individual is None and "AL 7" in rows["d.jpg"].comments


def test_tag_hierarchy_names_are_configurable(app, session, deployment):
    rules = TagRules(species="Art", individual="Tier")
    add_images(session, app, deployment, (0, ["Art|Amur leopard", "Tier|AL-40"]), rules=rules)
    sighting = session.scalar(select(Sighting))
    assert sighting.individual.code == "AL-40"
