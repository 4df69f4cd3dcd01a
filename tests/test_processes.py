"""Pool processes end with the process that started them, even one killed with SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest
from test_previews import store
from workers import wait_until, writing_to

from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)

# A process that starts a pool of two, gives each a task that never ends, says so, and waits.
OWNER = textwrap.dedent(
    """
    import multiprocessing, sys, time
    from tracker import processes

    def forever(_):
        time.sleep(3600)

    if __name__ == "__main__":
        context = multiprocessing.get_context(sys.argv[1])
        pool = processes.pool(2, context=context)
        for _ in range(2):
            pool.submit(forever, None)
        while len(multiprocessing.active_children()) < 2:
            time.sleep(0.05)
        time.sleep(0.5)  # both have taken their task
        print("ready", flush=True)
        time.sleep(3600)
    """
)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_pool_ends_with_its_owner_killed_with_sigkill(tmp_path, method):
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    log = tmp_path / "owner.log"
    with log.open("w") as out:
        owner = subprocess.Popen([sys.executable, str(script), method], stdout=out)
    try:
        wait_until(lambda: "ready" in log.read_text(), 60, "the pool to start")
        assert len(writing_to(log)) >= 3  # the owner and its two pool processes (and a server)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    wait_until(lambda: not writing_to(log), 10, "the pool's processes to end")


def test_making_previews_killed_leaves_no_process_behind(tmp_path):
    """`tracker previews` spreads its work over such a pool: `kill -9` on it ends them all."""
    media = tmp_path / "media"
    hashes = [store(media, jpeg_bytes(TAKEN, seed=i)) for i in range(6)]
    script = tmp_path / "previews.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from tracker import previews

            # Each image's previews made slowly, so that the kill comes mid-way.
            real = previews._make
            def slow(args):
                time.sleep(3600)
                return real(args)
            previews._make = slow
            print("ready", flush=True)
            previews.make_missing({str(media)!r}, {hashes!r}, workers=2)
            """
        )
    )
    log = tmp_path / "previews.log"
    with log.open("w") as out:
        owner = subprocess.Popen([sys.executable, str(script)], stdout=out)
    try:
        wait_until(lambda: len(writing_to(log)) >= 3, 60, "make_missing's pool to start")
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    wait_until(lambda: not writing_to(log), 10, "make_missing's processes to end")
