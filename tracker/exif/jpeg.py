"""The file: is it a JPEG, where are its Exif, XMP and frame-header segments, and if it is
not a JPEG, what it is instead. The marker walk seeks over everything else."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import IO

from tracker.exif.data import _quiet_pillow

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not frames
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_JUNK = 65536  # stray bytes between segments that we skip, as decoders do, before giving up


class _BadJpeg(Exception):
    """The marker walk found the file truncated or corrupt; the message is the reason to show."""


@dataclass(slots=True)
class _Header:
    exif: bytes | None = None  # the TIFF structure after "Exif\0\0"
    xmp: bytes | None = None  # the XMP packet after its namespace id
    width: int | None = None
    height: int | None = None


def _scan_jpeg(fh: IO[bytes]) -> _Header:
    """Walk the markers after SOI up to the first scan, keeping the Exif, XMP and SOF segments.

    Everything else is skipped with a seek, so the cost does not grow with the image, and Exif
    blocks of any size a segment can hold are read whole. Raises _BadJpeg with the reason.
    """
    header = _Header()
    while True:
        marker = _next_marker(fh)
        if marker == 0xDA:  # start of scan: the header is over
            if header.width is None:
                raise _BadJpeg("corrupt JPEG: image data before any frame header (SOF)")
            return header
        if marker == 0xD9:
            raise _BadJpeg("corrupt JPEG: end-of-image marker before any image data")
        if marker in _STANDALONE_MARKERS:
            continue
        size = _read_length(fh, marker)
        if marker in _SOF_MARKERS or (marker == 0xE1 and _wanted_app1(fh, size, header)):
            _keep_segment(header, marker, _read_exactly(fh, size, marker))
        else:
            fh.seek(size, io.SEEK_CUR)


def frame_size(fh: IO[bytes]) -> tuple[int, int] | None:
    """The width and height of a JPEG's frame, from its header alone; None when it has none.

    `fh` is read from where it is: the start of the file.
    """
    if fh.read(2) != b"\xff\xd8":
        return None
    try:
        header = _scan_jpeg(fh)
    except _BadJpeg:
        return None
    if header.width is None or header.height is None:
        return None
    return header.width, header.height


def _wanted_app1(fh: IO[bytes], size: int, header: _Header) -> bool:
    """Peek at an APP1 segment's id: only the first Exif block and XMP packet are worth reading.

    Phones write megabytes of "extended XMP" (depth maps) in further APP1 segments; those are
    skipped with a seek like everything else.
    """
    peek = fh.read(min(size, len(_XMP_ID)))
    fh.seek(-len(peek), io.SEEK_CUR)
    if peek.startswith(b"Exif\x00"):
        return header.exif is None
    return peek.startswith(_XMP_ID) and header.xmp is None


def _next_marker(fh: IO[bytes]) -> int:
    """The next marker code, skipping 0xFF fill bytes and (a bounded amount of) stray junk."""
    for _ in range(_MAX_JUNK):
        byte = fh.read(1)
        if byte != b"\xff":
            if not byte:
                raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
            continue
        code = fh.read(1)
        while code == b"\xff":
            code = fh.read(1)
        if not code:
            raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
        if code != b"\x00":
            return code[0]
    raise _BadJpeg("corrupt JPEG: no segment marker where one should be")


def _read_length(fh: IO[bytes], marker: int) -> int:
    raw = fh.read(2)
    if len(raw) < 2:
        raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
    length = int.from_bytes(raw, "big")
    if length < 2:
        raise _BadJpeg(f"corrupt JPEG: impossible length {length} of segment 0xFF{marker:02X}")
    return length - 2


def _read_exactly(fh: IO[bytes], size: int, marker: int) -> bytes:
    data = fh.read(size)
    if len(data) < size:
        raise _BadJpeg(f"truncated JPEG: segment 0xFF{marker:02X} runs past the end of the file")
    return data


def _keep_segment(header: _Header, marker: int, payload: bytes) -> None:
    """Remember the first frame size, the first Exif block and the first (main) XMP packet."""
    if marker in _SOF_MARKERS:
        if header.width is None and len(payload) >= 5:
            height, width = struct.unpack_from(">HH", payload, 1)
            header.width, header.height = width or None, height or None
    elif payload.startswith(b"Exif\x00"):
        header.exif = payload[6:]
    elif payload.startswith(_XMP_ID):
        header.xmp = payload[len(_XMP_ID) :]


def _pillow_header(fh: IO[bytes]) -> _Header | None:
    """Second opinion when our marker walk rejects a file: can Pillow's JPEG header reader cope?

    Pillow opens a file that ends before its first scan without complaint, so we only take its
    word when it reached the image data (it then has a tile to decode).
    """
    from PIL import Image  # loaded only for this rare path (0.01 s at every command's start)

    try:
        fh.seek(0)
        with _quiet_pillow(), Image.open(fh, formats=["JPEG"]) as img:
            if not img.tile:
                return None
            exif, xmp = img.info.get("exif"), img.info.get("xmp")
            return _Header(
                exif=exif[6:] if isinstance(exif, bytes) and exif.startswith(b"Exif") else None,
                xmp=xmp if isinstance(xmp, bytes) else None,
                width=img.width,
                height=img.height,
            )
    except Exception:  # Pillow agrees the file is broken; the caller reports our reason
        return None


# --- Files that are not JPEGs: say what they are --------------------------------------------------

_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF8", "GIF"),
    (0, b"II*\x00", "TIFF or camera raw"),
    (0, b"MM\x00*", "TIFF or camera raw"),
    (0, b"%PDF", "PDF"),
    (0, b"PK\x03\x04", "ZIP archive"),
    (8, b"WEBP", "WEBP"),
    (8, b"AVI ", "AVI video"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _not_jpeg(fh: IO[bytes], start: bytes) -> str:
    if not start:
        return "empty file"
    kind = _magic_kind(start) or _pillow_format(fh) or _text_or_unknown(fh, start)
    return f"not a JPEG image ({kind})"


def _magic_kind(start: bytes) -> str | None:
    for offset, magic, kind in _MAGIC:
        if start[offset : offset + len(magic)] == magic:
            return kind
    if start[4:8] == b"ftyp":
        brand = start[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIC"
        return "AVIF" if brand in (b"avif", b"avis") else "MP4/MOV video"
    return None


def _pillow_format(fh: IO[bytes]) -> str | None:
    from PIL import Image

    try:
        fh.seek(0)
        with _quiet_pillow(), Image.open(fh) as img:
            return img.format
    except Exception:  # not an image Pillow knows either
        return None


def _text_or_unknown(fh: IO[bytes], start: bytes) -> str:
    fh.seek(0)
    sample = fh.read(1024).decode("utf-8", errors="replace")
    readable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in sample)
    if "\x00" not in sample and readable >= 0.95 * len(sample):
        return "text file"
    return f"unknown format starting {start[:4].hex(' ')}"
