"""The demo: real schools, seeded employers concentrated in cities, one login per role."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from broker.cli import SHIPPED_SCHOOLS
from broker.extensions import db
from broker.models import Employer, EncounterRequest, Offer, School, User
from broker.services.demo import DEMO_PASSWORD, DemoSize, load_demo


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_small_demo_loads_same_data_each_time_with_logins(app, client, auth):
    size = DemoSize(employers=60, offers=200, requests=300)
    logins = load_demo(size=size, seed=7, schools_file=SHIPPED_SCHOOLS)
    assert _count(School) == 3218
    assert (_count(Employer), _count(Offer), _count(EncounterRequest)) == (60, 200, 300)
    first_offer = db.session.scalar(select(Offer.title).order_by(Offer.id))
    # Loading again adds nothing.
    load_demo(size=size, seed=7, schools_file=SHIPPED_SCHOOLS)
    assert _count(Offer) == 200
    assert set(logins.emails) == {"admin", "coordinator", "employer", "school"}
    for role, email in logins.emails.items():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user.role == role
        auth.login(email, DEMO_PASSWORD)
        assert client.get("/", follow_redirects=True).status_code == 200
        auth.logout()
    assert db.session.scalar(select(User).where(User.role == "coordinator")).areas
    assert first_offer


def test_demo_offers_cluster_in_cities_so_rural_schools_are_short(app):
    load_demo(
        size=DemoSize(employers=300, offers=900, requests=10), seed=3, schools_file=SHIPPED_SCHOOLS
    )
    offers = np.array(db.session.execute(select(Offer.lat, Offer.lon)).all())
    schools = db.session.execute(select(School.lat, School.lon, School.rural)).all()

    def offers_within_15km(lat: float, lon: float) -> int:
        d_lat = np.radians(offers[:, 0] - lat)
        d_lon = np.radians(offers[:, 1] - lon) * np.cos(np.radians(lat))
        return int(((np.hypot(d_lat, d_lon) * 6371) < 15).sum())

    rural = [offers_within_15km(s.lat, s.lon) for s in schools if s.rural]
    urban = [offers_within_15km(s.lat, s.lon) for s in schools if not s.rural]
    assert np.median(rural) * 3 < np.median(urban)


def test_demo_command_serves_the_app(tmp_path):
    """`broker demo` (the README's command) loads and then really answers on its port."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    broker = Path(sys.executable).parent / "broker"
    env = {**os.environ, "BROKER_INSTANCE_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [str(broker), "demo", "--small", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        body = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.5)
        assert body == b'{"status":"ok"}\n', proc.stdout.read() if proc.poll() is not None else b""
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=5) as r:
            assert r.status == 200 and b"Sign in" in r.read()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def test_lived_in_demo_has_a_year_of_lifecycle_in_order(app):
    """`broker demo --lived-in`: every state a real year leaves, each dated believably."""
    from broker import clock
    from broker.models import Encounter, Feedback, Match, MatchEvent

    size = DemoSize(employers=60, offers=200, requests=300)
    load_demo(size=size, seed=7, schools_file=SHIPPED_SCHOOLS, lived_in=True)
    today = clock.today()
    statuses = dict(
        db.session.execute(select(Match.status, func.count()).group_by(Match.status)).all()
    )
    for status in ("proposed", "approved", "accepted", "delivered", "rejected", "declined"):
        assert statuses.get(status, 0) > 0, statuses
    # Offers and requests started with the school year, so part of the year is behind us.
    assert db.session.scalar(select(func.min(Offer.earliest))) == clock.school_year_start(today)
    delivered = db.session.scalars(select(Match).where(Match.status == "delivered")).all()
    for match in delivered:
        assert match.encounter is not None
        assert match.encounter.delivered_on == match.scheduled_on < today
        first = max(match.request.earliest, match.offer.earliest)
        last = min(match.request.latest, match.offer.latest)
        assert first <= match.scheduled_on <= last
        assert 1 <= match.encounter.pupils_reached <= match.pupils
        steps = [e.to_status for e in match.events]
        assert steps == ["proposed", "approved", "accepted", "delivered"]
        times = [e.at for e in match.events]
        assert times == sorted(times)
    for match in db.session.scalars(select(Match).where(Match.status == "accepted")):
        assert match.scheduled_on is not None and match.scheduled_on >= today
        assert match.school_response == match.employer_response == "accepted"
    assert _count(Encounter) == len(delivered)
    assert 0 < _count(Feedback) <= 2 * len(delivered)
    latest = db.session.scalar(select(func.max(MatchEvent.at)))
    assert latest.replace(tzinfo=None) <= clock.now().replace(tzinfo=None)
