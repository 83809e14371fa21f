"""Configuration from environment variables, with safe local defaults.

Every setting can be overridden by an environment variable of the same name. With
nothing set, the broker runs on an SQLite file under ``instance/`` and keeps a generated
secret key there, so a fresh checkout works without any setup.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
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

    # Sessions end after this long without a request (the server checks). The cookie itself
    # lasts a day longer, so that someone coming back is told why they were signed out.
    IDLE_TIMEOUT_MINUTES = int(os.environ.get("IDLE_TIMEOUT_MINUTES", "120"))
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=IDLE_TIMEOUT_MINUTES, days=1)
    # How long the links in account emails work.
    VERIFY_LINK_HOURS = int(os.environ.get("VERIFY_LINK_HOURS", "72"))
    RESET_LINK_MINUTES = int(os.environ.get("RESET_LINK_MINUTES", "60"))
    # How long an invitation to join a school works (broker.services.memberships).
    INVITE_LINK_DAYS = int(os.environ.get("INVITE_LINK_DAYS", "7"))
    # How many proxies (load balancers) stand in front of the app and set X-Forwarded-For:
    # rate limits and the audit log need the visitor's address, not the proxy's.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Rate limits (Flask-Limiter). Production keeps the counts in Redis so that every worker
    # shares them, e.g. RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0; the default, memory,
    # suits one process (the demo, a laptop).
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # Every POST anywhere, per address: loose, so a school's staff behind one address are fine.
    RATELIMIT_POST = os.environ.get("RATELIMIT_POST", "200 per minute")
    # Failed sign-ins only (a correct password does not count, but is refused while locked).
    RATELIMIT_LOGIN_ACCOUNT = os.environ.get("RATELIMIT_LOGIN_ACCOUNT", "10 per 15 minutes")
    RATELIMIT_LOGIN_ADDRESS = os.environ.get("RATELIMIT_LOGIN_ADDRESS", "30 per 15 minutes")
    RATELIMIT_REGISTER = os.environ.get("RATELIMIT_REGISTER", "10 per hour")
    RATELIMIT_RESET_ADDRESS = os.environ.get("RATELIMIT_RESET_ADDRESS", "10 per hour")
    RATELIMIT_RESET_ACCOUNT = os.environ.get("RATELIMIT_RESET_ACCOUNT", "3 per hour")

    # The largest request body accepted, in bytes: a larger one is refused (413) before it
    # is read. The admin's schools import may be larger (a full GIAS extract is ~60 MB).
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(5 * 1024 * 1024)))
    IMPORT_MAX_CONTENT_LENGTH = int(
        os.environ.get("IMPORT_MAX_CONTENT_LENGTH", str(100 * 1024 * 1024))
    )
    # Days an email's text stays in the outbox after it was sent or given up on; then the
    # nightly housekeeping empties it (the row stays, to show that it was sent).
    OUTBOX_RETENTION_DAYS = int(os.environ.get("OUTBOX_RETENTION_DAYS", "90"))

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
    # Capacity ceilings per encounter type: a JSON object overriding the defaults in
    # broker.services.employer_checks, e.g. {"talk": {"in_person": 250, "virtual": 1500}}.
    # create_app checks it and stores the full table, so a mistake stops the app at start.
    CAPACITY_CEILINGS: dict | str = os.environ.get("CAPACITY_CEILINGS", "{}")
    # Vetting evidence uploads (insurance certificates, risk assessments): the largest file,
    # and the folder they are kept in (default: instance/evidence).
    EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(5 * 1024 * 1024)))
    EVIDENCE_DIR = os.environ.get("EVIDENCE_DIR")
    # Optional online geocoder for postcodes missing from the offline data (geopy Nominatim
    # user agent). Off by default: the broker never needs the network.
    ONLINE_GEOCODER_USER_AGENT = os.environ.get("ONLINE_GEOCODER_USER_AGENT")

    SCHEDULER_TIMEZONE = os.environ.get("SCHEDULER_TIMEZONE", "Europe/London")
    # A running job renews its lease every third of this; a dead holder's lease lapses after it.
    JOB_LEASE_SECONDS = int(os.environ.get("JOB_LEASE_SECONDS", "60"))
    # The level of the broker's own log lines on stderr (DEBUG, INFO, WARNING, ERROR).
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "25"))


class TestConfig(Config):
    """Settings for the test suite: its own database, CSRF left on unless a test turns it off."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SERVER_NAME = "localhost"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 0
    # Limits are off for the suite; the rate-limit tests (marker ``ratelimit``) turn them on,
    # against the Redis named here when it is set (CI), else in memory.
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = os.environ.get("TEST_RATELIMIT_STORAGE_URI", "memory://")


class RateLimitTestConfig(TestConfig):
    """The suite's settings with rate limits on (for tests marked ``ratelimit``)."""

    RATELIMIT_ENABLED = True
