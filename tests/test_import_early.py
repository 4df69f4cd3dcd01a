"""`tracker import ... --deployment N` starts preparing its photos before its app loads: what it
holds in memory is written once the deployment is checked, and nothing at all if it is refused."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from conftest import damaged_jpeg
from workers import TRACKER, naming, worker_env

from tracker import preparation, storage
from tracker.preparing import Limits, StoreBudget
from tracker.sources import Item
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
# More than the processes hold before the gate opens, so a card goes on past them.
PHOTOS = preparation.HELD * preparation.PROCESSES + 13


def _card(folder: Path, count: int) -> list[bytes]:
    folder.mkdir(parents=True)
    photos = [jpeg_bytes(TAKEN, seed=i) for i in range(count)]
    for i, data in enumerate(photos):
        (folder / f"IMG_{i:04}.JPG").write_bytes(data)
    return photos


def _files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def _import(args: list[str], config) -> subprocess.CompletedProcess:
    env = worker_env(config)
    return subprocess.run([TRACKER, "import", *args], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize("previews", [["--previews"], []])
def test_a_card_lands_whole(app, deployment, tmp_path, previews):
    card = tmp_path / "card"
    photos = _card(card, PHOTOS)
    extra = [jpeg_bytes(TAKEN, seed=1000 + i) for i in range(2)]
    with zipfile.ZipFile(card / "more.zip", "w") as archive:
        for i, data in enumerate(extra):
            archive.writestr(f"zipped/IMG_{i}.JPG", data)
    (card / "broken.JPG").write_bytes(photos[0][:2000])
    (card / "again.JPG").write_bytes(photos[1])

    args = [str(card), "--deployment", str(deployment.id), *previews, "--json"]
    done = _import(args, app.config)
    assert done.returncode == 1, done.stderr  # one file rejected
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1]["summary"] == {"added": PHOTOS + 2, "duplicate": 1, "rejected": 1}
    (rejected,) = [line for line in lines[:-1] if line["status"] == "rejected"]
    assert rejected["path"] == "card/broken.JPG" and "truncated" in rejected["reason"]
    media = Path(app.config["MEDIA_DIR"])
    for data in photos + extra:
        sha = hashlib.sha256(data).hexdigest()
        assert (media / storage.original_relpath(sha)).read_bytes() == data
        for size in storage.PREVIEW_SIZES:
            made = media / storage.preview_relpath(sha, size)
            assert made.read_bytes()[:3] == b"\xff\xd8\xff" if previews else not made.exists()
    assert len(_files(media / "originals")) == PHOTOS + 2
    assert _files(media / storage.INCOMING) == []
    assert naming(str(card)) == []


def test_a_held_photo_with_damaged_image_data_is_named_with_a_warning(app, deployment, tmp_path):
    card = tmp_path / "card"
    photos = _card(card, 3)
    (card / "IMG_0001.JPG").write_bytes(damaged_jpeg(photos[1]))
    args = [str(card), "--deployment", str(deployment.id), "--previews", "--json"]
    done = _import(args, app.config)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["status"] for line in lines[:-1]] == ["added"] * 3
    assert [len(line["warnings"]) for line in lines[:-1]] == [0, 1, 0]
    assert lines[1]["warnings"][0].startswith("damaged image data (")
    assert done.stderr == ""  # nothing unnamed from libjpeg


UNREACHABLE = "postgresql+psycopg://tracker@127.0.0.1:9/nothing"  # port 9: nothing listens


@pytest.mark.parametrize("previews", [["--previews"], []])
@pytest.mark.parametrize(
    ("deployment_id", "database", "status", "says"),
    [
        ("999999", None, 2, "error: deployment"),
        ("1", UNREACHABLE, 3, "error: cannot reach the database"),
    ],
)
def test_a_refused_import_writes_nothing_and_leaves_no_process(
    app, deployment, tmp_path, deployment_id, database, status, says, previews
):
    card = tmp_path / "card"
    _card(card, PHOTOS)
    config = dict(app.config) | ({"DATABASE_URL": database} if database else {})
    done = _import([str(card), "--deployment", deployment_id, *previews], config)
    assert (done.returncode, done.stderr.count("\n")) == (status, 1), done.stderr
    assert done.stderr.startswith(says), done.stderr
    assert _files(Path(app.config["MEDIA_DIR"])) == []
    assert naming(str(card)) == []


def _items(folder: Path) -> list[Item]:
    return [
        Item(p.name, path=p, max_bytes=Limits().max_file_bytes) for p in sorted(folder.iterdir())
    ]


def test_held_processes_write_nothing_until_the_gate_opens(tmp_path):
    photos = _card(tmp_path / "card", PHOTOS)
    media = tmp_path / "media"
    held = preparation.Preparation(
        _items(tmp_path / "card"), str(media), Limits(), StoreBudget(None), True, held=True
    )
    # Long enough for both processes to read, hash and encode the files they hold; a wait can
    # only give them more time to write something they should not.
    time.sleep(2)
    assert _files(media) == []
    results = list(held.results())
    assert [r.sha256 for r in results] == [hashlib.sha256(d).hexdigest() for d in photos]
    assert len(_files(media / "originals")) == len(_files(media / "previews")) // 2 == PHOTOS


def test_what_was_held_when_the_gate_opens_mid_task_is_written_first(tmp_path, monkeypatch):
    """The gate opens part-way through a task: the files held until then are written on a
    thread of their own while this one prepares the rest, and come back first, in order."""
    gate = preparation.Gate(multiprocessing.get_context("fork"))
    photos = [jpeg_bytes(TAKEN, seed=70 + i) for i in range(5)]

    @dataclass(frozen=True)
    class OpensTheGate(Item):
        """The third file: held (the gate is shut when it is taken), then the gate opens."""

        def load(self):
            gate.open()
            return super().load()

    items = [Item(f"IMG_{i}.JPG", data) for i, data in enumerate(photos)]
    items[2] = OpensTheGate("IMG_2.JPG", photos[2])
    written = []

    def write_held(name, write):
        written.append((name, threading.current_thread().name))
        return real_write_held(name, write)

    real_write_held = preparation._write_held
    monkeypatch.setattr(preparation, "_write_held", write_held)
    for name in ("_writer", "_flusher", "_gate"):  # this process is the worker here
        monkeypatch.setattr(preparation, name, None)
    # A worker's start sets this for its own process; here it is undone after the test.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    preparation._start_worker(gate)
    media = tmp_path / "media"
    try:
        results = preparation._prepare_chunk(items, str(media), Limits(), None, True)
    finally:
        preparation._writer.shutdown()
        preparation._flusher.shutdown()
    assert [name for name, _thread in written] == ["IMG_0.JPG", "IMG_1.JPG", "IMG_2.JPG"]
    assert all(thread.startswith("held") for _name, thread in written)
    assert [r.sha256 for r in results] == [hashlib.sha256(d).hexdigest() for d in photos]
    assert len(_files(media / "originals")) == len(_files(media / "previews")) // 2 == 5


def test_an_abandoned_preparation_writes_nothing_and_its_processes_end(tmp_path):
    _card(tmp_path / "card", PHOTOS)
    media = tmp_path / "media"
    held = preparation.Preparation(
        _items(tmp_path / "card"), str(media), Limits(), StoreBudget(None), True, held=True
    )
    pids = list(held._pool._processes)
    assert len(pids) == preparation.PROCESSES
    held.abandon()
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    assert _files(media) == []


def test_only_an_import_to_a_deployment_starts_early(tmp_path, monkeypatch):
    from tracker.uploads import cli
    from tracker.uploads.cli import start_early

    monkeypatch.setattr(cli, "_started", None)  # put back after: what this test started
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path / "instance"))
    card = tmp_path / "card"
    _card(card, 3)
    for previews in (["--previews"], []):
        started = start_early([str(card), "--deployment", "1", *previews])
        assert isinstance(started, preparation.Preparation)
        assert started.media_dir == str(tmp_path / "instance" / "media")
        assert started.previews == bool(previews)
        started.abandon()
    for args in (
        [str(card), "--station", "KP-01", "--previews"],  # its dates choose the deployment
        [str(tmp_path / "missing"), "--deployment", "1", "--previews"],
        ["--help"],
    ):
        assert start_early(args) is None, args
    assert _files(tmp_path / "instance") == []
