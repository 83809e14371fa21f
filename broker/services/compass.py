"""A Compass-shaped export: per benchmark and key phase, the banded share of pupils.

CEC's Compass self-evaluation asks, for each benchmark and key phase, what share of pupils
had each thing, in bands (:data:`BANDS`). The broker counts pupils in cohorts, never by
name, so "pupils who had it" in a year group is the largest single qualifying group (the
fewest different pupils the encounters can have reached), capped at the year group's
cohort; a phase adds up its year groups. Definitions follow :mod:`broker.services.impact`:

- **Benchmark 5**, phases years 7-9, 10-11 and 12-13: a *meaningful* delivered encounter
  with an employer in the school year.
- **Benchmark 6**, phases years 10-11 (by 16) and 12-13 (by 18): a *meaningful* delivered
  workplace visit or work experience, judged per cohort: this year's Year 11 count what
  they had as Year 10 last school year (likewise Year 13). Benchmark 6 sets no expectation
  for years 7-9, so there is no row for them.
- **Provider encounters** (Provider Access Legislation), phases years 8-9, 10-11 and
  12-13: delivered provider encounters dated by the 28 February deadline. The PAL column
  says whether attendance is mandatory (8-9, 10-11) or offered to all (12-13).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from broker import clock
from broker.extensions import db
from broker.models import Encounter, EncounterRequest, Match, Offer, School, SchoolYearGroup
from broker.services.exports import to_csv
from broker.services.impact import (
    B6_STAGES,
    PROVIDER_PHASES,
    WORKPLACE_TYPES,
    provider_phases,
    school_plan,
)
from broker.services.meaningful import is_meaningful

__all__ = [
    "BANDS", "HEADER", "CompassRow", "YearAgainstLast", "against_last_year", "band",
    "compass_csv", "compass_rows",
]

BANDS: tuple[tuple[str, int, int], ...] = (
    ("none", 0, 0),
    ("a few", 1, 25),
    ("some", 26, 50),
    ("most", 51, 75),
    ("nearly all", 76, 99),
    ("all", 100, 100),
)
"""CEC Compass's bands for "what share of pupils": (label, lowest %, highest %).

"none" is no pupil and "all" every pupil, exactly; a share between two bands' edges (say
25.4 %) falls in the higher band, and anything short of every pupil is at most "nearly all".
"""

KEY_PHASES = ((7, 9), (10, 11), (12, 13))
HEADER = (
    "benchmark", "phase", "pupils in phase", "pupils who had it", "share %", "band",
    "provider encounters attended", "PAL",
)


def band(part: int, whole: int) -> str:
    """Return the :data:`BANDS` label for ``part`` pupils out of ``whole`` ("" if no pupils).

    >>> band(0, 100), band(1, 100), band(30, 100), band(51, 100), band(99, 100), band(100, 100)
    ('none', 'a few', 'some', 'most', 'nearly all', 'all')
    """
    if whole <= 0:
        return ""
    if part <= 0:
        return BANDS[0][0]
    if part >= whole:
        return BANDS[-1][0]
    share = 100.0 * part / whole
    for label, _, high in BANDS[1:-1]:
        if share <= high:
            return label
    return BANDS[-2][0]


@dataclass
class CompassRow:
    benchmark: str
    phase: tuple[int, int]
    pupils: int
    had: int
    attended: int | None = None  # provider encounters attended by the deadline
    pal: str = ""

    @property
    def share(self) -> float | None:
        return round(100.0 * self.had / self.pupils, 1) if self.pupils else None

    @property
    def band(self) -> str:
        return band(self.had, self.pupils)

    @property
    def phase_label(self) -> str:
        return f"years {self.phase[0]}-{self.phase[1]}"


def _largest(school: School, year: int) -> dict[str, dict[int, int]]:
    """Return the largest group per year group delivered in school year ``year``.

    Keys: "b5" (meaningful, any type), "b6" (meaningful workplace visit or work experience)
    and "provider" (provider encounters delivered by the 28 February deadline).
    """
    first, last = clock.school_year_bounds(year)
    deadline = clock.provider_deadline(year)
    rows = db.session.execute(
        select(
            EncounterRequest.year_group, EncounterRequest.type, Offer.type,
            Offer.provider_encounter, Encounter.delivered_on, Encounter.pupils_reached,
            Encounter.school_criteria, Encounter.employer_criteria,
        )
        .join(Match, Encounter.match_id == Match.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .where(
            EncounterRequest.school_id == school.id,
            Encounter.delivered_on.between(first, last),
        )
    )
    out: dict[str, dict[int, int]] = {k: defaultdict(int) for k in ("b5", "b6", "provider")}
    for y, req_type, offer_type, provider, on, pupils, by_school, by_employer in rows:
        if provider and on <= deadline:
            out["provider"][y] = max(out["provider"][y], pupils)
        if is_meaningful(offer_type, by_school, by_employer):
            out["b5"][y] = max(out["b5"][y], pupils)
            if req_type in WORKPLACE_TYPES:
                out["b6"][y] = max(out["b6"][y], pupils)
    return out


def compass_rows(school: School, year: int) -> list[CompassRow]:
    """Return the Compass rows for school year ``year``: benchmark 5, 6, provider encounters."""
    cohorts = {
        y: n or 0
        for y, n in db.session.execute(
            select(SchoolYearGroup.year_group, SchoolYearGroup.pupils).where(
                SchoolYearGroup.school_id == school.id
            )
        )
    }
    now, before = _largest(school, year), _largest(school, year - 1)

    def had(key: str, y: int) -> int:
        got = now[key].get(y, 0)
        if key == "b6" and y - 1 in B6_STAGES.get(y, ()):
            got = max(got, before["b6"].get(y - 1, 0))  # the cohort's own year before
        return min(got, cohorts.get(y, 0))

    def row(benchmark: str, key: str, phase: tuple[int, int]) -> CompassRow:
        years = range(phase[0], phase[1] + 1)
        return CompassRow(benchmark, phase, sum(cohorts.get(y, 0) for y in years),
                          sum(had(key, y) for y in years))

    rows = [row("Benchmark 5: encounters with employers", "b5", p) for p in KEY_PHASES]
    rows += [row("Benchmark 6: experiences of workplaces", "b6", p) for p in KEY_PHASES[1:]]
    attended = {p.years: p for p in provider_phases(school, year)}
    for phase in PROVIDER_PHASES:
        line = row("Provider encounters", "provider", phase)
        line.attended = attended[phase].attended
        line.pal = "mandatory" if attended[phase].mandatory else "offered to all"
        rows.append(line)
    return rows


def compass_csv(school: School, year: int) -> str:
    """Return the Compass rows as CSV text (cells made safe by :func:`exports.to_csv`)."""
    return to_csv(HEADER, (
        (r.benchmark, r.phase_label, r.pupils, r.had, r.share, r.band, r.attended, r.pal)
        for r in compass_rows(school, year)
    ))


@dataclass
class YearAgainstLast:
    """A year group's benchmark 5 and 6 states last school year and this one.

    States are those of :func:`broker.services.impact.school_plan` ("delivered" means met
    by a meaningful delivery); ``b6_*`` is None for years 7-9.
    """

    year_group: int
    b5_last: str
    b5_now: str
    b6_last: str | None
    b6_now: str | None
    b6_last_from_year_before: bool = False
    b6_now_from_year_before: bool = False


def against_last_year(school: School, year: int) -> list[YearAgainstLast]:
    """Return, per year group 7-13, benchmarks 5 and 6 in school year ``year`` and the one before.

    Last year's states are for the pupils then in each year group.
    """
    now, last = school_plan(school, year), school_plan(school, year - 1)
    return [
        YearAgainstLast(n.year_group, p.b5, n.b5, p.b6, n.b6, p.b6_last_year, n.b6_last_year)
        for p, n in zip(last, now, strict=True)
    ]
