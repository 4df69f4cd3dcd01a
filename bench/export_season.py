"""Exports at a season's size: peak memory of the command, and how soon the page's download starts.

    .venv/bin/python bench/export_season.py --url sqlite:////work/bench-db/season.db \
        [--format csv --format camtrap-dp] [--page-only]

For each format: `tracker export --format F --out FILE` runs as a process of its own, and its
wall time, rows and peak resident memory (os.wait4, the process's own) are printed; then the
export page is asked for the same format through the Flask test client, signed in as an admin:
the time until its headers go out (the download starts) and until its first block of data, that
the audit row is committed by then, and the peak memory of
this process while it reads the first 64 MB of the download (then it lets go, which stops the
writer). Targets: memory under 200 MB, the download starting within a second, the audit row.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TRACKER = str(Path(sys.executable).with_name("tracker"))
READ_BYTES = 64 * 1024 * 1024


def command(url: str, fmt: str) -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / "out") as folder:
        out = Path(folder) / f"export.{fmt}"
        args = [TRACKER, "export", "--format", fmt, "--out", str(out)]
        args += ["--base-url", "https://tracker.example"] if fmt == "camtrap-dp" else []
        began = time.perf_counter()
        env = os.environ | {"DATABASE_URL": url}
        child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        said = child.stdout.read().decode().strip()
        child.stdout.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"tracker export failed: {said}")
        size = out.stat().st_size / 1e6
    print(
        f"tracker export --format {fmt:10} {wall:7.1f} s  peak {usage.ru_maxrss / 1024:5.0f} MB  "
        f"{size:7.1f} MB  ({said})",
        flush=True,
    )


def page(url: str, fmt: str) -> None:
    from tracker import create_app
    from tracker.db import get_session
    from tracker.models import AuditLog, User

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "MEDIA_DIR": "/nonexistent"})
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        session = get_session()
        admin = session.scalars(select(User).where(User.role == "admin")).first().get_id()
        audits = session.scalar(select(func.count()).select_from(AuditLog))
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"], cookie["_fresh"] = admin, True
    began = time.perf_counter()
    response = client.post("/exports/", data={"format": fmt}, buffered=False)
    headers = time.perf_counter() - began  # the server sends them with the first (empty) block
    blocks = iter(response.response)
    first = next(blocks)
    while not first:
        first = next(blocks)
    started = time.perf_counter() - began
    with app.app_context():
        audited = get_session().scalar(select(func.count()).select_from(AuditLog)) - audits
    read = len(first)
    while read < READ_BYTES and (block := next(blocks, None)) is not None:
        read += len(block)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    response.close()  # stops the writer
    name = re.sub(r".*filename=", "", response.headers["Content-Disposition"])
    print(
        f"export page {fmt:10}  headers after {headers:5.2f} s, first data after {started:5.2f} s  "
        f"audit rows {audited}  "
        f"read {read / 1e6:5.1f} MB of {name}  peak {peak:4.0f} MB (this process)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--format", action="append", help="csv, camtrap-dp... (repeatable)")
    parser.add_argument("--page-only", action="store_true", help="skip the command")
    args = parser.parse_args()
    (Path(__file__).parent / "out").mkdir(exist_ok=True)
    for fmt in args.format or ["csv", "camtrap-dp"]:
        if not args.page_only:
            command(args.url, fmt)
        page(args.url, fmt)


if __name__ == "__main__":
    main()
