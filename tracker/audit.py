"""The audit log: who did what to which record, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tracker.models import AuditLog, User


def record(
    session: Session,
    user: User | None,
    action: str,
    entity: str,
    entity_id: Any = None,
    **details: Any,
) -> AuditLog:
    """Add an entry in the caller's transaction: it commits or rolls back with the change."""
    entry = AuditLog(
        user_id=user.id if user is not None else None,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        details=details,
    )
    session.add(entry)
    return entry


def changes(obj: object, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value differs; JSON-safe for the log."""
    diff = {}
    for field, after in new_values.items():
        before = getattr(obj, field)
        if before != after:
            diff[field] = [_plain(before), _plain(after)]
    return diff


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
