"""Species added by photo tags: an admin confirms them or merges them into the right one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from conftest import csrf_token, row_counts
from sqlalchemy import select

from tracker import fieldwork
from tracker.models import LEOPARD, AuditLog, Individual, Sighting, Species


@pytest.fixture
def tagged(session):
    """A misspelt leopard species from a photo tag, with one sighting and one individual."""
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 1, 1))
    )
    odd = Species(scientific_name="Amur leoprd", common_name="Amur leoprd", confirmed=False)
    cat = Individual(code="AL-50", species=odd)
    when = datetime(2024, 2, 1, tzinfo=UTC)
    session.add_all([odd, cat, Sighting(deployment=dep, species=odd, individual=cat,
                                        event_start=when, event_end=when)])  # fmt: skip
    session.commit()
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    return {"odd": odd.id, "leopard": leopard.id, "human": 7}


def test_admin_sees_unconfirmed_species_first(as_role, tagged):
    page = as_role("admin").get("/species/").get_data(as_text=True)
    assert page.index("Amur leoprd") < page.index("Wild boar")
    assert "from photo tags" in page


def test_confirm(as_role, tagged, session):
    client = as_role("admin")
    token = csrf_token(client, "/species/")
    assert (
        client.post(f"/species/{tagged['odd']}/confirm", data={"csrf_token": token}).status_code
        == 302
    )
    assert session.get(Species, tagged["odd"]).confirmed is True


def test_merge_moves_sightings_and_individuals_and_is_audited(as_role, tagged, session):
    client = as_role("admin")
    token = csrf_token(client, "/species/")
    response = client.post(
        f"/species/{tagged['odd']}/merge",
        data={"csrf_token": token, "target": tagged["leopard"]},
        follow_redirects=True,
    )
    assert "1 sightings moved" in response.get_data(as_text=True)
    assert session.get(Species, tagged["odd"]) is None
    assert session.scalar(select(Sighting.species_id)) == tagged["leopard"]
    assert session.scalar(select(Individual.species_id)) == tagged["leopard"]
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "merge"))
    assert entry.details["into"] == LEOPARD and entry.details["sightings"] == 1


@pytest.mark.parametrize("target", ["odd", "human", "missing"])
def test_bad_merges_write_nothing(app, as_role, tagged, target):
    client = as_role("admin")
    token = csrf_token(client, "/species/")
    before = row_counts(app)
    target_id = tagged.get(target, 9999)
    response = client.post(
        f"/species/{tagged['odd']}/merge",
        data={"csrf_token": token, "target": target_id},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "error" in response.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("role", ["ranger", "researcher"])
def test_only_admins(as_role, tagged, role):
    assert as_role(role).get("/species/").status_code == 403
