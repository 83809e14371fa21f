"""The access matrix: every route in the URL map, tried by every kind of person.

Two sides share the country: side A (area X, employer A, school A, coordinator of X) and
side B (area Y, employer B, school B, coordinator of Y), plus an admin and someone not
signed in. Each route is asked for by each actor with the *other* side's ids in its URL
(and in the query string where a route reads ids from it), and the test asserts:

- **no leak**: the answer is a refusal (403, 404, or a redirect to sign in) wherever the
  ids are not the actor's, and no page shows the other side's private data (contact emails
  and phone numbers, people's emails) or even its organisations' and offer's names (no
  match crosses the sides, so no page of one has reason to name the other);
- **no wrong-actor change**: for a POST (sent with data that would succeed for the owner),
  the other side's rows in every table that matters are the same before and after;
- **positive controls**: the rightful owner gets 200 or a redirect on their own objects,
  and sees the other party's contacts where the product means them to, so the markers the
  leak check looks for do show up when they should;
- **CSRF**: every POST route answers 400 without a CSRF token, changing nothing.

A route nobody has classified fails :func:`test_every_route_is_classified` with a message
saying which table to add it to: a new route is covered as soon as it exists.

The world is built once for the module; each test runs inside a savepoint that is rolled
back afterwards (on SQLite too, with pysqlite's transaction handling switched off as
SQLAlchemy's documentation describes), so a test that changes something does not change
the next one's world.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, request_started, url_for
from flask.testing import FlaskClient
from sqlalchemy import event, or_, select

from broker import create_app
from broker.auth.sessions import LAST_SEEN
from broker.extensions import db
from broker.models import (
    Area,
    Employer,
    EmployerDocument,
    Encounter,
    EncounterRequest,
    Feedback,
    Match,
    MatchEvent,
    MatchRun,
    Offer,
    School,
    SchoolBlackout,
    SchoolYearGroup,
    User,
)
from broker.services import employer_checks
from config import TestConfig
from tests.conftest import ON_POSTGRES, BoundSession, _fresh_g
from tests.frozen import NOW, days

# --------------------------------------------------------------------------- the tables
# Which roles each blueprint admits (its role guard). The app's own routes are in PUBLIC.
BLUEPRINT_ROLES: dict[str, frozenset[str]] = {
    "employer": frozenset({"employer"}),
    "school": frozenset({"school"}),
    "coordinator": frozenset({"coordinator", "admin"}),
    "admin": frozenset({"admin"}),
    "insights": frozenset({"coordinator", "admin"}),
    # School membership: a school's members decide on their school's people; coordinators
    # and admins on those of the schools in their areas.
    "members": frozenset({"school", "coordinator", "admin"}),
}
# Endpoints whose guard differs from their blueprint's.
ENDPOINT_ROLES: dict[str, frozenset[str]] = {
    "insights.employer_needs": frozenset({"employer"}),
    "insights.school_encounters": frozenset({"school"}),
    "insights.refresh": frozenset({"admin"}),
    "members.waiting": frozenset({"school"}),
    "members.school_members": frozenset({"school"}),
    "members.invite": frozenset({"school"}),
    "members.claims": frozenset({"coordinator", "admin"}),
}
SIGNED_IN = frozenset({"employer", "school", "coordinator", "admin"})
# Anyone signed in, whatever their role: the person's own account.
ACCOUNT = {
    "auth.account": SIGNED_IN,
    "auth.change_password": SIGNED_IN,
    "auth.change_email": SIGNED_IN,
    "auth.email_preferences": SIGNED_IN,
    # Its own organisation's data only (coordinators and admins have none: 404).
    "auth.organisation_data": SIGNED_IN,
}
# Open to everyone, signed in or not. Token routes carry their own credential (a signed
# token); the matrix gives them a forged one.
PUBLIC = frozenset(
    {
        "index",
        "static",
        "api.health",
        "api.school_by_urn",
        "auth.login",
        "auth.logout",
        "auth.register_employer",
        "auth.register_school",
        "auth.check_email",
        "auth.confirm_email",
        "auth.forgot_password",
        "auth.reset_password",
        "auth.confirm_email_change",
        "employer.calendar_feed",
        "school.calendar_feed",
        "members.accept_invitation",
        "privacy",
        # A school's provider access policy statement is published for anyone (issue 11).
        "school.provider_access",
    }
)
# Routes that show anyone a school's public name (GIAS data) by its URN, for registration.
PUBLIC_NAMES = frozenset({"api.school_by_urn", "school.provider_access"})
# Which model each URL variable names, by the world's key for it.
ID_FIELDS = {
    "offer_id": "offer",
    "request_id": "request",
    "match_id": "match",
    "blackout_id": "blackout",
    "school_id": "school",
    "employer_id": "employer",
    "document_id": "document",
    "user_id": "user",
    "run_id": "run",
    "urn": "urn",
    "token": "token",
    "filename": "filename",
}
# Routes whose ids are shared by everyone the blueprint admits (not any one side's).
SHARED_IDS = frozenset({"coordinator.run_detail", "api.school_by_urn", "static"})
# Routes that read ids from the query string: the matrix sends the other side's there too.
QUERY_IDS: dict[str, dict[str, str]] = {
    "coordinator.queue": {"area": "area"},
    "coordinator.bulk_approve": {"area": "area"},
    "coordinator.gaps": {"area": "area"},
    "coordinator.hand_match_page": {"request_id": "request", "offer_id": "offer"},
    "employer.match_list": {"offer": "offer"},
    "insights.overview": {"area": "area"},
    "insights.needs": {"area": "area"},
    "insights.fairness_page": {"area": "area"},
    "insights.charts": {"area": "area"},
    "insights.coverage_export": {"area": "area"},
    "insights.encounters_export": {"area": "area"},
    "insights.runs_export": {"area": "area"},
}
# Which of a side's matches a match route is given: one in the state where the action
# would succeed for its owner, so that a refusal is the access rule's doing.
MATCH_FOR = {
    "match_respond": "approved",
    "match_schedule": "accepted",
    "match_cancel": "accepted",
    "match_deliver": "accepted",
    "match_feedback": "delivered",
    "match_criteria": "delivered",
    "approve": "proposed",
    "reject": "proposed",
}
# Data a POST sends: what would succeed for the owner (with {side} placeholders filled).
FORM_DATA: dict[str, dict[str, Any]] = {
    "employer.match_respond": {"answer": "accept"},
    "school.match_respond": {"answer": "accept"},
    "employer.match_schedule": {"on": days(10).isoformat()},
    "school.match_schedule": {"on": days(10).isoformat()},
    "employer.match_cancel": {"reason": "Our speaker is ill."},
    "school.match_cancel": {"reason": "The trip is off."},
    "employer.match_deliver": {"delivered_on": days(-1).isoformat(), "pupils_reached": 20},
    "school.match_deliver": {"delivered_on": days(-1).isoformat(), "pupils_reached": 20},
    "employer.match_feedback": {"rating": "5", "would_welcome_again": "yes"},
    "school.match_feedback": {"rating": "5", "would_welcome_again": "yes"},
    "coordinator.reject": {"reason": "Too far for this school."},
    "coordinator.bulk_approve": {"expected": 1},
    "coordinator.hand_match_page": {"request_id": "{request}", "offer_id": "{offer}", "pupils": 5},
    "employer.offer_edit": {
        "title": "Changed by someone",
        "type": "talk",
        "sector": "engineering",
        "year_min": 8,
        "year_max": 13,
        "capacity": 150,
        "delivery": "at_school",
        "max_km": "30",
        "audience": "mixed",
        "earliest": days(34).isoformat(),
        "latest": days(120).isoformat(),
        "postcode": "SW1A 2AA",
    },
    "school.request_edit": {
        "type": "talk",
        "year_group": 10,
        "pupils": 12,
        "earliest": days(31).isoformat(),
        "latest": days(89).isoformat(),
    },
    "admin.toggle_active": {},
    "coordinator.employer_suspend": {"reason": "Complaints from two schools."},
    "employer.match_criteria": {"criteria": ["purpose", "outcomes", "interaction"]},
    "school.match_criteria": {
        "criteria": ["purpose", "outcomes", "interaction", "reflection"],
        "reflected_pct": 80,
    },
}
# POSTs whose positive control cannot change the owner's rows in this world, and why.
NO_CHANGE_FOR_OWNER = {
    # The world's employers are checked already: checking again is refused as a repeat
    # (tests/broker/test_employer_checks.py checks a new one).
    "coordinator.employer_verify",
    # Nor are they suspended: lifting a suspension that is not there changes nothing.
    "coordinator.employer_lift",
}
ACTORS = ("anonymous", "employer_a", "employer_b", "school_a", "school_b",
          "coordinator_x", "coordinator_y", "admin")
ROLE = {
    "anonymous": None,
    "employer_a": "employer",
    "employer_b": "employer",
    "school_a": "school",
    "school_b": "school",
    "coordinator_x": "coordinator",
    "coordinator_y": "coordinator",
    "admin": "admin",
}
SIDE = {"employer_a": "a", "school_a": "a", "coordinator_x": "a",
        "employer_b": "b", "school_b": "b", "coordinator_y": "b"}
OTHER = {"a": "b", "b": "a"}


def _roles_for(endpoint: str) -> frozenset[str] | None:
    """The roles admitted to ``endpoint``; None when it is open to everyone."""
    if endpoint in PUBLIC:
        return None
    if endpoint in ACCOUNT:
        return ACCOUNT[endpoint]
    if endpoint in ENDPOINT_ROLES:
        return ENDPOINT_ROLES[endpoint]
    return BLUEPRINT_ROLES[endpoint.split(".", 1)[0]]


def _classified(endpoint: str) -> bool:
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
    return (
        endpoint in PUBLIC
        or endpoint in ACCOUNT
        or endpoint in ENDPOINT_ROLES
        or blueprint in BLUEPRINT_ROLES
    )


# --------------------------------------------------------------------------- the world
@dataclass
class Side:
    """One side's ids and the private strings only it (and its coordinator) may see."""

    area: int = 0
    employer: int = 0
    school: int = 0
    urn: int = 0
    offer: int = 0
    paused_offer: int = 0
    request: int = 0
    blackout: int = 0
    document: int = 0
    matches: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


@dataclass
class World:
    app: Flask
    connection: Any
    sides: dict[str, Side]
    admin: int
    run: int


def _route_rules() -> tuple[list[tuple[str, str, str]], dict[tuple[str, str], frozenset[str]]]:
    """(endpoint, rule, method) for every route of a fresh app, in a stable order, and the
    URL variables of each (endpoint, rule)."""
    app = create_app(TestConfig)
    found = set()
    arguments = {}
    for rule in app.url_map.iter_rules():
        arguments[(rule.endpoint, rule.rule)] = frozenset(rule.arguments)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.add((rule.endpoint, rule.rule, method))
    return sorted(found), arguments


ROUTES, ARGUMENTS = _route_rules()


def _sqlite_savepoints(engine: Any) -> None:
    """Let pysqlite run SAVEPOINTs: SQLAlchemy emits BEGIN itself (its documented recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


# Names found on no page but their own side's (and the admin's): a side's organisations and
# its offer are nobody else's business here, as no match crosses the sides.
NAMES = {
    "a": {"employer": "Anvil Works", "school": "Acorn Academy", "offer": "Anvil bridge talk"},
    "b": {"employer": "Beacon Labs", "school": "Bramble High", "offer": "Beacon robot talk"},
}


def _build_side(key: str, *, lat: float, lon: float, postcode: str) -> Side:
    side = Side()
    area = Area(name=f"Area {key.upper()}")
    employer = Employer(
        name=NAMES[key]["employer"], kind="business", sector="engineering",
        postcode=postcode, lat=lat, lon=lon, area=area,
        contact_name=f"Contact of employer {key}",
        contact_email=f"contact-{key}@employer-{key}.example",
        contact_phone=f"0700 900 00{ord(key)}",
        dbs_checked=True, insurance_expires_on=days(300), risk_assessment_on=days(-10),
        verified_at=NOW,
    )
    school = School(
        urn=880000 + ord(key), name=NAMES[key]["school"], postcode=postcode,
        lat=lat + 0.01, lon=lon + 0.01, kind="mainstream", gender="mixed", pupils=900,
        fsm_pct=20.0, la_name=f"Borough {key}", area=area,
        careers_leader_name=f"Leader of school {key}",
        careers_leader_email=f"leader-{key}@school-{key}.example",
        careers_leader_phone=f"0700 800 00{ord(key)}",
    )
    db.session.add_all([area, employer, school])
    users = {
        "employer": User(email=f"staff-{key}@employer-{key}.example", name=f"Staff {key}",
                         role="employer", employer=employer),
        "school": User(email=f"teacher-{key}@school-{key}.example", name=f"Teacher {key}",
                       role="school", school=school, school_status="verified",
                       school_verified_at=NOW),
        "coordinator": User(email=f"coord-{key}@council-{key}.example", name=f"Coord {key}",
                            role="coordinator"),
    }
    users["coordinator"].areas = [area]
    for user in users.values():
        user.email_verified_at = NOW
        user.set_password("correct horse battery")
    db.session.add_all(users.values())

    def offer(**extra: Any) -> Offer:
        values: dict[str, Any] = dict(
            employer=employer, title=NAMES[key]["offer"], type="talk", sector="engineering",
            stem=True, year_min=8, year_max=13, capacity=200, delivery="at_school",
            max_km=25.0, postcode=postcode, lat=lat, lon=lon,
            earliest=days(-30), latest=days(120),
        )
        values.update(extra)
        return Offer(**values)

    def encounter_request(**extra: Any) -> EncounterRequest:
        values: dict[str, Any] = dict(
            school=school, type="talk", year_group=9, pupils=25,
            earliest=days(-30), latest=days(89),
        )
        values.update(extra)
        return EncounterRequest(**values)

    the_offer = offer()
    paused = offer(status="paused", title=f"Paused talk by {key}")
    open_request = encounter_request(earliest=days(31))
    blackout = SchoolBlackout(school=school, starts_on=days(200), ends_on=days(201),
                              reason="Exams")
    db.session.add_all([the_offer, paused, open_request, blackout])
    matches = {}
    for status in ("proposed", "approved", "accepted", "delivered"):
        m = Match(
            request=encounter_request(), offer=the_offer, pupils=20, status=status,
            score=1.0, km=1.5, reasons="test",
            school_response="accepted" if status in ("accepted", "delivered") else None,
            employer_response="accepted" if status in ("accepted", "delivered") else None,
            scheduled_on=days(-1) if status in ("accepted", "delivered") else None,
        )
        db.session.add(m)
        matches[status] = m
    db.session.add(
        Encounter(match=matches["delivered"], delivered_on=days(-1), pupils_reached=20)
    )
    document = EmployerDocument(
        employer=employer, kind="insurance", stored_name=f"matrix-insurance-{key}",
        filename=f"insurance-{key}.pdf", content_type="application/pdf", size=14,
    )
    db.session.add(document)
    db.session.flush()
    path = employer_checks.document_path(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 test\n")
    side.area, side.employer, side.school, side.urn = area.id, employer.id, school.id, school.urn
    side.offer, side.paused_offer = the_offer.id, paused.id
    side.request, side.blackout = open_request.id, blackout.id
    side.document = document.id
    side.matches = {status: m.id for status, m in matches.items()}
    side.users = {role: u.id for role, u in users.items()}
    side.names = tuple(NAMES[key].values())
    side.secrets = (
        employer.contact_email or "", employer.contact_phone or "",
        school.careers_leader_email or "", school.careers_leader_phone or "",
        *(u.email for u in users.values()),
    )
    return side


@pytest.fixture(scope="module")
def world(_postgres_schema: None, _session_clock: None) -> Iterator[World]:
    """The two sides, built once; the app's session runs in savepoints of one connection."""
    app = create_app(TestConfig)
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["EVIDENCE_DIR"] = tempfile.mkdtemp(prefix="matrix-evidence-")
    request_started.connect(_fresh_g, app)
    with app.app_context():
        engine = db.engine
        if not ON_POSTGRES:
            _sqlite_savepoints(engine)
            db.create_all()
        connection = engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {"bind": connection, "join_transaction_mode": "create_savepoint",
             "class_": BoundSession}
        )
        try:
            sides = {
                "a": _build_side("a", lat=51.5034, lon=-0.1276, postcode="SW1A 2AA"),
                "b": _build_side("b", lat=53.4808, lon=-2.2426, postcode="M1 1AE"),
            }
            admin = User(email="admin@broker.example", name="Admin", role="admin",
                         email_verified_at=NOW)
            admin.set_password("correct horse battery")
            run = MatchRun(started_at=NOW)
            db.session.add_all([admin, run])
            db.session.flush()
            built = World(app, connection, sides, admin.id, run.id)
            db.session.commit()
            # No session may hold a savepoint open across tests (each test's sits inside).
            db.session.remove()
            yield built
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()
            engine.dispose()


@pytest.fixture
def fresh(world: World) -> Iterator[World]:
    """The world, with whatever the test changes rolled back afterwards."""
    nested = world.connection.begin_nested()
    try:
        yield world
    finally:
        db.session.remove()
        if nested.is_active:
            nested.rollback()
        world.app.config["WTF_CSRF_ENABLED"] = False


def _client(world: World, actor: str) -> FlaskClient:
    """A browser signed in as ``actor`` (its session written directly: no password hashing)."""
    client = world.app.test_client()
    if actor == "anonymous":
        return client
    user = db.session.get(User, _user_id(world, actor))
    assert user is not None
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session[LAST_SEEN] = int(NOW.timestamp())
    return client


def _user_id(world: World, actor: str) -> int:
    if actor == "admin":
        return world.admin
    return world.sides[SIDE[actor]].users[ROLE[actor] or ""]


# --------------------------------------------------------------------------- URLs and data
def _value(world: World, side: Side, endpoint: str, name: str) -> Any:
    kind = ID_FIELDS.get(name)
    if kind is None:
        raise AssertionError(
            f"{endpoint}: the URL variable <{name}> is not in ID_FIELDS; say which object it "
            "names so the matrix can give it another party's id."
        )
    if kind == "match":
        action = endpoint.split(".", 1)[1]
        return side.matches[MATCH_FOR.get(action, "accepted")]
    if kind == "offer" and endpoint.endswith(".offer_reopen"):
        return side.paused_offer
    if kind == "run":
        return world.run
    if kind == "user":
        return side.users["school"]
    if kind == "token":
        return "forged.token-value"
    if kind == "filename":
        return "broker.css"
    return getattr(side, kind)


def _url(world: World, endpoint: str, rule: str, side: Side) -> str:
    values = {name: _value(world, side, endpoint, name) for name in ARGUMENTS[(endpoint, rule)]}
    query = {
        arg: getattr(side, kind) for arg, kind in QUERY_IDS.get(endpoint, {}).items()
    }
    assert not set(values) & set(query)
    return url_for(endpoint, **values, **query)


def _form(endpoint: str, side: Side) -> dict[str, Any]:
    data = dict(FORM_DATA.get(endpoint, {}))
    for key, value in data.items():
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            data[key] = getattr(side, value[1:-1])
    return data


def _snapshot(side: Side) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``side`` in the tables an action could change, as plain tuples."""
    match_ids = select(Match.id).where(
        or_(
            Match.request_id.in_(
                select(EncounterRequest.id).where(EncounterRequest.school_id == side.school)
            ),
            Match.offer_id.in_(select(Offer.id).where(Offer.employer_id == side.employer)),
        )
    )
    encounter_ids = select(Encounter.id).where(Encounter.match_id.in_(match_ids))
    where = {
        Area: Area.id == side.area,
        Employer: Employer.id == side.employer,
        School: School.id == side.school,
        Offer: Offer.employer_id == side.employer,
        EncounterRequest: EncounterRequest.school_id == side.school,
        Match: Match.id.in_(match_ids),
        MatchEvent: MatchEvent.match_id.in_(match_ids),
        Encounter: Encounter.match_id.in_(match_ids),
        Feedback: Feedback.encounter_id.in_(encounter_ids),
        SchoolBlackout: SchoolBlackout.school_id == side.school,
        SchoolYearGroup: SchoolYearGroup.school_id == side.school,
        User: User.id.in_(list(side.users.values())),
        EmployerDocument: EmployerDocument.employer_id == side.employer,
    }
    found = {}
    for model, condition in where.items():
        table = model.__table__
        rows = db.session.execute(select(table).where(condition).order_by(*table.primary_key))
        found[table.name] = [tuple(row) for row in rows]
    return found


# --------------------------------------------------------------------------- the cases
def _expected_refusal(actor: str, roles: frozenset[str] | None, endpoint: str) -> str | None:
    """Why ``actor`` must be refused ``endpoint`` with the other side's ids, or None."""
    role = ROLE[actor]
    if roles is None:
        return None
    if role is None:
        return "sign in"
    if role not in roles:
        return "role"
    if role == "admin" or endpoint in SHARED_IDS:
        return None
    return "not theirs"


def _cases() -> list[Any]:
    cases = []
    for endpoint, rule, method in ROUTES:
        if not _classified(endpoint):
            continue
        for actor in ACTORS:
            cases.append(pytest.param(endpoint, rule, method, actor,
                                      id=f"{method} {rule} as {actor}"))
    return cases


def test_every_route_is_classified() -> None:
    missing = sorted({endpoint for endpoint, _, _ in ROUTES if not _classified(endpoint)})
    assert not missing, (
        "These endpoints are in no table of tests/broker/test_access_matrix.py: "
        f"{', '.join(missing)}. Add each to PUBLIC, ACCOUNT, ENDPOINT_ROLES or its blueprint "
        "to BLUEPRINT_ROLES (and its URL variables to ID_FIELDS) so the access matrix "
        "tries it as every kind of person."
    )
    unnamed = sorted(
        f"<{name}> of {endpoint}"
        for (endpoint, _), names in ARGUMENTS.items()
        for name in names
        if name not in ID_FIELDS
    )
    assert not unnamed, (
        f"Say which object each of these URL variables names in ID_FIELDS of "
        f"tests/broker/test_access_matrix.py, so the matrix can give it another party's id: "
        f"{', '.join(unnamed)}."
    )


@pytest.mark.parametrize(("endpoint", "rule", "method", "actor"), _cases())
def test_no_leak_and_no_wrong_actor_change(
    fresh: World, endpoint: str, rule: str, method: str, actor: str
) -> None:
    world = fresh
    roles = _roles_for(endpoint)
    # Anonymous people and admins belong to no side: they are given side B's ids, and side B
    # is what must not leak or change (for admins, only what they may not reach at all).
    other = world.sides[OTHER[SIDE[actor]]] if actor in SIDE else world.sides["b"]
    # Someone not signed in may see and change neither side's.
    guarded = list(world.sides.values()) if actor == "anonymous" else [other]
    client = _client(world, actor)
    url = _url(world, endpoint, rule, other)
    before = [_snapshot(side) for side in guarded]
    data = _form(endpoint, other)
    response = client.get(url) if method == "GET" else client.post(url, data=data)
    body = response.get_data(as_text=True)
    response.close()
    refusal = _expected_refusal(actor, roles, endpoint)
    # Query-string ids narrow a list to what is the actor's anyway: no leak is the test there.
    has_ids = bool(ARGUMENTS[(endpoint, rule)] - {"filename"})

    assert response.status_code < 500, f"{url}: {response.status_code}"
    if refusal == "sign in":
        assert response.status_code == 302, f"{url}: {response.status_code}"
        assert "/auth/login" in response.headers["Location"]
    elif refusal == "role":
        assert response.status_code == 403, f"{url}: {response.status_code}"
    elif refusal == "not theirs" and has_ids:
        assert response.status_code in (403, 404), f"{url}: {response.status_code}"
    elif actor == "admin" and has_ids and method == "GET" and endpoint not in PUBLIC:
        # Admins see everything: side B's objects open for them.
        assert response.status_code == 200, f"{url}: {response.status_code}"
    if actor != "admin":
        for secret in (s for side in guarded for s in side.secrets):
            assert secret not in body, f"{url} shows {secret!r} to {actor}"
        if endpoint not in PUBLIC_NAMES:
            for name in (n for side in guarded for n in side.names):
                assert name not in body, f"{url} shows {name!r} to {actor}"
        if method == "POST":
            after = [_snapshot(side) for side in guarded]
            assert after == before, f"{url} as {actor} changed another side's rows"


# --------------------------------------------------------------------------- positive controls
# Who owns side A's objects on each blueprint's routes (the rightful actor).
OWNER = {
    "employer": "employer_a",
    "school": "school_a",
    "coordinator": "coordinator_x",
    "insights": "coordinator_x",
    "admin": "admin",
}
# What the owner sees on their own match page (given the accepted match, see MATCH_FOR): the
# other party's contact. The leak check looks for these very strings.
SHOWN_TO_OWNER = {
    "employer.match_detail": "leader-a@school-a.example",
    "school.match_detail": "contact-a@employer-a.example",
}


def _owned_routes() -> list[Any]:
    cases = []
    for endpoint, rule, method in ROUTES:
        blueprint = endpoint.split(".", 1)[0]
        names = {n for n in ARGUMENTS[(endpoint, rule)] if ID_FIELDS.get(n) not in ("token",)}
        if not names or endpoint in PUBLIC or endpoint in SHARED_IDS or blueprint not in OWNER:
            continue
        cases.append(pytest.param(endpoint, rule, method, id=f"{method} {rule}"))
    return cases


_OWNED = _owned_routes()


@pytest.mark.parametrize(("endpoint", "rule", "method"), _OWNED)
def test_the_owner_is_let_in(fresh: World, endpoint: str, rule: str, method: str) -> None:
    """The positive control: the matrix's refusals are the access rules', not broken URLs."""
    world = fresh
    own = world.sides["a"]
    client = _client(world, OWNER[endpoint.split(".", 1)[0]])
    url = _url(world, endpoint, rule, own)
    before = _snapshot(own)
    data = _form(endpoint, own)
    response = client.get(url) if method == "GET" else client.post(url, data=data)
    body = response.get_data(as_text=True)
    response.close()
    assert response.status_code in (200, 302), f"{url}: {response.status_code} {_errors(body)}"
    if method == "POST" and endpoint not in NO_CHANGE_FOR_OWNER:
        # The data the matrix sends others does something for the owner.
        assert _snapshot(own) != before, f"{url} changed nothing for its owner"
        assert "/auth/login" not in response.headers.get("Location", "")
    if endpoint in SHOWN_TO_OWNER:
        assert SHOWN_TO_OWNER[endpoint] in body


def _errors(body: str) -> list[str]:
    """The error messages on a page, for a failing assertion to show."""
    return re.findall(r'class="[^"]*error[^"]*"[^>]*>(?:<li>)?([^<]+)<', body)


# --------------------------------------------------------------------------- CSRF
def _post_routes() -> list[Any]:
    return [
        pytest.param(endpoint, rule, id=f"POST {rule}")
        for endpoint, rule, method in ROUTES
        if method == "POST"
    ]


@pytest.mark.parametrize(("endpoint", "rule"), _post_routes())
def test_every_post_is_refused_without_a_csrf_token(
    fresh: World, endpoint: str, rule: str
) -> None:
    """Sent by the one person it would work for, with good data, but no token: 400, no change."""
    world = fresh
    world.app.config["WTF_CSRF_ENABLED"] = True  # ``fresh`` turns it off again
    roles = _roles_for(endpoint)
    if roles is None:
        actor = "anonymous"
    elif endpoint.split(".", 1)[0] in OWNER and OWNER[endpoint.split(".", 1)[0]] in {
        a for a in ACTORS if ROLE[a] in roles
    }:
        actor = OWNER[endpoint.split(".", 1)[0]]
    else:
        actor = next(a for a in ACTORS if ROLE[a] in roles)
    own = world.sides["a"]
    client = _client(world, actor)
    url = _url(world, endpoint, rule, own)
    before = {key: _snapshot(side) for key, side in world.sides.items()}
    response = client.post(url, data=_form(endpoint, own))
    response.close()
    assert response.status_code == 400, f"{url} as {actor}: {response.status_code}"
    assert {key: _snapshot(side) for key, side in world.sides.items()} == before


@pytest.mark.parametrize(
    ("actor", "url", "shown"),
    [
        ("coordinator_x", "/coordinator/queue", "Acorn Academy"),
        ("coordinator_x", "/coordinator/queue", "Anvil Works"),
        ("employer_a", "/employer/matches", "Acorn Academy"),
        ("school_a", "/school/matches", "Anvil Works"),
        ("admin", "/admin/users", "teacher-b@school-b.example"),
    ],
)
def test_the_names_the_matrix_looks_for_show_where_they_belong(
    fresh: World, actor: str, url: str, shown: str
) -> None:
    """Lists do name the parties: so the matrix finding no name elsewhere means something."""
    response = _client(fresh, actor).get(url)
    assert response.status_code == 200
    assert shown in response.get_data(as_text=True)
