"""Detection import speed: `tracker detections import` of N entries against N photos.

Target (issue 15): 100,000 entries against a deployment of 100,000 photos in under 30 s. The
baseline in the same run is the floor under it: orjson's decoding of the same file plus a plain
sqlite3 `executemany` of the same box rows into a copy of the database, with no checking and
no matching. Each is a process of its own, one after the other per round, so a busy machine
slows both. The database (N photo rows with card paths, no files) is made once and kept in
bench/out/detections-N/; each round imports into a fresh copy of it.

    .venv/bin/python bench/detections.py [--images 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent
TRACKER = str(Path(sys.executable).with_name("tracker"))


def card_path(n: int) -> str:
    return f"DCIM/{100 + n // 9999}RECNX/IMG_{n % 9999 + 1:04}.JPG"


def make_database(folder: Path, images: int) -> Path:
    db = folder / "tracker.sqlite3"
    if db.exists():
        return db
    env = _env(folder, db)
    subprocess.run([TRACKER, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([TRACKER, "station", "add", "KP-01", "--lat", "43.1", "--lon", "131.5"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run([TRACKER, "deployment", "add", "--station", "KP-01", "--start", "2024-01-01"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    connection = sqlite3.connect(db)
    rows = (
        (f"{n:064x}", f"originals/{n:064x}.jpg", f"card.zip/{card_path(n)}", 1_000_000,
         "2024-05-01 00:00:00", "station", "{}", "[]", 1, "2024-06-01 00:00:00")
        for n in range(images)
    )  # fmt: skip
    connection.executemany(
        "INSERT INTO image (sha256, stored_path, original_filename, bytes, taken_at_utc, "
        "location_source, exif, tags, deployment_id, uploaded_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    connection.commit()
    connection.close()
    return db


def make_results(folder: Path, images: int) -> Path:
    """MegaDetector 1.4 output: most frames empty or low-confidence, some with 1-4 boxes."""
    path = folder / "md.json"
    if path.exists():
        return path
    rng = random.Random(7)
    entries = []
    for n in range(images):
        boxes = rng.choice((0, 0, 1, 1, 1, 2, 3, 4))
        detections = [
            {"category": rng.choice("1112"), "conf": round(rng.random(), 3),
             "bbox": [round(rng.random() * 0.5, 4), round(rng.random() * 0.5, 4), 0.3, 0.2]}
            for _ in range(boxes)
        ]  # fmt: skip
        entries.append({"file": card_path(n), "detections": detections})
    document = {
        "info": {"format_version": "1.4", "detector": "md_v5a.0.0.pt",
                 "detector_metadata": {"typical_detection_threshold": 0.2}},
        "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": entries,
    }  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def floor(db: str, results: str) -> None:
    """The floor itself: decode the file and insert its boxes, nothing else."""
    with open(results, "rb") as fh:
        document = orjson.loads(fh.read())  # the decoder the import uses
    connection = sqlite3.connect(db)
    ids = {name: i for i, name in connection.execute("SELECT id, original_filename FROM image")}
    rows = []
    for entry in document["images"]:
        image_id = ids.get("card.zip/" + entry["file"])
        for d in entry["detections"]:
            x, y, w, h = d["bbox"]
            rows.append((image_id, "animal", x, y, w, h, d["conf"], "2024-06-01 00:00:00"))
    connection.executemany(
        "INSERT INTO annotation (image_id, category, x, y, width, height, confidence, created_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    connection.commit()


def _env(folder: Path, db: Path) -> dict:
    return os.environ | {"DATABASE_URL": f"sqlite:///{db}", "TRACKER_INSTANCE_PATH": str(folder)}


def _timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"{command[:3]} failed: {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = ROOT / "out" / f"detections-{args.images}"
    folder.mkdir(parents=True, exist_ok=True)
    db = make_database(folder, args.images)
    results = make_results(folder, args.images)
    work = folder / "run.sqlite3"
    floors, imports = [], []
    for _ in range(args.repeat):
        shutil.copyfile(db, work)
        floors.append(_timed([sys.executable, __file__, "--floor", str(work), str(results)]))
        shutil.copyfile(db, work)
        command = [TRACKER, "detections", "import", str(results), "--deployment", "1"]
        imports.append(_timed(command, _env(folder, work)))
    f, i = statistics.median(floors), statistics.median(imports)
    print(f"{args.images} entries, {args.repeat} rounds, medians")
    print(f"floor (orjson decode + sqlite3 executemany of the boxes): {f:.2f} s")
    print(f"tracker detections import: {i:.2f} s = {i / f:.2f} x the floor; target < 30 s: "
          f"{'met' if i < 30 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--floor":
        floor(sys.argv[2], sys.argv[3])
    else:
        main()
