"""Whole journeys by clicking: a school asks for an encounter; a coordinator approves a match."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from broker import clock

from .conftest import LiveServer
from .pages import Browser

pytestmark = pytest.mark.browser


def _click_link(browser: Browser, text: str) -> None:
    browser.click_and_wait(browser.driver.find_element(By.LINK_TEXT, text))


def _set_date(browser: Browser, css: str, day: date) -> None:
    # A date picker's typed format follows the browser's locale; set the ISO value it submits.
    browser.driver.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        browser.find(css),
        day.isoformat(),
    )


def test_school_asks_for_an_encounter(browser: Browser, live_server: LiveServer) -> None:
    browser.sign_in(live_server.logins["school"], live_server.password)
    _click_link(browser, "Requests")
    assert browser.h1() == "Your requests"
    _click_link(browser, "Ask for an encounter")
    assert browser.path == "/school/requests/new"

    earliest = clock.today() + timedelta(days=60)
    latest = earliest + timedelta(days=25)
    Select(browser.find("select#type")).select_by_value("mock_interview")
    browser.type_into("input#year_group", "11")
    _set_date(browser, "input#earliest", earliest)
    _set_date(browser, "input#latest", latest)
    browser.find("label[for=stem_goal]").click()
    browser.type_into("textarea#notes", "Browser test: a mock interview morning.")
    # Pupils left empty: the form comes back with the field marked, nothing saved.
    browser.click_and_wait(browser.find("main form.stack button[type=submit]"))
    assert browser.status() == 400
    assert "Please correct the fields" in browser.flash_text()
    assert browser.find_all(".field.invalid input#pupils")
    assert browser.find("input#year_group").get_attribute("value") == "11"
    assert browser.find("input#stem_goal").is_selected()
    browser.screenshot("journey/school_request_form_errors")

    browser.type_into("input#pupils", "37")
    browser.click_and_wait(browser.find("main form.stack button[type=submit]"))
    assert browser.path.startswith("/school/requests"), browser.flash_text()
    assert "Request saved" in browser.flash_text()
    browser.screenshot("journey/school_request_saved")

    window = f"{earliest:%-d %b %Y} – {latest:%-d %b %Y}"
    rows = [r.text for r in browser.find_all("main table tbody tr")]
    newest = rows[0]  # the list shows the newest first
    assert "Mock interview" in newest, rows[:3]
    assert "0 / 37" in newest and window in newest and "STEM" in newest, newest
    assert "Open" in newest or "open" in newest, newest


def test_coordinator_approves_a_proposed_match(browser: Browser, live_server: LiveServer) -> None:
    browser.sign_in(live_server.logins["coordinator"], live_server.password)
    _click_link(browser, "Queue")
    assert browser.path == "/coordinator/queue"
    approve_buttons = browser.driver.find_elements(
        By.XPATH, "//main//table//button[normalize-space()='Approve']"
    )
    assert approve_buttons, "the demo should leave proposals in the coordinator's queue"

    row = approve_buttons[0].find_element(By.XPATH, "./ancestor::tr")
    review = row.find_element(By.LINK_TEXT, "Review").get_attribute("href")
    match_path = review.removeprefix(live_server.url)
    assert re.fullmatch(r"/coordinator/matches/\d+", match_path), match_path
    employer = row.find_elements(By.TAG_NAME, "td")[3].text.splitlines()[0]

    browser.click_and_wait(approve_buttons[0])
    assert browser.path.startswith("/coordinator/queue")
    flash = browser.flash_text()
    assert f"with {employer}" in flash and "Approved" in flash, flash
    browser.screenshot("journey/coordinator_approved")
    still_listed = [
        a.get_attribute("href").removeprefix(live_server.url)
        for a in browser.driver.find_elements(By.LINK_TEXT, "Review")
    ]
    assert match_path not in still_listed, "an approved match leaves the queue"

    browser.open(match_path)
    assert "approved" in browser.h1()
    assert not browser.driver.find_elements(
        By.XPATH, "//main//button[normalize-space()='Approve']"
    ), "an approved match offers no second approval"
