"""Synthetic camera-trap JPEGs with real EXIF, for demo data, tests and benchmarks.

They are written by Pillow the way trail cameras write theirs (EXIF in APP1, DateTimeOriginal,
optional GPS), so every reader in the tracker handles them as it would a real card.
"""

from __future__ import annotations

import io
import random
from datetime import datetime

import numpy as np
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


# Body colour and marking colour of the crude animals the demo's photos show.
SUBJECTS = {
    "leopard": ((214, 160, 70), (25, 20, 15)),
    "tiger": ((222, 120, 40), (20, 15, 10)),
    "deer": ((150, 95, 55), (240, 235, 225)),
    "boar": ((70, 55, 45), (40, 30, 25)),
    "human": ((60, 90, 60), (200, 170, 140)),
}


def _animal(draw: ImageDraw.ImageDraw, size: tuple[int, int], kind: str, rng) -> None:
    """A body and its markings: rosettes for a leopard, stripes for a tiger, spots for a deer."""
    body, marks = SUBJECTS[kind]
    w, h = size
    x, y = rng.randint(w // 5, w // 2), rng.randint(h // 3, h // 2)
    bw, bh = w // 3, h // 5
    draw.ellipse((x, y, x + bw, y + bh), fill=body)
    draw.ellipse((x + bw - bw // 8, y - bh // 3, x + bw + bw // 5, y + bh // 2), fill=body)
    for _ in range(30 if kind in ("leopard", "deer") else 8):
        sx, sy = x + rng.randint(bw // 10, bw - bw // 10), y + rng.randint(bh // 8, bh - bh // 8)
        r = max(2, w // 160)
        if kind == "leopard":
            draw.ellipse((sx - 2 * r, sy - 2 * r, sx + 2 * r, sy + 2 * r), outline=marks, width=r)
        elif kind == "tiger":
            draw.line((sx, y + bh // 8, sx + r * 3, y + bh - bh // 8), fill=marks, width=2 * r)
        else:
            draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=marks)


def scene(size: tuple[int, int], seed: int, subject: str | None = None) -> Image.Image:
    """A forest-floor-like picture: textured enough that the JPEG is camera-sized."""
    rng = random.Random(seed)
    # Noise at an eighth of the size, blurred up: about 0.12 bytes per pixel (600 kB for 5 MP),
    # like the trail-camera files in the shared corpus.
    # The noise comes from the seed too (Pillow's effect_noise draws from the C library's rand(),
    # so the same seed gave different photos): the same arguments make the same bytes.
    noise = np.random.default_rng(seed).normal(
        128, 60, (max(8, size[1] // 8), max(8, size[0] // 8))
    )
    small = Image.fromarray(noise.clip(0, 255).astype(np.uint8), "L").convert("RGB")
    tint = Image.new("RGB", small.size, (rng.randint(40, 90), rng.randint(60, 110), 40))
    picture = Image.blend(small, tint, 0.5).resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randint(size[0] // 80 + 1, size[0] // 20 + 2)
        shade = rng.randint(20, 120)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(shade, shade + 10, shade // 2))
    if subject in SUBJECTS:
        _animal(draw, size, subject, rng)
    return picture


def jpeg_bytes(
    taken_at: datetime | str | None = None,
    *,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    xmp: bytes | None = None,
    quality: int = 85,
    subject: str | None = None,
    **exif_options,
) -> bytes:
    """A complete JPEG with the given EXIF (and XMP, if any)."""
    buffer = io.BytesIO()
    options = {"exif": exif_block(taken_at, **exif_options), "quality": quality}
    if xmp is not None:
        options["xmp"] = xmp
    scene(size, seed, subject).save(buffer, "JPEG", **options)
    return buffer.getvalue()
