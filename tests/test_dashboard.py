"""The dashboard: overview counts, the leopard population per year, events per month, its chart."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tracker import charts, events, fieldwork, stats
from tracker.models import LEOPARD, Individual, Sighting, Species

SVG = "{http://www.w3.org/2000/svg}"
PARK = "Asia/Vladivostok"  # UTC+10 all year


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def park(session):
    """Two stations, three identified leopards (AL-03 a cub), a deer, committed."""
    deployments = {}
    for code, lat in (("KP-01", 43.1), ("KP-02", 43.2)):
        station = fieldwork.create_station(session, code=code, latitude=lat, longitude=131.5)
        deployments[code] = fieldwork.create_deployment(
            session, station, fieldwork.DeploymentInput(start_date=date(2022, 12, 1))
        )
    leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
    deer = session.scalar(select(Species).where(Species.common_name == "Sika deer"))
    cats = {code: Individual(code=code, species=leopard) for code in ("AL-01", "AL-02", "AL-03")}
    session.add_all(cats.values())
    session.flush()
    world = {"dep": deployments, "leopard": leopard, "deer": deer, "cats": cats}

    def sight(station, when, *, cat=None, stage=None, species="leopard", minutes=0):
        sighting = Sighting(
            deployment=deployments[station],
            species=world[species],
            individual=cats[cat] if cat else None,
            life_stage=stage,
            event_start=when,
            event_end=when + timedelta(minutes=minutes) if when else None,
        )
        session.add(sighting)
        session.flush()
        return sighting

    world["sight"] = sight
    return world


@pytest.fixture
def two_years(session, park):
    """The hand-made data set; the expected figures are spelt out in the tests below."""
    sight = park["sight"]
    # 2023: AL-01 twice within 30 minutes (one event), an unidentified leopard, a deer.
    sight("KP-01", utc(2023, 3, 10, 12, 0), cat="AL-01", stage="adult")
    sight("KP-01", utc(2023, 3, 10, 12, 10), cat="AL-01", stage="adult")
    sight("KP-02", utc(2023, 5, 2, 12, 0))
    sight("KP-01", utc(2023, 6, 1, 12, 0), species="deer")
    # 20:00 UTC on 31 December 2023 is 06:00 on 1 January 2024 in the park: AL-02 is new in 2024.
    sight("KP-01", utc(2023, 12, 31, 20, 0), cat="AL-02", stage="adult")
    # 2024: AL-01 with its cub AL-03 (two individuals: two events), then an unidentified cub
    # seen twice within 30 minutes (one event).
    sight("KP-02", utc(2024, 2, 15, 12, 0), cat="AL-01", stage="adult")
    sight("KP-02", utc(2024, 2, 15, 12, 1), cat="AL-03", stage="cub")
    sight("KP-01", utc(2024, 4, 1, 12, 0), stage="cub")
    sight("KP-01", utc(2024, 4, 1, 12, 5), stage="cub")
    # No time: in no event and no year.
    sight("KP-02", None, cat="AL-02")
    session.commit()
    return park


EXPECTED_YEARS = [
    stats.YearFigures(
        year=2023, individuals=1, new=1, cubs=0, unidentified_cub_events=0, leopard_events=2
    ),
    stats.YearFigures(
        year=2024, individuals=3, new=2, cubs=1, unidentified_cub_events=1, leopard_events=4
    ),
]
# Local months from the first timed sighting (March 2023) to the last (April 2024).
EXPECTED_MONTHS = [
    ("2023-03", 1),
    ("2023-04", 0),
    ("2023-05", 1),
    *((f"2023-{m:02d}", 0) for m in range(6, 13)),
    ("2024-01", 1),
    ("2024-02", 2),
    ("2024-03", 0),
    ("2024-04", 1),
]


# --- figures -------------------------------------------------------------------------------------


def test_population_per_year_in_the_park_time_zone(session, two_years):
    population = stats.population(session, 30, PARK)
    assert list(population.years) == EXPECTED_YEARS
    assert list(population.months) == EXPECTED_MONTHS


def test_the_year_follows_the_time_zone(session, two_years):
    # In UTC, AL-02's first sighting is on 31 December 2023: new in 2023, not 2024.
    by_year = {y.year: y for y in stats.population(session, 30, "UTC").years}
    assert (by_year[2023].individuals, by_year[2023].new, by_year[2023].leopard_events) == (2, 2, 3)
    assert (by_year[2024].individuals, by_year[2024].new, by_year[2024].leopard_events) == (2, 1, 3)


def test_leopard_events_per_month_fills_empty_months(session, two_years):
    assert stats.leopard_events_per_month(session, 30, PARK) == EXPECTED_MONTHS


def test_overview_counts_independent_events(session, two_years):
    overview = stats.overview(session, 30)
    assert (overview.sightings, overview.individuals, overview.stations) == (10, 3, 2)
    assert overview.events == 7  # six leopard events and one deer
    assert overview.leopard_events == 6


def test_the_window_changes_the_event_counts(session, two_years):
    # Five minutes: AL-01's sightings ten minutes apart on 10 March 2023 are two events.
    assert stats.overview(session, 5).leopard_events == 7
    assert stats.leopard_events_per_month(session, 5, PARK)[0] == ("2023-03", 2)


def test_dashboard_is_overview_and_population_in_one(session, two_years):
    figures = stats.dashboard(session, 30, PARK)
    assert figures.overview == stats.overview(session, 30)
    assert figures.population == stats.population(session, 30, PARK)


def test_no_sightings_no_figures(session, park):
    assert stats.population(session, 30, PARK) == stats.Population((), ())
    assert stats.leopard_events_per_month(session, 30, PARK) == []
    figures = stats.dashboard(session, 30, PARK)
    assert (figures.overview.events, figures.overview.leopard_events) == (0, 0)
    assert figures.population.years == ()


def test_untimed_sightings_alone_give_no_years(session, park):
    park["sight"]("KP-01", None, cat="AL-01")
    session.commit()
    assert stats.population(session, 30, PARK).years == ()
    assert stats.overview(session, 30).sightings == 1


def test_months_follow_summer_time(session, park):
    # Berlin is UTC+1 in winter and UTC+2 in summer (from 01:00 UTC on 31 March 2024).
    sight = park["sight"]
    sight("KP-01", utc(2024, 1, 31, 23, 30), cat="AL-01")  # 00:30 on 1 February, winter time
    sight("KP-01", utc(2024, 3, 31, 22, 30), cat="AL-01")  # 00:30 on 1 April, summer time
    sight("KP-01", utc(2024, 3, 31, 0, 30), cat="AL-01")  # 01:30 on 31 March, before the change
    session.commit()
    months = stats.leopard_events_per_month(session, 30, "Europe/Berlin")
    assert months == [("2024-02", 1), ("2024-03", 1), ("2024-04", 1)]


def test_utc_offsets_finds_each_change_to_the_second():
    berlin = ZoneInfo("Europe/Berlin")
    found = stats.utc_offsets(berlin, utc(2024, 1, 1), utc(2024, 12, 31))
    assert found == [
        (utc(2024, 1, 1), 3600),
        (utc(2024, 3, 31, 1, 0), 7200),
        (utc(2024, 10, 27, 1, 0), 3600),
    ]
    assert stats.utc_offsets(ZoneInfo(PARK), utc(2020, 1, 1), utc(2026, 1, 1)) == [
        (utc(2020, 1, 1), 36000)
    ]


def test_event_starts_agree_with_the_event_rule(session, park):
    """The dashboard counts events from their first sightings; events.events numbers them all.
    Both must find the same events, on a tangle of bursts, ties and long sightings."""
    rng = random.Random(7)
    t0 = utc(2024, 5, 1, 22, 0)
    for _ in range(300):
        species = rng.choice(("leopard", "leopard", "deer"))
        park["sight"](
            rng.choice(("KP-01", "KP-02")),
            t0 + timedelta(minutes=rng.choice((1, 15, 30, 45)) * rng.randrange(40)),
            cat=rng.choice(("AL-01", "AL-02", None)) if species == "leopard" else None,
            species=species,
            minutes=rng.choice((0, 0, 0, 5, 50)),
        )
    for minutes in (15, 30):
        full = {
            (r.event_id, r.station_id, r.species_id, r.individual_id, r.start)
            for r in session.execute(events.events(minutes))
        }
        starts = {tuple(row) for row in session.execute(events.event_starts(minutes))}
        assert len(full) > 50
        assert starts == full


# --- the chart -----------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    """Our own SVG, parsed strictly: it must be well-formed XML."""
    return ET.fromstring(svg)  # noqa: S314 (the app's own output, not untrusted input)


def bars_of(svg: str) -> list[ET.Element]:
    root = parse(svg)
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_month_chart_is_well_formed_svg_with_a_bar_per_month():
    svg = str(charts.month_chart(EXPECTED_MONTHS, title="Events", what="events", chart_id="c"))
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("viewBox") and root.get("width") == "100%"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Events"
    assert "from Mar 2023 to Apr 2024: 6 in all" in root.find(f"{SVG}desc").text

    bars = bars_of(svg)
    assert len(bars) == len(EXPECTED_MONTHS)
    heights = [float(b.get("height")) for b in bars]
    values = [n for _, n in EXPECTED_MONTHS]
    for i, j in [(i, j) for i in range(len(values)) for j in range(len(values))]:
        if values[i] < values[j]:
            assert heights[i] < heights[j]
        elif values[i] == values[j]:
            assert heights[i] == heights[j]
    assert heights[values.index(0)] == 0
    # Each bar has its tooltip; x positions go left to right.
    tips = [
        g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "bar-slot"
    ]
    assert tips[0] == "Mar 2023: 1 events" and tips[-1] == "Apr 2024: 1 events"
    xs = [float(b.get("x")) for b in bars]
    assert xs == sorted(xs)


def test_month_chart_labels_the_axis_from_january():
    months = [(f"{2023 + (m // 12)}-{m % 12 + 1:02d}", m) for m in range(2, 26)]  # Mar 23 on
    root = parse(str(charts.month_chart(months, title="t", what="w", chart_id="c")))
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "x-axis")
    labels = [t.text for t in axis.iter(f"{SVG}text")]
    assert labels and all(label.split()[0] in ("Jan", "Jul") for label in labels)
    long = [(f"{2000 + m // 12}-{m % 12 + 1:02d}", 1) for m in range(240)]
    root = parse(str(charts.month_chart(long, title="t", what="w", chart_id="c")))
    axis = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "x-axis")
    assert all(re.fullmatch(r"\d{4}", t.text) for t in axis.iter(f"{SVG}text"))


def test_every_label_is_escaped():
    svg = str(
        charts.bar_chart(
            [charts.Bar(3, "AL-<1> & co: 3", "<b>"), charts.Bar(1, 'say "hi"', "")],
            title="Events < 5",
            description="a <script>alert(1)</script>",
            chart_id='x"><script>',
        )
    )
    assert "<b>" not in svg and "<script>" not in svg
    root = parse(svg)  # well-formed despite it all
    assert root.find(f"{SVG}title").text == "Events < 5"
    assert root.find(f"{SVG}desc").text == "a <script>alert(1)</script>"
    assert "<b>" in [t.text for t in root.iter(f"{SVG}text")]
    assert [t.text for t in root.iter(f"{SVG}title")][1:] == ["AL-<1> & co: 3", 'say "hi"']


def test_y_ticks_are_round():
    assert charts.y_ticks(0) == [0, 1]
    assert charts.y_ticks(3) == [0, 1, 2, 3]
    assert charts.y_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.y_ticks(573) == [0, 200, 400, 600]


def test_a_chart_without_bars_is_still_an_image():
    root = parse(str(charts.month_chart([], title="t", what="events", chart_id="c")))
    assert root.find(f"{SVG}desc").text == "No events yet."
    assert bars_of(ET.tostring(root, encoding="unicode")) == []


# --- the page ------------------------------------------------------------------------------------


def population_rows(html: str) -> list[list[str]]:
    table = re.search(r'<table class="population">.*?</table>', html, re.S).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [
        re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize("role", ["ranger", "researcher", "admin"])
def test_dashboard_shows_population_table_and_chart(as_role, two_years, role):
    html = as_role(role).get("/").get_data(as_text=True)
    assert "Population at a glance" in html
    assert population_rows(html) == [
        ["2023", "1", "1", "0", "0", "2"],
        ["2024", "3", "2", "1", "1", "4"],
    ]
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert len(bars_of(svg)) == len(EXPECTED_MONTHS)
    assert 'role="img"' in svg
    stat = re.findall(r'<span class="number">(\d+)</span><span class="label">([^<]+)</span>', html)
    assert ("7", "independent events") in stat
    assert ("6", "independent leopard events") in stat
    assert ("10", "sightings") in stat
    assert "Latest uploads" in html


def test_dashboard_without_sightings(as_role):
    html = as_role("researcher").get("/").get_data(as_text=True)
    assert "No timed sightings yet." in html
    assert "<svg" not in html


def test_dashboard_uses_the_configured_window_and_time_zone(app, as_role, two_years):
    app.config.update(EVENT_MINUTES=5, TIMEZONE="UTC")
    html = as_role("admin").get("/").get_data(as_text=True)
    assert population_rows(html)[0] == ["2023", "2", "2", "0", "0", "4"]
    assert "5 minutes apart" in html


def test_dashboard_asks_for_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
