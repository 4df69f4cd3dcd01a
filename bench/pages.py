"""Server time of every page a person opens, on a database the size of a season.

    .venv/bin/python bench/pages.py --url sqlite:////tmp/season.db             # already loaded
    .venv/bin/python bench/pages.py --url sqlite:////tmp/s.db --load 400,300000,1000000
    .venv/bin/python bench/pages.py --url postgresql+psycopg://postgres@127.0.0.1/tracker_bench \
        --load 400,300000,1000000 --repeat 5 --json bench/out/pages-pg.json

`--load STATIONS,SIGHTINGS,IMAGES` migrates the (empty) database and runs `tracker demo
--stations S --sightings N --images M --no-photos` first. Then each page is fetched through the
Flask test client, signed in as the demo admin: once to warm up (printed as "first": the cost
with a cold figures cache, as after any change to the data), then `--repeat` times; the median
server time, the statements it ran and its size are printed (and written as JSON). `--only
LABEL` (repeatable) measures the pages named, by their labels as printed. `--after-tag` then
measures each page once more right after a ranger's tag (one untagged photo of the busiest
deployment tagged as an unidentified leopard, through the tagging code, committed): the first
request after a change, which brings the kept events (tracker.eventstore) up to date.
Target: every page under 0.3 s. Times on a shared machine are noisy: the median is the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import event, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRACKER = Path(sys.executable).parent / "tracker"
TARGET_S = 0.3


def pages(ids: dict) -> list[tuple[str, str]]:
    """(label, url) of every page the season-scale issue lists, for this database's ids."""
    d, s, i, img = ids["deployment"], ids["station"], ids["individual"], ids["image"]
    return [
        ("dashboard", "/"),
        ("/images", "/images/"),
        ("/images untagged", "/images/?status=untagged"),
        ("/images tagged", "/images/?status=tagged"),
        ("/images blank", "/images/?status=blank"),
        ("/images timestamp", "/images/?status=timestamp"),
        ("/images station", f"/images/?station={ids['station_code']}"),
        ("/images deployment", f"/images/?deployment={d}"),
        ("/images a month", "/images/?from=2025-05-01&to=2025-05-31"),
        ("/images deep", ids["deep"]),
        ("image page", f"/images/{img}"),
        ("review index", "/review/"),
        ("review queue", f"/review/{d}"),
        ("individuals", "/individuals/"),
        ("an individual", f"/individuals/{i}"),
        ("an individual, older", ids["individual_older"]),
        ("map (default)", "/map"),
        ("map all species", "/map?species=all"),
        ("map an individual", f"/map?individual={ids['individual_code']}"),
        ("map a year", "/map?from=2025-01-01&to=2025-12-31"),
        ("map public", "/map/public"),
        ("effort", "/exports/effort"),
        ("stations", "/stations/"),
        ("a station", f"/stations/{s}"),
        ("deployments", "/deployments/"),
        ("a deployment", f"/deployments/{d}"),
        ("timestamp report", f"/deployments/{d}/timestamps"),
    ]


def load(url: str, spec: str) -> None:
    stations, sightings, images = spec.split(",")
    env = os.environ | {"DATABASE_URL": url}
    demo = ["demo", "--stations", stations, "--sightings", sightings, "--images", images]
    for args in (["db", "upgrade"], [*demo, "--no-photos"]):
        began = time.perf_counter()
        done = subprocess.run([str(TRACKER), *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"tracker {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        print(f"tracker {' '.join(args)}: {time.perf_counter() - began:.0f} s", flush=True)


def find_ids(app, offsets: bool) -> dict:
    """A busy deployment, its station, a leopard, a photo and a deep page of the image list."""
    from tracker.db import get_session
    from tracker.models import Deployment, Image, Individual, Station, User

    with app.app_context():
        session = get_session()
        busiest = (
            select(Image.deployment_id).group_by(Image.deployment_id).order_by(func.count().desc())
        )
        deployment = session.get(Deployment, session.scalars(busiest.limit(1)).first())
        individual = session.scalars(select(Individual).order_by(Individual.id)).first()
        image = session.scalar(
            select(func.min(Image.id)).where(Image.deployment_id == deployment.id)
        )
        # Flask-Login's id of the session (it may carry a session version).
        admin = session.scalars(select(User).where(User.role == "admin")).first().get_id()
        station = session.get(Station, deployment.station_id)
        deep = "/images/?page=10000" if offsets else deep_page(session)
        older = f"/individuals/{individual.id}?all=1"  # the whole timeline, before paging
        if not offsets:
            older = older_sightings(session, individual.id)
        return {
            "admin": admin,
            "deployment": deployment.id,
            "station": station.id,
            "station_code": station.code,
            "individual": individual.id,
            "individual_code": individual.code,
            "individual_older": older,
            "image": image,
            "deep": deep,
        }


def deep_page(session) -> str:
    """The list's link that lands 60 % of the way down: page 10,000 of the old pagination."""
    from tracker.models import Image

    total = session.scalar(select(func.count()).select_from(Image))
    middle = session.execute(
        select(Image.taken_at_utc, Image.id)
        .where(Image.taken_at_utc.is_not(None))
        .order_by(Image.taken_at_utc.desc(), Image.id.desc())
        .offset(int(total * 0.6))
        .limit(1)
    ).first()
    if middle is None:
        return "/images/?page=10000"
    taken, image_id = middle
    return f"/images/?before={taken.strftime('%Y-%m-%dT%H:%M:%S')}_{image_id}"


def older_sightings(session, individual_id: int) -> str:
    """A page of the animal's timeline half way down (its whole timeline was one page before)."""
    from tracker import profiles
    from tracker.models import Sighting

    mine = select(Sighting).where(Sighting.individual_id == individual_id)
    total = session.scalar(select(func.count()).select_from(mine.subquery()))
    middle = session.scalars(
        mine.order_by(
            Sighting.event_start.is_(None), Sighting.event_start.desc(), Sighting.id.desc()
        )
        .offset(total // 2)
        .limit(1)
    ).first()
    return f"/individuals/{individual_id}?before={profiles.cursor_of(middle)}"


def signed_in(app, user_id: str):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    return client


def measure(app, repeat: int, offsets: bool, only: list[str] | None = None) -> list[dict]:
    ids = find_ids(app, offsets)
    client = signed_in(app, ids["admin"])
    statements = []
    engine = app.extensions["tracker.engine"]
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    results = []
    for label, url in pages(ids):
        if only and label not in only:
            continue
        began = time.perf_counter()
        response = client.get(url)
        first = time.perf_counter() - began  # with a cold figures cache: after any change
        times = []
        for _ in range(repeat):
            statements.clear()
            began = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - began)
        median = statistics.median(times)
        results.append(
            {
                "page": label,
                "url": url,
                "status": response.status_code,
                "median_s": round(median, 4),
                "min_s": round(min(times), 4),
                "first_s": round(first, 4),
                "statements": len(statements),
                "bytes": len(response.data),
            }
        )
        flag = "" if median < TARGET_S else "  over 0.3 s"
        print(
            f"{label:22} {median * 1000:8.0f} ms (min {min(times) * 1000:6.0f}, "
            f"first {first * 1000:6.0f})  "
            f"{len(statements):3} statements  {len(response.data) / 1000:7.0f} kB  "
            f"HTTP {response.status_code}{flag}",
            flush=True,
        )
    return results


def after_tag(app, only: list[str] | None = None) -> list[dict]:
    """Each page's server time right after a tag of its own: the cold figure after a change."""
    from tracker import sightings
    from tracker.db import get_session
    from tracker.models import LEOPARD, Image, Species

    ids = find_ids(app, offsets=False)
    client = signed_in(app, ids["admin"])
    results = []
    for label, url in pages(ids):
        if only and label not in only:
            continue
        with app.app_context():
            session = get_session()
            image = session.scalars(
                select(Image)
                .where(Image.deployment_id == ids["deployment"], Image.sighting_count == 0)
                .order_by(Image.id)
                .limit(1)
            ).one()
            leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
            data = sightings.SightingInput(species_id=leopard)
            sightings.tag_images(session, [image], data, timestamp_confirmed=True)
            session.commit()
        began = time.perf_counter()
        response = client.get(url)
        took = time.perf_counter() - began
        results.append(
            {"page": label, "after_tag_s": round(took, 4), "status": response.status_code}
        )
        print(
            f"{label:22} after a tag {took * 1000:8.0f} ms  HTTP {response.status_code}", flush=True
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="database URL")
    parser.add_argument("--load", help="STATIONS,SIGHTINGS,IMAGES: load a demo season first")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--offsets", action="store_true", help="deep page as ?page=10000 (code before keysets)"
    )
    parser.add_argument("--only", action="append", help="a page's label, as printed (repeatable)")
    parser.add_argument("--after-tag", action="store_true", help="then each page after a tag")
    args = parser.parse_args()
    if args.load:
        load(args.url, args.load)
    from tracker import create_app

    settings = {"DATABASE_URL": args.url, "SECRET_KEY": "bench", "MEDIA_DIR": "/nonexistent"}
    app = create_app(settings | {"PUBLIC_MAP": True})  # off by default: a 404 measures nothing
    results = measure(app, args.repeat, args.offsets, args.only)
    if args.after_tag:
        results += after_tag(app, args.only)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
