"""The tus 1.0 protocol, spoken by the resumable-upload library (not hand-written).

Partial uploads live in the library's store under UPLOAD_DIR (its SQLite index and one file per
upload), where every web process on the machine (or sharing the folder) finds them; the library
removes those older than TRACKER_UPLOAD_KEEP_HOURS. A finished one is moved out to wait for its
import (cards.receive).
"""

from __future__ import annotations

import functools
from pathlib import Path

from resumable_upload import TusServer
from resumable_upload.server.headers import parse_metadata
from resumable_upload.storage import SQLiteStorage

BASE_PATH = "/uploads"
# Largest card accepted, as the zip limits (sources.ZipLimits.max_total_bytes), and largest chunk:
# a client on a bad link sends chunks of a few MB, so a dropped connection costs one chunk.
MAX_CARD_BYTES = 16 * 1024**3
MAX_CHUNK_BYTES = 64 * 1024**2


@functools.cache
def _server(upload_dir: str, keep_hours: int) -> TusServer:
    folder = Path(upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    storage = SQLiteStorage(db_path=str(folder / "tus.sqlite3"), upload_dir=str(folder / "parts"))
    return TusServer(
        storage=storage,
        base_path=BASE_PATH,
        max_size=MAX_CARD_BYTES,
        max_chunk_size=MAX_CHUNK_BYTES,
        upload_expiry=keep_hours * 3600,
        cleanup_interval=600,
        disable_concatenation=True,
    )


def server(settings) -> TusServer:
    return _server(str(settings["UPLOAD_DIR"]), int(settings["UPLOAD_KEEP_HOURS"]))


def metadata(header: str) -> dict[str, str] | None:
    """The Upload-Metadata header's key/value pairs; None when it is malformed."""
    parsed, _error = parse_metadata(header or "")
    return parsed


def handle(settings, method: str, path: str, headers: dict, body: bytes):
    """(status, headers, body) of one tus request."""
    return server(settings).handle_request(method, path, headers, body)


def progress(settings, upload_id: str) -> dict | None:
    """The library's record of an upload: offset, length, completed."""
    return server(settings).storage.get_upload(upload_id)


def file_path(settings, upload_id: str) -> str:
    return server(settings).storage.get_file_path(upload_id)


def forget(settings, upload_id: str) -> None:
    """Remove a partial upload: the library's record of it and its file."""
    server(settings).storage.delete_upload(upload_id)


def remove_expired(settings) -> int:
    """The library's own expiry (by its clock): partial uploads older than the keep time,
    those the tracker has no record of included (a creation whose record never committed)."""
    return server(settings).storage.cleanup_expired_uploads()
