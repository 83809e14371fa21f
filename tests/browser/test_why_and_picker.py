"""On a phone: a school's request page with "why nothing matched", and the hand-match picker."""

from __future__ import annotations

import pytest

from .conftest import LiveServer
from .pages import Browser

pytestmark = pytest.mark.browser


def test_the_hand_match_picker_works_on_a_phone(browser: Browser, live_server: LiveServer):
    browser.sign_in(live_server.logins["coordinator"], live_server.password)
    browser.open("/coordinator/hand-match")
    choose = browser.find_all("#picker-requests a.button")
    assert choose, "the demo coordinator has open requests to choose from"
    browser.click_and_wait(choose[0])
    assert browser.path.startswith("/coordinator/hand-match?request_id=")
    browser.screenshot("coordinator/hand-match-chosen")
    assert browser.find("section.why").text.strip()
    assert not browser.problems()


def test_a_request_page_says_whether_an_offer_could_serve_it(
    browser: Browser, live_server: LiveServer
):
    browser.sign_in(live_server.logins["school"], live_server.password)
    browser.open("/school/requests?status=open")
    links = browser.find_all("tbody td:first-child a")
    assert links, "the demo school has open requests"
    browser.click_and_wait(links[0])
    browser.screenshot("school/request-why")
    assert "offer" in browser.find("section.why").text
    assert not browser.problems()
