"""Property: malformed input to any page never gives a 500 and never leaves half a change.

Every POST route in the app's URL map is posted to, signed in as the role its blueprint
serves and with a valid CSRF token, starting from a form that would pass and corrupting a
few fields: NUL and control characters, very long text, huge, negative and non-numeric
numbers, ``sNaN`` and infinities, impossible dates, huge ids, hostile ``next`` addresses.
Every GET route gets the same values in its query string and in its URL's ids.

After each request: no 500 (the test client raises the view's exception instead), a
redirect stays on this site, a refused change left every row as it was, and no text is
longer than its column (SQLite does not enforce lengths; PostgreSQL would fail). Run it on
PostgreSQL too: NUL characters and integers beyond 2**31 fail only there.

``FUZZ_EXAMPLES`` sets the examples per route (default 12; the run stays within tens of
seconds per database). The world is built once per role, and each route is fuzzed in turn.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import String, select
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from broker import create_app
from broker.extensions import db
from broker.models import Encounter, SchoolBlackout, User
from config import TestConfig
from tests.conftest import PASSWORD, AuthActions, csrf_token_from
from tests.frozen import NOW, days

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _rules(method: str) -> list[Rule]:
    return sorted(
        (r for r in _APP.url_map.iter_rules() if method in (r.methods or ())),
        key=lambda r: r.rule,
    )


_APP = create_app(TestConfig)

POST_RULES = _rules("POST")
GET_RULES = _rules("GET")

# The modules whose forms each role posts; the fields corrupted are drawn from these.
FORM_MODULES = {
    "employer": ("broker.employer.forms", "broker.matchpages", "broker.formutil"),
    "school": ("broker.school.forms", "broker.matchpages", "broker.formutil"),
    "coordinator": ("broker.coordinator.forms", "broker.formutil"),
    "admin": ("broker.admin.forms", "broker.formutil"),
    "anonymous": ("broker.auth.forms",),
}


def _form_fields(role: str) -> list[str]:
    names, todo = set(), [FlaskForm]
    with _APP.test_request_context():
        while todo:
            cls = todo.pop()
            todo.extend(cls.__subclasses__())
            if cls.__module__ in FORM_MODULES[role]:
                names.update(field.name for field in cls(formdata=None))
    return sorted(names | {"next"})

# --- malformed values --------------------------------------------------------------------

HUGE = [str(2**31), str(2**63), str(2**64), str(-(2**63) - 1), "9" * 40]
numbers = st.sampled_from(
    ["0", "-1", "-0", "1e3", "0x10", "1_000", " 7 ", "٣", "", "½", *HUGE]
) | st.integers().map(str)
decimals = st.sampled_from(
    ["sNaN", "-sNaN", "NaN", "Infinity", "-inf", "1e309", "1e-400", "1,5", "12.3456789012345"]
)
dates = st.sampled_from(
    ["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "99999-01-01", "1.1.2026",
     "2026-1-1", "-2026-01-01", "2026-01-01T00:00"]
) | st.dates().map(lambda d: d.isoformat())
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["\x00", "a\x00b", "\r\n", "\t", "x" * 100_000, "ß" * 300, "<script>alert(1)</script>",
     "' OR 1=1 --", "%00", "\u202e"]
)
addresses = st.sampled_from(
    ["/x\r\nSet-Cookie: a=b", "//evil.example/", "https://evil.example/", "/\\evil.example",
     "javascript:alert(1)", "/" + "a" * 5000]
)
values = st.one_of(numbers, decimals, dates, texts, addresses)
path_ids = st.sampled_from(["0", "-1", *HUGE]) | st.integers(1, 60).map(str)


# --- the world the requests act on --------------------------------------------------------

# Signing in checks a real password, but one hashed cheaply: the default hash takes half a
# second, several times for every route.
FAST_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")


@dataclass
class World:
    clients: dict[str, FlaskClient]
    tokens: dict[str, str]
    ids: dict[str, list[int]]
    base: dict[str, Any]


def _fresh_g() -> None:
    """Empty ``flask.g`` before a request, as a new request's app context would be.

    The test's app context outlives each request, and Flask-Login (the signed-in user) and
    Flask-WTF (the CSRF token) cache on ``g``: with several clients, each would otherwise act
    as whoever was signed in last.
    """
    for name in list(vars(g)):
        delattr(g, name)


def _signed_in(app: Flask, user) -> tuple[FlaskClient, str]:
    client = app.test_client()
    _fresh_g()
    if user is not None:
        AuthActions(client).login(user)
        _fresh_g()
        page = client.get("/", follow_redirects=True)
        assert f"{user.name}" in page.get_data(as_text=True) or user.role in page.request.path
    else:
        page = client.get("/auth/login")
    return client, csrf_token_from(page.get_data(as_text=True))


def _user(**values: Any) -> User:
    user = User(name="Fuzz", password_hash=FAST_HASH, email_verified_at=NOW, **values)
    db.session.add(user)
    return user


@pytest.fixture
def world(app, make_area, make_school, make_employer, make_offer, make_request,
          make_match) -> Iterator[World]:
    area = make_area()
    school = make_school(area=area)
    employer = make_employer(area_id=area.id, insurance_expires_on=days(400),
                             risk_assessment_on=days(-30), dbs_checked=True,
                             dbs_renewal_on=days(400))
    users = {
        "employer": _user(email="e@fuzz.example", role="employer", employer_id=employer.id),
        "school": _user(
            email="s@fuzz.example", role="school", school_id=school.id, school_status="verified"
        ),
        "coordinator": _user(email="c@fuzz.example", role="coordinator", areas=[area]),
        "admin": _user(email="a@fuzz.example", role="admin"),
        "anonymous": None,
    }
    db.session.commit()
    offers = [make_offer(employer=employer, capacity=200),
              make_offer(employer=employer, status="paused")]
    matches = []
    for status in ("proposed", "approved", "accepted", "delivered"):
        match = make_match(request=make_request(school=school, pupils=20), offer=offers[0],
                           status=status, pupils=20)
        matches.append(match)
    db.session.add(Encounter(match_id=matches[-1].id, delivered_on=days(-2), pupils_reached=18))
    db.session.add(SchoolBlackout(school_id=school.id, starts_on=days(40), ends_on=days(42),
                                  reason="Exams"))
    db.session.commit()
    ids = {
        "match_id": [m.id for m in matches],
        "offer_id": [o.id for o in offers],
        "request_id": [m.request_id for m in matches],
        "blackout_id": list(db.session.scalars(select(SchoolBlackout.id))),
        "user_id": [u.id for u in users.values() if u is not None],
        "run_id": [1],
        "employer_id": [employer.id],
        "urn": [school.urn],
    }
    signed = {role: _signed_in(app, user) for role, user in users.items()}
    base: dict[str, Any] = {
        # offers and the employer's profile
        "title": "Bridge building talk", "description": "Engineers on bridges", "type": "talk",
        "sector": "engineering", "stem": "y", "challenges_stereotype": "y",
        "stereotype_note": "female engineers", "sen_support": "autism", "year_min": "8",
        "year_max": "11", "capacity": "30", "delivery": "at_school", "max_km": "20",
        "audience": "mixed", "earliest": days(30).isoformat(), "latest": days(90).isoformat(),
        "postcode": "SW1A 2AA", "name": "Severn Engineering", "kind": "business",
        "contact_name": "Asha", "contact_email": "asha@example.org", "contact_phone": "0117",
        "website": "https://example.org", "dbs_checked": "y",
        "dbs_renewal_on": days(300).isoformat(), "insurance_expires_on": days(300).isoformat(),
        "risk_assessment_on": days(-10).isoformat(),
        # the school's profile, year groups, dates to avoid and requests
        "gender": "mixed", "pupils": "20", "fsm_pct": "20.5", "careers_leader_name": "Sam",
        "careers_leader_email": "sam@example.org", "careers_leader_phone": "020",
        "sen_profile": "autism", **{f"y{y}": "150" for y in range(7, 14)},
        "starts_on": days(60).isoformat(), "ends_on": days(61).isoformat(), "reason": "Exams",
        "year_group": "9", "stem_goal": "y", "sen_needs": "autism", "notes": "Lab coats",
        # matches
        "answer": "accept", "on": days(50).isoformat(), "delivered_on": days(-1).isoformat(),
        "pupils_reached": "15", "rating": "4", "would_welcome_again": "yes", "comment": "Good",
        "pupil_voice_score": "4",
        # coordinators and admins
        "request_id": str(ids["request_id"][0]), "offer_id": str(offers[0].id),
        "note": "by phone", "expected": "1", "email": "new.person@example.org",
        "role": "coordinator", "areas": str(area.id), "password": PASSWORD,
        # registration
        "confirm": PASSWORD, "organisation": "New Org", "urn": str(school.urn), "phone": "",
    }
    yield World(
        clients={role: client for role, (client, _) in signed.items()},
        tokens={role: token for role, (_, token) in signed.items()},
        ids=ids,
        base=base,
    )


def _role(rule: Rule) -> str:
    """Who may use a rule: its blueprint's role (auth, the API and static files: anyone)."""
    blueprint = rule.endpoint.split(".")[0]
    return blueprint if blueprint in ("employer", "school", "coordinator", "admin") else "anonymous"


def _rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as committed."""
    db.session.rollback()
    return {
        table.name: [dict(row) for row in db.session.execute(select(table)).mappings()]
        for table in db.metadata.sorted_tables
    }


def _snapshot(rows: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, list[str]]:
    """Every row of every table, as text, in a stable order."""
    rows = _rows() if rows is None else rows
    return {name: sorted(map(repr, table)) for name, table in rows.items()}


def _too_long(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    problems = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            length = column.type.length if isinstance(column.type, String) else None
            for row in rows[table.name] if length else ():
                value = row[column.name]
                if value is not None and len(value) > length:
                    problems.append(f"{table.name}.{column.name}: {len(value)} characters")
    return problems


def _url(rule: Rule, draw, world: World) -> str:
    args = {}
    for name in rule.arguments:
        if name in world.ids and draw(st.integers(0, 3)):  # mostly a real row
            args[name] = str(draw(st.sampled_from(world.ids[name])))
        elif name in world.ids:
            args[name] = draw(path_ids)
        else:
            args[name] = draw(texts.filter(lambda t: "/" not in t and 0 < len(t) < 200))
    path = rule.rule
    for name, value in args.items():
        path = path.replace(f"<{rule._converters[name].__class__.__name__}:{name}>", value)
    for name, value in args.items():  # converters spelt in the rule, e.g. <id:offer_id>
        for spelling in (f"<id:{name}>", f"<int:{name}>", f"<{name}>"):
            path = path.replace(spelling, value)
    return path


def _flashes(client: FlaskClient) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


def _check_answer(response, before: dict[str, list[str]], flashes) -> None:
    assert response.status_code < 500, response.status_code
    if 300 <= response.status_code < 400:
        location = response.headers["Location"]
        assert "\r" not in location and "\n" not in location
        assert urlsplit(location).netloc in ("", "localhost"), location
    categories = {category for category, _ in flashes}
    refused = response.status_code >= 400 or ("error" in categories and "success" not in categories)
    rows = _rows()
    if refused:
        assert _snapshot(rows) == before, "a refused request changed the database"
    assert _too_long(rows) == []


ROLES = ["employer", "school", "coordinator", "admin", "anonymous"]


def _post(world: World, rule: Rule) -> None:
    role = _role(rule)
    client = world.clients[role]

    @FUZZ
    @given(data=st.data())
    def run(data):
        form = dict(world.base)
        names = st.sampled_from(_form_fields(role))
        for name in data.draw(st.lists(names, min_size=1, max_size=3), label="corrupted"):
            form[name] = data.draw(values, label=name)
        if data.draw(st.booleans()):  # a field left out altogether
            form.pop(data.draw(st.sampled_from(sorted(form)), label="left out"), None)
        form.setdefault("csrf_token", world.tokens[role])
        if rule.endpoint == "admin.import_schools":
            form["file"] = (io.BytesIO(data.draw(_school_files(), label="file")), "schools.csv")
        url = _url(rule, data.draw, world)
        note(f"POST {url} as {role}")
        before = _snapshot()
        _fresh_g()
        response = client.post(url, data=form)
        _check_answer(response, before, _flashes(client))

    run()


@st.composite
def _school_files(draw) -> bytes:
    row = ",".join([draw(numbers), "X", "SW1A 1AA", "51.5", "-0.1", "Secondary", "Academy",
                    "Mixed", draw(numbers), draw(decimals), "", "Camden"])
    header = "urn,name,postcode,lat,lon,phase,type,gender,pupils,fsm_pct,sen_unit,la"
    return draw(st.binary(max_size=200) | st.just(f"{header}\n{row}\n".encode()))


def _get(world: World, rule: Rule) -> None:
    client = world.clients[_role(rule)]

    @FUZZ
    @given(data=st.data())
    def run(data):
        query = {
            name: data.draw(values, label=name)
            for name in data.draw(st.lists(st.sampled_from(QUERY_NAMES), max_size=4))
        }
        url = _url(rule, data.draw, world) + "?" + urlencode(query)
        note(f"GET {url}")
        before = _snapshot()
        _fresh_g()
        response = client.get(url)
        assert response.status_code < 500
        assert _snapshot() == before, "a GET changed the database"

    run()


QUERY_NAMES = ["year", "page", "offer", "area", "run", "status", "type", "sort", "school",
               "min_score", "request_id", "offer_id", "cold_page", "schools_page", "offers_page",
               "role", "next", "object_id", "date_from", "date_to", "user", "action",
               "object_type"]


@pytest.mark.parametrize("role", ROLES)
def test_malformed_forms_never_give_a_500_nor_half_a_change(world: World, role: str):
    rules = [rule for rule in POST_RULES if _role(rule) == role]
    assert rules
    for rule in rules:
        _post(world, rule)


@pytest.mark.parametrize("role", ROLES)
def test_malformed_queries_and_ids_never_give_a_500(world: World, role: str):
    rules = [rule for rule in GET_RULES if _role(rule) == role]
    assert rules
    for rule in rules:
        _get(world, rule)
