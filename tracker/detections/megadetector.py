"""MegaDetector batch output (format 1.0 to 1.6) -> checked, plain results; no database.

Read https://github.com/agentmorris/MegaDetector, `megadetector-output-format.md`: `info`,
`detection_categories` ("1" animal, "2" person, "3" vehicle), `images[]` each with `file` and
`detections[]` of `{category, conf, bbox}`, bbox `[x_min, y_min, width, height]` as fractions of
the image. Files from every version are in the wild: 1.0/1.1 carry a per-image
`max_detection_conf`, 1.2+ may carry `detector_metadata` thresholds, 1.4+ video frames
(`frame_rate`, `frame_number`), 1.6 writes `format_version` as a string. Every problem is
named with where it is, so a park can fix its file; a file with problems is refused whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import IO

import orjson

from tracker.errors import InvalidInput
from tracker.models import BOX_CATEGORIES

VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6")
NUMBER = (int, float)
STANDARD_CATEGORIES = {"1": "animal", "2": "person", "3": "vehicle"}
MAX_PROBLEMS = 50  # a broken file names its first problems, not a million of them
MAX_FAILURE = 500


@dataclass(frozen=True)
class Detection:
    category: str  # animal, person or vehicle
    confidence: float
    bbox: tuple[float, float, float, float]


@dataclass(frozen=True)
class Entry:
    """One `images[]` entry: a file, what was found in it, or why the detector could not read it."""

    file: str
    detections: tuple[Detection, ...] = ()
    failure: str | None = None


@dataclass
class BatchOutput:
    format_version: str
    detector: str
    typical_threshold: float | None
    entries: list[Entry] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}
        self.more = 0

    def add(self, where: str, message: str) -> None:
        if len(self.found) < MAX_PROBLEMS:
            self.found[where] = message
        else:
            self.more += 1

    def raise_any(self) -> None:
        if self.more:
            self.found["file"] = f"and {self.more} more problems"
        if self.found:
            raise InvalidInput(self.found)


def load(fh: IO[bytes]) -> BatchOutput:
    """Read and check a batch-output file; InvalidInput names every problem."""
    try:
        data = orjson.loads(fh.read())
    except orjson.JSONDecodeError as exc:
        raise InvalidInput({"file": f"not a JSON file: {exc}"}) from exc
    return parse(data)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _version(info: dict, problems: _Problems) -> str:
    raw = info.get("format_version")
    if raw is None:
        problems.add("info.format_version", "missing: which version of the format is this?")
        return ""
    version = raw if isinstance(raw, str) else f"{raw:.1f}" if _number(raw) else repr(raw)
    if version not in VERSIONS:
        problems.add("info.format_version", f"{raw!r} is not one of {', '.join(VERSIONS)}")
    return version


def _threshold(info: dict, problems: _Problems) -> float | None:
    metadata = info.get("detector_metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        problems.add("info.detector_metadata", "must be an object")
        return None
    value = metadata.get("typical_detection_threshold")
    if value is not None and not (_number(value) and 0 <= value <= 1):
        problems.add("info.detector_metadata.typical_detection_threshold",
                     f"{value!r} is not a number from 0 to 1")  # fmt: skip
        return None
    return value


def _categories(data: dict, problems: _Problems) -> dict[str, str]:
    raw = data.get("detection_categories", STANDARD_CATEGORIES)
    if not isinstance(raw, dict) or not raw:
        problems.add("detection_categories", 'must be an object such as {"1": "animal"}')
        return {}
    categories = {}
    for key, name in raw.items():
        if name not in BOX_CATEGORIES:
            problems.add(f"detection_categories.{key}",
                         f"{name!r} is not one of {', '.join(BOX_CATEGORIES)}")  # fmt: skip
        categories[str(key)] = name
    return categories


def parse(data) -> BatchOutput:
    """Check a decoded batch-output document and return its entries."""
    problems = _Problems()
    if not isinstance(data, dict):
        raise InvalidInput({"file": "not a MegaDetector batch output: expected a JSON object"})
    info = data.get("info")
    if not isinstance(info, dict):
        problems.add("info", "missing: a batch output starts with an info object")
        info = {}
    output = BatchOutput(
        format_version=_version(info, problems),
        detector=str(info.get("detector") or "unknown detector")[:120],
        typical_threshold=_threshold(info, problems),
    )
    categories = _categories(data, problems)
    images = data.get("images")
    if not isinstance(images, list):
        problems.add("images", "missing: a list of one entry per image")
        images = []
    for n, raw in enumerate(images):
        entry = _entry(raw, f"images[{n}]", categories, problems)
        if entry is not None:
            output.entries.append(entry)
    problems.raise_any()
    return output


def _entry(raw, where: str, categories: dict[str, str], problems: _Problems) -> Entry | None:
    if not isinstance(raw, dict):
        problems.add(where, "must be an object with a file")
        return None
    name = raw.get("file")
    if not isinstance(name, str) or not name.strip():
        problems.add(f"{where}.file", "missing: the image's path")
        return None
    failure = raw.get("failure")
    detections = raw.get("detections")
    if failure is not None:
        if not isinstance(failure, str):
            problems.add(f"{where}.failure", "must be text")
        return Entry(name, failure=str(failure)[:MAX_FAILURE] or "failure")
    if not isinstance(detections, list):
        problems.add(f"{where}.detections", "must be a list (empty when nothing was found), "
                     "or null with a failure")  # fmt: skip
        return None
    found = []
    for k, det in enumerate(detections):
        detection = _detection(det, f"{where}.detections[{k}]", categories, problems)
        if detection is not None:
            found.append(detection)
    return Entry(name, tuple(found))


def _detection(det, where: str, categories: dict[str, str], problems: _Problems):
    if not isinstance(det, dict):
        problems.add(where, "must be an object with category, conf and bbox")
        return None
    category = categories.get(str(det.get("category")))
    if category is None:
        problems.add(f"{where}.category", f"{det.get('category')!r} is not in detection_categories")
    conf = det.get("conf")
    if not (type(conf) in NUMBER and 0 <= conf <= 1):
        problems.add(f"{where}.conf", f"{conf!r} is not a confidence from 0 to 1")
        conf = None
    bbox = _bbox(det.get("bbox"), where, problems)
    if category is None or conf is None or bbox is None:
        return None
    return Detection(category, float(conf), bbox)


def _bbox(raw, where: str, problems: _Problems):
    """[x, y, w, h] in fractions; rounding spill past an edge (1.0001) is clipped to the photo."""
    # type() rather than _number(): a season's file has a million boxes to check.
    if not (type(raw) is list and len(raw) == 4 and all(type(v) in NUMBER for v in raw)):
        problems.add(f"{where}.bbox", f"{raw!r} is not [x, y, width, height]")
        return None
    x, y, w, h = (float(v) for v in raw)
    if (
        not math.isfinite(x + y + w + h)
        or w < 0
        or h < 0
        or not (-0.01 <= x <= 1 and -0.01 <= y <= 1)
    ):
        problems.add(f"{where}.bbox", f"{raw!r} does not lie in the image (fractions 0 to 1)")
        return None
    x, y = max(x, 0.0), max(y, 0.0)
    return (x, y, min(w, 1.0 - x), min(h, 1.0 - y))
