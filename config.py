"""Configuration from environment variables, with safe local defaults.

Every setting can be overridden by an environment variable of the same name. With
nothing set, the broker runs on an SQLite file under ``instance/`` and keeps a generated
secret key there, so a fresh checkout works without any setup.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("BROKER_INSTANCE_DIR", BASE_DIR / "instance"))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """Return SECRET_KEY from the environment, or one generated once and kept in instance/.

    A constant in the code would let anyone who reads it forge sessions.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver named.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'broker.sqlite'}"


class Config:
    """Settings for running the broker; read once when the app is created."""

    SECRET_KEY = _secret_key()
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # a form left open over lunch should still submit

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_FROM = os.environ.get("MAIL_FROM", "The broker <noreply@broker.local>")
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")

    # Matching weights: a JSON object of term -> weight overriding matching.Weights defaults,
    # e.g. {"stem": 30}. Kept as text here; create_app checks it and stores the dict, so a
    # mistake stops the app with a message naming it (broker.services.matching.check_weights).
    MATCHING_WEIGHTS: dict | str = os.environ.get("MATCHING_WEIGHTS", "{}")
    # Optional online geocoder for postcodes missing from the offline data (geopy Nominatim
    # user agent). Off by default: the broker never needs the network.
    ONLINE_GEOCODER_USER_AGENT = os.environ.get("ONLINE_GEOCODER_USER_AGENT")

    SCHEDULER_TIMEZONE = os.environ.get("SCHEDULER_TIMEZONE", "Europe/London")
    PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "25"))


class TestConfig(Config):
    """Settings for the test suite: its own database, CSRF left on unless a test turns it off."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SERVER_NAME = "localhost"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 0
