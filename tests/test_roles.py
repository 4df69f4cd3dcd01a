"""The README's role table and the code agree: what it says each role may do, the pages allow."""

from __future__ import annotations

import re
from datetime import date

import pytest
from conftest import REPO, csrf_token

from tracker import fieldwork
from tracker.db import get_session

# A phrase of the README's role table, and a page that role needs for it.
PHRASES = {
    "upload images": "/upload",
    "record camera outages": "/deployments/{deployment}/outages/new",
    "map and export": "/exports/",
    "manage users": "/users/new",
}


def readme_roles() -> dict[str, str]:
    """role -> what the README's Roles table says it may do, "all of the above" spelt out."""
    text = (REPO / "README.md").read_text()
    table = text.split("## Roles", 1)[1].split("\n\n", 2)[1]
    rows = dict(re.findall(r"^\| (\w+) \| (.+) \|$", table, re.MULTILINE))
    rows.pop("role")
    above = ", ".join(rows[r] for r in rows if r != "admin")
    return {role: may.replace("all of the above", above) for role, may in rows.items()}


@pytest.fixture
def deployment(app):
    with app.app_context():
        session = get_session()
        station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.9)
        made = fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start_date=date(2024, 5, 1))
        )
        session.commit()
        return made.id


@pytest.mark.parametrize("role", ["ranger", "researcher", "admin"])
def test_the_readme_role_table_is_what_the_pages_allow(as_role, deployment, role):
    says = readme_roles()[role]
    client = as_role(role)
    for phrase, page in PHRASES.items():
        status = client.get(page.format(deployment=deployment)).status_code
        assert (status == 200) == (phrase in says), (role, phrase, status)


def test_rangers_record_outages_as_the_readme_says(app, as_role, deployment):
    assert "record camera outages" in readme_roles()["ranger"]
    ranger = as_role("ranger")
    page = f"/deployments/{deployment}/outages/new"
    data = {"start_date": "2024-05-03", "end_date": "2024-05-05", "reason": "card full"}
    response = ranger.post(page, data=data | {"csrf_token": csrf_token(ranger, page)})
    assert response.status_code == 302
    assert "Camera recorded as not working" in ranger.get(response.location).get_data(as_text=True)
