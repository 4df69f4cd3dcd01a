"""Configuration: defaults, then the TRACKER_* environment, then a test mapping.

Every setting a deployment may change comes from the environment, so the web app, the CLI and
gunicorn all agree on which database and media folder they use.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Vladivostok"
# The approximate boundary of the demo area, the map's reference layer until one is configured.
DEMO_BOUNDARY = Path(__file__).resolve().parent / "static" / "parks" / "demo-boundary.geojson"


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
        # What one web upload may store in all: a zip expands, and photos may hide data.
        "MAX_STORED_MB": 4096,
        # Background jobs (tracker.jobs): huey's SQLite storage beside the database, so the
        # embedded default needs no other service; redis:// or postgresql:// for many machines.
        # A running job whose heartbeat is older than the lease is taken to have lost its worker.
        "JOBS_URL": f"sqlite:///{instance / 'jobs.sqlite3'}",
        "JOB_LEASE_SECONDS": 60,
        # Resumable (tus) uploads: partial ones wait here this long for the rest, then go.
        "UPLOAD_DIR": str(instance / "uploads"),
        "UPLOAD_KEEP_HOURS": 72,
        "TIMEZONE": DEFAULT_TIMEZONE,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # Sign-in throttling: after this many failures an (account, address) pair must wait, and
        # an address that failed against this many accounts, doubling each time up to the maximum.
        "LOGIN_FREE_ATTEMPTS": 5,
        "LOGIN_ADDRESS_FREE_ACCOUNTS": 20,
        "LOGIN_MAX_DELAY_SECONDS": 15 * 60,
        # Cookies only over HTTPS (on in production, off for the development server), and how
        # many reverse proxies in front of the app may be believed about the client's address.
        "SECURE_COOKIES": False,
        "PROXY_HOPS": 0,
        # Science settings (see README): sightings of one animal at one station less than this
        # apart form one independent event; shots less than this apart are one trigger burst.
        "EVENT_MINUTES": 30,
        "SEQUENCE_SECONDS": 10,
        "NOT_SEEN_MONTHS": 12,
        # XMP keyword hierarchies that photo-ID teams use, e.g. "Species|Amur leopard".
        "TAG_SPECIES": "Species",
        "TAG_INDIVIDUAL": "individual",
        # Photo-ID (tracker.reid): species whose animal boxes get coat-pattern features,
        # comma-separated common or scientific names.
        "PATTERN_SPECIES": "Amur leopard",
        # A ranger may pick a few thousand photos at once rather than zipping the card.
        "MAX_FORM_PARTS": 20_000,
        # A form opened at the start of a long field day must still submit at its end; the token
        # stays bound to the signed-in session.
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        # Maps: the tiles under the layers (empty: none; the layers still draw), reference
        # layers from GeoJSON files, and the public map of events per grid cell (off).
        "TILE_URL": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "TILE_ATTRIBUTION": "© OpenStreetMap contributors",
        "MAP_LAYERS": [str(DEMO_BOUNDARY)],
        "PUBLIC_MAP": False,
        "PUBLIC_GRID": 0.1,
        # Detector boxes below this confidence are kept but not shown, unless the results file
        # gave its own typical_detection_threshold (or a person set one for the run).
        "DETECTION_THRESHOLD": 0.2,
    }


def media_dir(instance: Path) -> str:
    """Where originals and previews go, from the environment: read on its own by a command that
    starts work before its app (tracker.cli)."""
    media_url = os.environ.get("TRACKER_MEDIA_URL", "").strip()
    if media_url:
        # Originals and previews in an S3-compatible store (tracker.objectstore): the media
        # "folder" every part of the tracker is given is then this URL.
        if not media_url.startswith("s3://") or len(media_url) <= len("s3://"):
            raise RuntimeError(f"TRACKER_MEDIA_URL must be s3://bucket/prefix, not {media_url!r}")
        return media_url.rstrip("/")
    if os.environ.get("TRACKER_MEDIA_DIR"):
        return str(Path(os.environ["TRACKER_MEDIA_DIR"]).expanduser().resolve())
    return defaults(instance)["MEDIA_DIR"]


def from_environment(instance: Path) -> dict:
    """The settings for one app: defaults, overridden by the environment at app creation."""
    settings = defaults(instance)
    settings["SECRET_KEY"] = secret_key(instance)
    if os.environ.get("DATABASE_URL"):
        settings["DATABASE_URL"] = os.environ["DATABASE_URL"]
    settings["MEDIA_DIR"] = media_dir(instance)
    for key in ("MAX_UPLOAD_MB", "MAX_STORED_MB"):
        settings[key] = _int_env(f"TRACKER_{key}", settings[key])
    settings["JOBS_URL"] = os.environ.get("TRACKER_JOBS_URL") or settings["JOBS_URL"]
    settings["JOB_LEASE_SECONDS"] = _int_env("TRACKER_JOB_LEASE_SECONDS", 60)
    if os.environ.get("TRACKER_UPLOAD_DIR"):
        settings["UPLOAD_DIR"] = str(Path(os.environ["TRACKER_UPLOAD_DIR"]).expanduser().resolve())
    settings["UPLOAD_KEEP_HOURS"] = _int_env("TRACKER_UPLOAD_KEEP_HOURS", 72)
    settings["TIMEZONE"] = _timezone_env()
    for key in ("EVENT_MINUTES", "SEQUENCE_SECONDS", "NOT_SEEN_MONTHS"):
        settings[key] = _int_env(f"TRACKER_{key}", settings[key])
    for key in ("TAG_SPECIES", "TAG_INDIVIDUAL", "PATTERN_SPECIES"):
        settings[key] = os.environ.get(f"TRACKER_{key}") or settings[key]
    _map_env(settings)
    _security_env(settings)
    _publisher_env(settings)
    _science_env(settings)
    settings["DETECTION_THRESHOLD"] = _fraction_env("TRACKER_DETECTION_THRESHOLD", 0.2)
    return settings


def _security_env(settings: dict) -> None:
    """TRACKER_SECURE_COOKIES (default on: production is served over HTTPS) and
    TRACKER_PROXY_HOPS (default 0: no X-Forwarded-* header is believed)."""
    secure = os.environ.get("TRACKER_SECURE_COOKIES", "1").strip() or "1"
    if secure not in ("0", "1"):
        raise RuntimeError(f"TRACKER_SECURE_COOKIES must be 1 (on) or 0 (off), not {secure!r}")
    settings["SECURE_COOKIES"] = secure == "1"
    settings["PROXY_HOPS"] = _int_env("TRACKER_PROXY_HOPS", 0)
    if not 0 <= settings["PROXY_HOPS"] <= 10:
        raise RuntimeError(
            f"TRACKER_PROXY_HOPS must be 0 to 10 (proxies in front of the app), "
            f"not {settings['PROXY_HOPS']}"
        )


def _science_env(settings: dict) -> None:
    """Capture histories' session name and projection, and the app's address for exports."""
    code = os.environ.get("TRACKER_PARK_CODE", "").strip()
    if code and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,31}", code):
        raise RuntimeError(
            f"TRACKER_PARK_CODE must be 1 to 32 letters, digits, '.' or '-', not {code!r}"
        )
    settings["PARK_CODE"] = code
    settings["CRS"] = os.environ.get("TRACKER_CRS", "").strip()
    settings["BASE_URL"] = os.environ.get("TRACKER_BASE_URL", "").strip().rstrip("/")


def _publisher_env(settings: dict) -> None:
    """Camtrap DP's publisher, licence and project (TRACKER_PUBLISHER_*, TRACKER_LICENSE)."""
    from tracker.exports.publisher import CONFIG_KEYS, Publisher

    for key in CONFIG_KEYS.values():
        if f"TRACKER_{key}" in os.environ:
            settings[key] = os.environ[f"TRACKER_{key}"].strip()
    for key, wanted in Publisher.from_config(settings).problems().items():
        raise RuntimeError(f"TRACKER_{key} must be {wanted}, not {settings.get(key)!r}")


def _fraction_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be a number from 0 to 1, e.g. 0.2, not {raw!r}") from exc
    if not 0 <= value <= 1:
        raise RuntimeError(f"{name} must be a number from 0 to 1, not {raw!r}")
    return value


def _map_env(settings: dict) -> None:
    """The map settings. An empty TRACKER_TILE_URL or TRACKER_MAP_LAYERS means none."""
    for key in ("TILE_URL", "TILE_ATTRIBUTION"):
        if f"TRACKER_{key}" in os.environ:
            settings[key] = os.environ[f"TRACKER_{key}"].strip()
    if "TRACKER_MAP_LAYERS" in os.environ:
        raw = os.environ["TRACKER_MAP_LAYERS"]
        settings["MAP_LAYERS"] = [p.strip() for p in raw.split(",") if p.strip()]
    public = os.environ.get("TRACKER_PUBLIC_MAP", "").strip()
    if public not in ("", "0", "1"):
        raise RuntimeError(f"TRACKER_PUBLIC_MAP must be 1 (on) or 0 (off), not {public!r}")
    settings["PUBLIC_MAP"] = public == "1"
    grid = os.environ.get("TRACKER_PUBLIC_GRID", "").strip()
    if grid:
        try:
            settings["PUBLIC_GRID"] = float(grid)
        except ValueError as exc:
            raise RuntimeError(
                f"TRACKER_PUBLIC_GRID must be degrees, e.g. 0.1, not {grid!r}"
            ) from exc
    from tracker.public import grid_problem  # the one rule for every public output

    if problem := grid_problem(settings["PUBLIC_GRID"]):
        raise RuntimeError(f"TRACKER_PUBLIC_GRID: {problem}")


def finish(settings: dict) -> dict:
    """Values derived from others, computed once every layer has been applied."""
    settings["DATABASE_URL"] = normalise_database_url(settings["DATABASE_URL"])
    settings["MAX_CONTENT_LENGTH"] = settings["MAX_UPLOAD_MB"] * 1024 * 1024
    settings["SESSION_COOKIE_SECURE"] = settings["SECURE_COOKIES"]
    settings["REMEMBER_COOKIE_SECURE"] = settings["SECURE_COOKIES"]
    return settings
