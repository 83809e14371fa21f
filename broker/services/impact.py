"""Read-only figures: an employer's impact, a school's plan for the year, the governors' report.

Definitions used on these pages:

- **School year**: 1 September to 31 August; ``year`` is the calendar year it starts in.
- **Disadvantaged school**: at least :data:`DISADVANTAGED_FSM_PCT` % of pupils eligible for
  free school meals. Nationally about a quarter of secondary pupils are eligible (DfE,
  2024/25), and 30 % is roughly where the top quarter of secondary schools begins, so the
  threshold is fixed rather than recomputed from whichever schools happen to be loaded.
- **Rural school**: ``School.rural``: fewer than :data:`RURAL_MAX_NEIGHBOURS` other schools
  within :data:`RURAL_RADIUS_KM` km (see services.schools).
- **Gatsby benchmark 5** (encounters with employers): every year group 7-13 should have at
  least one *meaningful* encounter with an employer each school year (from year 7 since the
  2025 benchmarks).
- **Gatsby benchmark 6** (experiences of workplaces): by 16 (years 10-11) every pupil should
  have had a *meaningful* workplace visit or work experience, and by 18 (years 12-13) one
  more. It is judged per cohort: Year 11 meets it with what they had in Year 10 last school
  year.
- **Meaningful**: the school and the employer each confirmed every criterion of the
  encounter's benchmark (:mod:`broker.services.meaningful`). A delivered encounter not (yet)
  confirmed meaningful still counts as activity (the D in the plan, pupils reached, hours)
  but not towards benchmark 5 or 6.
- **Work experience hours** (DfE statutory guidance, 2025): two weeks' worth of work
  experience for every pupil, counted as :data:`HOURS_AIM` hours per pupil in each of two
  phases: work experience *activities* in years 7-9 (workplace visits, work experience, or
  anything else held at the workplace) and *placements* (work experience) in years 10-11.
  Hours per pupil are pupil-hours (pupils times each encounter's hours) over the year group's
  cohort, and add up over the phase: this year's Year 9 count what they had in Years 7 and 8.
  *Delivered* hours come from delivered encounters; *agreed* hours from approved or accepted
  matches not yet delivered.
- **Provider encounters** (Provider Access Legislation, Skills and Post-16 Education Act
  2022): encounters with providers of technical education or apprenticeships, offered by a
  college, training or apprenticeship provider or university as a provider encounter. Two
  in each key phase (years 8-9, 10-11 and 12-13) by 28 February of the school year
  (:func:`broker.clock.provider_deadline`); attendance is mandatory in the first two
  phases and optional in years 12-13. *Offered* counts those booked (approved, accepted)
  or delivered for a year group of the phase, dated by the deadline (the delivery date,
  else the agreed date, else the request's first day); *attended* counts those delivered.
- **Booked** ("Matched"): a match a coordinator approved or both sides accepted, not yet
  delivered. A proposal is not booked.
- **Pupil places**: pupils counted once for every encounter they took part in (two talks to
  the same 150 pupils are 300 places). Pupils are counted in cohorts, never by name, so how
  many *different* pupils took part is known only to be at least the largest group.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, case, func, select

from broker import clock
from broker.extensions import db
from broker.models import (
    ENCOUNTER_TYPES,
    Employer,
    Encounter,
    EncounterRequest,
    Feedback,
    Match,
    Offer,
    School,
    SchoolYearGroup,
)
from broker.services.meaningful import is_meaningful
from broker.services.schools import RURAL_MAX_NEIGHBOURS, RURAL_RADIUS_KM
from broker.statuses import BOOKED, LOCKED, MatchStatus, PlanState

__all__ = [
    "DISADVANTAGED_FSM_PCT",
    "PLAN_YEAR_GROUPS",
    "RURAL_MAX_NEIGHBOURS",
    "RURAL_RADIUS_KM",
    "WORKPLACE_TYPES",
    "HOURS_AIM",
    "PROVIDER_PHASES",
    "Cell",
    "ProviderLine",
    "ProviderPhase",
    "Hours",
    "Impact",
    "ReportLine",
    "YearPlan",
    "employer_impact",
    "governors_report",
    "provider_encounters",
    "provider_phases",
    "school_hours",
    "school_plan",
]

DISADVANTAGED_FSM_PCT = 30.0
PLAN_YEAR_GROUPS = tuple(range(7, 14))
WORKPLACE_TYPES = ("workplace_visit", "work_experience")
# Two weeks' worth of work experience: one week in each phase, 50 hours per pupil.
HOURS_AIM = 50
HOURS_PHASES = {y: (7, 9) for y in (7, 8, 9)} | {y: (10, 11) for y in (10, 11)}
# Benchmark 6 is met per key stage: by 16 (years 10-11) and by 18 (years 12-13).
B6_STAGES = {10: (10, 11), 11: (10, 11), 12: (12, 13), 13: (12, 13)}


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Impact:
    """What an employer's delivered encounters achieved."""

    encounters: int = 0
    pupils: int = 0
    schools: int = 0
    pupils_disadvantaged: int = 0
    pupils_rural: int = 0
    pupils_sen: int = 0
    stem_goals: int = 0
    stem_goals_met: int = 0
    stereotype_goals: int = 0
    stereotype_goals_met: int = 0
    rating: float | None = None
    pupil_voice: float | None = None
    welcome_again: float | None = None
    feedback_count: int = 0  # schools' feedback forms, each with a teacher's rating
    pupil_voice_count: int = 0  # of those, how many gave the pupils' own score
    welcome_again_count: int = 0  # of those, how many said yes or no (not "not sure")
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def disadvantaged_share(self) -> float | None:
        return _share(self.pupils_disadvantaged, self.pupils)

    @property
    def rural_share(self) -> float | None:
        return _share(self.pupils_rural, self.pupils)

    @property
    def sen_share(self) -> float | None:
        return _share(self.pupils_sen, self.pupils)


def employer_impact(employer: Employer, *, year: int | None = None) -> Impact:
    """Return the impact of an employer's delivered encounters, all time or in one school year."""
    query = (
        select(
            Encounter.id,
            Encounter.pupils_reached,
            School.id.label("school_id"),
            School.fsm_pct,
            School.rural,
            EncounterRequest.sen_needs,
            EncounterRequest.stem_goal,
            EncounterRequest.stereotype_goal,
            Offer.stem,
            Offer.challenges_stereotype,
            Offer.type,
        )
        .join(Match, Encounter.match_id == Match.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(School, EncounterRequest.school_id == School.id)
        .where(Offer.employer_id == employer.id)
    )
    if year is not None:
        first, last = clock.school_year_bounds(year)
        query = query.where(Encounter.delivered_on.between(first, last))
    impact = Impact()
    schools: set[int] = set()
    by_type: dict[str, int] = defaultdict(int)
    for row in db.session.execute(query):
        impact.encounters += 1
        impact.pupils += row.pupils_reached
        schools.add(row.school_id)
        by_type[row.type] += row.pupils_reached
        if row.fsm_pct is not None and row.fsm_pct >= DISADVANTAGED_FSM_PCT:
            impact.pupils_disadvantaged += row.pupils_reached
        if row.rural:
            impact.pupils_rural += row.pupils_reached
        if row.sen_needs:
            impact.pupils_sen += row.pupils_reached
        if row.stem_goal:
            impact.stem_goals += 1
            impact.stem_goals_met += bool(row.stem)
        if row.stereotype_goal:
            impact.stereotype_goals += 1
            impact.stereotype_goals_met += bool(row.challenges_stereotype)
    impact.schools = len(schools)
    impact.by_type = {t: by_type[t] for t in ENCOUNTER_TYPES if by_type.get(t)}
    if impact.encounters:
        # The schools' view of the employer: their feedback, not the employer's own. A
        # subquery, not a list of ids, keeps a large employer under SQLite's variable limit.
        encounter_ids = query.with_only_columns(Encounter.id).scalar_subquery()
        fb = db.session.execute(
            select(
                func.count(Feedback.id),
                func.avg(Feedback.rating),
                func.avg(Feedback.pupil_voice_score),
                func.sum(case((Feedback.would_welcome_again.is_(True), 1), else_=0)),
                func.count(Feedback.would_welcome_again),
                func.count(Feedback.pupil_voice_score),
            ).where(Feedback.encounter_id.in_(encounter_ids), Feedback.by_role == "school")
        ).one()
        impact.feedback_count = int(fb[0] or 0)
        impact.welcome_again_count = int(fb[4] or 0)
        impact.pupil_voice_count = int(fb[5] or 0)
        impact.rating = round(float(fb[1]), 1) if fb[1] is not None else None
        impact.pupil_voice = round(float(fb[2]), 1) if fb[2] is not None else None
        impact.welcome_again = _share(int(fb[3] or 0), int(fb[4] or 0))
    return impact


@dataclass
class Cell:
    """One year group and one encounter type in a school's plan for a school year.

    ``planned`` counts open requests not yet fully booked, ``proposed`` the matcher's or a
    coordinator's proposals still awaiting a coordinator (not booked), ``matched`` the booked
    matches (approved or accepted) not yet delivered, and ``delivered`` the encounters
    delivered in the year, with their pupil places and the largest single group, and
    ``meaningful`` those of them both sides confirmed meaningful.
    """

    planned: int = 0
    proposed: int = 0
    matched: int = 0
    delivered: int = 0
    pupil_places: int = 0
    largest: int = 0
    meaningful: int = 0

    @property
    def benchmark_state(self) -> str:
        """The cell's state for benchmarks 5 and 6: only meaningful deliveries are delivered.

        A delivery not confirmed meaningful is "unconfirmed", below anything booked.
        """
        if self.meaningful:
            return PlanState.DELIVERED
        if self.matched:
            return PlanState.MATCHED
        if self.planned:
            return PlanState.PLANNED
        if self.delivered:
            return PlanState.UNCONFIRMED
        return ""

    @property
    def state(self) -> str:
        if self.delivered:
            return PlanState.DELIVERED
        if self.matched:
            return PlanState.MATCHED
        if self.planned:
            return PlanState.PLANNED
        return ""


@dataclass
class YearPlan:
    """A year group's row in the plan, with its Gatsby 5 and 6 status."""

    year_group: int
    cohort: int | None
    cells: dict[str, Cell]
    b5: str = PlanState.GAP
    b6: str | None = None  # None for years 7-9, where benchmark 6 sets no expectation yet
    # Benchmark 6 met by a workplace experience this cohort had last school year.
    b6_last_year: bool = False

    @property
    def pupil_places(self) -> int:
        """Pupils counted once per delivered encounter: two talks to 150 pupils are 300."""
        return sum(c.pupil_places for c in self.cells.values())

    @property
    def pupils_at_least(self) -> int:
        """The fewest different pupils the year's encounters can have reached: the largest.

        Encounters count cohorts, not names, so two encounters of 150 pupils may have been
        the same 150; at least the largest group was reached.
        """
        return max((c.largest for c in self.cells.values()), default=0)

    @property
    def proposed(self) -> int:
        return sum(c.proposed for c in self.cells.values())


def counts_for_hours(year_group: int, type_: str, delivery: str) -> bool:
    """Whether an encounter counts towards the work experience hours of ``year_group``.

    Years 7-9: work experience activities (a workplace visit, work experience, or any
    encounter held at the workplace). Years 10-11: placements (work experience) only.
    """
    if year_group in (7, 8, 9):
        return type_ in WORKPLACE_TYPES or delivery == "at_workplace"
    if year_group in (10, 11):
        return type_ == "work_experience"
    return False


@dataclass
class Hours:
    """A year group's work experience hours per pupil against :data:`HOURS_AIM`.

    ``delivered`` and ``agreed`` are pupil-hours in this school year (delivered encounters;
    approved or accepted matches not yet delivered). The ``phase_*`` figures add the hours
    this cohort had in the phase's earlier year groups, in earlier school years.
    """

    year_group: int
    cohort: int | None
    delivered: float = 0.0
    agreed: float = 0.0
    phase_delivered: float = 0.0
    phase_agreed: float = 0.0

    @property
    def phase(self) -> tuple[int, int]:
        return HOURS_PHASES[self.year_group]

    def _per_pupil(self, pupil_hours: float) -> float | None:
        return round(pupil_hours / self.cohort, 1) if self.cohort else None

    @property
    def delivered_per_pupil(self) -> float | None:
        return self._per_pupil(self.delivered)

    @property
    def agreed_per_pupil(self) -> float | None:
        return self._per_pupil(self.agreed)

    @property
    def phase_delivered_per_pupil(self) -> float | None:
        return self._per_pupil(self.phase_delivered)

    @property
    def phase_agreed_per_pupil(self) -> float | None:
        return self._per_pupil(self.phase_agreed)

    @property
    def missing_per_pupil(self) -> float | None:
        """Hours per pupil still to find: the aim less what is delivered or agreed."""
        if not self.cohort:
            return None
        have = (self.phase_delivered + self.phase_agreed) / self.cohort
        return round(max(0.0, HOURS_AIM - have), 1)


def _pupil_hours(school: School, year: int) -> dict[int, tuple[float, float]]:
    """Return (delivered, agreed) pupil-hours per year group in school year ``year``.

    Delivered: encounters delivered in the year, their pupils times their hours. Agreed:
    approved or accepted matches whose request falls in the year, their pupils times the
    offer's hours. Only what counts for the year group's phase is added.
    """
    first, last = clock.school_year_bounds(year)
    out: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    years = tuple(HOURS_PHASES)
    delivered = db.session.execute(
        select(
            EncounterRequest.year_group, Offer.type, Offer.delivery, Encounter.pupils_reached,
            func.coalesce(Encounter.hours, Offer.days * Offer.hours_a_day),
        )
        .join(Match, Encounter.match_id == Match.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .where(
            EncounterRequest.school_id == school.id,
            EncounterRequest.year_group.in_(years),
            Encounter.delivered_on.between(first, last),
        )
    )
    for y, type_, delivery, pupils, hours in delivered:
        if counts_for_hours(y, type_, delivery):
            out[y][0] += pupils * float(hours)
    agreed = db.session.execute(
        select(
            EncounterRequest.year_group, Offer.type, Offer.delivery, Match.pupils,
            Offer.days * Offer.hours_a_day,
        )
        .join(Match, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .where(
            EncounterRequest.school_id == school.id,
            EncounterRequest.year_group.in_(years),
            EncounterRequest.earliest.between(first, last),
            Match.status.in_(BOOKED),
        )
    )
    for y, type_, delivery, pupils, hours in agreed:
        if counts_for_hours(y, type_, delivery):
            out[y][1] += pupils * float(hours)
    return {y: (d, a) for y, (d, a) in out.items()}


def school_hours(school: School, year: int) -> list[Hours]:
    """Return work experience hours per pupil for years 7-11 in school year ``year``.

    Each year group's phase figures add what the same cohort had in the phase's earlier
    year groups: this year's Year 9 were Year 8 last year and Year 7 the year before.
    """
    cohorts = dict(
        db.session.execute(
            select(SchoolYearGroup.year_group, SchoolYearGroup.pupils).where(
                SchoolYearGroup.school_id == school.id
            )
        ).all()
    )
    by_year = {year - k: _pupil_hours(school, year - k) for k in range(3)}
    lines = []
    for y in HOURS_PHASES:
        line = Hours(year_group=y, cohort=cohorts.get(y) or None)
        line.delivered, line.agreed = by_year[year].get(y, (0.0, 0.0))
        start = HOURS_PHASES[y][0]
        for k in range(y - start + 1):
            d, a = by_year[year - k].get(y - k, (0.0, 0.0))
            line.phase_delivered += d
            line.phase_agreed += a
        lines.append(line)
    return lines


PROVIDER_PHASES = ((8, 9), (10, 11), (12, 13))
PROVIDER_MINIMUM = 2


@dataclass
class ProviderLine:
    """One provider encounter booked or delivered for the school in a school year."""

    match_id: int
    on: date
    year_group: int
    provider: str
    kind: str
    title: str
    delivered: bool
    by_deadline: bool


@dataclass
class ProviderPhase:
    """Provider encounters for one key phase against the legal minimum of two."""

    years: tuple[int, int]
    deadline: date
    offered: int = 0
    attended: int = 0
    after_deadline: int = 0

    @property
    def mandatory(self) -> bool:
        """Pupils must attend in years 8-9 and 10-11; in 12-13 it is offered to all."""
        return self.years != (12, 13)

    @property
    def missing(self) -> int:
        """Provider encounters still to book by the deadline."""
        return max(0, PROVIDER_MINIMUM - self.offered)

    @property
    def state(self) -> str:
        """"met" (two attended), "booked" (two offered, not all attended yet) or "gap"."""
        if self.attended >= PROVIDER_MINIMUM:
            return "met"
        return "booked" if self.offered >= PROVIDER_MINIMUM else "gap"


def provider_encounters(school: School, year: int) -> list[ProviderLine]:
    """Return the school's provider encounters booked or delivered in school year ``year``."""
    first, last = clock.school_year_bounds(year)
    deadline = clock.provider_deadline(year)
    on = func.coalesce(Encounter.delivered_on, Match.scheduled_on, EncounterRequest.earliest)
    rows = db.session.execute(
        select(
            Match.id, on.label("on"), EncounterRequest.year_group, Employer.name, Employer.kind,
            Offer.title, Encounter.id.label("encounter_id"),
        )
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Employer, Offer.employer_id == Employer.id)
        .outerjoin(Encounter, Encounter.match_id == Match.id)
        .where(
            EncounterRequest.school_id == school.id,
            Offer.provider_encounter.is_(True),
            Match.status.in_(LOCKED),
            on.between(first, last),
        )
        .order_by(on, Match.id)
    )
    return [
        ProviderLine(r.id, r.on, r.year_group, r.name, r.kind, r.title,
                     r.encounter_id is not None, r.on <= deadline)
        for r in rows
    ]


def provider_phases(school: School, year: int) -> list[ProviderPhase]:
    """Return provider encounters offered and attended per key phase against two."""
    deadline = clock.provider_deadline(year)
    phases = [ProviderPhase(years=p, deadline=deadline) for p in PROVIDER_PHASES]
    for line in provider_encounters(school, year):
        for phase in phases:
            if phase.years[0] <= line.year_group <= phase.years[1]:
                if not line.by_deadline:
                    phase.after_deadline += 1
                    continue
                phase.offered += 1
                phase.attended += line.delivered
    return phases


def _best(states: list[str]) -> str:
    for state in (
        PlanState.DELIVERED, PlanState.MATCHED, PlanState.PLANNED, PlanState.UNCONFIRMED
    ):
        if state in states:
            return state
    return PlanState.GAP


def _delivered(school: School, year: int) -> dict[tuple[int, str], tuple[int, int, int, int]]:
    """Return encounters delivered in school year ``year`` per (year group, type).

    Each value is (encounters, pupil places, the largest single group, meaningful ones).
    """
    first, last = clock.school_year_bounds(year)
    rows = db.session.execute(
        select(
            EncounterRequest.year_group, EncounterRequest.type, Encounter.pupils_reached,
            Offer.type, Encounter.school_criteria, Encounter.employer_criteria,
        )
        .join(Match, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Encounter, Encounter.match_id == Match.id)
        .where(
            EncounterRequest.school_id == school.id,
            EncounterRequest.year_group.in_(PLAN_YEAR_GROUPS),
            Encounter.delivered_on.between(first, last),
        )
    )
    out: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for y, t, pupils, offer_type, by_school, by_employer in rows:
        cell = out[(y, t)]
        cell[0] += 1
        cell[1] += pupils
        cell[2] = max(cell[2], pupils)
        # The checklist was the offer's benchmark's (what the match pages show).
        cell[3] += is_meaningful(offer_type, by_school, by_employer)
    return {key: (n, places, largest, m) for key, (n, places, largest, m) in out.items()}


def school_plan(school: School, year: int) -> list[YearPlan]:
    """Return, per year group 7-13, what is planned, matched and delivered in school year ``year``.

    A request counts in the school year its window starts in; a delivered encounter in the
    school year it was delivered in. Only approved or accepted matches are booked
    ("matched"); a proposal still awaits a coordinator, so its request stays planned.
    Benchmark 6 is judged per cohort: this year's Year 11 were last year's Year 10, so a
    workplace experience they had then counts for them (and likewise Year 13).
    """
    first, last = clock.school_year_bounds(year)
    cells: dict[int, dict[str, Cell]] = {
        y: {t: Cell() for t in ENCOUNTER_TYPES} for y in PLAN_YEAR_GROUPS
    }
    in_year = and_(
        EncounterRequest.school_id == school.id,
        EncounterRequest.earliest.between(first, last),
        EncounterRequest.year_group.in_(PLAN_YEAR_GROUPS),
    )
    # Pupils that booked or delivered matches hold on each of the year's requests.
    held = (
        select(Match.request_id, func.sum(Match.pupils).label("pupils"))
        .where(
            Match.status.in_(LOCKED),
            Match.request_id.in_(select(EncounterRequest.id).where(in_year)),
        )
        .group_by(Match.request_id)
        .subquery()
    )
    for y, t, n in db.session.execute(
        select(EncounterRequest.year_group, EncounterRequest.type, func.count())
        .outerjoin(held, held.c.request_id == EncounterRequest.id)
        .where(
            in_year,
            EncounterRequest.status == "open",
            func.coalesce(held.c.pupils, 0) < EncounterRequest.pupils,
        )
        .group_by(EncounterRequest.year_group, EncounterRequest.type)
    ):
        cells[y][t].planned = n
    for y, t, status, n in db.session.execute(
        select(
            EncounterRequest.year_group, EncounterRequest.type, Match.status, func.count(Match.id)
        )
        .join(Match, Match.request_id == EncounterRequest.id)
        .where(
            in_year,
            Match.status.in_(BOOKED | {MatchStatus.PROPOSED}),
            # An IN over the school's requests lets the planner use (status, request_id)
            # instead of walking every proposal in the country.
            Match.request_id.in_(select(EncounterRequest.id).where(in_year)),
        )
        .group_by(EncounterRequest.year_group, EncounterRequest.type, Match.status)
    ):
        if status == MatchStatus.PROPOSED:
            cells[y][t].proposed += n
        else:
            cells[y][t].matched += n
    for (y, t), (n, places, largest, meaningful) in _delivered(school, year).items():
        cell = cells[y][t]
        cell.delivered, cell.pupil_places, cell.largest = n, places, largest
        cell.meaningful = meaningful
    last_year = _delivered(school, year - 1)
    cohorts = dict(
        db.session.execute(
            select(SchoolYearGroup.year_group, SchoolYearGroup.pupils).where(
                SchoolYearGroup.school_id == school.id
            )
        ).all()
    )
    plans = []
    for y in PLAN_YEAR_GROUPS:
        row = cells[y]
        plan = YearPlan(year_group=y, cohort=cohorts.get(y), cells=row)
        plan.b5 = _best([c.benchmark_state for c in row.values()])
        if y in B6_STAGES:
            states = [row[t].benchmark_state for t in WORKPLACE_TYPES]
            if y - 1 in B6_STAGES[y] and PlanState.DELIVERED not in states:
                plan.b6_last_year = any(
                    last_year.get((y - 1, t), (0, 0, 0, 0))[3] for t in WORKPLACE_TYPES
                )
                if plan.b6_last_year:
                    states.append(PlanState.DELIVERED)
            plan.b6 = _best(states)
        plans.append(plan)
    return plans


@dataclass
class ReportLine:
    """One delivered encounter in the governors' report."""

    delivered_on: date
    year_group: int
    type: str
    employer: str
    pupils: int
    stem: bool
    challenges_stereotype: bool
    rating: int | None
    pupil_voice: int | None


def governors_report(school: School, year: int) -> list[ReportLine]:
    """Return what the school's pupils received in school year ``year``, in date order."""
    first, last = clock.school_year_bounds(year)
    rows = db.session.execute(
        select(
            Encounter.id, Encounter.delivered_on, Encounter.pupils_reached,
            EncounterRequest.year_group, Offer.type, Employer.name, Offer.stem,
            Offer.challenges_stereotype, Feedback.rating, Feedback.pupil_voice_score,
        )
        .join(Match, Encounter.match_id == Match.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Employer, Offer.employer_id == Employer.id)
        .outerjoin(
            Feedback, and_(Feedback.encounter_id == Encounter.id, Feedback.by_role == "school")
        )
        .where(
            EncounterRequest.school_id == school.id,
            Encounter.delivered_on.between(first, last),
        )
        .order_by(Encounter.delivered_on, Encounter.id)
    )
    return [
        ReportLine(r.delivered_on, r.year_group, r.type, r.name, r.pupils_reached, r.stem,
                   r.challenges_stereotype, r.rating, r.pupil_voice_score)
        for r in rows
    ]
