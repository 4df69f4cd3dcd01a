"""Configuration: defaults, then the TRACKER_* environment, then a test mapping.

Every setting a deployment may change comes from the environment, so the web app, the CLI and
gunicorn all agree on which database and media folder they use.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Vladivostok"


def instance_path() -> Path:
    """The instance folder: TRACKER_INSTANCE_PATH, else `instance/` at the project root."""
    configured = os.environ.get("TRACKER_INSTANCE_PATH")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "instance"


def normalise_database_url(url: str) -> str:
    """Accept the URL forms hosting platforms hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def secret_key(instance: Path) -> str:
    """TRACKER_SECRET_KEY, or a random key generated once into the instance folder.

    Never a fixed default: a known key would let anyone forge session cookies.
    """
    configured = os.environ.get("TRACKER_SECRET_KEY")
    if configured:
        return configured
    key_file = instance / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a whole number, not {raw!r}") from exc


def _timezone_env() -> str:
    name = os.environ.get("TRACKER_TIMEZONE", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuntimeError(f"TRACKER_TIMEZONE {name!r} is not an IANA time zone") from exc
    return name


def defaults(instance: Path) -> dict:
    """Settings that need no environment: the embedded SQLite database and media under instance/."""
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'tracker.sqlite3'}",
        "MEDIA_DIR": str(instance / "media"),
        "MAX_UPLOAD_MB": 2048,
        "TIMEZONE": DEFAULT_TIMEZONE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Sign-in throttling: after this many failures the account and the address must wait,
        # doubling each time up to the maximum.
        "LOGIN_FREE_ATTEMPTS": 5,
        "LOGIN_MAX_DELAY_SECONDS": 15 * 60,
        # Science settings (see README): sightings of one animal at one station less than this
        # apart form one independent event; shots less than this apart are one trigger burst.
        "EVENT_MINUTES": 30,
        "SEQUENCE_SECONDS": 10,
        "NOT_SEEN_MONTHS": 12,
        # XMP keyword hierarchies that photo-ID teams use, e.g. "Species|Amur leopard".
        "TAG_SPECIES": "Species",
        "TAG_INDIVIDUAL": "individual",
        # A ranger may pick a few thousand photos at once rather than zipping the card.
        "MAX_FORM_PARTS": 20_000,
        # A form opened at the start of a long field day must still submit at its end; the token
        # stays bound to the signed-in session.
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
    }


def from_environment(instance: Path) -> dict:
    """The settings for one app: defaults, overridden by the environment at app creation."""
    settings = defaults(instance)
    settings["SECRET_KEY"] = secret_key(instance)
    if os.environ.get("DATABASE_URL"):
        settings["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if os.environ.get("TRACKER_MEDIA_DIR"):
        settings["MEDIA_DIR"] = str(Path(os.environ["TRACKER_MEDIA_DIR"]).expanduser().resolve())
    settings["MAX_UPLOAD_MB"] = _int_env("TRACKER_MAX_UPLOAD_MB", settings["MAX_UPLOAD_MB"])
    settings["TIMEZONE"] = _timezone_env()
    for key in ("EVENT_MINUTES", "SEQUENCE_SECONDS", "NOT_SEEN_MONTHS"):
        settings[key] = _int_env(f"TRACKER_{key}", settings[key])
    for key in ("TAG_SPECIES", "TAG_INDIVIDUAL"):
        settings[key] = os.environ.get(f"TRACKER_{key}") or settings[key]
    return settings


def finish(settings: dict) -> dict:
    """Values derived from others, computed once every layer has been applied."""
    settings["DATABASE_URL"] = normalise_database_url(settings["DATABASE_URL"])
    settings["MAX_CONTENT_LENGTH"] = settings["MAX_UPLOAD_MB"] * 1024 * 1024
    return settings
