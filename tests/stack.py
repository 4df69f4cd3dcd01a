"""Tracker processes as deployed: the CLI, gunicorn web processes, workers.

Shared by tests/multimachine.py (and so tests/test_multimachine.py), bench/multimachine.py and
bench/upload.py. A failure to start anything raises: a service that cannot start fails the run.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import requests
from workers import wait_until

BIN = Path(sys.executable).parent
PASSWORD = "a long enough password\n"  # a throwaway account on loopback


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tracker(env: dict, *args: str, stdin: str | None = None) -> str:
    """Run a `tracker` command; its output, or exit naming the failure."""
    done = subprocess.run(
        [str(BIN / "tracker"), *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"tracker {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout.strip()


def ranger_with_station(env: dict) -> str:
    """A migrated database with station KP-01 (deployed since 2024-01-01) and a ranger;
    returns the ranger's API token."""
    tracker(env, "db", "upgrade")
    tracker(env, "station", "add", "KP-01", "--lat", "43.1", "--lon", "131.5")
    tracker(env, "deployment", "add", "--station", "KP-01", "--start", "2024-01-01")
    tracker(env, "user", "add", "ranger@park.test", "--role", "ranger", "--password-stdin",
            stdin=PASSWORD)  # fmt: skip
    return tracker(env, "user", "token", "ranger@park.test")


def gunicorn(env: dict, log: Path, workers: int = 2) -> tuple[subprocess.Popen, str]:
    """A gunicorn web process serving the tracker on loopback; the process and its URL."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", str(workers), "--timeout", "300",
             "--bind", f"127.0.0.1:{port}", "tracker:create_app()"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: answers(f"{base}/login"), 60, base, give_up=lambda: process.poll() is not None
        )
    except AssertionError:
        stop([process])
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"gunicorn did not start at {base}: {tail}") from None
    return process, base


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each (gunicorn and huey stop gracefully on it), then wait, then kill."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def status(url: str, token: str) -> dict | None:
    """An upload's GET .../status, or None while it cannot be had."""
    try:
        return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
