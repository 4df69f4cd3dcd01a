"""The photo-ID matcher on real survey photos of known snow leopards (../shared/reid).

Few photos, so the suite stays quick: features of one box take a fraction of a second. The
figures over the whole set are bench/reid.py's job.
"""

from __future__ import annotations

import csv
import json
from functools import cache

import numpy as np
import pytest
from conftest import SHARED

from tracker.reid import features as feat
from tracker.reid import spatial
from tracker.reid.matcher import Reference, ReferenceIndex, probably_new, rank

DATA = SHARED / "reid" / "snow-leopard"


@cache
def labels() -> dict[str, dict]:
    with open(DATA / "labels.csv", newline="") as fh:
        return {row["file"]: row for row in csv.DictReader(fh)}


@cache
def features(name: str) -> feat.BoxFeatures:
    row = labels()[name]
    grey = feat.read_grey(DATA / "images" / name)
    return feat.extract(grey, json.loads(row["pattern_boxes"]))


def reference(name: str, flank: str | None = None) -> Reference:
    row = labels()[name]
    return Reference(name, row["individuals"], features(name), flank, row["encounter"])


# A burst of Cat21 (one encounter), and a photo of Cat23 at the same station another day.
BURST = ["01__Station05__Camera1__2012-6-14__5-38-22(1).JPG",
         "01__Station05__Camera1__2012-6-14__5-38-14(9).JPG"]  # fmt: skip
OTHER_CAT = "01__Station05__Camera1__2012-7-16__15-14-30(4).JPG"


def test_a_box_gives_coat_keypoints_inside_it_only():
    name = "01__Station05__Camera1__2012-6-14__5-38-14(9).JPG"
    boxes = json.loads(labels()[name]["pattern_boxes"])
    f = features(name)
    assert len(f) > 100 and f.descriptors.shape == (len(f), 128)
    inside = np.zeros(len(f), bool)
    for x, y, w, h in boxes:
        kx, ky = f.keypoints[:, 0], f.keypoints[:, 1]
        inside |= (kx >= x) & (kx < x + w) & (ky >= y) & (ky < y + h)
    assert inside.all()
    again = feat.BoxFeatures.from_bytes(f.to_bytes())
    assert np.array_equal(again.descriptors, f.descriptors) and again.detector == "hesaff"


def test_each_keypoint_keeps_its_affine_region_and_old_blobs_still_load():
    f = features(BURST[1])
    shapes = f.region_shapes()
    assert shapes.shape == (len(f), 3) and (shapes[:, 0] > 0).all() and (shapes[:, 2] > 0).all()
    # Hessian-affine regions are ellipses, not circles: many are sheared or stretched.
    assert np.mean(np.abs(shapes[:, 1]) > 0.05 * shapes[:, 0]) > 0.3
    assert np.allclose(feat.BoxFeatures.from_bytes(f.to_bytes()).shapes, shapes)
    # Features stored before the shapes were kept: a circle of the keypoint's scale.
    old = feat.BoxFeatures(f.keypoints, f.descriptors, f.detector)
    circles = feat.BoxFeatures.from_bytes(old.to_bytes()).region_shapes()
    assert np.allclose(circles[:, 0], f.keypoints[:, 2]) and not circles[:, 1].any()


def test_each_pattern_box_can_be_described_alone():
    name = BURST[1]
    grey = feat.read_grey(DATA / "images" / name)
    boxes = json.loads(labels()[name]["pattern_boxes"])
    f = feat.extract(grey, boxes, per_box=True)
    assert len(f) > 100
    kx, ky = f.keypoints[:, 0], f.keypoints[:, 1]
    inside = [(kx >= x) & (kx < x + w) & (ky >= y) & (ky < y + h) for x, y, w, h in boxes]
    assert np.logical_or.reduce(inside).all()
    assert all(part.sum() > 10 for part in inside)  # every box gave keypoints of its own


def test_spatial_verification_keeps_the_matches_one_affine_map_explains():
    q = features(BURST[1])
    # The same coat seen 20 % larger and shifted: every region moves and grows with it.
    moved = q.keypoints.copy()
    moved[:, :2] = moved[:, :2] * 1.2 + [40, -25]
    moved[:, 2] *= 1.2
    ref = feat.BoxFeatures(moved, q.descriptors, q.detector, q.region_shapes() * 1.2)
    rng = np.random.default_rng(7)
    true = rng.choice(len(q), 60, replace=False)
    false = rng.choice(len(q), 60, replace=False)
    qi = np.concatenate([true, false])
    ri = np.concatenate([true, rng.permutation(false)])
    kept = spatial.verify(q, ref, qi, ri, np.ones(len(qi)))
    good = qi[kept] == ri[kept]
    assert good.sum() >= 55 and (~good).sum() <= 3


def test_the_text_banners_of_a_1080_frame_are_found():
    grey = feat.read_grey(DATA / "images" / "02__Station35__Camera1__2012-9-1__4-25-8(7).JPG")
    top, bottom = feat.banner_rows(grey)
    assert 20 < top < 60 and 1020 < bottom < 1060
    # A box over the banner gives no keypoint on its letters.
    f = feat.extract(grey, [[0, 0, 800, top - 4]])
    assert len(f) == 0


def test_an_unreadable_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    with pytest.raises(feat.UnreadableImage):
        feat.read_grey(bad)


def test_photos_of_the_query_s_own_event_are_never_references_for_it():
    index = ReferenceIndex([reference(BURST[0]), reference(BURST[1]), reference(OTHER_CAT)])
    query = features(BURST[0])
    # Without the exclusion the photo finds itself, and nothing could be easier.
    mirror = rank(index, query)
    assert mirror[0].reference == BURST[0] and mirror[0].individual == "Cat21"
    encounter = labels()[BURST[0]]["encounter"]
    ranked = rank(index, query, exclude_events={encounter})
    assert all(c.reference not in BURST for c in ranked)
    assert [c.individual for c in ranked] in ([], ["Cat23"])


def test_a_flank_is_compared_with_the_same_flank_first():
    index = ReferenceIndex([reference(BURST[1], flank="left"), reference(OTHER_CAT, flank="right")])
    query = features(BURST[0])
    left = rank(index, query, flank="left")
    assert left[0].individual == "Cat21" and left[0].flank_match
    right = rank(index, query, flank="right")
    # Cat21 was only ever seen on its left flank: it comes after every right-flank candidate.
    assert [c.individual for c in right][-1] == "Cat21"
    assert not right[-1].flank_match
    assert all(c.flank_match for c in right[:-1])


# Four other cats at four other stations, day and night.
STRANGERS = [OTHER_CAT, "02__Station07__Camera1__2012-8-24__1-52-36(1).JPG",
             "02__Station13__Camera1__2012-8-16__23-48-34(1).JPG",
             "02__Station23__Camera1__2012-9-9__21-28-48(8).JPG",
             "02__Station24__Camera1__2012-8-14__4-19-42(1).JPG"]  # fmt: skip


def test_a_cat_missing_from_the_catalogue_is_probably_new():
    query = features(BURST[0])
    index = ReferenceIndex([reference(name) for name in STRANGERS])
    ranked = rank(index, query)
    assert len(ranked) == 4 and probably_new(ranked)
    again = ReferenceIndex([reference(name) for name in [*STRANGERS, BURST[1]]])
    ranked = rank(again, query)
    assert ranked[0].individual == "Cat21" and not probably_new(ranked)
    # Its verified matches are many, and spread over the coat rather than piled on one spot.
    points = np.array([q for q, _ in ranked[0].matches])
    assert len(points) > 30 and np.ptp(points[:, 0]) > 200
