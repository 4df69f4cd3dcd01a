"""Real `tracker worker` processes for the tests, on the test's database and media folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TRACKER = str(Path(sys.executable).with_name("tracker"))
TESTS = Path(__file__).resolve().parent


def worker_env(config, **extra: str) -> dict:
    """The environment a worker needs to share the test app (its config) database, media, queue."""
    env = {
        "PATH": os.environ["PATH"],
        # The tests folder, so a worker can import the example jobs of tests/jobfuncs.py.
        "PYTHONPATH": str(TESTS),
        "TRACKER_INSTANCE_PATH": os.environ["TRACKER_INSTANCE_PATH"],
        "TRACKER_SECRET_KEY": config["SECRET_KEY"],
        "DATABASE_URL": config["DATABASE_URL"],
        "TRACKER_MEDIA_DIR": config["MEDIA_DIR"],
        "TRACKER_JOBS_URL": config["JOBS_URL"],
        "TRACKER_JOB_LEASE_SECONDS": str(config["JOB_LEASE_SECONDS"]),
    }
    return env | extra


def start_worker(config, log: Path, **extra: str) -> subprocess.Popen:
    return spawn_worker(worker_env(config, **extra), log)


def spawn_worker(env: dict, log: Path) -> subprocess.Popen:
    """A `tracker worker` (one job at a time) with this environment, its output in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [TRACKER, "worker", "--threads", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # huey's graceful stop
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(
    check: Callable[[], object],
    seconds: float = 60,
    what: str = "",
    *,
    give_up: Callable[[], bool] = lambda: False,
    every: float = 0.1,
) -> object:
    """Poll `check` until it returns something true, and return that; fail after `seconds`, or
    as soon as `give_up()` is true (a process it waits on has died)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if give_up():
            raise AssertionError(f"gave up waiting for {what or check}: what it waited on ended")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what or check}")
        time.sleep(every)


def processes_where(test: Callable[[Path], bool]) -> list[int]:
    """The processes whose /proc folder passes `test` (those gone meanwhile, or not ours to read,
    left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if test(entry):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def writing_to(log: Path) -> list[int]:
    """Processes whose output goes to `log`: a worker started on it and whatever it started
    (its children inherit the file), even after the worker itself died."""
    return processes_where(lambda proc: os.readlink(proc / "fd" / "1") == str(log))


def naming(text: str) -> list[int]:
    """Processes whose command line names `text` (a card's own folder, say)."""
    return processes_where(lambda proc: text in (proc / "cmdline").read_bytes().decode("latin-1"))
