"""Content-addressed files under the media folder.

An image lives at originals/<first two hex digits>/<sha256>.jpg, so a file name from a camera or a
client never becomes part of a path, and the same photo is stored once however often it arrives.
A file is written to a temporary name and renamed into place, so a crash never leaves a
half-written file under its final name, and a retry simply writes it again.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path

# Smallest long side of each preview kind. Previews are made at a JPEG draft scale (1/2, 1/4, 1/8)
# or an integer reduction of it, never by a fractional resize (which costs twice the decode).
PREVIEW_SIZES = {"preview": 640, "thumb": 320}


def original_relpath(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256}.jpg"


def preview_relpath(sha256: str, size: str) -> str:
    # Both sizes side by side: one folder to create and look up per prefix, not two.
    return f"previews/{sha256[:2]}/{sha256}.{size}.jpg"


@functools.cache
def _folder(path: Path) -> Path:
    """Create a storage folder once per process (a stat per file is measurable on a card)."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(media_dir: str | Path, relpath: str, data: bytes, *, sync: bool = True) -> None:
    """Put `data` at media_dir/relpath, all or nothing."""
    final = Path(media_dir) / relpath
    folder = _folder(final.parent)
    # Unique per process and thread, so two uploads of the same photo never share a temp file.
    tmp = folder / f".incoming-{final.name}-{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _holds(path: Path, sha256: str, size: int) -> bool:
    """True when the stored file is whole: right size and right content.

    Size alone is not enough: a crash before the data reached the disk can leave a file of the
    right length full of zeros, and a retry must then write it again.
    """
    try:
        if path.stat().st_size != size:
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except FileNotFoundError:
        return False


def store_original(media_dir: str | Path, sha256: str, data: bytes, *, sync: bool = True) -> str:
    """Store an image's bytes (once) and return its path relative to the media folder."""
    relpath = original_relpath(sha256)
    if not _holds(Path(media_dir) / relpath, sha256, len(data)):
        write_atomic(media_dir, relpath, data, sync=sync)
    return relpath


def sync_to_disk() -> None:
    """Flush written files to disk: one call for a whole batch instead of an fsync per file."""
    os.sync()
