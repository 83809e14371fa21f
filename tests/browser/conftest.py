"""Real-browser fixtures: the demo served on 127.0.0.1, and a headless Chromium the size of a phone.

The server always uses an SQLite file (it runs in another thread, so neither an in-memory
database nor the per-test PostgreSQL transaction of ``tests/conftest.py`` would do). Chromium
and its driver come from Debian (``apt-get install chromium chromium-driver``); selenium is
pointed at that driver so that it never tries to download one. Without them the tests skip on
a laptop and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from broker import create_app
from broker.cli import SHIPPED_SCHOOLS
from broker.extensions import db
from broker.services.demo import DEMO_PASSWORD, DemoSize, load_demo
from config import TestConfig

from .pages import Browser

PHONE = (390, 844)  # an iPhone 12-15 in CSS pixels
PAGE_LOAD_SECONDS = 20
DEBIAN_PACKAGES = "chromium chromium-driver"


def _find(*names: str) -> str | None:
    for name in names:
        if path := shutil.which(name):
            return path
    return None


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask
    password: str
    logins: dict[str, str]


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    """Chromium and chromedriver from Debian: a failure in CI, a skip elsewhere."""
    chromium = _find("chromium", "chromium-browser")
    driver = _find("chromedriver")
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(
        name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path
    )
    message = (
        f"browser tests need {missing} on PATH: apt-get install {DEBIAN_PACKAGES} (Debian packages)"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def live_server(
    chromium_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The small demo, served by werkzeug on 127.0.0.1 and a free port in a daemon thread."""
    db_file = tmp_path_factory.mktemp("live-db") / "broker.sqlite"

    class BrowserConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{db_file}"
        SERVER_NAME = None

    app = create_app(BrowserConfig)
    with app.app_context():
        db.create_all()
        logins = load_demo(
            size=DemoSize(employers=40, offers=120, requests=200),
            seed=1,
            schools_file=SHIPPED_SCHOOLS,
        )
        db.session.remove()

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{server.server_port}",
            app=app,
            password=DEMO_PASSWORD,
            logins=logins.emails,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where page screenshots go (a pytest temporary directory, never the repository)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def _driver(chromium_paths: tuple[str, str], tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = chromium_paths
    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(arg)
    # An explicit driver path: selenium-manager (which downloads browsers) is never run.
    service = Service(
        executable_path=chromedriver,
        log_output=str(profile.parent / "chromedriver.log"),
    )
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
        driver.set_script_timeout(PAGE_LOAD_SECONDS)
        # The layout viewport of a phone, with mobile viewport rules (meta viewport) applied.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 1, "mobile": True},
        )
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(_driver, live_server: LiveServer, screenshots: Path) -> Iterator[Browser]:
    """A signed-out browser on the live demo (cookies cleared before and after each test)."""
    _driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield Browser(_driver, live_server.url, screenshots, PHONE[0])
    _driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
