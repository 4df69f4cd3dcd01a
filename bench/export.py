"""CSV export speed: `tracker export --format csv` against a floor measured in the same run.

The floor is what the same rows cost with nothing in between: a plain sqlite3 cursor over the
same joined columns (station, species, individual, the image file names, who logged it), with
times as stored (UTC text), written by csv.writer to a file. The export adds local ISO 8601
times with their offset, Camtrap DP's vocabulary, and the whole command: start-up, filters, the
audit row, and a file renamed into place. Both run as subprocesses, one after the other in each
round, so a busy machine slows both; wall time and peak memory are each process's own.
Target: the export at least 0.75 x the floor's rows/s, peak memory under 150 MB.

The database is made once with `tracker demo --sightings N` (about a minute for 1,000,000) and
kept in bench/out/export-N/.

    .venv/bin/python bench/export.py [--sightings 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TRACKER = str(Path(sys.executable).with_name("tracker"))

# The export's rows, as stored: no time zone, no vocabulary mapping.
FLOOR_SQL = """
SELECT s.id, s.deployment_id, st.code, st.name, st.latitude, st.longitude,
       s.event_start, s.event_end, sp.kind, sp.scientific_name, sp.common_name, i.code,
       s.count, s.sex, s.life_stage, s.flank, s.comments,
       (SELECT group_concat(name, ';') FROM (
            SELECT im.original_filename AS name FROM image im
            JOIN sighting_image si ON si.image_id = im.id
            WHERE si.sighting_id = s.id ORDER BY im.taken_at_utc, im.id)),
       u.email, s.logged_at
FROM sighting s
JOIN deployment d ON d.id = s.deployment_id
JOIN station st ON st.id = d.station_id
JOIN species sp ON sp.id = s.species_id
LEFT JOIN individual i ON i.id = s.individual_id
LEFT JOIN users u ON u.id = s.logged_by_id
ORDER BY s.id
"""


def floor(database: str, out: str) -> None:
    """The floor itself (run in a process of its own by `main`)."""
    connection = sqlite3.connect(database)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        cursor = connection.execute(FLOOR_SQL)
        writer.writerow([column[0] for column in cursor.description])
        while rows := cursor.fetchmany(5000):
            writer.writerows(rows)


def timed(args: list[str], env: dict) -> tuple[float, int]:
    """Wall seconds and peak RSS (kB) of one command, its own (os.wait4), not its siblings'."""
    began = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    out, err = child.stdout.read(), child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.decode()}{err.decode()}")
    return wall, usage.ru_maxrss


def database(sightings: int, env: dict) -> Path:
    instance = Path(env["TRACKER_INSTANCE_PATH"])
    path = instance / "tracker.sqlite3"
    if not (instance / "ready").exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        print(f"making the database: tracker demo --sightings {sightings} (once)...", flush=True)
        subprocess.run([TRACKER, "db", "upgrade"], env=env, check=True, capture_output=True)
        demo = [TRACKER, "demo", "--sightings", str(sightings)]
        subprocess.run(demo, env=env, check=True, capture_output=True)
        (instance / "ready").touch()
    return path


def lines(path: Path) -> int:
    """Data rows (a comment may hold a line break)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sightings", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor", nargs=2, metavar=("DATABASE", "OUT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.floor:
        floor(*options.floor)
        return
    instance = ROOT / "out" / f"export-{options.sightings}"
    env = os.environ.copy() | {"TRACKER_INSTANCE_PATH": str(instance)}
    env.pop("DATABASE_URL", None)
    path = database(options.sightings, env)
    floor_csv, export_csv = instance / "floor.csv", instance / "export.csv"
    floor_args = [sys.executable, __file__, "--floor", str(path), str(floor_csv)]
    export_args = [TRACKER, "export", "--format", "csv", "--out", str(export_csv)]
    # Start-up and the fixed costs alone:
    empty_args = [TRACKER, "export", "--format", "csv", "--out", str(instance / "empty.csv")]
    empty_args += ["--from", "2100-01-01"]

    runs: dict[str, list[tuple[float, int]]] = {"floor": [], "export": [], "empty": []}
    for _ in range(options.repeat):
        runs["floor"].append(timed(floor_args, env))
        runs["export"].append(timed(export_args, env))
        runs["empty"].append(timed(empty_args, env))
    rows = lines(floor_csv)
    if lines(export_csv) != rows:
        sys.exit(f"the export has {lines(export_csv)} rows, the floor {rows}")
    report(rows, runs)


def report(rows: int, runs: dict[str, list[tuple[float, int]]]) -> None:
    print(f"{rows:,} sightings, {len(runs['floor'])} rounds (best / median wall time)")
    speed = {}
    for name, label in (("floor", "floor: sqlite3 + csv.writer"), ("export", "tracker export")):
        walls = [wall for wall, _ in runs[name]]
        best, median = min(walls), statistics.median(walls)
        peak = max(rss for _, rss in runs[name]) / 1024
        speed[name] = (rows / best, rows / median)
        print(
            f"  {label:30} {best:6.2f} s / {median:6.2f} s   {rows / best:9,.0f} / "
            f"{rows / median:9,.0f} rows/s   peak {peak:4.0f} MB"
        )
    empty = min(wall for wall, _ in runs["empty"])
    empty_peak = max(rss for _, rss in runs["empty"]) / 1024
    print(f"  {'an empty export (start-up)':30} {empty:6.2f} s {'':46} peak {empty_peak:4.0f} MB")
    best_ratio = speed["export"][0] / speed["floor"][0]
    median_ratio = speed["export"][1] / speed["floor"][1]
    print(f"  ratio (export / floor rows/s): best {best_ratio:.2f}, median {median_ratio:.2f}")


if __name__ == "__main__":
    main()
