"""The library: the image list filtered by what is in the photos, and tagging many at once.

The shared real photos and MegaDetector's real output on them, through the real import.
"""

from __future__ import annotations

import re

import pytest
from conftest import csrf_token, fetch, row_counts
from detections_data import imported_card
from sqlalchemy import select

from tracker import imagecontent, imagelist, library, sightings
from tracker.errors import InvalidInput
from tracker.models import LEOPARD, DetectionRun, Sighting, Species, sighting_image

# Photos with an animal box at or above 0.2 (the truncated elephants photo is refused at import).
ANIMALS = {
    "african_elephants.jpg", "african_elephants_bw.jpg", "african_elephants_cmyk.jpg",
    "african_elephants_with_exif_orientation.jpg", "american_black_bear.jpg",
    "domestic_cattle.jpg", "domestic_dog.jpg", "ocelot.jpg",
}  # fmt: skip
ELEPHANTS = {
    "african_elephants.jpg",
    "african_elephants_bw.jpg",
    "african_elephants_cmyk.jpg",
    "african_elephants_with_exif_orientation.jpg",
}


@pytest.fixture
def card(app, session):
    return imported_card(session, app)


def species(session, name: str) -> Species:
    return session.scalar(select(Species).where(Species.scientific_name == name))


def found(session, photos, threshold=0.2, **args) -> set[str]:
    """File names of the photos the library shows for these query arguments."""
    filters = imagelist.read_filters({k: str(v) for k, v in args.items()}, threshold)
    assert filters.errors == []
    page = imagelist.page(session, filters, per_page=100)
    names = {i.id: n for n, i in photos.items()}
    return {names[i.id] for i in page.images}


@pytest.fixture(params=["read", "walk"])
def way(request, monkeypatch):
    """Both ways of reading what is in the photos: few photos read and sorted, or many walked in
    capture order (from one sighting or box on, here) must find the same photos."""
    if request.param == "walk":
        monkeypatch.setattr(imagecontent, "COMMON", 1)
    return request.param


def test_filters_on_detections(app, session, card, way):
    dep, photos = card
    assert found(session, photos, category="person") == {"human.jpg"}
    assert found(session, photos, category="vehicle") == {"vehicle.jpg"}
    assert found(session, photos, category="empty") == {"blank.jpg", "blank2.jpg", "blank3.jpg"}
    # Confidence: the detector's own figure, below the threshold too.
    assert found(session, photos, category="animal", confidence="0.96") == {"ocelot.jpg"}
    assert "blank3.jpg" in found(session, photos, confidence="0.01")
    animals = found(session, photos, category="animal", deployment=dep.id)
    assert {"ocelot.jpg", "domestic_dog.jpg", "american_black_bear.jpg"} <= animals
    assert not animals & {"human.jpg", "vehicle.jpg", "blank3.jpg"}
    # A threshold changed later changes the answer (blank3's box is at 0.0101).
    run = importer_run(session)
    run.file_threshold = None
    session.flush()
    assert "blank3.jpg" not in found(session, photos, threshold=0.01, category="empty")


def importer_run(session):
    return session.scalar(select(DetectionRun))


def test_filters_on_species_individual_and_tagged(app, session, card, way):
    _dep, photos = card
    leopard = species(session, LEOPARD)
    sightings.tag_images(
        session, [photos["ocelot.jpg"]],
        sightings.SightingInput(species_id=leopard.id, individual_code="AL-07",
                                new_individual=True),
        timestamp_confirmed=True,  # the shared photos are older than any deployment
    )  # fmt: skip
    session.commit()
    assert found(session, photos, species=leopard.id) == {"ocelot.jpg"}
    assert found(session, photos, individual="al-07") == {"ocelot.jpg"}
    assert found(session, photos, individual="AL-99") == set()
    assert found(session, photos, status="tagged", category="animal") == {"ocelot.jpg"}
    untagged = found(session, photos, status="untagged", category="animal")
    assert "ocelot.jpg" not in untagged and "domestic_dog.jpg" in untagged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"category": "ghost"}, "Category 'ghost' is not one of"),
        ({"confidence": "1.5"}, "Confidence '1.5' is not a number from 0 to 1"),
        ({"confidence": "lots"}, "Confidence 'lots' is not a number from 0 to 1"),
        ({"species": "x"}, "Species 'x' is not a species number"),
        ({"category": "empty", "confidence": "0.5"}, "no box to have a confidence"),
    ],
)
def test_bad_filters_are_named(args, message):
    errors = imagelist.read_filters(args).errors
    assert len(errors) == 1 and message in errors[0]


def test_counts_are_counted_when_filtering_by_content(app, session, card):
    del card  # the shared photos, imported
    filters = imagelist.read_filters({"category": "empty"})
    counts = imagelist.counts(session, filters)
    assert counts.values == {"all": 3} and counts.partial and counts.show("all") == "3"
    filters = imagelist.read_filters({"category": "animal", "status": "untagged"})
    counts = imagelist.counts(session, filters)
    assert counts.show("untagged") == counts.show("all") == str(len(ANIMALS))
    assert counts.show("blank") == ""


def test_bulk_tagging_makes_one_sighting_per_burst(app, session, card):
    _dep, photos = card
    elephant = Species(scientific_name="Loxodonta africana", common_name="African elephant",
                       kind="animal")  # fmt: skip
    session.add(elephant)
    session.flush()
    chosen = [photos[n].id for n in sorted(ELEPHANTS)]
    done = library.tag_selected(session, chosen, sightings.SightingInput(species_id=elephant.id),
                                None, gap_seconds=10, threshold=0.2,
                                timestamp_confirmed=True)  # fmt: skip
    session.commit()
    made = session.scalars(select(Sighting).where(Sighting.species_id == elephant.id)).all()
    assert done.photos == 4 and done.sightings == len(made) and done.skipped == []
    assert sorted(i.id for s in made for i in s.images) == sorted(chosen)
    # Each sighting rests on one trigger burst: what the queue would have made.
    expected = sightings.bursts(sorted((photos[n] for n in ELEPHANTS),
                                       key=lambda i: (i.taken_at_utc is None,
                                                      i.taken_at_utc or 0, i.original_filename)),
                                10)  # fmt: skip
    assert len(made) == len(expected)
    # Tagged photos are left as they were; the rest of a second choice is tagged.
    again = library.tag_selected(
        session, [*chosen, photos["blank.jpg"].id],
        sightings.SightingInput(species_id=library.blank_species(session).id), None, 10, 0.2,
        timestamp_confirmed=True,
    )  # fmt: skip
    assert again.photos == 1 and again.skipped == sorted(chosen)


def test_bulk_tagging_refuses_nonsense_and_writes_nothing(app, session, card):
    _dep, photos = card
    before = row_counts(app)
    with pytest.raises(InvalidInput, match="at least one photo"):
        library.tag_selected(session, [], sightings.SightingInput(species_id=1), None, 10, 0.2)
    with pytest.raises(InvalidInput, match="No such photos"):
        library.tag_selected(session, [10**8], sightings.SightingInput(species_id=1), None, 10, 0.2)
    with pytest.raises(InvalidInput) as refused:
        library.tag_selected(session, [photos["ocelot.jpg"].id],
                             sightings.SightingInput(species_id=None), None, 10, 0.2)  # fmt: skip
    assert "species_id" in refused.value.errors
    session.rollback()
    assert row_counts(app) == before


def test_the_library_page_tags_the_chosen_photos(app, session, client, as_role, card):
    _dep, photos = card
    as_role("ranger")
    page = client.get("/images/?category=empty").get_data(as_text=True)
    ids = re.findall(r'name="image_ids" value="(\d+)"', page)
    assert sorted(map(int, ids)) == sorted(photos[n].id for n in ("blank.jpg", "blank2.jpg",
                                                                   "blank3.jpg"))  # fmt: skip
    assert 'id="library-form"' in page and "library.js" in page
    back = "/images/?category=empty"
    response = client.post(
        "/images/tag",
        data={"csrf_token": csrf_token(client, back), "image_ids": ids[:2], "blank": "1",
              "back": back, "confirm": "1"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == back
    shown = client.get(back).get_data(as_text=True)
    assert "2 photos tagged in" in shown
    tagged = fetch(app, select(sighting_image.c.image_id).distinct())
    assert sorted(i for (i,) in tagged) == sorted(map(int, ids[:2]))
    # Labels on the thumbnails: the sightings, and the boxes that count.
    assert "Blank" in client.get("/images/?status=blank").get_data(as_text=True)
    assert re.search(r"person 0\.93", client.get("/images/?category=person").get_data(as_text=True))


def test_the_library_sends_nobody_elsewhere_and_names_mistakes(app, client, as_role, card):
    del card  # the shared photos, imported
    as_role("ranger")
    token = csrf_token(client, "/images/")
    response = client.post("/images/tag", data={"csrf_token": token, "image_ids": "x",
                                                "back": "https://evil.test/images/"})  # fmt: skip
    assert response.headers["Location"] == "/images/"
    assert "Choose at least one photo" in client.get("/images/").get_data(as_text=True)
    assert client.get("/images/?confidence=2").status_code == 400


def test_everyone_who_may_tag_gets_the_selection(app, client, as_role, card):
    as_role("researcher")  # researchers tag too (see the permission table)
    assert 'id="library-form"' in client.get("/images/").get_data(as_text=True)


def test_option_lists_mark_the_chosen_value_and_escape_labels():
    from tracker.web import options

    rendered = options.render([(1, "KP-01 <east>"), (12, "A & B")])
    assert str(rendered) == (
        '<option value="1">KP-01 &lt;east&gt;</option><option value="12">A &amp; B</option>'
    )
    assert 'value="12" selected>' in options.choose(rendered, "12")
    assert 'value="1" selected>' not in options.choose(rendered, "12")
    assert options.choose(rendered, "3") == rendered
    assert options.choose(rendered, '1"><script>') == rendered
