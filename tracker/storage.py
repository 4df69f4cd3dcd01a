"""Content-addressed files under the media folder.

An image lives at originals/<first two hex digits>/<sha256>.jpg, so a file name from a camera or a
client never becomes part of a path, and the same photo is stored once however often it arrives.
A file is written to a temporary name and renamed into place, so a crash never leaves a
half-written file under its final name, and a retry simply writes it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import io
import mmap
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tracker import objectstore

# Smallest long side of each preview kind. Previews are made at a JPEG draft scale (1/2, 1/4, 1/8)
# or an integer reduction of it, never by a fractional resize (which costs twice the decode).
PREVIEW_SIZES = {"preview": 640, "thumb": 320}


def original_relpath(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256}.jpg"


def preview_relpath(sha256: str, size: str) -> str:
    # Both sizes side by side: one folder to create and look up per prefix, not two.
    return f"previews/{sha256[:2]}/{sha256}.{size}.jpg"


# Files being written live in media_dir/incoming until they are renamed into place.
INCOMING = "incoming"
TEMP_PREFIX = ".incoming-"
_HOST = socket.gethostname()


@functools.cache
def _folder(path: str) -> str:
    """Create a storage folder once per process (a stat per file is measurable on a card)."""
    os.makedirs(path, exist_ok=True)
    return path


def write_atomic(
    media_dir: str | Path, relpath: str, data: bytes | memoryview, *, sync: bool = True
) -> None:
    """Put `data` at media_dir/relpath, all or nothing (and durable, unless sync=False)."""
    if objectstore.is_remote(media_dir):
        objectstore.put(media_dir, relpath, data)
        return

    def write(fd: int) -> None:
        _write_all(fd, memoryview(data))
        if sync:
            os.fsync(fd)

    _place(media_dir, relpath, write)


def write_original(media_dir: str | Path, relpath: str, data: bytes | memoryview) -> None:
    """Put an original in place, written to the disk but not yet durable (see media_sync).

    Direct I/O (O_DIRECT) sends the bytes from the caller's memory straight to the disk: an
    original is written once and seldom read again, so it takes no page-cache memory, and on
    this project's machine allocating that memory, not the disk, was the slowest part of a
    write. Only the last partial block goes through the page cache. Durability is media_sync's
    job, before any row points to the file.
    """
    _place(media_dir, relpath, lambda fd: _write_direct(fd, memoryview(data)))


def _place(media_dir: str | Path, relpath: str, write: Callable[[int], None]) -> None:
    # Paths as strings: three files a photo, and pathlib's objects cost more than the syscalls.
    root = os.fspath(media_dir)
    final = os.path.join(root, relpath)
    folder, name = os.path.split(final)
    _folder(folder)
    # Unique per host, process and thread, so two uploads of the same photo never share a temp
    # file, and one folder holds them all: what a killed process leaves is found at once.
    tmp = os.path.join(
        _folder(os.path.join(root, INCOMING)),
        f"{TEMP_PREFIX}{name}-{_HOST}-{os.getpid()}-{threading.get_ident()}",
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


# Direct I/O needs the memory, the file offset and the length aligned to the disk's blocks: a
# page is a multiple of every block size in use.
_ALIGN = mmap.PAGESIZE
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_scratch = threading.local()


def _forget_buffers() -> None:
    # A forked child (tracker.preparing's processes) gets buffers of its own, never its parent's.
    global _scratch
    _scratch = threading.local()


os.register_at_fork(after_in_child=_forget_buffers)


def buffer(size: int) -> memoryview:
    """This thread's page-aligned buffer of `size` bytes, reused from call to call.

    Read a file into it and write_original can send it to the disk without another copy. The
    previous contents are overwritten: keep no view of it across calls.
    """
    memory = getattr(_scratch, "memory", None)
    if memory is None or len(memory) < size:
        # Private: a process forked later copies what it writes, never shares it.
        memory = _scratch.memory = mmap.mmap(-1, max(size, 8 << 20), flags=mmap.MAP_PRIVATE)
    return memoryview(memory)[:size]


def read_original(media_dir: str | Path, sha256: str) -> memoryview:
    """A stored original's bytes, in this thread's buffer (see buffer()).

    Read with direct I/O where the file system has it: an original is read once to make its
    previews, and straight into a reused buffer it takes no new page-cache memory (measured: a
    tenth less time for a thousand previews).
    """
    if objectstore.is_remote(media_dir):
        data = objectstore.get(media_dir, original_relpath(sha256))
        view = buffer(len(data))
        view[:] = data
        return view
    path = Path(media_dir) / original_relpath(sha256)
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECT)
    except OSError as exc:
        if not _O_DIRECT or exc.errno != errno.EINVAL:
            raise
        fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        view = buffer(-(-size // _ALIGN) * _ALIGN)
        got = 0
        while got < size:
            if got % _ALIGN:  # a short read left the offset unaligned: the rest the ordinary way
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
            read = os.readv(fd, [view[got:]])
            if not read:
                break
            got += read
    finally:
        os.close(fd)
    return view[:got]


class MemoryFile(io.RawIOBase):
    """A read-only file over bytes already in memory, without copying them (io.BytesIO would)."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.data[self.pos : self.pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: len(self.data)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos


def _aligned(data: memoryview) -> bool:
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(data)) % _ALIGN == 0
    except (TypeError, ValueError):  # read-only (bytes) or empty: not ours to hand to the disk
        return False


def _write_direct(fd: int, data: memoryview) -> None:
    whole = len(data) // _ALIGN * _ALIGN
    if _O_DIRECT and whole:
        if not _aligned(data):
            staged = buffer(len(data))
            staged[:] = data
            data = staged
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
            data = data[os.write(fd, data[:whole]) :]
        except OSError as exc:
            # A file system without direct I/O says EINVAL, having written nothing: the whole
            # file then goes the ordinary way.
            if exc.errno != errno.EINVAL:
                raise
        finally:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    # The rest (the last partial block, or all of it without direct I/O) through the page cache.
    _write_all(fd, data)


def _holds(path: str, sha256: str, size: int) -> bool:
    """True when the stored file is whole: right size and right content.

    Size alone is not enough: a crash before the data reached the disk can leave a file of the
    right length full of zeros, and a retry must then write it again.
    """
    try:
        if os.stat(path).st_size != size:
            return False
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest() == sha256
    except FileNotFoundError:
        return False


def store_original(
    media_dir: str | Path, sha256: str, data: bytes | memoryview, *, sync: bool = True
) -> str:
    """Store an image's bytes (once) and return its path relative to the media folder.

    With sync=False the file is not durable until a media_sync function has run.
    """
    if not has_original(media_dir, sha256, len(data)):
        put_original(media_dir, sha256, data, sync=sync)
    return original_relpath(sha256)


def has_original(media_dir: str | Path, sha256: str, size: int) -> bool:
    """Whether the original is stored whole (after a crash it may be there but not whole)."""
    relpath = original_relpath(sha256)
    if objectstore.is_remote(media_dir):
        # Content-addressed: an object of the right size is this photo (a PUT is all or nothing).
        return objectstore.exists(media_dir, relpath, size)
    return _holds(os.path.join(media_dir, relpath), sha256, size)


def put_original(
    media_dir: str | Path, sha256: str, data: bytes | memoryview, *, sync: bool = True
) -> None:
    """Write the original, whether or not it is there (store_original writes it only once)."""
    relpath = original_relpath(sha256)
    if objectstore.is_remote(media_dir):
        objectstore.put(media_dir, relpath, data)
    elif sync:
        write_atomic(media_dir, relpath, data)
    else:
        write_original(media_dir, relpath, data)


@functools.cache
def _syncfs():
    """Linux's syncfs(2), which the os module lacks; None where the C library has none."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    return syncfs


@contextlib.contextmanager
def media_sync(media_dir: str | Path) -> Iterator[Callable[[], None]]:
    """A function that makes every file written under the media folder durable: data, folder
    entries and the disk's cache. Call it once a batch instead of an fsync per file and folder.

    On Linux it is syncfs on a descriptor opened here, on entry: it flushes the media folder's
    file system only (os.sync flushes every file system on the machine), and it reports any
    write error on that file system since entry, which os.sync never does.
    """
    syncfs = _syncfs()
    if objectstore.is_remote(media_dir):
        yield lambda: None  # every PUT is durable when it returns
        return
    if syncfs is None:
        yield os.sync
        return
    fd = os.open(media_dir, os.O_RDONLY)

    def sync() -> None:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"could not sync the media folder: {os.strerror(code)}")

    try:
        yield sync
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Leftover:
    """A temporary file a killed process left behind, removed."""

    path: str  # relative to the media folder
    bytes: int


def remove_leftovers(media_dir: str | Path, *, everywhere: bool = False) -> list[Leftover]:
    """Remove the temporary files of writers that no longer run, and say which.

    A `tracker import` killed with SIGKILL cannot clean up after itself. Its files carry the
    host, process and thread that wrote them: one written on this host by a process that is
    gone is removed; another host's, or a running writer's, is left alone. `everywhere` also
    searches the storage folders, where versions before the incoming folder wrote them.
    """
    if objectstore.is_remote(media_dir):
        return []  # an object store never shows a partial object (a PUT is all or nothing)
    media = Path(media_dir)
    folder = media / INCOMING
    found = list(folder.glob(TEMP_PREFIX + "*")) if folder.is_dir() else []
    if everywhere:
        found += [p for p in media.glob(f"*/*/{TEMP_PREFIX}*") if p.parent.parent != folder]
    removed = []
    for path in sorted(found):
        if _writer_gone(path.name):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:  # its writer finished, or another cleaner was first
                continue
            removed.append(Leftover(str(path.relative_to(media)), size))
    return removed


def _writer_gone(name: str) -> bool:
    """True when the temp file's writer ran on this host and its process has ended."""
    parts = name[len(TEMP_PREFIX) :].split("-")
    if len(parts) == 3:  # before the host was in the name: written on this host
        host, pid = _HOST, parts[1]
    elif len(parts) >= 4:
        host, pid = "-".join(parts[1:-2]), parts[-2]
    else:
        return False
    if host != _HOST or not pid.isdigit():
        return False
    return not _running(int(pid))


def _running(pid: int) -> bool:
    """Whether process `pid` still runs. A zombie has ended: it waits only for a parent to note
    its exit status, which for an orphan (a preparing process that ended with its killed worker,
    maybe leaving a file half-written) is the first process's to do, in its own time (seconds
    here), while the next import may already be looking."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or no pid at all
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:  # gone meanwhile
        return False
    except (OSError, IndexError):  # no Linux /proc to ask: it runs, as far as we know
        return True
    return state != b"Z"
