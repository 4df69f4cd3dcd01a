"""Previews: made from real stored originals, upright, small, once; failures named, not fatal."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from pathlib import Path

import pytest
from conftest import damaged_jpeg
from PIL import Image as PILImage
from PIL import ImageOps

from tracker import previews, storage
from tracker.exif import frame_size
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)
ORIENTATION = 0x0112


def store(media: Path, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    storage.store_original(media, sha256, data)
    return sha256


def preview_file(media: Path, sha256: str, size: str) -> Path:
    return media / storage.preview_relpath(sha256, size)


def opened(path: Path) -> PILImage.Image:
    picture = PILImage.open(path)
    picture.load()
    return picture


def marked_photo(orientation: int | None, mode: str = "RGB") -> bytes:
    """1280x960, red in the stored top-left corner, blue elsewhere; the Orientation tag given."""
    picture = PILImage.new("RGB", (1280, 960), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 320, 240))
    exif = PILImage.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    picture.convert(mode).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def is_red(pixel) -> bool:
    red, green, blue = pixel
    return red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize(
    "orientation, size, red_corner",
    [
        (None, (640, 480), (5, 5)),
        (1, (640, 480), (5, 5)),
        (6, (480, 640), (474, 5)),  # shown turned a quarter clockwise: top-left goes top-right
        (3, (640, 480), (634, 474)),
        (8, (480, 640), (5, 634)),
    ],
)
def test_previews_are_upright_at_the_draft_scale(tmp_path, orientation, size, red_corner):
    sha256 = store(tmp_path, marked_photo(orientation))
    previews.make_previews(tmp_path, sha256)
    preview = opened(preview_file(tmp_path, sha256, "preview"))
    assert preview.format == "JPEG" and preview.mode == "RGB"
    assert preview.size == size
    assert is_red(preview.getpixel(red_corner))
    assert not is_red(preview.getpixel((size[0] // 2, size[1] // 2)))
    thumb = opened(preview_file(tmp_path, sha256, "thumb"))
    assert thumb.size == (size[0] // 2, size[1] // 2)
    corner = (red_corner[0] // 2, red_corner[1] // 2)
    assert is_red(thumb.getpixel(corner))


def corners(picture: PILImage.Image) -> list[bool]:
    """Which corners are red: top-left, top-right, bottom-right, bottom-left."""
    right, bottom = picture.width - 5, picture.height - 5
    return [is_red(picture.getpixel(p)) for p in ((5, 5), (right, 5), (right, bottom), (5, bottom))]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_turned_as_pillow_turns_it(orientation):
    data = marked_photo(orientation)
    upright = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data)))
    rendered = previews.render(data)
    for size in storage.PREVIEW_SIZES:
        made = PILImage.open(io.BytesIO(rendered.files[size])).convert("RGB")
        assert made.width / made.height == upright.width / upright.height
        assert corners(made) == corners(upright)
    # The same when the caller has read the orientation (an import, from its Exif read).
    assert previews.render(data, orientation).files == rendered.files


def test_a_photo_with_damaged_image_data_gets_previews_and_says_so(capfd):
    photo = jpeg_bytes(TAKEN, size=(1280, 960), seed=40)
    rendered = previews.render(damaged_jpeg(photo))
    assert rendered.damage
    for size in storage.PREVIEW_SIZES:
        assert PILImage.open(io.BytesIO(rendered.files[size])).format == "JPEG"
    assert previews.render(photo).damage is None
    assert capfd.readouterr().err == ""  # nothing unnamed from libjpeg on standard error


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_grey_and_cmyk_photos_get_colour_previews(tmp_path, mode):
    sha256 = store(tmp_path, marked_photo(None, mode))
    previews.make_previews(tmp_path, sha256)
    for size in storage.PREVIEW_SIZES:
        assert opened(preview_file(tmp_path, sha256, size)).mode == "RGB"


def test_only_missing_previews_are_made_over_the_pool(tmp_path):
    hashes = [store(tmp_path, jpeg_bytes(TAKEN, size=(1280, 960), seed=i)) for i in range(6)]
    previews.make_previews(tmp_path, hashes[0])
    previews.make_previews(tmp_path, hashes[1])
    kept = preview_file(tmp_path, hashes[0], "thumb")
    kept.write_bytes(b"left alone")  # not a JPEG: proves it was not made again
    preview_file(tmp_path, hashes[1], "thumb").unlink()  # half made: made again
    assert previews.missing(tmp_path, hashes) == hashes[1:]
    assert [previews.has_previews(tmp_path, h) for h in hashes[:3]] == [True, False, False]

    assert previews.make_missing(tmp_path, hashes, workers=2) == []
    assert kept.read_bytes() == b"left alone"
    for sha256 in hashes[1:]:
        for size in storage.PREVIEW_SIZES:
            assert opened(preview_file(tmp_path, sha256, size)).format == "JPEG"
    assert previews.missing(tmp_path, hashes) == []
    assert not list(tmp_path.rglob(".incoming-*"))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_damaged_original_is_named_and_the_others_still_made(tmp_path, workers):
    good = [store(tmp_path, jpeg_bytes(TAKEN, seed=20 + i)) for i in range(3)]
    bad = store(tmp_path, jpeg_bytes(TAKEN, seed=30))
    (tmp_path / storage.original_relpath(bad)).write_bytes(b"rotten bits")
    gone = "f" * 64  # a row whose original is missing altogether
    failures = previews.make_missing(tmp_path, [*good, bad, gone], workers=workers)
    assert [f.split(":")[0] for f in failures] == [bad, gone]
    assert previews.missing(tmp_path, [*good, bad, gone]) == [bad, gone]


@pytest.mark.parametrize(
    "size",
    [(2592, 1944), (4000, 3000), (1920, 1080), (1280, 960), (1279, 959), (640, 480), (300, 200)],
)
def test_the_decode_scale_is_pillows_draft_scale(size):
    """libjpeg-turbo decodes at the scale Pillow's draft mode would pick (the previews' size is
    the same as when Pillow made them)."""
    buffer = io.BytesIO()
    PILImage.new("RGB", size, (0, 0, 255)).save(buffer, "JPEG")
    with PILImage.open(buffer) as picture:
        picture.draft("RGB", previews.draft_box(size, storage.PREVIEW_SIZES["preview"]))
        drafted = picture.size
    scale = previews.draft_scale(size, storage.PREVIEW_SIZES["preview"])
    assert drafted == (-(-size[0] // scale), -(-size[1] // scale))
    rendered = previews.render(buffer.getvalue())
    assert PILImage.open(io.BytesIO(rendered.files["preview"])).size == drafted


def test_the_frame_size_is_read_from_the_header_alone():
    data = marked_photo(6)  # turned: the frame is still stored 1280 wide
    assert frame_size(io.BytesIO(data[:2000])) == (1280, 960)
    assert frame_size(io.BytesIO(b"rotten bits")) is None
    with pytest.raises(ValueError, match="not a JPEG"):
        previews.render(b"rotten bits")


def test_a_frame_too_large_is_refused_before_any_decoding():
    data = bytearray(marked_photo(None))
    sof = data.index(b"\xff\xc0")  # height and width follow the length and the precision
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") + (20000).to_bytes(2, "big")
    assert frame_size(io.BytesIO(bytes(data))) == (20000, 20000)
    with pytest.raises(ValueError, match="too large to preview"):
        previews.render(bytes(data))
