"""Time the map page against the naive folium map, on the same data in the same run.

    .venv/bin/python bench/maps.py                      # 300 stations, 100,000 sightings
    .venv/bin/python bench/maps.py --repeat 21 --skip-naive
    .venv/bin/python bench/maps.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

A fresh database (SQLite in a temporary instance folder, or a database created on the PostgreSQL
server for the run and dropped afterwards) is loaded with `tracker demo --stations 300
--sightings 100000 --no-photos`. Then, in this process:

- the map page: GET /map through the Flask test client, signed in as the demo researcher,
  `--repeat` times after one warm-up; the median and the best server time, the median CPU time
  of this process (steadier on a shared machine; on PostgreSQL the server's share is not in
  it), the page's size, and the SQL statements one page runs. The same for a few other
  filters, and the median of each step (query, folium build, render) from the domain functions;
- the naive map, built once: every sighting loaded as an ORM object with its station, one
  folium.Marker with a Popup per sighting, rendered to HTML.

Targets: the page in at most 0.3 s of server time and 0.5 MB of HTML.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import joinedload

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.demo_load import postgres_database

TRACKER = Path(sys.executable).parent / "tracker"
TARGET_S, TARGET_BYTES = 0.3, 500_000
PAGES = (
    ("default (leopards)", "/map"),
    ("all animals", "/map?species=all"),
    ("one individual", "/map?individual=AL-01"),
    ("one year, females", "/map?from=2025-01-01&to=2025-12-31&sex=female"),
)


def load(env: dict, stations: int, sightings: int) -> None:
    for args in (
        ["db", "upgrade"],
        ["demo", "--stations", str(stations), "--sightings", str(sightings), "--no-photos"],
    ):
        done = subprocess.run([str(TRACKER), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"tracker {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    print(done.stdout.splitlines()[0])


def mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def time_pages(app, repeat: int) -> dict:
    from tracker.db import get_session
    from tracker.models import User

    with app.app_context():
        researcher = get_session().scalar(select(User.id).where(User.role == "researcher"))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(researcher)
        session["_fresh"] = True
    statements = []
    engine = app.extensions["tracker.engine"]
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    results = {}
    for label, url in PAGES:
        client.get(url)  # warm-up: caches, first connection
        times, cpu, size = [], [], 0
        for _ in range(repeat):
            statements.clear()
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
            assert response.status_code == 200, response.status_code
            size = len(response.data)
        results[label] = (
            statistics.median(times),
            min(times),
            statistics.median(cpu),
            size,
            len(statements),
        )
    return results


def time_steps(app, repeat: int) -> dict[str, float]:
    """The default page's steps, each timed on its own from the domain functions."""
    from tracker import mapdata, mapfilters, maps
    from tracker.db import get_session
    from tracker.web.maps import _options

    steps: dict[str, list[float]] = {"filters": [], "queries": [], "build": [], "render": []}
    with app.test_request_context("/map"):
        session = get_session()
        options, _problems = _options()
        for _ in range(repeat):
            t0 = time.perf_counter()
            filters = mapfilters.parse_filters(session, {})
            t1 = time.perf_counter()
            data = mapdata.map_data(
                session,
                filters,
                minutes=app.config["EVENT_MINUTES"],
                timezone=app.config["TIMEZONE"],
            )
            t2 = time.perf_counter()
            built = maps.build_map(data, options)
            t3 = time.perf_counter()
            maps.render(built)
            t4 = time.perf_counter()
            for name, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                steps[name].append(seconds)
    return {name: statistics.median(values) for name, values in steps.items()}


def naive(app) -> tuple[float, int, int]:
    """One folium Marker with a Popup per sighting: what a first version of a map would do."""
    import folium

    from tracker.db import get_session
    from tracker.models import Deployment, Sighting

    with app.app_context():
        began = time.perf_counter()
        sightings = get_session().scalars(
            select(Sighting).options(
                joinedload(Sighting.deployment).joinedload(Deployment.station),
                joinedload(Sighting.species),
                joinedload(Sighting.individual),
            )
        )
        m = folium.Map(location=[43.12, 131.35], zoom_start=11)
        count = 0
        for s in sightings:
            station = s.deployment.station
            who = s.individual.code if s.individual else "unidentified"
            text = f"{station.code} {station.name}<br>{s.species.common_name} {who}<br>"
            text += s.event_start.isoformat() if s.event_start else "no time"
            folium.Marker([station.latitude, station.longitude], popup=folium.Popup(text)).add_to(m)
            count += 1
        html = m.get_root().render()
        return time.perf_counter() - began, len(html.encode()), count


def report(backend: str, pages: dict, steps: dict, naive_result) -> None:
    print(f"\n== {backend} ==")
    print(f"{'page':<22} {'median s':>9} {'best s':>8} {'cpu s':>7} {'size':>9} {'SQL':>4}")
    for label, (median, best, cpu, size, statements) in pages.items():
        print(f"{label:<22} {median:>9.3f} {best:>8.3f} {cpu:>7.3f} {mb(size):>9} {statements:>4}")
    print("default page, median per step: " + ", ".join(f"{k} {v:.3f} s" for k, v in steps.items()))
    median, _best, _cpu, size, _statements = pages["default (leopards)"]
    verdict = "met" if median <= TARGET_S and size <= TARGET_BYTES else "NOT MET"
    print(
        f"target: <= {TARGET_S} s and <= {mb(TARGET_BYTES)} for the map page: {verdict} "
        f"({median:.3f} s, {mb(size)})"
    )
    if naive_result is not None:
        seconds, size_naive, markers = naive_result
        print(f"naive folium map: {markers} markers with popups, {seconds:.1f} s, {mb(size_naive)}")
        print(f"ratios: {seconds / median:.0f}x the time, {size_naive / size:.0f}x the size")


def bench(env: dict, backend: str, options) -> None:
    load(env, options.stations, options.sightings)
    os.environ.update(env)
    from tracker import create_app

    app = create_app()
    pages = time_pages(app, options.repeat)
    steps = time_steps(app, options.repeat)
    naive_result = None if options.skip_naive else naive(app)
    report(backend, pages, steps, naive_result)
    app.extensions["tracker.engine"].dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=300)
    parser.add_argument("--sightings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=11, help="timed requests per page")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive map")
    parser.add_argument("--postgres", metavar="SERVER_URL", help="benchmark on this server")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="maps-bench-") as instance:
        env = {"TRACKER_INSTANCE_PATH": instance}
        os.environ.pop("DATABASE_URL", None)
        if options.postgres is None:
            bench(os.environ.copy() | env, "SQLite", options)
            return
        with postgres_database(options.postgres) as url:
            bench(os.environ.copy() | env | {"DATABASE_URL": url}, "PostgreSQL", options)


if __name__ == "__main__":
    main()
