"""Growth: the slowest pages at several season sizes, to show they do not grow with the photos.

    .venv/bin/python bench/growth.py --url sqlite:////work/bench-db/season-100000.db \
        --url sqlite:////work/bench-db/season-300000.db --url sqlite:////work/bench-db/season.db

Each URL is a database loaded by `bench/pages.py --load` (or `tracker demo ... --no-photos`); the
pages are measured as bench/pages.py does (Flask test client, signed in, median of `--repeat`
after one warm-up request, whose time is the "first" one: a cold figures cache, as after any
change to the data). Prints one Markdown table: a row per page, a column per size.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pages  # the bench beside this one

SLOWEST = (
    "dashboard",
    "/images",
    "/images untagged",
    "/images a month",
    "/images deep",
    "review index",
    "review queue",
    "an individual",
    "an individual, older",
    "map all species",
    "effort",
    "deployments",
    "timestamp report",
)


def photos(app) -> int:
    from tracker.db import get_session
    from tracker.models import Image

    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True, help="a loaded database")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    from tracker import create_app

    columns = []
    for url in args.url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "MEDIA_DIR": "/nonexistent"})
        with contextlib.redirect_stdout(io.StringIO()):
            found = pages.measure(app, args.repeat, False, list(SLOWEST))
        columns.append((photos(app), {r["page"]: r for r in found}))
        print(f"measured {columns[-1][0]:,} photos", file=sys.stderr, flush=True)
    print("| page | " + " | ".join(f"{n:,} photos" for n, _ in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for page in SLOWEST:
        cells = []
        for _, found in columns:
            r = found[page]
            cells.append(f"{r['median_s'] * 1000:.0f} ms (first {r['first_s'] * 1000:.0f})")
        print(f"| {page} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps([[n, f] for n, f in columns], indent=1))


if __name__ == "__main__":
    main()
