"""Where a JPEG's main image ends: cut-short files, camera padding, and data hidden after it."""

from __future__ import annotations

import io
import random
from datetime import datetime

import pytest
from conftest import CORPUS
from PIL import Image as PILImage

from tracker import jpeg_end
from tracker.synthetic import jpeg_bytes

TAKEN = datetime(2024, 3, 10, 22, 15, 0)


def progressive(seed: int) -> bytes:
    picture = PILImage.open(io.BytesIO(jpeg_bytes(TAKEN, seed=seed)))
    out = io.BytesIO()
    picture.save(out, "JPEG", progressive=True, quality=90)
    return out.getvalue()


def junk(size: int, seed: int = 1) -> bytes:
    """Random bytes, with an end-of-image marker at even and odd places, as real data has."""
    data = bytearray(random.Random(seed).randbytes(size))
    for at in (11, 1000, size // 2, size // 2 + 1, size - 2):
        data[at : at + 2] = b"\xff\xd9"
    return bytes(data)


@pytest.mark.parametrize("make", [lambda: jpeg_bytes(TAKEN, seed=3), lambda: progressive(4)],
                         ids=["baseline", "progressive"])  # fmt: skip
@pytest.mark.parametrize("extra", [0, 1, 2, 4096, 3_000_000])
def test_the_end_is_found_whatever_follows(make, extra):
    photo = make()
    data = photo + junk(extra) if extra >= 2 else photo + b"\0" * extra
    assert jpeg_end.main_image_end(data, trust_within=1024) == len(photo)
    assert jpeg_end.main_image_end(memoryview(data), trust_within=0) == len(photo)


def test_every_corpus_photo_ends_at_its_end():
    """Nothing follows the image in the reference files: none would lose a byte. (The fuzzed
    ones of the test suites have no end at all, and are refused as cut short; `corrupted.jpg`
    has 59 kB of damage after a marker, kept within the default allowance.)"""
    ends = {}
    for path in CORPUS.joinpath("images").rglob("*"):
        if path.suffix.lower() in (".jpg", ".jpeg") and path.name != "corrupted.jpg":
            data = path.read_bytes()
            ends[path] = (jpeg_end.main_image_end(data, trust_within=0), len(data))
    assert all(end in (None, size) for end, size in ends.values())
    assert sum(end == size for end, size in ends.values()) == 45


def test_a_file_cut_short_has_no_end():
    photo = jpeg_bytes(TAKEN, seed=5)
    assert jpeg_end.main_image_end(photo[: len(photo) // 2], trust_within=1024) is None
    assert jpeg_end.main_image_end(photo[:100], trust_within=1024) is None
    assert jpeg_end.main_image_end(b"\xff\xd8", trust_within=1024) is None


@pytest.mark.parametrize("make", [lambda: jpeg_bytes(TAKEN, seed=6), lambda: progressive(7)],
                         ids=["baseline", "progressive"])  # fmt: skip
@pytest.mark.parametrize("extra", [0, 2, 4096, 3_000_000])
@pytest.mark.parametrize("allowance", [0, 1024, 10_000_000])
def test_what_is_kept_is_what_the_end_says(make, extra, allowance):
    """kept_length skips the search when the file ends with a marker within the allowance of its
    first scan; its answer is the one the search gives, whatever follows the image."""
    photo = make()
    data = photo + junk(extra) if extra else photo
    end = jpeg_end.main_image_end(data, trust_within=allowance)
    expected = end if len(data) - end > allowance else len(data)
    assert jpeg_end.kept_length(data, allowance) == expected
    assert jpeg_end.kept_length(memoryview(data), allowance) == expected


def test_a_file_cut_short_keeps_nothing():
    photo = jpeg_bytes(TAKEN, seed=8)
    for cut in (photo[: len(photo) // 2], photo[:100], b"\xff\xd8", photo[:-2]):
        assert jpeg_end.kept_length(cut, 10_000_000) is None
