"""Example jobs the job tests run in real worker processes (imported by path, like any job)."""

from __future__ import annotations

import time
from pathlib import Path

from tracker import audit


def stamp(session, settings, *, label: str, wait_file: str | None = None) -> dict:
    """Record one audit entry; with `wait_file`, first wait (as a long card would) until it
    exists, touching `<wait_file>.started` so the test knows the job is under way."""
    if wait_file:
        Path(wait_file + ".started").touch()
        while not Path(wait_file).exists():
            time.sleep(0.05)
    audit.record(session, None, "job", "test", label)
    session.flush()
    return {"label": label}


def explode(session, settings) -> None:
    raise ValueError("this job always fails")
