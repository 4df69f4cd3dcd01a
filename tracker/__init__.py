"""The leopard camera-trap tracker: an app factory (tracker.app) and its parts.

Importing the package loads nothing else: the `tracker` command loads Flask and SQLAlchemy only
once it knows what it is asked (tracker.cli). `from tracker import create_app` still works.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def __getattr__(name: str):
    if name == "create_app":
        from tracker.app import create_app

        return create_app
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")
