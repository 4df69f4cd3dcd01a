"""Thumbnails and previews, decoded at a JPEG scale.

A 12 MP photo is never fully decoded just to shrink it: libjpeg decodes it at 1/2, 1/4 or 1/8
scale directly (it scales the DCT), several times faster and in a fraction of the memory. The
preview is the photo at that scale, upright; the thumbnail is an area reduction of the preview by
a whole factor. Previews are made as a card's photos are stored (tracker.preparing), lazily on
first view, or in bulk by a process pool.

OpenCV (a dependency already, for photo-ID) drives libjpeg-turbo here rather than Pillow. The
files come out the same, byte for byte, as Pillow's draft decode, reduce and encoder at the same
quality made them (checked on 50 of the bench's photos, OpenCV 4.14 and Pillow 13, both with
libjpeg-turbo 3). OpenCV costs less CPU a photo (7.3 against 8.4 ms, measured by turns on the
same 200 5 MP photos): it decodes from memory into its array in one call and reduces with SIMD,
where Pillow feeds libjpeg 64 KB at a time, parses the header and the Exif block again in Python
and reduces pixel by pixel. As with Pillow, a photo whose image data is damaged part-way still
gets previews, the part libjpeg could not decode filled in; libjpeg says so on standard error.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from tracker import objectstore, processes
from tracker.exif import frame_size
from tracker.storage import (
    PREVIEW_SIZES,
    MemoryFile,
    original_relpath,
    preview_relpath,
    read_original,
    write_atomic,
)

# What making a photo's previews raises when its original cannot be read or decoded. The photo
# itself is not affected: its previews are tried again on first view.
FAILURES = (OSError, ValueError)

QUALITY = 82

# A frame larger than this is refused, never decoded, as Pillow refused it (twice its
# MAX_IMAGE_PIXELS) before OpenCV made previews: libjpeg holds a progressive photo's every
# coefficient in memory whatever the scale it decodes at. An import already refuses over 120 MP.
MAX_PIXELS = 178_956_970


def draft_box(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The box to ask draft mode for: at least `longest` on the long side, same aspect ratio.

    Draft picks the largest reduction at which both sides still cover the box, so asking for a
    square box would make it decode a landscape photo at full size.
    """
    width, height = size
    scale = longest / max(width, height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def draft_scale(size: tuple[int, int], longest: int) -> int:
    """The largest of 1, 2, 4 and 8 by which libjpeg can shrink a frame of `size` and keep its
    long side at least `longest`: the scale Pillow's draft mode picks for draft_box."""
    box = draft_box(size, longest)
    fits = min(size[0] // box[0], size[1] // box[1])
    return max((scale for scale in (1, 2, 4, 8) if scale <= fits), default=1)


def make_previews(
    media_dir: str | Path,
    sha256: str,
    data: memoryview | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    """Write the preview and the thumbnail of one stored original (see render).

    `data` is the original's bytes when the caller has read them already
    (storage.read_original), and `size` its frame's width and height if known.
    """
    if data is None and objectstore.is_remote(media_dir):
        data = read_original(media_dir, sha256)
    source = Path(media_dir) / original_relpath(sha256) if data is None else data
    write(media_dir, sha256, render(source, size))


def render(
    source: Path | memoryview | bytes, size: tuple[int, int] | None = None
) -> dict[str, bytes]:
    """The preview and the thumbnail of one photo, encoded, by size (PREVIEW_SIZES).

    The preview is the photo decoded at the JPEG scale that keeps its long side at least
    PREVIEW_SIZES["preview"] (draft_scale), turned upright by its Exif orientation; the thumbnail
    is an area reduction of that by a whole factor. Only a photo under twice the preview's size
    is decoded at full size. `size` is the JPEG frame's (tracker.exif's width and height) when
    the caller has read it already.
    Raises one of FAILURES.
    """
    cv2, numpy = _opencv()
    data = source.read_bytes() if isinstance(source, Path) else source
    size = size or frame_size(io.BufferedReader(MemoryFile(memoryview(data))))
    if size is None:
        raise ValueError("not a JPEG image with a frame header")
    if size[0] * size[1] > MAX_PIXELS:
        raise ValueError(f"image too large to preview ({size[0] * size[1] / 1e6:.0f} megapixels)")
    flag = _decode_flag(cv2, draft_scale(size, PREVIEW_SIZES["preview"]))
    try:
        preview = cv2.imdecode(numpy.frombuffer(data, numpy.uint8), flag)
    except cv2.error as exc:  # e.g. a frame larger than OpenCV will decode
        raise ValueError(f"the image cannot be decoded: {exc.err}") from None
    if preview is None:
        raise ValueError("the image data cannot be decoded")
    height, width = preview.shape[:2]
    factor = max(1, max(width, height) // PREVIEW_SIZES["thumb"])
    thumb = preview
    if factor > 1:
        box = (-(-width // factor), -(-height // factor))  # as Pillow's reduce rounds
        thumb = cv2.resize(preview, box, interpolation=cv2.INTER_AREA)
    return {"preview": _encode(cv2, preview), "thumb": _encode(cv2, thumb)}


def write(media_dir: str | Path, sha256: str, rendered: dict[str, bytes]) -> None:
    for size, encoded in rendered.items():
        write_atomic(media_dir, preview_relpath(sha256, size), encoded, sync=False)


def start_process() -> None:
    """Ready a process of a pool that makes previews: numpy's BLAS (loaded with OpenCV) on one
    thread. Its own threads would start with it and spin a while for work that never comes here:
    0.08-0.15 s of CPU a process (measured on `import cv2`), 2-3 % of a card's import with
    previews on 2 processes. Set before numpy loads (in a pool's initializer); nothing else such
    a process does uses BLAS."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _opencv():
    """cv2 and numpy, imported on the first preview: loading them takes 0.2 s, which a command
    that makes no preview (a plain `tracker import`, before its processes fork) should not pay."""
    import cv2
    import numpy

    return cv2, numpy


def _decode_flag(cv2, scale: int) -> int:
    """OpenCV's flag to decode at 1/`scale`: in colour (grey and CMYK photos come out BGR too)
    and upright, by the Exif orientation, which OpenCV applies unless told not to."""
    return {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[scale]


def _encode(cv2, picture) -> bytes:
    done, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
    if not done:
        raise ValueError("the preview cannot be encoded")
    return encoded.tobytes()


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
    except FAILURES as exc:
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
    with processes.pool(min(workers, len(jobs)), initializer=start_process) as pool:
        return [r for r in pool.map(_make, jobs, chunksize=16) if r]
