"""Synthetic camera-trap JPEGs with real EXIF, for demo data, tests and benchmarks.

They are written by Pillow the way trail cameras write theirs (EXIF in APP1, DateTimeOriginal,
optional GPS), so every reader in the tracker handles them as it would a real card.
"""

from __future__ import annotations

import io
import random
from datetime import datetime

from PIL import Image, ImageDraw

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL, BODY_SERIAL = 0x9003, 0x9011, 0xA431
XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def exif_block(
    taken_at: datetime | str | None,
    *,
    make: str | None = "RECONYX",
    model: str | None = "HF2 PRO COVERT",
    serial: str | None = None,
    gps: tuple[float, float] | None = None,
    altitude: float | None = None,
    utc_offset: str | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if make:
        exif[MAKE] = make
    if model:
        exif[MODEL] = model
    sub = exif.get_ifd(EXIF_IFD)
    if taken_at is not None:
        text = taken_at if isinstance(taken_at, str) else taken_at.strftime("%Y:%m:%d %H:%M:%S")
        sub[DATETIME_ORIGINAL] = text
    if utc_offset:
        sub[OFFSET_TIME_ORIGINAL] = utc_offset
    if serial:
        sub[BODY_SERIAL] = serial
    if gps is not None:
        info = exif.get_ifd(GPS_IFD)
        info[0] = b"\x02\x03\x00\x00"
        info[1], info[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
        info[3], info[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
        if altitude is not None:
            info[5], info[6] = (b"\x01" if altitude < 0 else b"\x00"), abs(float(altitude))
    return exif


def xmp_packet(keywords: list[str], hierarchical: list[str]) -> bytes:
    """An XMP packet with dc:subject and lr:hierarchicalSubject, as Lightroom or digiKam write."""

    def bag(items: list[str]) -> str:
        lis = "".join(f"<rdf:li>{_xml_escape(i)}</rdf:li>" for i in items)
        return f"<rdf:Bag>{lis}</rdf:Bag>"

    xml = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:lr="http://ns.adobe.com/lightroom/1.0/">'
        f"<dc:subject>{bag(keywords)}</dc:subject>"
        f"<lr:hierarchicalSubject>{bag(hierarchical)}</lr:hierarchicalSubject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    return xml.encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scene(size: tuple[int, int], seed: int) -> Image.Image:
    """A forest-floor-like picture: textured enough that the JPEG is camera-sized."""
    rng = random.Random(seed)
    # Noise at an eighth of the size, blurred up: about 0.12 bytes per pixel (600 kB for 5 MP),
    # like the trail-camera files in the shared corpus.
    small = Image.effect_noise((max(8, size[0] // 8), max(8, size[1] // 8)), 60).convert("RGB")
    tint = Image.new("RGB", small.size, (rng.randint(40, 90), rng.randint(60, 110), 40))
    picture = Image.blend(small, tint, 0.5).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randint(size[0] // 80 + 1, size[0] // 20 + 2)
        shade = rng.randint(20, 120)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade + 10, shade // 2))
    return picture


def jpeg_bytes(
    taken_at: datetime | str | None = None,
    *,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    xmp: bytes | None = None,
    quality: int = 85,
    **exif_options,
) -> bytes:
    """A complete JPEG with the given EXIF (and XMP, if any)."""
    buffer = io.BytesIO()
    options = {"exif": exif_block(taken_at, **exif_options), "quality": quality}
    if xmp is not None:
        options["xmp"] = xmp
    scene(size, seed).save(buffer, "JPEG", **options)
    return buffer.getvalue()
