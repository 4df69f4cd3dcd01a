"""What the review queue's photo-ID panel costs against the bare `tracker identify` answer.

    nice .venv/bin/python bench/photoid_panel.py [--references 40] [--queries 5]

A temporary SQLite tracker holds real snow-leopard photos of ../shared/reid/snow-leopard: the
first photo of each of `--references` encounters, tagged with its cat and boxed with the
annotators' pattern boxes (features stored, as a worker makes them); `--queries` single-animal
photos of other encounters are imported untagged with a drawn box, as the review queue shows
them. For each query, in the same run: the baseline is what `tracker identify` does for one
photo (build the index, describe the box, rank), the panel is `suggest.for_box` (the same, plus
the reference boxes, the matched points as fractions and the proposed new code), and the
panel as a web worker answers it once its index is built (`tracker.reid.cache`: only the check
that the references are unchanged, no build). Printed: the median seconds of each and their
ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from tracker import create_app, fieldwork, ingest, migrate, sightings, sources  # noqa: E402
from tracker.detections import boxes  # noqa: E402
from tracker.models import LEOPARD, Image, Individual, Species  # noqa: E402
from tracker.reid import identify, store, suggest  # noqa: E402
from tracker.reid.cache import IndexCache  # noqa: E402
from tracker.reid.matcher import ReferenceIndex  # noqa: E402

DATA = ROOT.parent / "shared" / "reid" / "snow-leopard"


def photos(n_refs: int, n_queries: int) -> tuple[list[dict], list[dict]]:
    """References spread over all encounters but the last of each cat seen in several; queries
    from those held-out encounters."""
    with open(DATA / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if ";" not in r["individuals"]]
    encounters: dict[str, list[dict]] = {}
    for row in rows:
        encounters.setdefault(row["encounter"], []).append(row)
    last_of: dict[str, str] = {}
    seen: dict[str, int] = {}
    for name, photos_of in encounters.items():
        cat = photos_of[0]["individuals"]
        seen[cat] = seen.get(cat, 0) + 1
        last_of[cat] = name
    held = {last_of[cat] for cat, n in seen.items() if n > 1}
    pools = [p for name, p in encounters.items() if name not in held]
    refs: list[dict] = []
    while len(refs) < n_refs and any(pools):
        for pool in pools:
            if pool and len(refs) < n_refs:
                refs.append(pool.pop(0))
    queries = [r for r in rows if r["encounter"] in held]
    return refs, queries[:: max(1, len(queries) // n_queries)][:n_queries]


def add(session, app, deployments, row, code: str | None):
    station = row["station"]
    if station not in deployments:
        made = fieldwork.create_station(session, code=station, latitude=43, longitude=131)
        deployments[station] = fieldwork.create_deployment(
            session, made, fieldwork.DeploymentInput(start_date=date(2012, 1, 1))
        )
    items = sources.path_items([DATA / "images" / row["file"]], sources.ZipLimits())
    ingest.ingest(session, items, deployments[station], app.config["MEDIA_DIR"])
    image = session.scalar(select(Image).where(Image.original_filename == row["file"]))
    sighting = None
    if code:
        leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
        known = code in {c for (c,) in session.execute(select(Individual.code))}
        data = sightings.SightingInput(leopard, individual_code=code, new_individual=not known)
        sighting = sightings.tag_images(session, [image], data)
    b = json.loads(row["pattern_boxes"])
    W, H = image.width, image.height
    x0, y0 = max(0, min(v[0] for v in b)), max(0, min(v[1] for v in b))
    x1, y1 = min(W, max(v[0] + v[2] for v in b)), min(H, max(v[1] + v[3] for v in b))
    bbox = [x0 / W, y0 / H, (x1 - x0) / W, (y1 - y0) / H]
    tied = sighting.id if sighting else None
    box = boxes.draw(session, image, boxes.BoxInput(bbox, sighting_id=tied), None)
    session.commit()
    return image, box


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=40)
    parser.add_argument("--queries", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="photoid-bench-"))
    url = f"sqlite:///{folder / 'tracker.sqlite3'}"
    migrate.upgrade(url)
    app = create_app(
        {"DATABASE_URL": url, "MEDIA_DIR": str(folder / "media"), "SECRET_KEY": "bench",
         "JOBS_URL": f"sqlite:///{folder / 'jobs.sqlite3'}", "EVENT_MINUTES": 0},
        web=False,
    )  # fmt: skip
    refs, queries = photos(args.references, args.queries)
    with app.app_context():
        session = app.extensions["tracker.sessionmaker"]()
        deployments: dict = {}
        made = [add(session, app, deployments, r, r["individuals"])[0].id for r in refs]
        store.compute_job(session, app.config, image_ids=made)
        session.commit()
        asked = [add(session, app, deployments, q, None) for q in queries]
        base, panel, warm = [], [], []
        cache = IndexCache()
        suggest.for_box(session, asked[0][1], app.config, indexes=cache)  # the first request
        for image, box in asked:
            t = time.perf_counter()
            index = ReferenceIndex(identify.references(session, app.config["PATTERN_SPECIES"]))
            identify.identify_image(session, index, image, app.config["MEDIA_DIR"], 0)
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            suggest.for_box(session, box, app.config)
            panel.append(time.perf_counter() - t)
            t = time.perf_counter()
            suggest.for_box(session, box, app.config, indexes=cache)
            warm.append(time.perf_counter() - t)
        assert cache.built == 1, cache.built
    b, p, w = statistics.median(base), statistics.median(panel), statistics.median(warm)
    print(f"{len(refs)} reference boxes, {len(asked)} queries (median seconds, wall time)")
    print(f"baseline (index + identify one photo): {b:.3f} s")
    print(f"panel (suggest.for_box):               {p:.3f} s  ({p / b:.2f} x the baseline)")
    print(f"panel, index kept (IndexCache):        {w:.3f} s  ({w / p:.2f} x the panel)")


if __name__ == "__main__":
    main()
