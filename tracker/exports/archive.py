"""Zip members for the packaged exports (Camtrap DP, capture histories): dated, readable by all,
and CSV tables written row by row straight into the zip."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from datetime import datetime

from tracker.exports import csvsafe


def member(
    name: str, moment: datetime, compress_type: int = zipfile.ZIP_DEFLATED
) -> zipfile.ZipInfo:
    """A zip entry dated `moment` and readable by all (zipfile's defaults: 1980 and owner-only)."""
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
    info.compress_type = compress_type
    info.external_attr = 0o644 << 16
    return info


class CsvMember:
    """One CSV member of the zip, written row by row."""

    def __init__(
        self, archive: zipfile.ZipFile, name: str, header: Iterable[str], moment: datetime
    ):
        self._raw = archive.open(member(name, moment), "w")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="")
        self._writer = csv.writer(self._text, lineterminator="\n")
        self._writer.writerow(header)
        self.rows = 0

    def write(self, row: list) -> None:
        self._writer.writerow(csvsafe.row(row))  # no cell starts a spreadsheet formula
        self.rows += 1

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvMember:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
