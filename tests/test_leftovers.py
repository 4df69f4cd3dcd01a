"""What a killed import leaves in the media folder is removed, and said, on the next import."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from tracker import storage
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
REPO = Path(__file__).resolve().parent.parent

# Where the killed write was headed: the original it would have put in place.
KILLED = "originals/cd/" + "cd" * 32 + ".jpg"
# A real writer: storage puts a file in place through its temp file, and stops half-way.
HALF_WRITTEN = f"""
import os, sys, time
from tracker import storage

def write(fd):
    os.write(fd, b"half a photo" * 1000)
    print("writing", flush=True)
    time.sleep(600)

storage.write_atomic(sys.argv[1], "originals/ab/" + "ab" * 32 + ".jpg", b"whole", sync=False)
storage._place(sys.argv[1], {KILLED!r}, write)
"""


def killed_writer(media: Path) -> Path:
    """Start a process writing into `media`, SIGKILL it mid-file; the file it left."""
    writer = subprocess.Popen(
        [sys.executable, "-c", HALF_WRITTEN, str(media)], stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert writer.stdout.readline() == b"writing\n"
        (left,) = (media / "incoming").glob(".incoming-*")
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL
    return left


def _ended() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_next_import_removes_what_a_killed_one_left(app, runner, deployment, tmp_path):
    media = Path(app.config["MEDIA_DIR"])
    left = killed_writer(media)
    size = left.stat().st_size
    # Not leftovers: a file this (running) process is writing, and one from another machine.
    ours = media / "incoming" / f".incoming-ef.jpg-{socket.gethostname()}-{os.getpid()}-1"
    theirs = media / "incoming" / f".incoming-ef.jpg-camp-laptop-{_ended()}-1"
    for path in (ours, theirs):
        path.write_bytes(b"busy")
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(TAKEN, seed=1))

    result = runner.invoke(args=["import", str(tmp_path / "a.jpg"),
                                 "--deployment", str(deployment.id), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["leftovers_removed"] == [{"path": f"incoming/{left.name}", "bytes": size}]
    assert f"removed incoming/{left.name} ({size} bytes)" in result.stderr
    assert not left.exists() and ours.exists() and theirs.exists()
    # The killed write never reached its place (its folder is every cd... photo's, so not empty).
    assert not (media / KILLED).exists()


def test_tracker_media_clean_also_finds_older_leftovers(app, runner):
    media = Path(app.config["MEDIA_DIR"])
    left = killed_writer(media)
    # Where versions before the incoming folder wrote them, without the host in the name.
    older = media / "originals" / "ab" / f".incoming-{'ab' * 32}.jpg-{_ended()}-140"
    older.write_bytes(b"x" * 10)
    result = runner.invoke(args=["media", "clean"])
    assert result.exit_code == 0, result.output
    assert f"removed originals/ab/{older.name} (10 bytes)" in result.output
    assert f"removed incoming/{left.name}" in result.output
    assert "2 leftover files removed" in result.output
    assert not older.exists() and not left.exists()
    assert (media / storage.original_relpath("ab" * 32)).exists()
    assert runner.invoke(args=["media", "clean"]).output == "0 leftover files removed\n"


def test_the_worker_sweep_removes_them_too(app):
    """Each worker sweep runs the same clean-up: a card's import may be what was killed."""
    from tracker.jobs import worker

    left = killed_writer(Path(app.config["MEDIA_DIR"]))
    assert worker.remove_half_written(None, app.config, None) == 1
    assert not left.exists()
    again = killed_writer(Path(app.config["MEDIA_DIR"]))
    assert worker.sweep(app) == []  # no job lost its worker
    assert not again.exists()


def test_a_writer_that_ended_unreaped_is_gone(tmp_path):
    """A process that ended but whose parent has not noted it yet (a zombie, as an orphaned
    preparing process stays until the first process reaps it) writes nothing more: its file is a
    leftover."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        stat = Path(f"/proc/{ended.pid}/stat")
        while stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z":  # exited, not yet reaped
            time.sleep(0.01)
        media = tmp_path / "media"
        (media / "incoming").mkdir(parents=True)
        left = media / "incoming" / f".incoming-ef.jpg-{socket.gethostname()}-{ended.pid}-1"
        left.write_bytes(b"half")
        assert storage.remove_leftovers(media) == [storage.Leftover(f"incoming/{left.name}", 4)]
    finally:
        ended.wait()
