"""Storage: originals land byte for byte however they arrive, and rows wait for durable files.

Real files on the real file system; the one stand-in is a failing sync, which no real disk
produces on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mmap
import os
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tracker import fieldwork, ingest, sources, storage
from tracker.models import Image
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
PAGE = mmap.PAGESIZE

SIZES = [1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17, 600_001]


def payload(size: int, seed: int = 0) -> bytes:
    return hashlib.shake_256(f"{seed}".encode()).digest(size)


def as_bytes(data: bytes) -> bytes:
    return data


def in_storage_buffer(data: bytes) -> memoryview:
    view = storage.buffer(len(data))
    view[:] = data
    return view


def at_odd_address(data: bytes) -> memoryview:
    """Writable memory that is not page-aligned: it must be copied before direct I/O."""
    return memoryview(bytearray(b"x" + data))[1:]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("source", [as_bytes, in_storage_buffer, at_odd_address])
def test_an_original_is_stored_byte_for_byte(tmp_path, size, source):
    data = payload(size, seed=size)
    storage.write_original(tmp_path, "originals/ab/x.jpg", source(data))
    assert (tmp_path / "originals/ab/x.jpg").read_bytes() == data
    assert not list(tmp_path.rglob(".incoming-*"))


@pytest.mark.parametrize("size", [0, *SIZES])
def test_an_original_is_read_back_byte_for_byte(tmp_path, size):
    data = payload(size, seed=size + 1)
    sha256 = hashlib.sha256(data).hexdigest()
    storage.write_original(tmp_path, storage.original_relpath(sha256), data)
    assert bytes(storage.read_original(tmp_path, sha256)) == data
    # Also when the file is still in the page cache, written the ordinary way.
    storage.write_atomic(tmp_path, storage.original_relpath(sha256), data, sync=False)
    assert bytes(storage.read_original(tmp_path, sha256)) == data
    with pytest.raises(FileNotFoundError):
        storage.read_original(tmp_path, "0" * 64)


def test_a_memory_file_reads_and_seeks_like_a_file():
    data = payload(10_000, seed=7)
    ours, theirs = storage.MemoryFile(memoryview(data)), io.BytesIO(data)
    steps = [(0, io.SEEK_SET, 16), (5, io.SEEK_CUR, 1), (-20, io.SEEK_END, 100), (3, 0, 9999)]
    for offset, whence, size in steps:
        assert ours.seek(offset, whence) == theirs.seek(offset, whence)
        assert ours.read(size) == theirs.read(size)
        assert ours.tell() == theirs.tell()
    buffered = io.BufferedReader(storage.MemoryFile(memoryview(data)))
    buffered.seek(9000)
    assert buffered.read() == data[9000:]


def test_the_buffer_is_page_aligned_and_reused():
    first = storage.buffer(10)
    first[:3] = b"abc"
    again = storage.buffer(PAGE * 3)
    assert bytes(again[:3]) == b"abc"
    assert storage._aligned(again)
    bigger = storage.buffer(64 << 20)
    assert len(bigger) == 64 << 20 and storage._aligned(bigger)


def test_a_forked_child_never_writes_into_its_parents_buffer():
    """tracker.preparing's processes are forked: each reads photos into a buffer of its own."""
    parent = storage.buffer(4096)
    parent[:4] = b"mine"
    pid = os.fork()
    if pid == 0:  # the child: its buffer, filled with its own bytes
        child = storage.buffer(4096)
        child[:4] = b"kid!"
        os._exit(0 if child.obj is not parent.obj else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert bytes(parent[:4]) == b"mine"


def test_media_sync_flushes_the_media_folder_and_reports_a_missing_one(tmp_path):
    with storage.media_sync(tmp_path) as sync:
        storage.write_original(tmp_path, "originals/cd/y.jpg", payload(5000))
        sync()
        storage.write_original(tmp_path, "originals/cd/z.jpg", payload(6000))
        sync()
    with pytest.raises(FileNotFoundError), storage.media_sync(tmp_path / "nowhere"):
        pass


@pytest.fixture
def deployment(session):
    station = fieldwork.create_station(session, code="KP-09", latitude=43.1, longitude=131.5)
    dep = fieldwork.create_deployment(session, station, fieldwork.DeploymentInput(date(2024, 1, 1)))
    session.commit()
    return dep


def sized_jpeg(size: int, seed: int) -> bytes:
    """A valid photo padded after its end marker to exactly `size` bytes, as some cameras do."""
    data = jpeg_bytes(TAKEN, size=(320, 240), seed=seed)
    assert len(data) <= size
    return data + b"\0" * (size - len(data))


def test_files_read_into_the_reused_buffer_are_stored_exactly(app, session, deployment, tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    # Large then small, on every worker thread: a file must never carry a previous one's tail.
    big = 2 << 20
    sizes = [big, 9 * PAGE, 9 * PAGE + 1, 9 * PAGE - 1, big + 1, 12 * PAGE] * 3
    files = {}
    for i, size in enumerate(sizes):
        data = sized_jpeg(size, seed=900 + i)
        (card / f"IMG_{i:03}.JPG").write_bytes(data)
        files[f"card/IMG_{i:03}.JPG"] = data
    limits = sources.ZipLimits()
    media = Path(app.config["MEDIA_DIR"])
    # Padding of up to 2 MB is kept here (the default keeps 1 MB): the files must be big.
    keep_padding = ingest.Limits(max_trailing_bytes=4 << 20)
    items = sources.path_items([card], limits)
    report = ingest.ingest(session, items, deployment, str(media), limits=keep_padding)
    assert report.summary == {"added": len(sizes), "duplicate": 0, "rejected": 0}
    for outcome in report.outcomes:
        image = session.get(Image, outcome.image_id)
        data = files[outcome.name]
        assert image.sha256 == hashlib.sha256(data).hexdigest()
        assert image.bytes == len(data)
        assert (media / image.stored_path).read_bytes() == data
    assert not list(media.rglob(".incoming-*"))


def test_no_row_is_committed_before_its_file_is_durable(app, session, deployment, monkeypatch):
    items = [sources.Item(f"IMG_{i}.JPG", jpeg_bytes(TAKEN, seed=950 + i)) for i in range(5)]
    media = app.config["MEDIA_DIR"]

    @contextlib.contextmanager
    def disk_gone(media_dir):
        def sync():
            raise OSError(5, "Input/output error")

        yield sync

    monkeypatch.setattr(storage, "media_sync", disk_gone)
    with pytest.raises(OSError):
        ingest.ingest(session, items, deployment, media)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Image)) == 0

    # The files already in place do not block the retry once the disk is back.
    monkeypatch.undo()
    report = ingest.ingest(session, items, deployment, media)
    assert report.summary == {"added": 5, "duplicate": 0, "rejected": 0}
