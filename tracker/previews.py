"""Thumbnails and previews, made with JPEG draft decoding.

A 12 MP photo is never fully decoded just to shrink it: Pillow's draft mode asks libjpeg to decode
at 1/2, 1/4 or 1/8 scale directly, which is several times faster and uses a fraction of the memory.
Previews are made after the rows are committed, lazily on first view or in bulk by a process pool.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageOps

from tracker import objectstore, processes
from tracker.storage import (
    PREVIEW_SIZES,
    MemoryFile,
    original_relpath,
    preview_relpath,
    read_original,
    write_atomic,
)

ORIENTATION = 0x0112


def draft_box(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The box to ask draft mode for: at least `longest` on the long side, same aspect ratio.

    Draft picks the largest reduction at which both sides still cover the box, so asking for a
    square box would make it decode a landscape photo at full size.
    """
    width, height = size
    scale = longest / max(width, height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def make_previews(media_dir: str | Path, sha256: str, data: memoryview | None = None) -> None:
    """Write the preview and the thumbnail of one stored original (see render).

    `data` is the original's bytes when the caller has read them already
    (storage.read_original).
    """
    if data is None and objectstore.is_remote(media_dir):
        data = read_original(media_dir, sha256)
    source = Path(media_dir) / original_relpath(sha256) if data is None else data
    write(media_dir, sha256, render(source))


def render(source: Path | memoryview | bytes) -> dict[str, bytes]:
    """The preview and the thumbnail of one photo, encoded, by size (PREVIEW_SIZES).

    The preview is the photo decoded at the JPEG draft scale that keeps its long side at least
    PREVIEW_SIZES["preview"]; the thumbnail is an integer reduction of that. No pixel is decoded
    at full size and nothing is resampled by a fraction.
    """
    if not isinstance(source, Path):
        source = io.BufferedReader(MemoryFile(memoryview(source)))
    with PILImage.open(source) as picture:
        picture.draft("RGB", draft_box(picture.size, PREVIEW_SIZES["preview"]))
        preview = picture if picture.mode == "RGB" else picture.convert("RGB")
        # In place: an upright photo (most of them) is not copied just to stay as it is.
        ImageOps.exif_transpose(preview, in_place=True)
        factor = max(1, max(preview.size) // PREVIEW_SIZES["thumb"])
        thumb = preview.reduce(factor) if factor > 1 else preview
        return {"preview": _encode(preview), "thumb": _encode(thumb)}


def write(media_dir: str | Path, sha256: str, rendered: dict[str, bytes]) -> None:
    for size, encoded in rendered.items():
        write_atomic(media_dir, preview_relpath(sha256, size), encoded, sync=False)


def _encode(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def preview_bytes(media_dir: str, sha256: str, size: str) -> bytes:
    """A preview from the object store, made now if it is not there yet."""
    relpath = preview_relpath(sha256, size)
    try:
        return objectstore.get(media_dir, relpath)
    except FileNotFoundError:
        make_previews(media_dir, sha256)
        return objectstore.get(media_dir, relpath)


def preview_path(media_dir: str | Path, sha256: str, size: str) -> Path:
    """The preview file, made now if it does not exist yet."""
    path = Path(media_dir) / preview_relpath(sha256, size)
    if not path.exists():
        make_previews(media_dir, sha256)
    return path


def has_previews(media_dir: str | Path, sha256: str) -> bool:
    """Whether one photo's preview and thumbnail are both there: a look-up per file, as a folder
    of previews holds thousands of files in a season (missing() lists it whole)."""
    if objectstore.is_remote(media_dir):
        return all(objectstore.exists(media_dir, preview_relpath(sha256, s)) for s in PREVIEW_SIZES)
    root = os.fspath(media_dir)
    return all(
        os.path.exists(os.path.join(root, preview_relpath(sha256, s))) for s in PREVIEW_SIZES
    )


def missing(media_dir: str | Path, hashes: list[str]) -> list[str]:
    """The hashes whose preview or thumbnail is not there yet.

    One listing per folder of previews, not a look-up per file: a folder holds the previews of
    many images, and a stat per file is measurable at a card's scale.
    """
    if objectstore.is_remote(media_dir):
        return [h for h in hashes if not has_previews(media_dir, h)]
    present: dict[str, set[str]] = {}
    wanted = []
    for sha256 in hashes:
        folder, _ = os.path.split(preview_relpath(sha256, "preview"))
        if folder not in present:
            try:
                present[folder] = set(os.listdir(os.path.join(media_dir, folder)))
            except FileNotFoundError:
                present[folder] = set()
        names = (os.path.basename(preview_relpath(sha256, size)) for size in PREVIEW_SIZES)
        if not all(name in present[folder] for name in names):
            wanted.append(sha256)
    return wanted


def _make(args: tuple[str, str]) -> str | None:
    """Make one image's previews; the reason if they cannot be made."""
    media_dir, sha256 = args
    try:
        # Read into the process's reused buffer: this is the bulk path, run in a process pool.
        make_previews(media_dir, sha256, read_original(media_dir, sha256))
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        return f"{sha256}: {exc}"
    return None


def make_missing(media_dir: str | Path, hashes: list[str], workers: int | None = None) -> list[str]:
    """Make the previews that do not exist yet, spread over the cores; returns failures."""
    # One process more than the cores: a process waiting for its original to come off the disk
    # (originals are written around the page cache, see storage.write_original) leaves a core
    # to another one.
    workers = workers or (os.cpu_count() or 1) + 1
    jobs = [(str(media_dir), h) for h in missing(media_dir, hashes)]
    if workers == 1 or len(jobs) < 2:
        return [r for r in map(_make, jobs) if r]
    with processes.pool(min(workers, len(jobs))) as pool:
        return [r for r in pool.map(_make, jobs, chunksize=16) if r]
