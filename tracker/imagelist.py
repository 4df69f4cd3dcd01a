"""The image list: which photos match the filters, a page of them, and how many there are.

Built for a season of a million photos, on both databases:
- Pages are keysets, not offsets: newest first by capture time then id, photos without a time
  after all the others (by id); "older" and "newer" carry the last or first photo of the page
  (`before=` / `after=`), so a page deep in the season costs what the first one does.
- Status filters are conditions on the link counts the database keeps on each image (see
  ImageCount), written as literal SQL so that both planners match them to the status's partial
  index in capture order.
- Counts come from ImageCount, kept exact by database triggers, when the filters are by station
  or deployment; with a date range they are counted, but only up to COUNT_CAP (then shown as
  "10000+"), over the same indexes.
- What is in the photos (species, individual, a detector's category and confidence) is
  tracker.imagecontent's: counted only up to 1000, written as the photos are many or few.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.orm import Session, contains_eager, defer

from tracker import imagecontent as content
from tracker.detections.boxes import DEFAULT_THRESHOLD
from tracker.models import IMAGE_STATUSES, Deployment, Image, ImageCount, Station

PER_PAGE = 60
COUNT_CAP = 10_000
MAX_ID_DIGITS = 9
# The list's `status` filter: value -> label.
STATUSES = {
    "untagged": "untagged (no sighting)",
    "tagged": "tagged (animal, person…)",
    "blank": "blank (empty frame)",
    "timestamp": "timestamp issue",
}
_COUNT_COLUMNS = {"untagged": "untagged", "tagged": "tagged", "blank": "blank"}
_COUNT_COLUMNS["timestamp"] = "timestamp_issues"


def parse_id(text_: str | None) -> int | None:
    """A positive whole number typed or chosen by a user, or None."""
    text_ = (text_ or "").strip()
    if text_.isascii() and text_.isdigit() and len(text_) <= MAX_ID_DIGITS:
        return int(text_)
    return None


@dataclass(frozen=True)
class Cursor:
    """A photo's place in the list: its capture time (None: it has none) and id."""

    taken: datetime | None
    id: int

    def __str__(self) -> str:
        stamp = self.taken.replace(tzinfo=None).isoformat() if self.taken else "none"
        return f"{stamp}_{self.id}"

    @classmethod
    def parse(cls, value: str) -> Cursor | None:
        stamp, _, number = value.rpartition("_")
        image_id = parse_id(number)
        if image_id is None or not stamp:
            return None
        if stamp == "none":
            return cls(None, image_id)
        try:
            return cls(datetime.fromisoformat(stamp).replace(tzinfo=UTC), image_id)
        except ValueError:
            return None


@dataclass
class Filters:
    """The list's query parameters, as typed (`values`) and as understood."""

    values: dict[str, str]
    station: str = ""
    deployment: int | None = None
    start: date | None = None
    end: date | None = None
    status: str = ""
    species: int | None = None
    individual: str = ""
    category: str = ""
    confidence: float | None = None
    threshold: float = DEFAULT_THRESHOLD  # the app's default detection threshold
    before: Cursor | None = None
    after: Cursor | None = None
    errors: list[str] = field(default_factory=list)


def _date(filters: Filters, name: str, label: str) -> date | None:
    typed = filters.values[name]
    if not typed:
        return None
    try:
        return date.fromisoformat(typed)
    except ValueError:
        filters.errors.append(f"{label} date {typed!r} is not a date: use YYYY-MM-DD.")
        return None


def read_filters(args, threshold: float = DEFAULT_THRESHOLD) -> Filters:
    """Filters from a query string (any mapping with .get); mistakes are listed in .errors."""
    names = ("station", "deployment", "from", "to", "status", "species", "individual")
    names += ("category", "confidence")
    filters = Filters(values={n: args.get(n, "").strip() for n in names}, threshold=threshold)
    filters.station = filters.values["station"]
    if filters.values["deployment"]:
        filters.deployment = parse_id(filters.values["deployment"])
        if filters.deployment is None:
            filters.errors.append(
                f"Deployment {filters.values['deployment']!r} is not a deployment number."
            )
    filters.start = _date(filters, "from", "From")
    filters.end = _date(filters, "to", "To")
    if filters.start and filters.end and filters.start > filters.end:
        filters.errors.append("The From date is after the To date.")
    filters.status = filters.values["status"]
    if filters.status and filters.status not in STATUSES:
        filters.errors.append(f"Status {filters.status!r} is not one of: {', '.join(STATUSES)}.")
    content.read(filters)
    # A stale or hand-made page link is not worth an error: it shows the newest page.
    filters.before = Cursor.parse(args.get("before", ""))
    filters.after = None if filters.before else Cursor.parse(args.get("after", ""))
    return filters


def status_condition(status: str):
    """The status as the literal condition its partial index was made with."""
    return text(IMAGE_STATUSES[status])


def _deployments(filters: Filters):
    """Deployment ids the station and deployment filters allow, as a subquery (None: all)."""
    if not filters.station and filters.deployment is None:
        return None
    query = select(Deployment.id)
    if filters.station:
        query = query.join(Station, Station.id == Deployment.station_id).where(
            Station.code == filters.station
        )
    if filters.deployment is not None:
        query = query.where(Deployment.id == filters.deployment)
    return query


def conditions(filters: Filters, with_status: bool = True, walk: bool = False) -> list:
    """WHERE clauses on Image for the filters (the status too, unless asked not to); `walk`:
    see tracker.imagecontent."""
    found = []
    if filters.deployment is not None:  # an equality: both planners walk its index in order
        found.append(Image.deployment_id == filters.deployment)
    if filters.station:  # a station's photos (a season's few thousand) are sorted
        found.append(Image.deployment_id.in_(_deployments(filters).scalar_subquery()))
    if filters.start:
        found.append(Image.taken_at_utc >= datetime.combine(filters.start, time.min, UTC))
    if filters.end and filters.end < date.max:
        after = datetime.combine(filters.end + timedelta(days=1), time.min, UTC)
        found.append(Image.taken_at_utc < after)
    if with_status and filters.status:
        found.append(status_condition(filters.status))
    return found + content.conditions(filters, walk)


@dataclass(frozen=True)
class Counts:
    """Photos matching the filters but the status, in all and per status; `capped` when some
    were only counted up to `cap`. With filters on what is in the photos, only the photos
    matching every filter are counted (`values` has "all" alone, and `partial` is set)."""

    values: dict[str, int]
    capped: bool
    cap: int = COUNT_CAP
    partial: bool = False

    def show(self, key: str) -> str:
        n = self.values.get(key)
        if n is None:
            return ""
        return f"{self.cap}+" if self.capped and n > self.cap else str(n)


def counts(session: Session, filters: Filters) -> Counts:
    """From ImageCount (exact) unless a date range or the content asks for a capped count."""
    if content.asked(filters):
        n = content.count(session, conditions(filters, walk=content.walks(session, filters)))
        values = {"all": n, filters.status or "all": n}
        return Counts(values, capped=True, cap=content.CONTENT_CAP, partial=True)
    if filters.start or filters.end:
        return _capped_counts(session, filters)
    columns = [func.coalesce(func.sum(ImageCount.images), 0).label("all")]
    columns += [
        func.coalesce(func.sum(getattr(ImageCount, c)), 0).label(s)
        for s, c in _COUNT_COLUMNS.items()
    ]
    query = select(*columns)
    deployments = _deployments(filters)
    if deployments is not None:
        query = query.where(ImageCount.deployment_id.in_(deployments.scalar_subquery()))
    row = session.execute(query).one()._asdict()
    return Counts({k: int(v) for k, v in row.items()}, capped=False)


def _capped_counts(session: Session, filters: Filters) -> Counts:
    where = conditions(filters, with_status=False)

    def count(*extra) -> int:
        some = select(Image.id).where(*where, *extra).limit(COUNT_CAP + 1).subquery()
        return session.scalar(select(func.count()).select_from(some))

    values = {"all": count()}
    values |= {s: count(status_condition(s)) for s in STATUSES}
    return Counts(values, capped=True)


@dataclass(frozen=True)
class Page:
    images: list[Image]
    newer: Cursor | None  # the first photo of this page, when there are newer ones
    older: Cursor | None  # the last photo of this page, when there are older ones


def _images(where: list) -> Select:
    return (
        select(Image)
        .join(Image.deployment)
        .join(Deployment.station)
        .options(
            contains_eager(Image.deployment).contains_eager(Deployment.station),
            # A grid shows neither: a real photo's EXIF is kilobytes of JSON to decode.
            defer(Image.exif, raiseload=True),
            defer(Image.tags, raiseload=True),
        )
        .where(*where)
    )


def _fetch(session: Session, query: Select, limit: int) -> list[Image]:
    return list(session.scalars(query.limit(limit))) if limit > 0 else []


def page(session: Session, filters: Filters, per_page: int = PER_PAGE) -> Page:
    """One page of the photos matching the filters: at most two statements, each on an index."""
    where = conditions(filters, walk=content.asked(filters) and content.walks(session, filters))
    if filters.after is not None:
        return _newer_page(session, where, filters.after, per_page)
    timed, untimed = Image.taken_at_utc.is_not(None), Image.taken_at_utc.is_(None)
    key, cursor = tuple_(Image.taken_at_utc, Image.id), filters.before
    newest_first = (Image.taken_at_utc.desc(), Image.id.desc())
    found: list[Image] = []
    if cursor is None or cursor.taken is not None:
        after_cursor = [] if cursor is None else [key < tuple_(cursor.taken, cursor.id)]
        query = _images([*where, timed, *after_cursor]).order_by(*newest_first)
        found = _fetch(session, query, per_page + 1)
    untimed_after = [] if cursor is None or cursor.taken is not None else [Image.id < cursor.id]
    query = _images([*where, untimed, *untimed_after]).order_by(Image.id.desc())
    found += _fetch(session, query, per_page + 1 - len(found))
    images = found[:per_page]
    return Page(
        images,
        newer=_cursor(images[0]) if cursor is not None and images else None,
        older=_cursor(images[-1]) if len(found) > per_page else None,
    )


def _newer_page(session: Session, where: list, cursor: Cursor, per_page: int) -> Page:
    """The photos just before the cursor in the list's order, nearest first, then reversed."""
    timed, untimed = Image.taken_at_utc.is_not(None), Image.taken_at_utc.is_(None)
    found: list[Image] = []
    if cursor.taken is None:
        query = _images([*where, untimed, Image.id > cursor.id]).order_by(Image.id)
        found = _fetch(session, query, per_page + 1)
    after_cursor = (
        [tuple_(Image.taken_at_utc, Image.id) > tuple_(cursor.taken, cursor.id)]
        if cursor.taken is not None
        else []
    )
    query = _images([*where, timed, *after_cursor]).order_by(Image.taken_at_utc, Image.id)
    found += _fetch(session, query, per_page + 1 - len(found))
    images = list(reversed(found[:per_page]))
    return Page(
        images,
        newer=_cursor(images[0]) if len(found) > per_page else None,
        older=_cursor(images[-1]) if images else None,
    )


def _cursor(image: Image) -> Cursor:
    return Cursor(image.taken_at_utc, image.id)
