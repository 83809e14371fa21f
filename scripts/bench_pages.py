#!/usr/bin/env python3
"""Page speed benchmark: every dashboard, list and detail page under load, per role.

Starts gunicorn (``-w 2 --threads 1`` by default) on a loopback port against the database it
is given, signs in as each demo role through the real login form, discovers the pages to
measure (dashboards, lists with filters, sorts and the last page, detail pages for real ids
of that user), runs wrk against each page for a fixed time and prints a table of latency
percentiles. It checks that every response was 2xx, writes the table as Markdown, stops
gunicorn and exits non-zero if a page failed or missed the latency budget.

Needs wrk (Debian: ``apt-get install wrk``) and a database loaded with ``broker demo``::

    BROKER_INSTANCE_DIR=/tmp/pagebench broker demo --no-serve
    BROKER_INSTANCE_DIR=/tmp/pagebench python scripts/bench_pages.py --out /tmp/sqlite.md

The environment (``DATABASE_URL``, ``BROKER_INSTANCE_DIR``, ``SECRET_KEY``) is passed to
gunicorn unchanged. Only loopback traffic; standard library only.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "demo-password"
LOGINS = {
    "employer": "employer@demo.broker",
    "school": "school@demo.broker",
    "coordinator": "coordinator@demo.broker",
    "admin": "admin@demo.broker",
}
DEEP_PAGE = 1_000_000  # pagination clamps to the last page: the deepest OFFSET there is

# wrk's Lua hooks: count non-2xx answers per thread (wrk itself only counts >= 400) and
# print the percentiles (wrk records microseconds) in one parseable line.
LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("non2xx") or 0) end
  local e = summary.errors
  io.write(string.format(
    "BENCH p50=%.3f p95=%.3f p99=%.3f max=%.3f requests=%d duration_us=%d non2xx=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests, summary.duration,
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Page:
    role: str
    label: str
    path: str


@dataclass
class Result:
    page: Page
    p50: float
    p95: float
    p99: float
    max: float
    requests: int
    rps: float
    non2xx: int
    errors: int


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None


class Client:
    """A signed-in browser: a cookie jar and GETs that must answer 200 without redirecting."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as resp:
                return resp.status, resp.headers.get("Location", ""), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", ""), exc.read().decode(errors="replace")

    def get(self, path: str) -> str:
        status, location, body = self.request(path)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status} {location}".rstrip())
        return body

    def login(self, email: str) -> None:
        form = self.get("/auth/login")
        token = re.search(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"', form)
        if token is None:
            raise SystemExit("no csrf_token on /auth/login")
        status, location, _ = self.request(
            "/auth/login",
            {"email": email, "password": PASSWORD, "csrf_token": unescape(token.group(1))},
        )
        if status != 302 or "/auth/login" in location:
            raise SystemExit(f"sign-in as {email} failed ({status} {location})")

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def _first_id(html: str, pattern: str) -> int | None:
    found = re.search(pattern, html)
    return int(found.group(1)) if found else None


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    if select is None:
        return []
    return [v for v in re.findall(r'<option value="([^"]*)"', select.group(1)) if v]


def _pages_of(html: str) -> int:
    found = re.search(r"Page \d+ of (\d+)", html)
    return int(found.group(1)) if found else 1


def _deep(client: Client, path: str) -> tuple[str, str]:
    """The list's last page, as a label and a path (falls back to page 1 of a short list)."""
    pages = _pages_of(client.get(path))
    sep = "&" if "?" in path else "?"
    return f"last page ({pages})", f"{path}{sep}page={pages}"


def _feed_path(html: str) -> str | None:
    found = re.search(r'id="feed"[^>]*value="([^"]+)"', html)
    return urllib.parse.urlsplit(unescape(found.group(1))).path if found else None


def employer_pages(c: Client) -> list[Page]:
    pages = [("dashboard", "/employer/"), ("profile", "/employer/profile")]
    offers = c.get("/employer/offers")
    types = _options(offers, "type")
    pages += [
        ("offers", "/employer/offers"),
        ("offers open, by earliest", "/employer/offers?status=open&sort=earliest"),
        (f"offers {types[0]}, by title", f"/employer/offers?type={types[0]}&sort=title"),
        _deep(c, "/employer/offers"),
        ("new offer form", "/employer/offers/new"),
    ]
    offer_id = _first_id(offers, r'href="/employer/offers/(\d+)"')
    if offer_id:
        pages += [
            ("offer detail", f"/employer/offers/{offer_id}"),
            ("offer edit form", f"/employer/offers/{offer_id}/edit"),
            ("matches of one offer", f"/employer/matches?offer={offer_id}"),
        ]
    matches = c.get("/employer/matches")
    pages += [
        ("matches", "/employer/matches"),
        ("matches proposed, by school", "/employer/matches?status=proposed&sort=school"),
        (f"matches {types[1]}, by pupils", f"/employer/matches?type={types[1]}&sort=pupils"),
    ]
    label, path = _deep(c, "/employer/matches")
    pages.append(("matches " + label, path))
    match_id = _first_id(matches, r'href="/employer/matches/(\d+)"')
    if match_id:
        pages.append(("match detail", f"/employer/matches/{match_id}"))
    calendar = c.get("/employer/calendar")
    pages += [("impact", "/employer/impact"), ("calendar", "/employer/calendar")]
    if feed := _feed_path(calendar):
        pages.append(("calendar feed (.ics)", feed))
    return [Page("employer", label, path) for label, path in pages]


def school_pages(c: Client) -> list[Page]:
    pages = [("dashboard", "/school/"), ("profile", "/school/profile")]
    reqs = c.get("/school/requests")
    types = _options(reqs, "type")
    pages += [
        ("requests", "/school/requests"),
        ("requests open, by earliest", "/school/requests?status=open&sort=earliest"),
        (
            f"requests year 9 {types[0]}, by pupils",
            f"/school/requests?year=9&type={types[0]}&sort=pupils",
        ),
    ]
    label, path = _deep(c, "/school/requests")
    pages += [("requests " + label, path), ("new request form", "/school/requests/new")]
    request_id = _first_id(reqs, r'href="/school/requests/(\d+)/edit"')
    if request_id:
        pages.append(("request edit form", f"/school/requests/{request_id}/edit"))
    matches = c.get("/school/matches")
    pages += [
        ("matches", "/school/matches"),
        ("matches proposed, by offer", "/school/matches?status=proposed&sort=offer"),
        ("matches year 10, by pupils", "/school/matches?year=10&sort=pupils"),
    ]
    label, path = _deep(c, "/school/matches")
    pages.append(("matches " + label, path))
    match_id = _first_id(matches, r'href="/school/matches/(\d+)"')
    if match_id:
        pages.append(("match detail", f"/school/matches/{match_id}"))
    calendar = c.get("/school/calendar")
    pages += [
        ("plan", "/school/plan"),
        ("governors' report", "/school/report"),
        ("calendar", "/school/calendar"),
    ]
    if feed := _feed_path(calendar):
        pages.append(("calendar feed (.ics)", feed))
    return [Page("school", label, path) for label, path in pages]


def coordination_pages(c: Client, role: str) -> list[Page]:
    """The coordinator's pages; admins see them too, nationally."""
    queue = c.get("/coordinator/queue")
    areas = _options(queue, "area")
    types = _options(queue, "type")
    pages = [
        (
            "dashboard" if role == "coordinator" else "coordinator dashboard (all areas)",
            "/coordinator/",
        ),
        ("review queue", "/coordinator/queue"),
        (f"queue {types[0]}, score >= 50", f"/coordinator/queue?type={types[0]}&min_score=50"),
        ("queue school name search", "/coordinator/queue?school=academy"),
    ]
    if areas:
        pages.append(("queue one area", f"/coordinator/queue?area={areas[-1]}"))
    label, path = _deep(c, "/coordinator/queue")
    pages.append(("queue " + label, path))
    match_id = _first_id(queue, r'href="/coordinator/matches/(\d+)"')
    if match_id:
        pages.append(("match detail (with alternatives)", f"/coordinator/matches/{match_id}"))
    runs = c.get("/coordinator/runs")
    pages += [
        ("bulk approve preview", "/coordinator/bulk-approve"),
        ("hand match form", "/coordinator/hand-match"),
        ("runs", "/coordinator/runs"),
    ]
    run_id = _first_id(runs, r'href="/coordinator/runs/(\d+)"')
    if run_id:
        pages.append(("run detail", f"/coordinator/runs/{run_id}"))
    pages.append(("gaps", "/coordinator/gaps"))
    if areas:
        pages.append(("gaps one area", f"/coordinator/gaps?area={areas[0]}"))
    return [Page(role, label, path) for label, path in pages]


def admin_pages(c: Client) -> list[Page]:
    pages = [
        ("dashboard", "/admin/"),
        ("users", "/admin/users"),
        ("users: schools", "/admin/users?role=school"),
    ]
    label, path = _deep(c, "/admin/users")
    pages.append(("users " + label, path))
    pages += [("areas", "/admin/areas")]
    label, path = _deep(c, "/admin/areas")
    pages += [
        ("areas " + label, path),
        ("new user form", "/admin/users/new"),
        ("import form", "/admin/import"),
    ]
    return [Page("admin", label, path) for label, path in pages] + coordination_pages(c, "admin")


DISCOVER = {
    "employer": employer_pages,
    "school": school_pages,
    "coordinator": lambda c: coordination_pages(c, "coordinator"),
    "admin": admin_pages,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args, port: int, log) -> subprocess.Popen:
    gunicorn = args.gunicorn or shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    if gunicorn is None:
        raise SystemExit("gunicorn not found next to this Python; pass --gunicorn")
    cmd = [
        gunicorn,
        "-w",
        str(args.workers),
        "--threads",
        str(args.threads),
        "-b",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        "wsgi:app",
    ]
    print("$", " ".join(cmd), flush=True)
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /api/health in time")


def run_wrk(args, url: str, cookie: str, lua: str, seconds: int) -> dict[str, float]:
    cmd = [
        args.wrk,
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        lua,
        url,
    ]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    found = re.search(r"^BENCH (.*)$", out.stdout, re.M)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"wrk failed on {url}:\n{out.stdout}\n{out.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in found.group(1).split())}


def markdown(results: list[Result], title: str) -> str:
    lines = [
        f"{title}",
        "",
        "| role | page | p50 ms | p95 ms | p99 ms | req/s |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        p = r.page
        if not r.requests:
            lines.append(f"| {p.role} | {p.label} (`{p.path}`) | no answer in the run | | | 0 |")
            continue
        lines.append(
            f"| {p.role} | {p.label} (`{p.path}`) | {r.p50:.1f} | {r.p95:.1f} | "
            f"{r.p99:.1f} | {r.rps:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per page")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load")
    parser.add_argument("--connections", type=int, default=2, help="wrk -c")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn --threads")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--budget-ms", type=float, default=200, help="p95 budget per page")
    parser.add_argument("--roles", default=",".join(LOGINS), help="comma-separated roles")
    parser.add_argument("--only", default="", help="regex: only pages whose path matches")
    parser.add_argument("--title", default="", help="heading line of the Markdown table")
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument("--gunicorn", default=None)
    args = parser.parse_args(argv)

    port = args.port or _free_port()
    base = f"http://127.0.0.1:{port}"
    instance = os.environ.get("BROKER_INSTANCE_DIR", "./instance")
    db = os.environ.get("DATABASE_URL", f"sqlite (BROKER_INSTANCE_DIR={instance})")
    print(f"database: {db}", flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "latency.lua"
        lua.write_text(LUA)
        log_path = Path(tmp) / "gunicorn.log"
        with open(log_path, "w") as log:
            proc = start_gunicorn(args, port, log)
            try:
                wait_healthy(base, proc)
                for role in [r for r in args.roles.split(",") if r]:
                    client = Client(base)
                    client.login(LOGINS[role])
                    pages = DISCOVER[role](client)
                    cookie = client.cookie_header()
                    for page in pages:
                        if args.only and not re.search(args.only, page.path):
                            continue
                        client.get(page.path)  # answers 200 with this session, no redirect
                        if args.warmup > 0:
                            run_wrk(args, base + page.path, cookie, str(lua), args.warmup)
                        m = run_wrk(args, base + page.path, cookie, str(lua), args.duration)
                        r = Result(
                            page,
                            m["p50"],
                            m["p95"],
                            m["p99"],
                            m["max"],
                            int(m["requests"]),
                            m["requests"] / (m["duration_us"] / 1e6),
                            int(m["non2xx"]),
                            int(m["errors"]),
                        )
                        results.append(r)
                        flag = "" if r.p95 < args.budget_ms else "  OVER BUDGET"
                        if r.non2xx or r.errors:
                            flag += f"  {r.non2xx} non-2xx, {r.errors} socket errors"
                        if not r.requests:
                            flag += f"  no answer within {args.duration} s"
                        print(
                            f"{role:<12} {page.label[:44]:<44} p50 {r.p50:7.1f}  "
                            f"p95 {r.p95:7.1f}  p99 {r.p99:7.1f}  {r.rps:6.1f} req/s{flag}",
                            flush=True,
                        )
            except BaseException:
                log.flush()
                print(log_path.read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                stop(proc)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1/5/15 min): {load}")
    table = markdown(results, args.title or f"Database: {db}")
    print()
    print(table)
    if args.out:
        args.out.write_text(table)
    failed = [r for r in results if r.non2xx or r.errors or not r.requests]
    slow = [r for r in results if r.p95 >= args.budget_ms]
    for r in failed:
        print(
            f"FAILED: {r.page.path}: {r.requests} answers, {r.non2xx} non-2xx, "
            f"{r.errors} socket errors"
        )
    for r in slow:
        print(f"SLOW: {r.page.path}: p95 {r.p95:.1f} ms >= {args.budget_ms:.0f} ms")
    print(f"{len(results)} pages, {len(failed)} failed, {len(slow)} over the p95 budget")
    return 1 if failed or slow else 0


if __name__ == "__main__":
    sys.exit(main())
