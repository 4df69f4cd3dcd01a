"""Where images come from: files, folders, zips of whole memory cards, web uploads.

Every source becomes a stream of named items, each either the file's bytes or the reason it
cannot be read. Zip members are read into memory with hard limits (count, total size, ratio), and
their names are only ever shown, never used as paths: a `../` or absolute name is rejected.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

ZIP_MAGIC = b"PK\x03\x04"
# Not photos: left out of a card without a word (every Mac and Windows zip has them).
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class Item:
    """One file to ingest: its bytes, a local path to read them from, or why it cannot be."""

    name: str
    data: bytes | None = None
    reason: str | None = None
    path: Path | None = None
    max_bytes: int = 0

    def load(self) -> tuple[bytes | None, str | None]:
        """The bytes, or the reason there are none. Safe to call from a worker thread."""
        if self.reason is not None or self.path is None:
            return self.data, self.reason
        try:
            with self.path.open("rb") as fh:
                data = _read_capped(fh, self.max_bytes)
        except OSError as exc:
            return None, f"could not be read ({exc.strerror or exc})"
        if data is None:
            return None, f"file larger than {self.max_bytes // (1024 * 1024)} MB"
        return data, None


@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 20_000
    max_total_bytes: int = 16 * 1024**3
    max_ratio: int = 100  # JPEGs barely compress; a huge ratio is a zip bomb
    max_file_bytes: int = 100 * 1024 * 1024


def is_junk(name: str) -> bool:
    """System files that are not photos (macOS resource forks, Thumbs.db...)."""
    parts = PurePosixPath(name).parts
    return "__MACOSX" in parts or parts[-1] in JUNK_NAMES or parts[-1].startswith("._")


def _read_capped(fh: IO[bytes], cap: int) -> bytes | None:
    """Read at most `cap` bytes; None if there is more (the file is over the limit)."""
    data = fh.read(cap + 1)
    return None if len(data) > cap else data


def is_zip(name: str, head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC) or name.lower().endswith(".zip")


def _unsafe_member(name: str) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "unsafe path in zip (absolute path); not extracted"
    if ".." in path.parts:
        return "unsafe path in zip (../); not extracted"
    return None


def zip_items(fh: IO[bytes], zip_name: str, limits: ZipLimits) -> Iterator[Item]:
    """The members of one zip, each read with limits; the zip itself may be rejected whole."""
    try:
        archive = zipfile.ZipFile(fh)
        members = [m for m in archive.infolist() if not m.is_dir() and not is_junk(m.filename)]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield Item(zip_name, reason=f"not a readable zip file ({exc})")
        return
    if len(members) > limits.max_members:
        yield Item(
            zip_name,
            reason=f"zip has {len(members)} files; the limit is "
            f"{limits.max_members} (split the card into several zips)",
        )
        return
    total = 0
    for member in members:
        name = f"{zip_name}/{member.filename}"
        reason = _member_problem(member, limits, total)
        if reason is None:
            data, reason = _read_member(archive, member, limits)
            if data is not None:
                total += len(data)
                yield Item(name, data)
                continue
        yield Item(name, reason=reason)


def _member_problem(member: zipfile.ZipInfo, limits: ZipLimits, total: int) -> str | None:
    unsafe = _unsafe_member(member.filename)
    if unsafe:
        return unsafe
    if member.filename.lower().endswith(".zip"):
        return "nested zip archives are not unpacked; upload that zip on its own"
    if member.file_size > limits.max_file_bytes:
        return f"file larger than {limits.max_file_bytes // (1024 * 1024)} MB"
    if member.compress_size and member.file_size / member.compress_size > limits.max_ratio:
        return "suspicious compression ratio (a zip bomb?); not extracted"
    if total + member.file_size > limits.max_total_bytes:
        return "the zip's total size is over the limit; this and later files were not extracted"
    return None


def _read_member(archive, member, limits: ZipLimits) -> tuple[bytes | None, str | None]:
    try:
        with archive.open(member) as fh:
            # The header's size may lie: never read more than the limit allows.
            data = _read_capped(fh, min(member.file_size, limits.max_file_bytes))
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError) as exc:
        return None, f"could not be read from the zip ({exc})"
    if data is None:
        return None, "file is larger than the zip says (a zip bomb?); not extracted"
    if data[:4] == ZIP_MAGIC:
        return None, "nested zip archives are not unpacked; upload that zip on its own"
    return data, None


def file_item(fh: IO[bytes], name: str, limits: ZipLimits) -> Iterator[Item]:
    """One uploaded or local file: a zip is opened, anything else is read (within the limit)."""
    head = fh.read(4)
    fh.seek(0)
    if is_zip(name, head):
        yield from zip_items(fh, name, limits)
        return
    data = _read_capped(fh, limits.max_file_bytes)
    if data is None:
        yield Item(name, reason=f"file larger than {limits.max_file_bytes // (1024 * 1024)} MB")
    else:
        yield Item(name, data)


def path_items(paths: Iterable[Path], limits: ZipLimits) -> Iterator[Item]:
    """Files, folders (recursively, in name order) and zips named on the command line."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if not is_junk(child.name):
                    yield from _local_file(child, str(child.relative_to(path.parent)), limits)
        else:
            yield from _local_file(path, path.name if path.is_absolute() else str(path), limits)


def _local_file(path: Path, name: str, limits: ZipLimits) -> Iterator[Item]:
    try:
        # Four bytes through a bare descriptor: a card's every file is looked at here, in the
        # thread that feeds the workers, before its bytes are read.
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.read(fd, 4)
        finally:
            os.close(fd)
        if is_zip(name, head):
            with path.open("rb") as fh:
                yield from zip_items(fh, name, limits)
            return
    except OSError as exc:
        yield Item(name, reason=f"could not be read ({exc.strerror or exc})")
        return
    # Read later, by a worker thread: reading, hashing and storing overlap across files.
    yield Item(name, path=path, max_bytes=limits.max_file_bytes)
