"""Which boxes carry a coat pattern, and their features kept in the database.

Features are computed once per animal box of a patterned species (TRACKER_PATTERN_SPECIES) by
the background workers (`compute_job`), queued whenever a box or a sighting of such a photo is
added or changed (`watch`), so a query never recomputes the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from tracker import audit, storage
from tracker.errors import InvalidInput
from tracker.models import Annotation, Image, PatternFeatures, Sighting, Species, sighting_image

JOB = "tracker.reid.store:compute_job"


def species_names(setting: str) -> list[str]:
    """TRACKER_PATTERN_SPECIES as lower-case names."""
    return [n.strip().lower() for n in setting.split(",") if n.strip()]


def pattern_species_ids(session: Session, setting: str) -> list[int]:
    names = species_names(setting)
    if not names:
        return []
    query = select(Species.id).where(
        or_(
            func.lower(Species.common_name).in_(names),
            func.lower(Species.scientific_name).in_(names),
        )
    )
    return list(session.scalars(query))


def pattern_boxes(session: Session, setting: str, image_ids: Iterable[int] | None = None):
    """Animal boxes on photos with a sighting of a patterned species (tied to it or not yet)."""
    species = pattern_species_ids(session, setting)
    if not species:
        return []
    patterned = (
        select(sighting_image.c.image_id)
        .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
        .where(Sighting.species_id.in_(species))
    )
    query = select(Annotation).where(
        Annotation.category == "animal", Annotation.image_id.in_(patterned)
    )
    if image_ids is not None:
        query = query.where(Annotation.image_id.in_(list(image_ids)))
    return list(session.scalars(query.order_by(Annotation.id)))


def pixel_box(box: Annotation, grey_shape: tuple[int, int]) -> list[int]:
    """A box's [x, y, w, h] fractions as pixels of the decoded photo."""
    h, w = grey_shape
    return [round(box.x * w), round(box.y * h), round(box.width * w), round(box.height * h)]


def read_image(media_dir: str, image: Image):
    from tracker.reid import features as feat  # OpenCV loads only where features are made

    return feat.read_grey(bytes(storage.read_original(media_dir, image.sha256)))


def compute(session: Session, media_dir: str, boxes: Iterable[Annotation]) -> int:
    """Features for the boxes that have none, were computed on a box since moved, or were
    made by an earlier recipe."""
    from tracker.reid import features as feat

    done = 0
    by_image: dict[int, list[Annotation]] = {}
    for box in boxes:
        stored = session.get(PatternFeatures, box.id)
        if stored is None or stored.bbox != box.bbox or stored.detector != feat.RECIPE:
            by_image.setdefault(box.image_id, []).append(box)
    for boxes_of_image in by_image.values():
        grey = read_image(media_dir, boxes_of_image[0].image)
        for box in boxes_of_image:
            f = feat.extract(grey, [pixel_box(box, grey.shape)])
            stored = session.get(PatternFeatures, box.id) or PatternFeatures(annotation_id=box.id)
            stored.detector, stored.keypoints = feat.RECIPE, len(f)
            stored.bbox, stored.data = box.bbox, f.to_bytes()
            session.add(stored)
            done += 1
    session.flush()
    return done


def mark_unusable(session: Session, annotation_id: int, unusable: bool, actor=None) -> None:
    """Keep a box out of the references (blur, a partial view), or take it back; audited."""
    stored = session.get(PatternFeatures, annotation_id)
    if stored is None:
        raise InvalidInput({"box": f"Box {annotation_id} has no pattern features (yet)."})
    stored.unusable = unusable
    session.flush()
    audit.record(session, actor, "update", "pattern_features", annotation_id, unusable=unusable)


def compute_job(session: Session, settings, image_ids: list[int]) -> dict:
    """The background job: features for the patterned animal boxes of these photos."""
    boxes = pattern_boxes(session, settings["PATTERN_SPECIES"], image_ids)
    return {"computed": compute(session, settings["MEDIA_DIR"], boxes)}


def watch(sessionmaker, settings) -> None:
    """Queue a features job at each commit that adds or changes boxes or sightings."""
    from tracker import jobs

    def collect(session: Session, _context, _instances) -> None:
        touched = session.info.setdefault("tracker.reid.images", set())
        for obj in (*session.new, *session.dirty):
            if isinstance(obj, Annotation) and obj.category == "animal":
                touched.add(obj.image_id)
            elif isinstance(obj, Sighting):
                with session.no_autoflush:
                    touched.update(image.id for image in obj.images)

    def submit(session: Session) -> None:
        touched = session.info.pop("tracker.reid.images", None)
        if touched and pattern_boxes(session, settings["PATTERN_SPECIES"], touched):
            jobs.submit(session, settings, JOB, image_ids=sorted(i for i in touched if i))

    event.listen(sessionmaker, "before_flush", collect)
    event.listen(sessionmaker, "before_commit", submit)
