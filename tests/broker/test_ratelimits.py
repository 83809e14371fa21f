"""Rate limits on sign-in, registration, password reset and every POST.

These tests run with the limits on (marker ``ratelimit``): against the real Redis named by
``TEST_RATELIMIT_STORAGE_URI`` when it is set (CI sets it), in memory otherwise. Visitors'
addresses are set per request, as a proxy would pass them on.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from broker.extensions import db, limiter
from broker.models import AuditEntry
from config import RateLimitTestConfig
from tests.conftest import PASSWORD, csrf_token_from

pytestmark = pytest.mark.ratelimit

ATTACKER = "203.0.113.7"


def _amount(setting: str) -> int:
    """The number of requests a limit string such as "10 per 15 minutes" allows."""
    return int(getattr(RateLimitTestConfig, setting).split()[0])


class Visitor:
    """A browser at one address that keeps its CSRF token."""

    def __init__(self, app, ip: str = ATTACKER) -> None:
        self.client = app.test_client()
        self.ip = ip
        self.token = csrf_token_from(self.get("/auth/login").text)

    def get(self, url: str, **kw):
        return self.client.get(url, environ_base={"REMOTE_ADDR": self.ip}, **kw)

    def post(self, url: str, data: dict | None = None, ip: str | None = None):
        return self.client.post(
            url,
            data={"csrf_token": self.token, **(data or {})},
            environ_base={"REMOTE_ADDR": ip or self.ip},
        )

    def sign_in(self, email: str, password: str, ip: str | None = None):
        return self.post("/auth/login", {"email": email, "password": password}, ip=ip)


def _failed_sign_ins() -> int:
    return db.session.scalar(select(func.count()).where(AuditEntry.action == "auth.sign_in_failed"))


def test_the_limits_live_in_the_configured_storage(app):
    uri = RateLimitTestConfig.RATELIMIT_STORAGE_URI
    expected = "RedisStorage" if uri.startswith("redis") else "MemoryStorage"
    assert type(limiter.storage).__name__ == expected
    assert limiter.storage.check()


def test_a_hundred_wrong_passwords_in_a_row_lock_the_account(app, make_user):
    user = make_user(role="admin", email="target@example.org")
    visitor = Visitor(app)
    allowed = _amount("RATELIMIT_LOGIN_ACCOUNT")
    responses = [visitor.sign_in(user.email, f"guess number {n}") for n in range(100)]
    statuses = [r.status_code for r in responses]
    assert statuses[:allowed] == [200] * allowed
    assert set(statuses[allowed:]) == {429}
    # Only the attempts let through were checked and logged; the rest were refused unread.
    assert _failed_sign_ins() == allowed

    locked = responses[-1]
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert "Too many failed sign-ins to this account." in locked.text
    assert "try again in about 15 minutes" in " ".join(locked.text.split())
    # While locked, even the right password is refused: guessing cannot go on.
    assert visitor.sign_in(user.email, PASSWORD).status_code == 429
    assert visitor.get("/admin/").status_code == 302


def test_wrong_passwords_from_many_addresses_still_lock_the_account(app, make_user):
    user = make_user(role="admin", email="target@example.org")
    visitor = Visitor(app)
    allowed = _amount("RATELIMIT_LOGIN_ACCOUNT")
    statuses = [
        visitor.sign_in(user.email, "a wrong guess", ip=f"198.51.100.{n}").status_code
        for n in range(1, 101)
    ]
    assert statuses[:allowed] == [200] * allowed and set(statuses[allowed:]) == {429}


def test_wrong_passwords_across_many_accounts_lock_the_address(app, make_user):
    make_user(role="admin", email="someone@example.org")
    visitor = Visitor(app)
    allowed = _amount("RATELIMIT_LOGIN_ADDRESS")
    responses = [visitor.sign_in(f"guess{n}@example.org", "a wrong guess") for n in range(100)]
    statuses = [r.status_code for r in responses]
    assert statuses[:allowed] == [200] * allowed and set(statuses[allowed:]) == {429}
    assert "Too many failed sign-ins from your address." in responses[-1].text
    assert int(responses[-1].headers["Retry-After"]) > 0
    # Someone else, elsewhere, signs in as usual.
    other = Visitor(app, ip="192.0.2.10")
    assert other.sign_in("someone@example.org", PASSWORD).status_code == 302


def test_signing_in_correctly_is_never_slowed(app, make_user):
    user = make_user(role="admin")
    visitor = Visitor(app)
    for _ in range(_amount("RATELIMIT_LOGIN_ACCOUNT") + 5):
        assert visitor.sign_in(user.email, PASSWORD).status_code == 302
        visitor.token = csrf_token_from(visitor.get("/admin/").text)
        assert visitor.post("/auth/logout").status_code == 302
        visitor.token = csrf_token_from(visitor.get("/auth/login").text)


def test_registrations_are_limited_per_address(app):
    visitor = Visitor(app)
    allowed = _amount("RATELIMIT_REGISTER")
    pages = ["/auth/register/employer", "/auth/register/school"]
    statuses = [visitor.post(pages[n % 2]).status_code for n in range(allowed + 3)]
    assert statuses[:allowed] == [400] * allowed  # empty forms, but every attempt counts
    assert set(statuses[allowed:]) == {429}
    assert Visitor(app, ip="192.0.2.10").post(pages[0]).status_code == 400


def test_reset_requests_are_limited_per_email_and_per_address(app):
    visitor = Visitor(app)
    per_email = _amount("RATELIMIT_RESET_ACCOUNT")
    statuses = [
        visitor.post("/auth/forgot", {"email": "sam@example.org"}, ip=f"198.51.100.{n}").status_code
        for n in range(per_email + 1)
    ]
    assert statuses == [302] * per_email + [429]
    assert (
        "Too many password reset requests for this email address."
        in visitor.post("/auth/forgot", {"email": "sam@example.org"}).text
    )

    per_address = _amount("RATELIMIT_RESET_ADDRESS")
    elsewhere = Visitor(app, ip="192.0.2.10")
    statuses = [
        elsewhere.post("/auth/forgot", {"email": f"other{n}@example.org"}).status_code
        for n in range(per_address + 1)
    ]
    assert statuses == [302] * per_address + [429]
    assert (
        "Too many password reset requests from your address."
        in elsewhere.post("/auth/forgot", {"email": "last@example.org"}).text
    )


def test_every_post_counts_towards_a_looser_limit_per_address(app):
    app.config["RATELIMIT_POST"] = "5 per minute"
    visitor = Visitor(app)
    for _ in range(20):
        assert visitor.get("/auth/login").status_code == 200  # reading is never limited
    # Empty sign-in forms: refused as incomplete (400), and not sign-in failures.
    statuses = [visitor.post("/auth/login").status_code for _ in range(7)]
    assert statuses == [400] * 5 + [429] * 2
    response = visitor.post("/auth/login")
    assert "Too many changes from your address" in response.text
    assert int(response.headers["Retry-After"]) > 0


def test_wrong_current_passwords_on_the_account_page_are_limited_per_user(app, make_user):
    user = make_user(role="admin")
    visitor = Visitor(app)
    assert visitor.sign_in(user.email, PASSWORD).status_code == 302
    visitor.token = csrf_token_from(visitor.get("/auth/account").text)
    allowed = _amount("RATELIMIT_LOGIN_ACCOUNT")
    new = "lighthouse marmalade tandem"
    statuses = [
        visitor.post(
            "/auth/account/password",
            {"current_password": f"guess {n}", "password": new, "confirm": new},
        ).status_code
        for n in range(allowed + 2)
    ]
    assert statuses == [400] * allowed + [429] * 2
    refused = visitor.post("/auth/account/email", {"email": "x@example.org", "password": PASSWORD})
    assert refused.status_code == 429 and "Too many wrong passwords" in refused.text
