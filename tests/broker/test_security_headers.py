"""Headers and limits (issue 10): the content security policy and pages it can keep, HSTS over
HTTPS only, no caching of signed-in pages, the request size limit, escaped emails, and the one
safe ``next`` check.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import OutboxMessage
from broker.security import CSP
from broker.services.housekeeping import remind_due
from tests.frozen import NOW, days

ROOT = Path(__file__).resolve().parents[2]


class InlineFinder(HTMLParser):
    """Collect everything on a page that a CSP without 'unsafe-inline' would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: {name} on <{tag}>")

    handle_startendtag = handle_starttag


def inline_parts(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def world(make_school, make_employer, make_user, make_request, make_offer, make_match):
    school = make_school()
    employer = make_employer(
        area_id=school.area_id, insurance_expires_on=days(400), risk_assessment_on=days(-30)
    )
    match = make_match(
        request=make_request(school=school), offer=make_offer(employer=employer), status="approved"
    )
    return {
        "school": school,
        "employer": employer,
        "match": match,
        "users": {
            "employer": make_user(role="employer", employer_id=employer.id),
            "school": make_user(role="school", school_id=school.id),
            "coordinator": make_user(role="coordinator", areas=[school.area]),
            "admin": make_user(role="admin"),
        },
    }


def _pages(app, blueprints: tuple[str, ...]) -> list[str]:
    """Every GET page without URL arguments in ``blueprints`` (new pages are covered too)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" in rule.methods
            and not rule.arguments
            and rule.endpoint.split(".")[0] in blueprints
            and rule.endpoint not in ("auth.logout",)
        ):
            urls.append(rule.rule)
    return sorted(urls)


ROLE_PAGES = {
    "employer": ("employer", "insights"),
    "school": ("school",),
    "coordinator": ("coordinator", "insights"),
    "admin": ("admin", "coordinator", "insights"),
}


def _match_pages(match) -> dict[str, list[str]]:
    return {
        "employer": [f"/employer/matches/{match.id}", f"/employer/offers/{match.offer_id}"],
        "school": [f"/school/matches/{match.id}", f"/school/requests/{match.request_id}"],
        "coordinator": [f"/coordinator/matches/{match.id}"],
        "admin": [f"/coordinator/matches/{match.id}"],
    }


@pytest.mark.parametrize("role", sorted(ROLE_PAGES))
def test_every_page_of_each_role_has_the_csp_and_nothing_inline(app, client, auth, world, role):
    auth.login(world["users"][role])
    urls = _pages(app, ROLE_PAGES[role]) + _match_pages(world["match"])[role]
    checked = 0
    for url in urls:
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue  # feeds, downloads and redirects carry no page
        checked += 1
        assert response.headers["Content-Security-Policy"] == CSP, url
        assert response.headers["Cache-Control"] == "no-store", url
        assert inline_parts(response.get_data(as_text=True)) == [], url
    assert checked >= 8  # the walk read pages (9 to 17 per role), not only redirects


def test_public_pages_have_the_csp_and_nothing_inline(app, client):
    urls = ["/"] + _pages(app, ("auth",))
    checked = 0
    for url in urls:
        response = client.get(url)
        if response.status_code != 200:
            continue
        checked += 1
        assert response.headers["Content-Security-Policy"] == CSP, url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Permissions-Policy"] == (
            "camera=(), microphone=(), geolocation=()"
        )
        assert inline_parts(response.get_data(as_text=True)) == [], url
    assert checked >= 4


def test_the_finder_sees_inline_script_and_style():
    page = (
        '<p style="x"><a href="javascript:x()" onclick="y()">a</a></p>'
        "<script>1</script><style>p{}</style><script src='/s.js'></script>"
    )
    assert len(inline_parts(page)) == 5


def test_templates_and_python_html_carry_no_inline_script_or_style():
    """The pages a test cannot reach easily (emails excepted: mail clients have no CSP)."""
    in_html = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.I)
    # In Python, markup lives in strings: ``ondelete=`` is an argument, not an event handler.
    in_python = re.compile(r"<script|<style|\sstyle=[\"'{]|javascript:", re.I)
    offenders = []
    for path in [*(ROOT / "templates").rglob("*.html"), *(ROOT / "broker").rglob("*.py")]:
        if "email" in path.parts or path.name == "security.py":
            continue
        pattern = in_python if path.suffix == ".py" else in_html
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == []


def test_the_shaded_map_uses_a_fill_attribute():
    from broker.insights.svg import coverage_map, england_bounds

    svg = coverage_map(bounds=england_bounds(), schools=[], shade={"Westminster": "#123456"})
    assert 'fill="#123456"' in svg
    assert "style=" not in svg


# --- HSTS and caching -----------------------------------------------------------------------


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/auth/login").headers
    secure = client.get("/auth/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_hsts_behind_a_trusted_proxy_that_says_https(app, client):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    response = client.get("/auth/login", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_signed_in_pages_and_auth_pages_are_not_cached(client, auth, make_user):
    assert client.get("/").headers.get("Cache-Control") != "no-store"  # the public front page
    assert client.get("/auth/login").headers["Cache-Control"] == "no-store"
    auth.login(make_user(role="admin"))
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"
    static = client.get("/static/broker.css")
    static.close()
    assert static.headers.get("Cache-Control") != "no-store"  # the same for everyone


# --- size limits ----------------------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes that counts what the server reads of it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        # The test client measures the stream with seek and tell; only reading is counted.
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        buffer[:n] = b"a" * n
        self.pos += n
        self.read_bytes += n
        return n


def test_a_too_large_post_is_refused_unread_with_a_friendly_page(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 5 * 1024 * 1024
    body = CountingStream(limit * 40)  # 200 MB
    response = client.post(
        "/auth/login",
        input_stream=body,
        content_length=body.size,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert body.read_bytes == 0
    page = response.get_data(as_text=True)
    assert "larger than the broker accepts (5.0 MB at most)" in page
    assert "Traceback" not in page and str(ROOT) not in page


def test_the_limit_is_configurable(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("MAX_CONTENT_LENGTH", "1000")
    try:
        assert importlib.reload(config).Config.MAX_CONTENT_LENGTH == 1000
    finally:
        monkeypatch.delenv("MAX_CONTENT_LENGTH")
        importlib.reload(config)


def test_the_import_may_be_larger_for_an_admin_only(app, client, auth, make_user):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    app.config["WTF_CSRF_ENABLED"] = False
    auth.login(make_user(role="admin"))
    data = "URN,Name\n" + "1,x\n" * 500  # 4 kB: over the general limit, under the import's
    response = client.post(
        "/admin/import",
        data={"file": (io.BytesIO(data.encode()), "schools.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code != 413
    other = client.post("/auth/account/email", data={"x": "y" * 2000})
    assert other.status_code == 413


def test_an_unreadable_import_names_the_upload_not_a_server_path(client, auth, make_user, no_csrf):
    auth.login(make_user(role="admin"))
    response = client.post(
        "/admin/import",
        data={"file": (io.BytesIO(b"\xff\xfe\x00bad"), "../../etc/my schools.csv")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "etc_my_schools.csv" in page
    assert "/tmp" not in page and str(ROOT) not in page


# --- emails ---------------------------------------------------------------------------------


def test_html_reminders_escape_names_and_titles(
    app, make_user, make_employer, make_school, make_request, make_offer, make_match
):
    employer = make_employer(
        name="<b>x</b> & Co", insurance_expires_on=days(10), risk_assessment_on=days(-30)
    )
    school = make_school()
    make_user(role="school", school_id=school.id)
    make_user(role="employer", employer_id=employer.id)
    offer = make_offer(employer=employer, title="<i>Talk</i>", earliest=days(5), latest=days(30))
    make_match(
        request=make_request(school=school, earliest=days(5), latest=days(30)),
        offer=offer,
        status="approved",
    )
    remind_due(NOW)
    db.session.flush()
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.body_html != "")).all()
    templates = {m.template for m in messages}
    assert "confirm_reminder" in templates
    for message in messages:
        assert "<b>x</b>" not in message.body_html, message.template
        assert "<i>Talk</i>" not in message.body_html, message.template
    reminder = next(m for m in messages if m.template == "confirm_reminder")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; Co" in reminder.body_html
    assert "&lt;i&gt;Talk&lt;/i&gt;" in reminder.body_html
    assert "<b>x</b> & Co" in reminder.body_text  # the text part stays plain text


# --- next -----------------------------------------------------------------------------------


def test_every_next_address_goes_through_safe_next():
    """One check for redirects to a ``next`` address: nothing reads one without it."""
    readers = re.compile(r"""(args|form|values)\.get\(\s*["']next["']|\breferrer\b""")
    offenders = []
    for path in (ROOT / "broker").rglob("*.py"):
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if readers.search(line) and "safe_next(" not in line:
                # _back() reads the referrer, then passes it to safe_next a few lines on.
                following = "\n".join(lines[n : n + 5])
                if "safe_next(" not in following:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
