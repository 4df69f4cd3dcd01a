"""Thumbnails and previews, decoded at a JPEG scale.

A 12 MP photo is never fully decoded just to shrink it: libjpeg decodes it at 1/2, 1/4 or 1/8
scale directly (it scales the DCT), several times faster and in a fraction of the memory. The
preview is the photo at that scale, upright; the thumbnail is an area reduction of the preview by
a whole factor. Previews are made as a card's photos are stored (tracker.preparing), lazily on
first view, or in bulk by a process pool.

libjpeg-turbo does the work, through simplejpeg (its own interface) to decode and OpenCV (a
dependency already, for photo-ID) to reduce and encode. The files come out the same, byte for
byte, as when OpenCV decoded them too (91 files compared: 50 of the bench's photos and 41 of a
corpus of real cameras' and phones'), and as Pillow's draft decode, reduce and encoder made
them before that. simplejpeg says when a photo's image data is damaged, where OpenCV's decoder
only printed libjpeg's warning on standard error, with no name: such a photo still gets
previews of the part libjpeg could decode, and the import names it with what was wrong
(Rendered.damage). A CMYK photo, or a header libjpeg-turbo's interface cannot read, goes
through OpenCV's decoder.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from tracker import objectstore, processes
from tracker.exif import frame_size, read_exif
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

# The colour spaces simplejpeg decodes to BGR; a CMYK or YCCK photo goes through OpenCV's decoder.
_TURBO_SPACES = frozenset({"YCbCr", "Gray"})


@dataclass(frozen=True)
class Rendered:
    """One photo's preview and thumbnail, encoded, by size (PREVIEW_SIZES); and `damage`, what
    libjpeg said of its image data when it could decode only part of it (None when whole)."""

    files: dict[str, bytes]
    damage: str | None = None


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
    orientation: int | None = None,
) -> Rendered:
    """Write the preview and the thumbnail of one stored original (see render); what was made.

    `data` is the original's bytes when the caller has read them already
    (storage.read_original), and `orientation` its Exif orientation if known.
    """
    if data is None and objectstore.is_remote(media_dir):
        data = read_original(media_dir, sha256)
    source = Path(media_dir) / original_relpath(sha256) if data is None else data
    rendered = render(source, orientation)
    write(media_dir, sha256, rendered)
    return rendered


def render(source: Path | memoryview | bytes, orientation: int | None = None) -> Rendered:
    """The preview and the thumbnail of one photo, encoded.

    The preview is the photo decoded at the JPEG scale that keeps its long side at least
    PREVIEW_SIZES["preview"] (draft_scale), turned upright by its Exif orientation; the thumbnail
    is an area reduction of that by a whole factor. Only a photo under twice the preview's size
    is decoded at full size. `orientation` is the photo's Exif orientation (1 when it has none)
    when the caller has read it already (tracker.exif); otherwise it is read here.
    Raises one of FAILURES.
    """
    cv2, _numpy, _simplejpeg = _codecs()
    data = source.read_bytes() if isinstance(source, Path) else source
    if orientation is None:
        orientation = read_exif(io.BufferedReader(MemoryFile(memoryview(data)))).orientation or 1
    preview, damage = _decode(data, orientation)
    height, width = preview.shape[:2]
    factor = max(1, max(width, height) // PREVIEW_SIZES["thumb"])
    thumb = preview
    if factor > 1:
        box = (-(-width // factor), -(-height // factor))  # as Pillow's reduce rounds
        thumb = cv2.resize(preview, box, interpolation=cv2.INTER_AREA)
    return Rendered({"preview": _encode(cv2, preview), "thumb": _encode(cv2, thumb)}, damage)


def _decode(data: memoryview | bytes, orientation: int):
    """The photo at its preview's scale, upright, in BGR; and what libjpeg said of its image
    data if it could decode only part of it."""
    cv2, numpy, simplejpeg = _codecs()
    try:
        height, width, space, _subsampling = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        space = None  # a header libjpeg-turbo's interface cannot read
    if space not in _TURBO_SPACES:
        return _decode_opencv(cv2, numpy, data), None
    _refuse_too_large(width, height)
    scale = draft_scale((width, height), PREVIEW_SIZES["preview"])
    wanted = {"min_width": -(-width // scale), "min_height": -(-height // scale)}
    try:
        return _upright(cv2, simplejpeg.decode_jpeg(data, "BGR", **wanted), orientation), None
    except ValueError as exc:  # strict: a warning stops it, and says what was wrong
        damage = " ".join(str(exc).split())[:200]
    try:
        picture = simplejpeg.decode_jpeg(data, "BGR", strict=False, **wanted)
    except ValueError as exc:
        raise ValueError(f"the image data cannot be decoded: {exc}") from None
    return _upright(cv2, picture, orientation), damage


def _decode_opencv(cv2, numpy, data: memoryview | bytes):
    """The photo at its preview's scale, upright (OpenCV reads the orientation itself)."""
    size = frame_size(io.BufferedReader(MemoryFile(memoryview(data))))
    if size is None:
        raise ValueError("not a JPEG image with a frame header")
    _refuse_too_large(*size)
    flag = _decode_flag(cv2, draft_scale(size, PREVIEW_SIZES["preview"]))
    try:
        picture = cv2.imdecode(numpy.frombuffer(data, numpy.uint8), flag)
    except cv2.error as exc:  # e.g. a frame larger than OpenCV will decode
        raise ValueError(f"the image cannot be decoded: {exc.err}") from None
    if picture is None:
        raise ValueError("the image data cannot be decoded")
    return picture


def _refuse_too_large(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ValueError(f"image too large to preview ({width * height / 1e6:.0f} megapixels)")


def _upright(cv2, picture, orientation: int):
    """The picture turned as its Exif orientation says (as Pillow's exif_transpose does)."""
    if orientation in (5, 6, 7, 8):
        picture = cv2.transpose(picture)
    flip = {2: 1, 3: -1, 4: 0, 6: 1, 7: -1, 8: 0}.get(orientation)
    return picture if flip is None else cv2.flip(picture, flip)


def write(media_dir: str | Path, sha256: str, rendered: Rendered) -> None:
    for size, encoded in rendered.files.items():
        write_atomic(media_dir, preview_relpath(sha256, size), encoded, sync=False)


def start_process() -> None:
    """Ready a process of a pool that makes previews: numpy's BLAS (loaded with OpenCV) on one
    thread. Its own threads would start with it and spin a while for work that never comes here:
    0.08-0.15 s of CPU a process (measured on `import cv2`), 2-3 % of a card's import with
    previews on 2 processes. Set before numpy loads (in a pool's initializer); nothing else such
    a process does uses BLAS."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _codecs():
    """cv2, numpy and simplejpeg, imported on the first preview: loading them takes 0.2 s, which
    a command that makes no preview (a plain `tracker import`, before its processes fork) should
    not pay."""
    import cv2
    import numpy
    import simplejpeg

    return cv2, numpy, simplejpeg


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
