"""Shared form plumbing: domain errors land next to the fields they are about."""

from __future__ import annotations

from flask_wtf import FlaskForm

from tracker.accounts import MAX_ID
from tracker.errors import InvalidInput


def parse_id(text) -> int | None:
    """A row id typed or chosen in a form, or None (also beyond the database's integer range)."""
    text = text.strip() if isinstance(text, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    return None


def show_errors(form: FlaskForm, exc: InvalidInput) -> None:
    """Attach each refused field's message to the form field, or to the form as a whole."""
    for name, message in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(f"{name}: {message}" if name != "form" else message)


def form_status(form: FlaskForm) -> int:
    """400 for a refused submission, so scripts and tests can tell it from a fresh form."""
    return 400 if form.is_submitted() else 200
