"""Time `tracker demo` on a fresh database: wall time, CPU time and peak memory of the command.

    .venv/bin/python bench/demo_load.py --stations 300 --sightings 100000
    .venv/bin/python bench/demo_load.py --sightings 1000000
    .venv/bin/python bench/demo_load.py --sightings 100000 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres

SQLite goes to a temporary instance folder; with --postgres, a database is created on that server
for the run and dropped afterwards. CPU time is reported beside wall time because the machine may
be shared: the CPU seconds of the command itself are the steadier number.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TRACKER = Path(sys.executable).parent / "tracker"


@contextmanager
def postgres_database(server_url: str):
    """A fresh database on the server for one run, dropped afterwards."""
    admin_url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"demo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(env: dict, *args: str) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds and peak RSS (kB) of one tracker command, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run([str(TRACKER), *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"tracker {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss, done.stdout


def bench(env: dict, demo_args: list[str]) -> None:
    run(env, "db", "upgrade")
    wall, cpu, rss, output = run(env, "demo", *demo_args)
    # Keep the load summary, not the password line.
    print(output.splitlines()[0])
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, peak rss {rss / 1024:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=12)
    parser.add_argument("--sightings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--postgres", metavar="SERVER_URL", help="benchmark on this server")
    options = parser.parse_args()
    demo_args = ["--stations", str(options.stations), "--sightings", str(options.sightings)]
    demo_args += ["--seed", str(options.seed)]
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as instance:
        env = os.environ.copy() | {"TRACKER_INSTANCE_PATH": instance}
        env.pop("DATABASE_URL", None)
        if options.postgres is None:
            bench(env, demo_args)
            return
        with postgres_database(options.postgres) as url:
            bench(env | {"DATABASE_URL": url}, demo_args)


if __name__ == "__main__":
    main()
