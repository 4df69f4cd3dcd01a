"""One photo's file made ready for its row: checked, hashed, its metadata read, its original
stored and, where asked, its previews made (a card's files over workers: tracker.preparation).

Nothing here touches the database: tracker.ingest saves what comes out. A bad file comes out as a
rejected Outcome with its reason and never stops the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from collections.abc import Callable
from concurrent.futures import Executor, wait
from dataclasses import dataclass

from tracker import jpeg_end, photo_text, storage
from tracker import previews as preview_files
from tracker.exif import ExifData, read_exif


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: added, duplicate (already present) or rejected.

    `warnings` name what was left out of a photo that landed: a value its column cannot hold,
    a tag that was not used, data after the end of the image.
    """

    name: str
    status: str
    image_id: int | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    """A file checked, hashed and stored, ready for its row. `damage` is what libjpeg said of its
    image data when making its previews could decode only part of it (previews.Rendered)."""

    name: str
    sha256: str
    size: int
    stored_path: str
    exif: ExifData
    warnings: tuple[str, ...] = ()
    damage: str | None = None


@dataclass(frozen=True)
class Limits:
    """What one image may be. Oversized or bomb-like files are rejected, never decoded."""

    max_file_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 120_000_000
    # Data after the image's end beyond this is left out (a camera's own preview fits in it).
    max_trailing_bytes: int = 1024 * 1024
    # What one upload may store in all (TRACKER_MAX_STORED_MB); None: no limit.
    max_stored_bytes: int | None = None


class StoreBudget:
    """The bytes an upload may still store (Limits.max_stored_bytes), shared by the workers."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.left = limit, limit
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        if self.left is None:
            return True
        with self._lock:
            if size > self.left:
                return False
            self.left -= size
            return True


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class Checked:
    """A file that passed every check: the bytes to store (trailing data cut off) and what they
    say, not yet written anywhere."""

    name: str
    data: memoryview
    sha256: str
    exif: ExifData
    warnings: tuple[str, ...]

    def prepared(self, damage: str | None = None) -> Prepared:
        """What the import saves; `damage`, what was wrong with the image data, if making the
        previews found it damaged (previews.Rendered)."""
        relpath = storage.original_relpath(self.sha256)
        warnings = self.warnings
        if damage:
            warnings += (f"damaged image data ({damage}): its preview shows what could be read",)
        size = len(self.data)
        return Prepared(self.name, self.sha256, size, relpath, self.exif, warnings, damage)


def check(
    name: str, data: bytes | memoryview, limits: Limits, budget: StoreBudget | None = None
) -> Checked | Outcome:
    """Read and check one file and hash it; or say why it is rejected. Writes nothing.

    Every value read from the file, and its name, is made fit for the database here
    (tracker.photo_text).
    """
    name, warnings = photo_text.file_name(name)
    data = memoryview(data)
    if len(data) > limits.max_file_bytes:
        mb = limits.max_file_bytes // (1024 * 1024)
        return Outcome(name, "rejected", reason=f"file larger than {mb} MB")
    metadata = read_exif(io.BufferedReader(storage.MemoryFile(data)))
    if metadata.error:
        return Outcome(name, "rejected", reason=metadata.error)
    if metadata.width and metadata.height and metadata.width * metadata.height > limits.max_pixels:
        pixels = metadata.width * metadata.height / 1e6
        return Outcome(name, "rejected", reason=f"image too large ({pixels:.0f} megapixels)")
    end = jpeg_end.kept_length(data, limits.max_trailing_bytes)
    if end is None:
        return Outcome(name, "rejected", reason="truncated JPEG (the image data is cut short)")
    if end < len(data):
        warnings.append(f"{_mb(len(data) - end)} after the end of the image left out")
        data = data[:end]
    metadata, problems = photo_text.checked_exif(metadata)
    warnings += problems
    if budget is not None and not budget.take(len(data)):
        return Outcome(name, "rejected", reason=(
            f"this upload already stored its limit of {_mb(budget.limit)}; "
            "not stored (upload the rest separately)"
        ))  # fmt: skip
    sha256 = hashlib.sha256(data).hexdigest()
    return Checked(name, data, sha256, metadata, tuple(warnings))


def prepare(
    name: str,
    data: bytes | memoryview,
    media_dir: str,
    limits: Limits,
    budget: StoreBudget | None = None,
    *,
    previews: bool = False,
    writer: Executor | None = None,
) -> Prepared | Outcome:
    """Check one file and store it (and, where asked, its previews); or say why it is rejected.

    `data` may be a view of a reused buffer: everything is read from those same bytes (what is
    hashed is what is stored) and nothing keeps a reference to them afterwards. With a `writer`
    thread, the original is written on it while this one makes the previews.
    """
    checked = check(name, data, limits, budget)
    if isinstance(checked, Outcome):
        return checked
    sha256, data = checked.sha256, checked.data
    # A photo whose original was not stored whole has no previews worth keeping either (made
    # from it, and not synced either if a crash cut its write short): they are made again.
    new = not storage.has_original(media_dir, sha256, len(data))
    # Sent to the disk now but not synced: the whole batch is synced once, before its rows commit.
    damage = None
    if previews and new and writer is not None:
        # The original's direct write waits for the disk (~1 ms a photo) on the writer thread,
        # while this one decodes and encodes the previews from the same bytes.
        writing = writer.submit(storage.put_original, media_dir, sha256, data, sync=False)
        try:
            damage = _previews_from_memory(media_dir, checked, new)
        finally:
            wait([writing])  # `data` is a reused buffer: never left to a write still running
        writing.result()
    else:
        if new:
            storage.put_original(media_dir, sha256, data, sync=False)
        if previews:
            damage = _previews_from_memory(media_dir, checked, new)
    return checked.prepared(damage)


def hold(
    name: str, data: bytes, media_dir: str, limits: Limits, *, previews: bool = False
) -> Callable[[], Prepared | Outcome]:
    """prepare(), with every write held back: the file is checked and hashed, and its previews
    made in memory, now; the function returned writes them (see Gate). `data` must stay as it
    is until then."""
    checked = check(name, data, limits)
    if isinstance(checked, Outcome):
        return lambda: checked
    new = not storage.has_original(media_dir, checked.sha256, len(checked.data))
    rendered = preview_files.Rendered({})
    if previews and _wants_previews(media_dir, checked.sha256, new):
        with contextlib.suppress(*preview_files.FAILURES):
            rendered = preview_files.render(checked.data, checked.exif.orientation or 1)

    def write() -> Prepared:
        if new:
            storage.put_original(media_dir, checked.sha256, checked.data, sync=False)
        with contextlib.suppress(OSError):  # made again on first view (previews.preview_path)
            preview_files.write(media_dir, checked.sha256, rendered)
        return checked.prepared(rendered.damage)

    return write


def _previews_from_memory(media_dir: str, checked: Checked, new: bool) -> str | None:
    """Make the photo's previews now, from its bytes in memory, unless an original stored
    earlier already has them; what was wrong with its image data, if anything. A failure only
    means they are made later, on first view (previews.preview_path)."""
    if _wants_previews(media_dir, checked.sha256, new):
        with contextlib.suppress(*preview_files.FAILURES):
            orientation = checked.exif.orientation or 1
            made = preview_files.make_previews(media_dir, checked.sha256, checked.data, orientation)
            return made.damage
    return None


def _wants_previews(media_dir: str, sha256: str, new: bool) -> bool:
    """A new original's previews are made; an original stored before keeps its own, if whole."""
    return new or not preview_files.has_previews(media_dir, sha256)
