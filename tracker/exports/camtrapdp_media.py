"""Camtrap DP's media table: one row per photo of the exported deployments that has a usable time.

A mixin of the package writer (tracker.exports.camtrapdp._Package), whose state it reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import Row, select

from tracker.errors import InvalidInput
from tracker.exports.camtrapdp_schema import MEDIA_FIELDS, as_bool, stamp
from tracker.models import Image, Sighting, sighting_image
from tracker.public import PublicPolicy

# What the media table reads of a photo: plain rows with these names, not ORM objects (a
# season's million photos load in a fraction of the time, and their tags are never decoded).
MEDIA_COLUMNS = (
    Image.id, Image.deployment_id, Image.taken_at_utc, Image.taken_at_raw, Image.utc_offset,
    Image.sha256, Image.original_filename, Image.stored_path, Image.camera_make,
    Image.camera_model, Image.camera_serial, Image.latitude, Image.longitude, Image.altitude,
    Image.exif,
)  # fmt: skip


class MediaRows:
    """Which photos go in the package, where each one is, and what its EXIF may say."""

    def _placed(self, deployment_id: int, moment: datetime | None) -> str:
        """'ok', 'untimed', 'misdated' (outside its deployment) or 'out' (outside the export)."""
        if moment is None:
            return "untimed"
        span = self.by_deployment[deployment_id]
        first, after = span.period
        if moment < first or (after is not None and moment >= after):
            return "misdated"
        if not span.start <= moment.replace(microsecond=0) <= span.end:
            return "out"
        return "ok"

    def _chosen_images(self, where: list):
        """Images of the exported deployments; only the chosen animals' when a species or an
        individual is chosen (the other photos belong to no exported record)."""
        query = select(Image).where(Image.deployment_id.in_(list(self.by_deployment)))
        if self.filters.species_id is not None or self.filters.individual_id is not None:
            tagged = (
                select(sighting_image.c.image_id)
                .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
                .where(*where)
            )
            query = query.where(Image.id.in_(tagged))
        return query

    def _media_query(self):
        query = self._chosen_images(self.where)
        start, end = self.filters.utc_bounds(self.options.timezone)
        if start is not None:
            query = query.where(Image.taken_at_utc >= start)
        if end is not None:
            query = query.where(Image.taken_at_utc < end)
        query = query.with_only_columns(*MEDIA_COLUMNS)
        return query.order_by(Image.deployment_id, Image.taken_at_utc, Image.original_filename)

    def _media(self, archive) -> list[tuple[str, Path, int]]:
        self.people_sighted = set(
            self.session.scalars(
                select(sighting_image.c.image_id)
                .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
                .where(
                    Sighting.species_id.in_(PublicPolicy.private_species()),
                    Sighting.deployment_id.in_(list(self.by_deployment)),
                )
            )
        )
        # Photos of people (never public); those to blur: people, not vehicles.
        self.people_images = self.people_sighted | self._box_images(("person", "vehicle"))
        self.blurred = set()
        if self.options.include_media and self.options.blur_people:
            self.blurred = self.people_sighted | self._box_images(("person",))
        files = []
        with self._table(archive, "media.csv", MEDIA_FIELDS) as table:
            for image in self.session.execute(
                self._media_query().execution_options(yield_per=1000)
            ):
                if self.options.public and image.id in self.people_images:
                    continue
                placed = self._placed(image.deployment_id, image.taken_at_utc)
                self.tally.misdated_images += placed == "misdated"
                if placed != "ok":
                    continue
                piece = self.by_deployment[image.deployment_id].piece_at(image.taken_at_utc)
                if piece is None:  # dated on a day the camera was recorded as not working
                    self.tally.in_outage_images += 1
                    continue
                row = self._media_row(image, piece.deployment_id)
                table.write([row.get(name, "") for name in MEDIA_FIELDS])
                if self.options.include_media:
                    files.append((row["filePath"], self._original(image), image.id))
            self.tally.media = table.rows
        return files

    def _media_row(self, image: Row, deployment_id: str) -> dict:
        path, public = self._file(image)
        return {
            "mediaID": f"M{image.id}",
            "deploymentID": deployment_id,
            "captureMethod": "activityDetection",
            "timestamp": stamp(image.taken_at_utc, self.by_deployment[image.deployment_id].zone),
            "filePath": path,
            "filePublic": as_bool(public),
            # A card's folder and file names can say where the camera is.
            "fileName": PublicPolicy.media_name(image.sha256)
            if self.options.public
            else image.original_filename,
            "fileMediatype": "image/jpeg",
            "exifData": self._exif(image),
        }

    def _original(self, image: Row) -> Path:
        path = self.media_dir / image.stored_path
        if not path.is_file():
            raise InvalidInput(
                {"include_media": f"The original of image {image.id} "
                 f"({image.original_filename}) is missing from the media folder."}
            )  # fmt: skip
        return path

    def _file(self, image: Row) -> tuple[str, bool]:
        """Where the photo is, and whether anyone may see it there."""
        if self.options.include_media:
            # In the package; never public when it shows people or vehicles.
            blurred = "-blurred" if image.id in self.blurred else ""
            return f"media/{image.sha256}{blurred}.jpg", image.id not in self.people_images
        # The tracker's own address (write() refuses a package with neither): only signed-in
        # users can open it.
        return f"{self.options.base_url.rstrip('/')}/images/{image.id}/original", False

    def _exif(self, image: Row) -> str:
        data = {
            "Make": image.camera_make,
            "Model": image.camera_model,
            "DateTimeOriginal": image.taken_at_raw,
            "OffsetTimeOriginal": image.utc_offset,
        }
        if not self.options.public:
            data |= {
                "SerialNumber": image.camera_serial,
                "GPSLatitude": image.latitude,
                "GPSLongitude": image.longitude,
                "GPSAltitude": image.altitude,
            }
            data |= image.exif or {}
        data = {k: v for k, v in data.items() if v is not None}
        return json.dumps(data, ensure_ascii=False, sort_keys=True) if data else ""
