"""Shared fixtures: an app, a clean database per test, a client, sign-in, and factories.

The database is SQLite in memory unless ``TEST_DATABASE_URL`` names another (CI passes
PostgreSQL). On PostgreSQL the schema is built once and each test runs inside an outer
transaction that is rolled back at the end, with the app's commits turned into savepoints
(SQLAlchemy's "joining a session into an external transaction" recipe). Tests that must
commit for real (races between transactions, two scheduler processes) use the
``committing_db`` fixture instead, which empties every table afterwards.

The clock (``datetime``, ``date`` and ``time.time``; not the monotonic clocks that timeouts
use) is frozen for the whole session at ``tests.frozen.NOW`` with time-machine, and every
test starts again at that moment; factories date their rows relative to it.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from flask import Flask, g, request_started
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, text

from broker import create_app
from broker.extensions import db, limiter
from broker.models import (
    Area,
    Employer,
    EncounterRequest,
    Match,
    Offer,
    School,
    User,
)
from config import RateLimitTestConfig, TestConfig
from tests.frozen import NOW, days

PASSWORD = "correct horse battery"
ON_POSTGRES = TestConfig.SQLALCHEMY_DATABASE_URI.startswith("postgresql")


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {TestConfig.SQLALCHEMY_DATABASE_URI.split('@')[-1]}"


def pytest_sessionstart(session: pytest.Session) -> None:
    # In CI a missing PostgreSQL is a failure, not a quiet fall-back to SQLite.
    if os.environ.get("CI") and os.environ.get("REQUIRE_POSTGRES") and not ON_POSTGRES:
        raise pytest.UsageError("REQUIRE_POSTGRES is set but TEST_DATABASE_URL is not PostgreSQL")
    # Likewise, in CI the rate-limit tests run against a real Redis.
    if (
        os.environ.get("CI")
        and os.environ.get("REQUIRE_REDIS")
        and not RateLimitTestConfig.RATELIMIT_STORAGE_URI.startswith("redis")
    ):
        raise pytest.UsageError("REQUIRE_REDIS is set but TEST_RATELIMIT_STORAGE_URI is not Redis")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # An app whose rate limits live in memory starts a 10 ms threading.Timer (limits'
    # MemoryStorage), which the interpreter waits for at exit. Under CI's year-ahead run
    # libfaketime fakes the monotonic clock too, so that wait would last until a deadline
    # 400 days on: cancel what is left (a no-op on a normal clock, where they have run).
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


@pytest.fixture(scope="session", autouse=True)
def _session_clock() -> Iterator[None]:
    """Freeze the clock for session-wide fixtures too (the browser tests' demo server)."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def frozen_clock(_session_clock: None) -> Iterator[time_machine.Traveller]:
    """Start every test at ``tests.frozen.NOW``; a test may move it with ``move_to``/``shift``."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


class BoundSession(FlaskSession):
    """A Flask-SQLAlchemy session that uses the connection it was given, for tests."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):  # type: ignore[override]
        if self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


@pytest.fixture(scope="session")
def _postgres_schema() -> Iterator[None]:
    """Build the schema once per run on PostgreSQL (models; migrations are tested apart)."""
    if not ON_POSTGRES:
        yield
        return
    app = create_app(TestConfig)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        db.engine.dispose()
    yield


@pytest.fixture
def app(_postgres_schema: None, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """An app with a clean, empty database; its context is pushed for the test.

    Rate limits are off, except for tests marked ``ratelimit``, which start with none used.
    """
    limited = request.node.get_closest_marker("ratelimit") is not None
    app = create_app(RateLimitTestConfig if limited else TestConfig)
    if limited:
        limiter.reset()
    # The test client's requests run inside the test's app context and so share its ``g``,
    # where Flask-Login caches the signed-in user and Flask-WTF the CSRF token. In production
    # every request starts with a fresh ``g``; so do the tests' requests.
    request_started.connect(_fresh_g, app)
    with app.app_context():
        if not ON_POSTGRES:
            db.create_all()
            yield app
            db.session.remove()
            db.engine.dispose()
            return
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": BoundSession,
            }
        )
        try:
            yield app
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            db.engine.dispose()


def _fresh_g(sender: Flask, **extra: Any) -> None:
    g.__dict__.clear()


@pytest.fixture
def committing_db(_postgres_schema: None) -> Iterator[Flask]:
    """An app whose commits are real (several connections see them); tables emptied after."""
    if not ON_POSTGRES:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    app = create_app(TestConfig)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            names = ", ".join(t.name for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            db.engine.dispose()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, for building a schema from the migrations.

    On PostgreSQL a schema of its own (so the suite's tables in "public" are not touched),
    dropped afterwards; else a new SQLite file.
    """
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    schema = "empty_database"
    admin = create_engine(TestConfig.SQLALCHEMY_DATABASE_URI)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in TestConfig.SQLALCHEMY_DATABASE_URI else "?"
    yield f"{TestConfig.SQLALCHEMY_DATABASE_URI}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def no_csrf(app: Flask) -> Flask:
    """Turn CSRF off for tests that post forms without reading a token first."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


class AuthActions:
    """Sign in and out through the real login form."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, user_or_email: User | str, password: str = PASSWORD):
        email = user_or_email.email if isinstance(user_or_email, User) else user_or_email
        page = self._client.get("/auth/login")
        token = _csrf_token(page.get_data(as_text=True))
        return self._client.post(
            "/auth/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
        page = self._client.get("/", follow_redirects=True)
        token = _csrf_token(page.get_data(as_text=True))
        return self._client.post("/auth/logout", data={"csrf_token": token})


def _csrf_token(html: str) -> str:
    marker = 'name="csrf_token" type="hidden" value="'
    alt = 'name="csrf_token" value="'
    for m in (marker, alt):
        if m in html:
            return html.split(m, 1)[1].split('"', 1)[0]
    return ""


def csrf_token_from(html: str) -> str:
    """Return the CSRF token in a rendered page (for tests that post forms)."""
    return _csrf_token(html)


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


_seq = itertools.count(1)


@pytest.fixture
def make_area(app: Flask) -> Callable[..., Area]:
    def make(**overrides: Any) -> Area:
        area = Area(**{"name": f"Area {next(_seq)}", **overrides})
        db.session.add(area)
        db.session.commit()
        return area

    return make


@pytest.fixture
def make_school(app: Flask, make_area: Callable[..., Area]) -> Callable[..., School]:
    def make(**overrides: Any) -> School:
        n = next(_seq)
        values: dict[str, Any] = {
            "urn": 900000 + n,
            "name": f"Test School {n}",
            "postcode": "SW1A 1AA",
            "lat": 51.5014,
            "lon": -0.1419,
            "kind": "mainstream",
            "gender": "mixed",
            "pupils": 900,
            "fsm_pct": 20.0,
            "la_name": "Westminster",
        }
        values.update(overrides)
        if "area" not in values and "area_id" not in values:
            values["area"] = make_area()
        school = School(**values)
        db.session.add(school)
        db.session.commit()
        return school

    return make


@pytest.fixture
def make_employer(app: Flask) -> Callable[..., Employer]:
    def make(**overrides: Any) -> Employer:
        n = next(_seq)
        values: dict[str, Any] = {
            "name": f"Employer {n}",
            "kind": "business",
            "sector": "engineering",
            "postcode": "SW1A 2AA",
            "lat": 51.5034,
            "lon": -0.1276,
            # Checked by a coordinator: an unchecked employer's offers are not matched.
            "verified_at": NOW,
        }
        values.update(overrides)
        employer = Employer(**values)
        db.session.add(employer)
        db.session.commit()
        return employer

    return make


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    def make(**overrides: Any) -> User:
        n = next(_seq)
        password = overrides.pop("password", PASSWORD)
        areas = overrides.pop("areas", [])
        values: dict[str, Any] = {
            "email": f"user{n}@example.org",
            "name": f"User {n}",
            "role": "admin",
            "email_verified_at": NOW,
        }
        values.update(overrides)
        if values["role"] == "school":
            # School users are verified members of their school unless a test says otherwise.
            values.setdefault("school_status", "verified")
            values.setdefault("school_verified_at", NOW)
        user = User(**values)
        user.set_password(password)
        user.areas = list(areas)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_offer(app: Flask, make_employer: Callable[..., Employer]) -> Callable[..., Offer]:
    def make(**overrides: Any) -> Offer:
        if "employer" not in overrides and "employer_id" not in overrides:
            overrides["employer"] = make_employer()
        employer = overrides.get("employer")
        values: dict[str, Any] = {
            "title": "Engineering talk",
            "type": "talk",
            "sector": "engineering",
            "stem": True,
            "year_min": 8,
            "year_max": 13,
            "capacity": 30,
            "delivery": "at_school",
            "max_km": 25.0,
            "postcode": employer.postcode if employer else "SW1A 2AA",
            "lat": employer.lat if employer else 51.5034,
            "lon": employer.lon if employer else -0.1276,
            "earliest": days(34),
            "latest": days(120),
        }
        values.update(overrides)
        offer = Offer(**values)
        db.session.add(offer)
        db.session.commit()
        return offer

    return make


@pytest.fixture
def make_request(app: Flask, make_school: Callable[..., School]) -> Callable[..., EncounterRequest]:
    def make(**overrides: Any) -> EncounterRequest:
        if "school" not in overrides and "school_id" not in overrides:
            overrides["school"] = make_school()
        values: dict[str, Any] = {
            "type": "talk",
            "year_group": 9,
            "pupils": 25,
            "earliest": days(31),
            "latest": days(89),
        }
        values.update(overrides)
        req = EncounterRequest(**values)
        db.session.add(req)
        db.session.commit()
        return req

    return make


@pytest.fixture
def make_match(
    app: Flask,
    make_request: Callable[..., EncounterRequest],
    make_offer: Callable[..., Offer],
) -> Callable[..., Match]:
    def make(**overrides: Any) -> Match:
        if "request" not in overrides and "request_id" not in overrides:
            overrides["request"] = make_request()
        if "offer" not in overrides and "offer_id" not in overrides:
            overrides["offer"] = make_offer()
        values: dict[str, Any] = {
            "pupils": 20,
            "status": "proposed",
            "score": 1.0,
            "km": 2.0,
            "reasons": "test",
        }
        values.update(overrides)
        match = Match(**values)
        db.session.add(match)
        db.session.commit()
        return match

    return make
