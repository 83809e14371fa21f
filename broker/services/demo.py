"""The demo: real schools, and a seeded, believable national set of employers around them.

Offers cluster in England's cities, so rural schools are short of them, as in life; supply
is scarcer than demand. The same seed always gives the same data.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.neighbors import BallTree
from sqlalchemy import func, insert, select, text
from tqdm import tqdm

from broker import clock
from broker.extensions import db
from broker.models import (
    EMPLOYER_KINDS,
    ENCOUNTER_TYPES,
    PROVIDER_KINDS,
    SEN_CODES,
    Area,
    Employer,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
    User,
)
from broker.services import accounts
from broker.services.insights import refresh_insights
from broker.services.livedin import live_through_year
from broker.services.matching import run_matching
from broker.statuses import MatchStatus

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"

# (name, lat, lon, weight): where employers cluster. Weights roughly follow jobs.
CITIES = [
    ("London", 51.507, -0.128, 30),
    ("Birmingham", 52.480, -1.903, 7),
    ("Manchester", 53.481, -2.243, 7),
    ("Leeds", 53.800, -1.549, 5),
    ("Liverpool", 53.408, -2.992, 4),
    ("Newcastle", 54.978, -1.618, 4),
    ("Sheffield", 53.381, -1.470, 3),
    ("Bristol", 51.455, -2.588, 4),
    ("Nottingham", 52.954, -1.158, 3),
    ("Leicester", 52.637, -1.135, 3),
    ("Southampton", 50.910, -1.404, 2),
    ("Portsmouth", 50.805, -1.087, 2),
    ("Reading", 51.454, -0.978, 3),
    ("Milton Keynes", 52.041, -0.760, 2),
    ("Cambridge", 52.205, 0.122, 2),
    ("Oxford", 51.752, -1.258, 2),
    ("Norwich", 52.630, 1.297, 1),
    ("Exeter", 50.718, -3.534, 1),
    ("Plymouth", 50.376, -4.143, 1),
    ("York", 53.960, -1.082, 1),
    ("Hull", 53.745, -0.337, 1),
    ("Coventry", 52.407, -1.510, 2),
    ("Stoke-on-Trent", 53.003, -2.180, 1),
    ("Derby", 52.922, -1.476, 1),
    ("Brighton", 50.822, -0.137, 2),
    ("Sunderland", 54.906, -1.381, 1),
    ("Middlesbrough", 54.574, -1.235, 1),
    ("Bradford", 53.796, -1.759, 1),
    ("Preston", 53.763, -2.703, 1),
    ("Ipswich", 52.057, 1.148, 1),
]

SECTORS = {
    # sector: (stem, weight)
    "engineering": (True, 8),
    "digital and IT": (True, 8),
    "science and research": (True, 4),
    "manufacturing": (True, 6),
    "energy": (True, 3),
    "construction": (True, 6),
    "health and care": (False, 9),
    "finance": (False, 7),
    "law": (False, 3),
    "creative and media": (False, 4),
    "retail": (False, 6),
    "hospitality": (False, 5),
    "public services": (False, 6),
    "logistics": (False, 4),
    "agriculture": (False, 2),
    "education": (False, 3),
}
STEREOTYPE_NOTES = {
    True: ["female engineers", "women in software", "female scientists", "women in construction"],
    False: ["male nurses", "male carers", "male primary teachers", "women in finance leadership"],
}
NAME_A = [
    "Northgate",
    "Riverside",
    "Oakfield",
    "Summit",
    "Meridian",
    "Kingsway",
    "Harbour",
    "Greenline",
    "Pennine",
    "Severn",
    "Thames",
    "Beacon",
    "Crown",
    "Sterling",
    "Apex",
    "Westfield",
    "Eastbrook",
    "Millstone",
    "Ashford",
    "Brightwater",
    "Foxley",
    "Moor",
]
NAME_B = {
    "engineering": "Engineering",
    "digital and IT": "Digital",
    "science and research": "Laboratories",
    "manufacturing": "Manufacturing",
    "energy": "Energy",
    "construction": "Construction",
    "health and care": "Health",
    "finance": "Finance",
    "law": "Legal",
    "creative and media": "Studios",
    "retail": "Retail",
    "hospitality": "Hotels",
    "public services": "Services",
    "logistics": "Logistics",
    "agriculture": "Farms",
    "education": "Learning",
}

# (type, weight, capacity range, request pupils range)
TYPES = {
    "talk": (24, (30, 120), (25, 150)),
    "careers_fair": (6, (100, 300), (60, 200)),
    "workplace_visit": (15, (10, 30), (10, 30)),
    "work_experience": (14, (1, 4), (2, 12)),
    "mentoring": (10, (5, 15), (5, 20)),
    "mock_interview": (12, (10, 40), (15, 60)),
    "enterprise_challenge": (11, (30, 90), (25, 90)),
    "cv_workshop": (8, (20, 60), (20, 60)),
}
assert set(TYPES) == set(ENCOUNTER_TYPES)

# Offers and requests fall between the day the demo is loaded and the end of the summer
# term, or the next summer term when this one is less than this many days away.
SUMMER_TERM_ENDS = (7, 16)
MIN_DEMO_DAYS = 120


# What a provider's offer of these types is in the demo: a provider encounter.
PROVIDER_ENCOUNTER_TYPES = ("talk", "workplace_visit", "careers_fair")

# How long each kind of encounter lasts for each pupil: (days, hours a day). A week's
# placement is five days of six hours; mentoring six one-hour sessions.
DURATIONS: dict[str, tuple[int, float]] = {
    "talk": (1, 1.0),
    "careers_fair": (1, 2.0),
    "workplace_visit": (1, 4.0),
    "work_experience": (5, 6.0),
    "mentoring": (6, 1.0),
    "mock_interview": (1, 1.0),
    "enterprise_challenge": (1, 5.0),
    "cv_workshop": (1, 1.5),
}


def demo_period(today: date) -> tuple[date, date]:
    """Return the demo's dates for offers and requests: ``today`` to a summer term's end.

    >>> demo_period(date(2026, 12, 1))
    (datetime.date(2026, 12, 1), datetime.date(2027, 7, 16))
    >>> demo_period(date(2027, 6, 1))
    (datetime.date(2027, 6, 1), datetime.date(2028, 7, 16))
    """
    end = date(clock.school_year_of(today) + 1, *SUMMER_TERM_ENDS)
    if (end - today).days < MIN_DEMO_DAYS:
        end = date(end.year + 1, *SUMMER_TERM_ENDS)
    return today, end


@dataclass(frozen=True)
class DemoSize:
    """How much demo data to make."""

    employers: int
    offers: int
    requests: int

    @classmethod
    def national(cls) -> DemoSize:
        return cls(employers=5000, offers=15000, requests=25000)

    @classmethod
    def small(cls) -> DemoSize:
        return cls(employers=150, offers=450, requests=800)


@dataclass
class DemoLogins:
    """The demo's sign-ins, one per role."""

    password: str
    emails: dict[str, str] = field(default_factory=dict)


def _window(
    rng: np.random.Generator, lengths: tuple[int, int], period: tuple[date, date]
) -> tuple[date, date]:
    first, last = period
    span = (last - first).days
    length = int(rng.integers(*lengths))
    start = first + timedelta(days=int(rng.integers(0, max(1, span - length))))
    return start, min(last, start + timedelta(days=length))


def _employers(rng: np.random.Generator, n: int, schools: list[School], today: date) -> list[dict]:
    weights = np.array([c[3] for c in CITIES], dtype=float)
    city_idx = rng.choice(len(CITIES), size=n, p=weights / weights.sum())
    school_lat = np.array([s.lat for s in schools])
    school_lon = np.array([s.lon for s in schools])
    tree = BallTree(np.radians(np.c_[school_lat, school_lon]), metric="haversine")
    sector_names = list(SECTORS)
    sector_w = np.array([SECTORS[s][1] for s in sector_names], dtype=float)
    rows = []
    for i in range(n):
        if rng.random() < 0.12:
            # A few employers anywhere (market towns, farms): near a random school.
            j = int(rng.integers(len(schools)))
            lat = school_lat[j] + rng.normal(0, 0.03)
            lon = school_lon[j] + rng.normal(0, 0.05)
        else:
            _, clat, clon, _ = CITIES[city_idx[i]]
            lat = clat + rng.normal(0, 0.07)
            lon = clon + rng.normal(0, 0.11)
        # The nearest school's (real) postcode stands in for the employer's own.
        _, nearest = tree.query(np.radians([[lat, lon]]), k=1)
        school = schools[int(nearest[0][0])]
        sector = str(rng.choice(sector_names, p=sector_w / sector_w.sum()))
        kind = str(rng.choice(EMPLOYER_KINDS, p=[0.72, 0.1, 0.06, 0.05, 0.05, 0.02]))
        name = f"{NAME_A[int(rng.integers(len(NAME_A)))]} {NAME_B[sector]} {i + 1}"
        rows.append(
            dict(
                name=name,
                kind=kind,
                sector=sector,
                postcode=school.postcode or "",
                lat=float(lat),
                lon=float(lon),
                area_id=school.area_id,
                contact_name=f"Volunteer lead {i + 1}",
                contact_email=f"contact{i + 1}@employer{i + 1}.example",
                dbs_checked=bool(rng.random() < 0.7),
                dbs_renewal_on=today + timedelta(days=int(rng.integers(31, 731))),
                insurance_expires_on=today + timedelta(days=int(rng.integers(0, 500))),
                risk_assessment_on=today - timedelta(days=int(rng.integers(1, 335))),
                # The demo's organisations have been checked by a coordinator already.
                verified_at=clock.now(),
            )
        )
    return rows


def _offers(
    rng: np.random.Generator, n: int, employers: list[Employer], period: tuple[date, date]
) -> list[dict]:
    types = list(TYPES)
    type_w = np.array([TYPES[t][0] for t in types], dtype=float)
    rows = []
    for _ in range(n):
        emp = employers[int(rng.integers(len(employers)))]
        kind = str(rng.choice(types, p=type_w / type_w.sum()))
        stem = SECTORS[emp.sector][0]
        cap_lo, cap_hi = TYPES[kind][1]
        virtual = (
            kind in ("talk", "mentoring", "mock_interview", "cv_workshop") and rng.random() < 0.2
        )
        if kind == "work_experience":
            year_min, year_max = 10, 12
        else:
            year_min = int(rng.integers(7, 12))
            year_max = int(rng.integers(year_min, 14))
        earliest, latest = _window(rng, (30, 150), period)
        challenges = bool(rng.random() < (0.3 if stem else 0.12))
        sen = (
            sorted(set(rng.choice(SEN_CODES, size=int(rng.integers(1, 4)), replace=False)))
            if rng.random() < 0.3
            else []
        )
        delivery = (
            "virtual"
            if virtual
            else (
                "at_workplace"
                if kind in ("workplace_visit", "work_experience")
                else str(rng.choice(["at_school", "at_workplace"], p=[0.7, 0.3]))
            )
        )
        rows.append(
            dict(
                employer_id=emp.id,
                title=f"{kind.replace('_', ' ').capitalize()} with {emp.name}",
                description=f"A {kind.replace('_', ' ')} about careers in {emp.sector}.",
                type=kind,
                sector=emp.sector,
                stem=stem,
                challenges_stereotype=challenges,
                stereotype_note=(str(rng.choice(STEREOTYPE_NOTES[stem])) if challenges else ""),
                sen_support=[str(s) for s in sen],
                year_min=year_min,
                year_max=year_max,
                capacity=int(rng.integers(cap_lo, cap_hi + 1)),
                delivery=delivery,
                max_km=float(rng.choice([10, 15, 20, 30, 40])),
                postcode=emp.postcode,
                lat=emp.lat,
                lon=emp.lon,
                earliest=earliest,
                latest=latest,
                status="open",
                days=DURATIONS[kind][0],
                hours_a_day=DURATIONS[kind][1],
                # Colleges, training providers and universities give their talks, visits
                # and fairs as provider encounters covering the four topics.
                provider_encounter=(
                    emp.kind in PROVIDER_KINDS and kind in PROVIDER_ENCOUNTER_TYPES
                ),
            )
        )
    return rows


def _requests(
    rng: np.random.Generator, n: int, schools: list[School], period: tuple[date, date]
) -> list[dict]:
    types = list(TYPES)
    type_w = np.array([TYPES[t][0] for t in types], dtype=float)
    size = np.array([max(s.pupils or 300, 100) for s in schools], dtype=float)
    picks = rng.choice(len(schools), size=n, p=size / size.sum())
    rows = []
    for j in picks:
        school = schools[int(j)]
        kind = str(rng.choice(types, p=type_w / type_w.sum()))
        lo, hi = TYPES[kind][2]
        year = int(rng.integers(10, 13)) if kind == "work_experience" else int(rng.integers(7, 14))
        special = school.kind != "mainstream"
        pupils = int(rng.integers(lo, hi + 1))
        if special:
            pupils = max(1, pupils // 4)
        earliest, latest = _window(rng, (45, 180), period)
        sen: list[str] = []
        if special:
            sen = sorted({str(s) for s in rng.choice(SEN_CODES, size=int(rng.integers(1, 3)))})
        elif rng.random() < 0.08:
            sen = [str(rng.choice(SEN_CODES))]
        rows.append(
            dict(
                school_id=school.id,
                type=kind,
                year_group=year,
                pupils=pupils,
                earliest=earliest,
                latest=latest,
                stem_goal=bool(rng.random() < (0.6 if school.gender == "girls" else 0.35)),
                stereotype_goal=bool(rng.random() < (0.5 if school.gender != "mixed" else 0.2)),
                sen_needs=sen,
                notes="",
                status="open",
            )
        )
    return rows


def _bulk(model: type, rows: list[dict], desc: str, batch: int = 2000) -> None:
    with tqdm(total=len(rows), desc=desc, unit="row", file=sys.stderr) as bar:
        for start in range(0, len(rows), batch):
            db.session.execute(insert(model), rows[start : start + batch])
            bar.update(min(batch, len(rows) - start))


def load_demo(
    *,
    size: DemoSize,
    seed: int,
    schools_file: Path,
    say: Callable[[str], object] = log.info,
    lived_in: bool = False,
) -> DemoLogins:
    """Fill an empty database with the demo (schools, employers, offers, requests, logins).

    With ``lived_in`` the school year so far has happened: offers and requests start from
    the year's first day, and the proposals of a match run on that day are taken through
    approval, answers, dates, deliveries, feedback and cancellations up to today (see
    ``broker.services.livedin``); tonight's match then runs on that state.
    Loading twice does nothing the second time apart from printing the logins again.
    """
    from broker.services.schools import load_schools

    logins = DemoLogins(password=DEMO_PASSWORD)
    if db.session.scalar(select(func.count()).select_from(School)) == 0:
        report = load_schools(schools_file)
        log.info("schools: %s", report.summary())
        db.session.commit()
    rng = np.random.default_rng(seed)
    schools = list(db.session.scalars(select(School).order_by(School.id)))
    if db.session.scalar(select(func.count()).select_from(Employer)) == 0:
        today = clock.today()
        period = demo_period(today)
        if lived_in:
            period = (clock.school_year_start(today), period[1])
        _bulk(Employer, _employers(rng, size.employers, schools, today), "Employers")
        employers = list(db.session.scalars(select(Employer).order_by(Employer.id)))
        _bulk(Offer, _offers(rng, size.offers, employers, period), "Offers")
        _bulk(EncounterRequest, _requests(rng, size.requests, schools, period), "Requests")
        db.session.commit()
        # Fresh tables have no planner statistics (and autovacuum may be off): gather them
        # so the first pages are planned for tens of thousands of rows, not a handful.
        db.session.execute(text("ANALYZE"))
        db.session.commit()
    # Run the nightly match once so every role has something to act on; the demo's logins
    # are then chosen where its proposals are.
    if db.session.scalar(select(func.count()).select_from(MatchRun)) == 0:
        if lived_in:
            today = clock.today()
            first_day = clock.school_year_start(today)
            say(f"Living through the school year from {first_day:%-d %B %Y} to today...")
            run_matching(datetime.combine(first_day, time(1), tzinfo=UTC), kind="demo")
            lived = live_through_year(first_day, today, seed=seed)
            db.session.commit()
            say(f"The year so far: {lived.summary()}.")
        say("Running the nightly match once...")
        run = run_matching(clock.now(), kind="demo")
        db.session.commit()
        # As the nightly job does: the fairness baseline and "where one more offer helps".
        refresh_insights(clock.now(), run=run)
        db.session.commit()
        say(
            f"Matched {run.figures['pupils_matched']:,} of {run.figures['pupils_requested']:,} "
            f"pupils requested: {run.figures['proposals']:,} proposals for coordinators "
            f"({run.figures['seconds']['total']:.1f} s)."
        )
    logins.emails = _demo_users()
    db.session.commit()
    return logins


def _demo_users() -> dict[str, str]:
    """Create (once) one login per role and return their emails."""
    emails = {
        "admin": "admin@demo.broker",
        "coordinator": "coordinator@demo.broker",
        "employer": "employer@demo.broker",
        "school": "school@demo.broker",
    }
    if db.session.scalar(select(User).where(User.email == emails["admin"])) is not None:
        return emails
    accounts.create_user(
        email=emails["admin"], name="Demo admin", role="admin", password=DEMO_PASSWORD
    )
    # The coordinator looks after the area with the most proposals to review and the rural
    # area with the most, so both stories show; ties go to the lower id so every database
    # picks the same.
    proposals = func.count(Match.id)

    def area_with_most_proposals(*where: Any) -> int | None:
        return db.session.scalar(
            select(School.area_id)
            .join(EncounterRequest, EncounterRequest.school_id == School.id)
            .join(Match, Match.request_id == EncounterRequest.id)
            .where(School.area_id.is_not(None), Match.status == MatchStatus.PROPOSED, *where)
            .group_by(School.area_id)
            .order_by(proposals.desc(), School.area_id)
            .limit(1)
        )

    busiest = area_with_most_proposals()
    area_ids = [busiest] if busiest else []
    rural = area_with_most_proposals(School.rural.is_(True))
    if rural and rural not in area_ids:
        area_ids.append(rural)
    accounts.create_user(
        email=emails["coordinator"],
        name="Demo coordinator",
        role="coordinator",
        password=DEMO_PASSWORD,
        areas=list(db.session.scalars(select(Area).where(Area.id.in_(area_ids)))),
    )
    employer = db.session.scalar(
        select(Employer)
        .join(Offer)
        .group_by(Employer.id)
        .order_by(func.count(Offer.id).desc(), Employer.id)
        .limit(1)
    )
    accounts.create_user(
        email=emails["employer"],
        name="Demo employer",
        role="employer",
        password=DEMO_PASSWORD,
        employer=employer,
    )
    school = db.session.scalar(
        select(School)
        .join(EncounterRequest)
        .join(Match, Match.request_id == EncounterRequest.id)
        .where(School.area_id.in_(area_ids or [-1]), Match.status == MatchStatus.PROPOSED)
        .group_by(School.id)
        .order_by(proposals.desc(), School.id)
        .limit(1)
    ) or db.session.scalar(select(School).join(EncounterRequest).order_by(School.id).limit(1))
    accounts.create_user(
        email=emails["school"],
        name="Demo careers leader",
        role="school",
        password=DEMO_PASSWORD,
        school=school,
    )
    return emails
