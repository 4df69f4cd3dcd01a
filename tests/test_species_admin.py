"""Species admin: add, rename, retire, merge; the review form offers the park's list plus
"Other animal" and "Unknown"."""

from __future__ import annotations

import pytest
from conftest import csrf_token, fetch
from sqlalchemy import select

from tracker import species
from tracker.errors import InvalidInput
from tracker.models import AuditLog, Species


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/species/"), **data},
                       follow_redirects=True).get_data(as_text=True)  # fmt: skip


def test_an_admin_adds_renames_and_retires_a_species(app, client, as_role):
    as_role("admin")
    page = post(client, "/species/", scientific_name="Ursus thibetanus",
                common_name="Asian black bear", kind="animal")  # fmt: skip
    assert "Asian black bear added to the list" in page
    ((bear_id,),) = fetch(app, select(Species.id).where(Species.common_name == "Asian black bear"))
    page = post(client, f"/species/{bear_id}/edit", scientific_name="Ursus thibetanus ussuricus",
                common_name="Ussuri black bear")  # fmt: skip
    assert "Saved: Ussuri black bear (Ursus thibetanus ussuricus)" in page
    page = post(client, f"/species/{bear_id}/retire", retired="1")
    assert "retired: no longer offered when tagging" in page
    assert fetch(app, select(Species.retired).where(Species.id == bear_id)) == [(True,)]
    actions = {
        a for (a,) in fetch(app, select(AuditLog.action).where(AuditLog.entity == "species"))
    }
    assert {"create", "update", "retire"} <= actions


def test_the_review_form_offers_the_list_other_animal_and_unknown(app, session, client, as_role):
    from detections_data import deployment, import_photos

    dep = deployment(session)
    import_photos(session, app, dep, "ocelot.jpg")
    tiger = session.scalar(select(Species).where(Species.common_name == "Amur tiger"))
    species.retire(session, tiger, True)
    session.commit()
    page = as_role("ranger").get(f"/review/{dep.id}").get_data(as_text=True)
    assert ">Other animal<" in page and ">Unknown<" in page and ">Sika deer<" in page
    assert ">Amur tiger<" not in page


@pytest.mark.parametrize(
    ("scientific", "common", "field"),
    [("", "Bear", "scientific_name"), ("Ursus", "", "common_name"),
     ("panthera pardus orientalis", "Leopard again", "scientific_name")],
)  # fmt: skip
def test_bad_names_are_refused_by_name(app, session, scientific, common, field):
    with pytest.raises(InvalidInput) as refused:
        species.add(session, scientific, common)
    assert field in refused.value.errors
