"""What a person does with the browser (sign in, open, click) and what they would notice.

The checks run in the page itself: the HTTP status of the document, its <h1>, sideways
scrolling on a phone, wide tables outside a scrolling wrapper, form controls without a label,
and checkboxes whose label has fallen onto another line.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 10
SCREENSHOT_MAX_HEIGHT = 4000

# Each returns a list of human-readable problems (empty when the page is fine).
# A phone widens its layout viewport (window.innerWidth) to fit content that overflows, and
# shrinks the page to fit: compare with the phone's own width, given as arguments[0].
_OVERFLOW_JS = """
const vw = Math.min(window.innerWidth, arguments[0]), doc = document.documentElement;
if (doc.scrollWidth <= vw + 1) return [];
const scrolls = el => {
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
  }
  return false;
};
const culprits = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.right > vw + 1 && !scrolls(el)) {
    const parent = el.parentElement;
    // Report the outermost offender only.
    if (parent && parent !== document.body && parent.getBoundingClientRect().right > vw + 1
        && !scrolls(parent)) continue;
    culprits.push(`<${el.tagName.toLowerCase()} class="${el.className}"> right edge at `
                  + `${Math.round(r.right)}px`);
  }
}
return [`page scrolls sideways: scrollWidth ${doc.scrollWidth}px > innerWidth ${vw}px; `
        + `widest: ${culprits.slice(0, 5).join('; ')}`];
"""

_TABLES_JS = """
const problems = [];
for (const t of document.querySelectorAll('main table')) {
  if (t.scrollWidth <= document.documentElement.clientWidth + 1) continue;  // the phone's width
  let ok = false;
  for (let a = t.parentElement; a; a = a.parentElement) {
    const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll') { ok = true; break; }
  }
  if (!ok) problems.push(`table ${t.scrollWidth}px wide is not inside a scrolling wrapper `
                         + `(.table-wrap): ${t.outerHTML.slice(0, 80)}`);
}
return problems;
"""

_LABELS_JS = """
const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
const problems = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (skip.has((el.getAttribute('type') || '').toLowerCase())) continue;
  if ((el.getAttribute('aria-label') || '').trim()) continue;
  if (el.getAttribute('aria-labelledby')) continue;
  if (el.closest('label')) continue;
  if (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) continue;
  problems.push(`form control without a label: ${el.outerHTML.slice(0, 120)}`);
}
return problems;
"""

_CHECKBOXES_JS = """
const problems = [];
for (const box of document.querySelectorAll('input[type=checkbox], input[type=radio]')) {
  const label = box.id && document.querySelector(`label[for="${CSS.escape(box.id)}"]`);
  if (!label) continue;
  const b = box.getBoundingClientRect(), l = label.getClientRects()[0];
  if (l && (l.top >= b.bottom || l.bottom <= b.top)) {
    problems.push(`label "${label.textContent.trim()}" is not on the line of its ${box.type}`);
  }
}
return problems;
"""

_STATUS_JS = "return performance.getEntriesByType('navigation')[0].responseStatus;"


class Browser:
    """A Chromium on the live server, driven as a person would."""

    def __init__(
        self, driver: WebDriver, base_url: str, screenshots: Path, phone_width: int
    ) -> None:
        self.driver = driver
        self.phone_width = phone_width
        self.base_url = base_url
        self.screenshots = screenshots

    # Moving around -----------------------------------------------------------------------

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click_and_wait(self, element: WebElement) -> None:
        """Click something that loads a new page, and wait until the new page has loaded."""
        # A mark on the old page: gone once the browser has replaced it with the new one.
        # (Polling an old element for staleness races chromedriver's DOM bookkeeping.)
        self.driver.execute_script("window.__beforeClick = true;")
        element.click()
        self.wait(
            lambda d: d.execute_script(
                "return !window.__beforeClick && document.readyState === 'complete';"
            ),
            # While the page is being replaced, scripts may hit a vanishing document.
            ignoring=(WebDriverException,),
        )

    def wait(
        self,
        condition: Callable[[WebDriver], object],
        ignoring: tuple[type[Exception], ...] = (),
    ) -> object:
        return WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=ignoring).until(
            condition
        )

    def type_into(self, css: str, text: str) -> None:
        box = self.find(css)
        box.clear()
        box.send_keys(text)

    # Signing in and out ------------------------------------------------------------------

    def sign_in(self, email: str, password: str) -> None:
        """Type into the real login form and press its button."""
        self.open("/auth/login")
        self.type_into("main input[name=email]", email)
        self.type_into("main input[name=password]", password)
        self.click_and_wait(self.find("main form button[type=submit]"))
        assert not self.path.startswith("/auth/login"), f"sign-in failed: {self.flash_text()}"

    def sign_out(self) -> None:
        button = self.driver.find_element(
            By.XPATH, "//header//form//button[normalize-space()='Sign out']"
        )
        self.click_and_wait(button)

    # What a person sees ------------------------------------------------------------------

    def status(self) -> int:
        return int(self.driver.execute_script(_STATUS_JS))

    def h1(self) -> str:
        found = self.find_all("main h1")
        return found[0].text.strip() if found else ""

    def flash_text(self) -> str:
        return " | ".join(f.text for f in self.find_all(".flash"))

    def inner_width(self) -> int:
        return int(self.driver.execute_script("return window.innerWidth"))

    def problems(self) -> list[str]:
        """Everything wrong with the current page that a person on a phone would trip over."""
        found: list[str] = []
        if (status := self.status()) != 200:
            found.append(f"HTTP {status}")
        if not self.h1():
            found.append("no <h1> in <main>")
        found.extend(self.driver.execute_script(_OVERFLOW_JS, self.phone_width))
        for script in (_TABLES_JS, _LABELS_JS, _CHECKBOXES_JS):
            found.extend(self.driver.execute_script(script))
        return found

    def screenshot(self, name: str) -> Path:
        """Save the whole page (up to a few phone screens) as a PNG."""
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        width = self.inner_width()
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": width,
                    "height": min(height, SCREENSHOT_MAX_HEIGHT),
                    "scale": 1,
                },
            },
        )
        path = self.screenshots / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
