"""The review queue and the likely-empty grid on a season of 1,000,000 photos.

Target (issue 15): both answer in under 0.3 s on a database of a million photos. The season is
`tracker demo --stations 400 --sightings 300000 --images 1000000 --no-photos` (bench/pages.py's);
the busiest deployment then gets MegaDetector results for every photo, imported for real with
`tracker detections import` (most untagged frames empty, as a season is), so the queue has
likely-empty bursts to hide and the grid has photos to show.

Baseline in the same run, the floor under both pages: one plain SELECT of the deployment's
photo rows in review order (the least any queue must read), timed on the same engine right
before each page. Each page is fetched through the Flask test client signed in as the demo
admin: once to warm up, then `--repeat` times; medians.

    .venv/bin/python bench/review.py [--url sqlite:////path/season.db] [--load] [--repeat 7]
    .venv/bin/python bench/review.py --url postgresql+psycopg://postgres@127.0.0.1/season_review
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

from pages import TRACKER, find_ids, load, signed_in  # noqa: E402

TARGET_S = 0.3
SEASON = "400,300000,1000000"


def results_for(app, deployment_id: int, folder: Path) -> Path:
    """MegaDetector 1.4 output for every photo of the deployment: untagged frames mostly empty
    or below the threshold, tagged ones with an animal box or two."""
    from tracker.db import get_session
    from tracker.models import Image, sighting_image

    rng = random.Random(15)
    with app.app_context():
        session = get_session()
        tagged = select(sighting_image.c.image_id).where(sighting_image.c.image_id == Image.id)
        rows = session.execute(
            select(Image.original_filename, tagged.exists()).where(
                Image.deployment_id == deployment_id
            )
        ).all()
    entries = []
    for name, is_tagged in rows:
        if is_tagged:
            boxes = [(1, 0.6 + 0.4 * rng.random()) for _ in range(rng.choice((1, 1, 2)))]
        else:
            boxes = rng.choice(([], [], [], [(1, 0.05)], [(1, 0.9)], [(2, 0.8)]))
        detections = [
            {"category": str(c), "conf": round(p, 3), "bbox": [0.1, 0.2, 0.3, 0.25]}
            for c, p in boxes
        ]
        entries.append({"file": name, "detections": detections})
    document = {
        "info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt",
                 "detector_metadata": {"typical_detection_threshold": 0.2}},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": entries,
    }  # fmt: skip
    path = folder / f"md-{deployment_id}.json"
    path.write_text(json.dumps(document))
    return path


def floor_query(engine, deployment_id: int) -> float:
    """The deployment's photo rows in review order, and nothing else."""
    sql = text(
        "SELECT id, taken_at_utc, original_filename, timestamp_issue FROM image "
        "WHERE deployment_id = :d ORDER BY taken_at_utc IS NULL, taken_at_utc, "
        "original_filename, id"
    )
    began = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(sql, {"d": deployment_id}).all()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = f"sqlite:///{ROOT / 'out' / 'review-season' / 'tracker.sqlite3'}"
    parser.add_argument("--url", default=default, help="database URL")
    parser.add_argument("--load", action="store_true", help=f"load the season ({SEASON}) first")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    folder = ROOT / "out" / "review-season"
    folder.mkdir(parents=True, exist_ok=True)
    if args.load:
        load(args.url, SEASON)
    from tracker import create_app
    from tracker.models import DetectionRun, Image

    app = create_app({"DATABASE_URL": args.url, "SECRET_KEY": "bench", "MEDIA_DIR": "/nonexistent"})
    ids = find_ids(app, offsets=False)
    d = ids["deployment"]
    with app.app_context():
        from tracker.db import get_session
        from tracker.models import LEOPARD, Sighting, Species

        session = get_session()
        ids["leopard"] = session.scalar(
            select(Species.id).where(Species.scientific_name == LEOPARD)
        )
        by_count = select(Sighting.species_id).group_by(Sighting.species_id)
        ids["rarest"] = session.scalar(by_count.order_by(func.count()).limit(1))
        ids["commonest"] = session.scalar(by_count.order_by(func.count().desc()).limit(1))
    engine = app.extensions["tracker.engine"]
    with engine.connect() as connection:
        imported = connection.scalar(select(func.count()).select_from(DetectionRun))
        total = connection.scalar(select(func.count()).select_from(Image))
        photos = connection.scalar(select(func.count()).where(Image.deployment_id == d))
    if not imported:
        env = os.environ | {"DATABASE_URL": args.url}
        command = [str(TRACKER), "detections", "import", str(results_for(app, d, folder)),
                   "--deployment", str(d)]  # fmt: skip
        subprocess.run(command, env=env, check=False, capture_output=True)
    client = signed_in(app, ids["admin"])
    first = client.get(f"/review/{d}/next").get_json()["next"]
    pages = [
        ("review queue", f"/review/{d}"),
        ("likely-empty grid", f"/review/{d}/empty"),
        ("next burst (JSON)", f"/review/{d}/next?after={first['last_id']}"),
        # The library's filters on what is in the photos (not in the target, measured
        # beside it): a common species over the season, and the detector's boxes, which only
        # this deployment has (a walk down the season's index until a page is found).
        ("library: leopards", f"/images/?species={ids['leopard']}"),
        ("library: rarest sp.", f"/images/?species={ids['rarest']}"),
        ("library: commonest", f"/images/?species={ids['commonest']}"),
        ("library: animal box", "/images/?category=animal&confidence=0.5"),
        ("library: empty, dep.", f"/images/?category=empty&deployment={d}"),
    ]
    print(f"{total} photos; deployment {d}: {photos} photos, {args.repeat} rounds, medians")
    floors = []
    for label, url in pages:
        assert client.get(url).status_code == 200, url
        times = []
        for _ in range(args.repeat):
            floors.append(floor_query(engine, d))
            began = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - began)
        page, base = statistics.median(times), statistics.median(floors[-args.repeat :])
        verdict = ("met" if page < TARGET_S else "NOT met") if "library" not in label else "-"
        ratio = f"{page / base:5.1f} x the floor ({base * 1000:.0f} ms)"
        print(f"{label:20} {page * 1000:6.0f} ms (min {min(times) * 1000:5.0f}) = {ratio}; "
              f"< 0.3 s: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
