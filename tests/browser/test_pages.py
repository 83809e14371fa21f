"""Each demo role signs in, opens its main pages on a phone, and signs out."""

from __future__ import annotations

import pytest

from .conftest import PHONE, LiveServer
from .pages import Browser

pytestmark = pytest.mark.browser

# The links templates/_nav.html gives each role (the dashboard first), and form pages that
# role fills in most. Every link the nav actually shows is visited as well.
PAGES = {
    "admin": {
        "nav": [
            "/admin/",
            "/admin/users",
            "/admin/audit",
            "/coordinator/",
            "/coordinator/queue",
            "/coordinator/employers",
            "/coordinator/runs",
            "/auth/account",
        ],
        "more": ["/admin/areas", "/admin/users/new", "/admin/import"],
    },
    "coordinator": {
        "nav": [
            "/coordinator/",
            "/coordinator/queue",
            "/coordinator/gaps",
            "/coordinator/employers",
            "/coordinator/runs",
            "/auth/account",
        ],
        "more": ["/coordinator/hand-match"],
    },
    "employer": {
        "nav": [
            "/employer/",
            "/employer/offers",
            "/employer/matches",
            "/employer/impact",
            "/employer/calendar",
            "/employer/profile",
            "/employer/evidence",
            "/auth/account",
        ],
        "more": ["/employer/offers/new"],
    },
    "school": {
        "nav": [
            "/school/",
            "/school/requests",
            "/school/matches",
            "/school/plan",
            "/school/calendar",
            "/school/profile",
            "/auth/account",
        ],
        "more": ["/school/requests/new", "/school/report"],
    },
}


@pytest.mark.parametrize("role", sorted(PAGES))
def test_role_main_pages_work_on_a_phone(
    role: str, browser: Browser, live_server: LiveServer
) -> None:
    browser.sign_in(live_server.logins[role], live_server.password)
    assert browser.path == PAGES[role]["nav"][0], "signing in lands on the role's dashboard"
    assert browser.inner_width() == PHONE[0]

    nav = [
        a.get_attribute("href").removeprefix(live_server.url)
        for a in browser.find_all("header nav a:not(.brand)")
    ]
    missing = [p for p in PAGES[role]["nav"] if p not in nav]
    assert not missing, f"{role} nav lacks {missing}; it has {nav}"

    problems: dict[str, list[str]] = {}
    for path in dict.fromkeys(nav + PAGES[role]["more"]):
        browser.open(path)
        browser.screenshot(f"{role}{path}")
        if found := browser.problems():
            problems[path] = found
    assert not problems, "\n".join(f"{p}: {'; '.join(found)}" for p, found in problems.items())

    browser.sign_out()
    assert browser.path.startswith("/auth/login")
    assert "signed out" in browser.flash_text()
    browser.open(PAGES[role]["nav"][0])
    assert browser.path.startswith("/auth/login"), "a signed-out visitor is sent to sign in"


def test_signed_out_pages_work_on_a_phone(browser: Browser) -> None:
    problems: dict[str, list[str]] = {}
    for path in (
        "/",
        "/auth/login",
        "/auth/register/school",
        "/auth/register/employer",
        "/auth/forgot",
        "/auth/check-email",
    ):
        browser.open(path)
        browser.screenshot(f"public{path}")
        if found := browser.problems():
            problems[path] = found
    assert not problems, "\n".join(f"{p}: {'; '.join(found)}" for p, found in problems.items())


def test_wrong_password_is_refused(browser: Browser, live_server: LiveServer) -> None:
    browser.open("/auth/login")
    browser.type_into("main input[name=email]", live_server.logins["school"])
    browser.type_into("main input[name=password]", "not the password")
    browser.click_and_wait(browser.find("main form button[type=submit]"))
    assert browser.path.startswith("/auth/login")
    assert "not recognised" in browser.flash_text()
