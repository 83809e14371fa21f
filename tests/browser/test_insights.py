"""The map and charts render in a real Chromium, on a phone and a desktop, fetching nothing
from any other host (the server draws them as SVG; nothing is loaded from the internet)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from .conftest import PHONE, LiveServer
from .pages import Browser

pytestmark = pytest.mark.browser

DESKTOP = (1280, 900)

# Every resource the page loaded, and every address an element would load or link to.
_ADDRESSES_JS = """
const seen = performance.getEntriesByType('resource').map(e => e.name);
for (const el of document.querySelectorAll('[src], [href], [action]')) {
  for (const attr of ['src', 'href', 'action']) {
    const v = el.getAttribute(attr);
    if (v) seen.push(new URL(v, document.baseURI).href);
  }
}
return seen;
"""

# Size on screen of the drawn map or charts, and how many marks they hold.
_DRAWN_JS = """
const out = [];
for (const svg of document.querySelectorAll('svg.map, svg.chart')) {
  const r = svg.getBoundingClientRect();
  out.push({cls: svg.getAttribute('class'), width: r.width, height: r.height,
            marks: svg.querySelectorAll('circle, rect, path').length});
}
return out;
"""


_ON_TOP_JS = """
const links = [...document.querySelectorAll('svg.map .schools a')];
for (let i = 0; i < links.length; i++) {
  const dot = links[i].querySelector('circle');
  dot.scrollIntoView({block: 'center'});
  const r = dot.getBoundingClientRect();
  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  if (hit && hit.closest('a') === links[i]) return i;
}
return null;
"""


def _set_width(browser: Browser, width: int, height: int) -> None:
    browser.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _offsite(browser: Browser, live_server: LiveServer) -> list[str]:
    home = urlsplit(live_server.url).netloc
    return [
        url
        for url in browser.driver.execute_script(_ADDRESSES_JS)
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != home
    ]


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_map_and_charts_render_offline_on_phone_and_desktop(
    role: str, browser: Browser, live_server: LiveServer
) -> None:
    browser.sign_in(live_server.logins[role], live_server.password)
    # A coordinator's dashboard leads with the map of their areas (an admin's with figures).
    pages = {
        **({"/coordinator/": "map"} if role == "coordinator" else {}),
        "/insights/": "map",
        "/insights/needs": "map",
        "/insights/fairness": "chart",
        "/insights/charts": "chart",
    }
    problems: dict[str, list[str]] = {}
    try:
        for width, height in (PHONE, DESKTOP):
            _set_width(browser, width, height)
            for path, kind in pages.items():
                browser.open(path)
                browser.screenshot(f"insights-{role}{path}-{width}")
                found = list(browser.problems()) if width == PHONE[0] else []
                drawn = [d for d in browser.driver.execute_script(_DRAWN_JS) if kind in d["cls"]]
                if not drawn:
                    found.append(f"no {kind} drawn")
                for d in drawn:
                    if d["width"] < 0.8 * min(width, 390) or d["height"] < 100:
                        found.append(f"{kind} drawn {d['width']:.0f}x{d['height']:.0f} px")
                    if d["marks"] < 2:  # a key and at least one mark of data
                        found.append(f"{kind} has {d['marks']} marks")
                    if d["width"] > width:
                        found.append(f"{kind} wider than the screen")
                if offsite := _offsite(browser, live_server):
                    found.append(f"addresses off the site: {offsite[:3]}")
                if found:
                    problems[f"{path} at {width}px"] = found
    finally:
        _set_width(browser, *PHONE)
    assert not problems, "\n".join(f"{p}: {'; '.join(f)}" for p, f in problems.items())


def test_tapping_a_school_on_the_map_opens_its_summary(
    browser: Browser, live_server: LiveServer
) -> None:
    browser.sign_in(live_server.logins["coordinator"], live_server.password)
    browser.open("/insights/")
    dots = browser.find_all("svg.map .schools a")
    assert dots, "the map has no school to tap"
    # Schools at the same place overlap: tap one that is on top where it is drawn.
    index = browser.driver.execute_script(_ON_TOP_JS)
    assert index is not None, "every school on the map is covered by another"
    dot = dots[index]
    name = dot.find_element("css selector", "title").get_attribute("textContent")
    browser.click_and_wait(dot.find_element("css selector", "circle"))
    assert browser.path.startswith("/insights/schools/")
    assert browser.h1() == name.split(":")[0]
    assert not browser.problems()


def test_employer_sees_where_its_offers_are_needed(
    browser: Browser, live_server: LiveServer
) -> None:
    browser.sign_in(live_server.logins["employer"], live_server.password)
    nav = [a.get_attribute("href") for a in browser.find_all("header nav a")]
    assert live_server.url + "/insights/employer" in nav
    browser.open("/insights/employer")
    browser.screenshot("insights-employer")
    assert browser.h1() == "Where your kind of offer is needed"
    assert not browser.problems()
    assert not _offsite(browser, live_server)
