"""The broker's data model.

Vocabularies (encounter types, SEN codes, school kinds and genders) come from the matching
engine so that the web app and the engine speak one language. No pupil is ever stored by
name: requests, matches and encounters count pupils in cohorts (school, year group, count).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from broker import clock
from broker.extensions import Model, db
from broker.statuses import LOCKED, MatchStatus
from matching.model import ENCOUNTER_TYPES, SCHOOL_GENDERS, SCHOOL_KINDS, SEN_CODES

__all__ = [
    "ENCOUNTER_TYPES",
    "SEN_CODES",
    "SCHOOL_GENDERS",
    "SCHOOL_KINDS",
    "ROLES",
    "EMPLOYER_KINDS",
    "PROVIDER_KINDS",
    "PROVIDER_TOPICS",
    "MAX_DAYS",
    "MAX_HOURS_A_DAY",
    "OFFER_DELIVERY",
    "OFFER_STATUSES",
    "REQUEST_STATUSES",
    "MATCH_STATUSES",
    "SCHOOL_MEMBER_STATUSES",
    "User",
    "Area",
    "Employer",
    "School",
    "SchoolYearGroup",
    "SchoolBlackout",
    "Offer",
    "EncounterRequest",
    "Match",
    "MatchEvent",
    "MatchRun",
    "Encounter",
    "Feedback",
    "AuditEntry",
    "EVIDENCE_KINDS",
    "EmployerDocument",
    "OutboxMessage",
    "JobLease",
]

ROLES = ("employer", "school", "coordinator", "admin")
EMPLOYER_KINDS = (
    "business",
    "public_sector",
    "charity",
    "college",
    "training_provider",
    "university",
)
# Providers of technical education, apprenticeships or higher education: their offers may be
# provider encounters under the Provider Access Legislation (Skills Act 2022). Training
# providers include apprenticeship providers.
PROVIDER_KINDS = ("college", "training_provider", "university")
# What a provider encounter must cover (Skills and Post-16 Education Act 2022, s.42B as
# amended): the provider and its education or training; its technical qualifications or
# apprenticeships; the careers they lead to; what learning there is like (with pupils'
# questions answered).
PROVIDER_TOPICS = {
    "provider": "The provider and the education or training it offers",
    "qualifications": "Its technical qualifications or apprenticeships",
    "careers": "The careers they can lead to",
    "learning": "What learning or training there is like, with time for pupils' questions",
}
# An offer lasts ``days`` days of ``hours_a_day`` hours (a week's placement: 5 x 6).
MAX_DAYS = 20
MAX_HOURS_A_DAY = 10.0
OFFER_DELIVERY = ("at_school", "at_workplace", "virtual")
# Vetting evidence an employer can upload for a coordinator to check.
EVIDENCE_KINDS = ("insurance", "risk_assessment")
OFFER_STATUSES = ("open", "paused", "closed", "expired")
REQUEST_STATUSES = ("open", "withdrawn", "expired")
# Stored as the enum's values, in lifecycle order; the named sets live in broker.statuses.
MATCH_STATUSES = tuple(MatchStatus)
# A school user's membership of their school (issue 10): "pending" until verified (by the
# school's web domain, a coordinator of its area, an admin or one of its verified members);
# refused and removed people keep their row for the audit trail but cannot sign in.
SCHOOL_MEMBER_STATUSES = ("pending", "verified", "refused", "removed")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


coordinator_areas = Table(
    "coordinator_areas",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


class Area(Model):
    """A local authority area; coordinators are scoped to one or more."""

    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    region: Mapped[str | None] = mapped_column(String(120))

    schools: Mapped[list[School]] = relationship(back_populates="area")

    def __repr__(self) -> str:
        return f"<Area {self.id} {self.name!r}>"


class User(UserMixin, Model):
    """A person who signs in; their role decides which blueprint they may use."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role_known"),
        CheckConstraint("role != 'employer' OR employer_id IS NOT NULL", name="employer_has_org"),
        CheckConstraint("role != 'school' OR school_id IS NOT NULL", name="school_has_school"),
        CheckConstraint(
            "school_status IS NULL OR " + _in("school_status", SCHOOL_MEMBER_STATUSES),
            name="school_status_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), index=True)
    employer_id: Mapped[int | None] = mapped_column(
        ForeignKey("employers.id", ondelete="CASCADE"), index=True
    )
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the person followed the link emailed to this address; until then they cannot
    # sign in and get no mail but account mail.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Part of every session's user id: raising it ends every session of this user (sign-out,
    # password change or reset, deactivation), since old cookies then name an old version.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    # Kinds of email (broker.services.notify.EMAIL_KINDS) this person chose not to get.
    email_opt_outs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Membership of the school (role "school" only; see broker.services.memberships). Until
    # ``school_status`` is "verified" the person sees a waiting page and gets no school mail.
    school_status: Mapped[str | None] = mapped_column(String(10), index=True)
    school_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    school_verified_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # What the person told us when registering, shown to whoever verifies them.
    school_job_title: Mapped[str | None] = mapped_column(String(120))
    school_evidence: Mapped[str | None] = mapped_column(String(1000))

    employer: Mapped[Employer | None] = relationship(
        back_populates="users", foreign_keys=[employer_id]
    )
    school: Mapped[School | None] = relationship(back_populates="users")
    areas: Mapped[list[Area]] = relationship(secondary=coordinator_areas)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def email_verified(self) -> bool:
        """Whether the person has shown that they read mail at ``email``."""
        return self.email_verified_at is not None

    @property
    def verified_member(self) -> bool:
        """Whether this is a school user whose membership of the school has been verified."""
        return self.role == "school" and self.school_status == "verified"

    def get_id(self) -> str:
        """Return the id Flask-Login keeps in the session: ``"<id>:<session_version>"``."""
        return f"{self.id}:{self.session_version or 0}"

    def set_password(self, password: str) -> None:
        """Store a salted hash of ``password``; the password itself is never kept."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Return whether ``password`` matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email!r} {self.role}>"


class Employer(Model):
    """An organisation that offers encounters: business, college, provider, charity..."""

    __tablename__ = "employers"
    __table_args__ = (CheckConstraint(_in("kind", EMPLOYER_KINDS), name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    sector: Mapped[str] = mapped_column(String(80))
    postcode: Mapped[str] = mapped_column(String(10))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(200))
    # Vetting and compliance, entered once and reused for every school.
    dbs_checked: Mapped[bool] = mapped_column(Boolean, default=False)
    dbs_renewal_on: Mapped[date | None] = mapped_column(Date)
    insurance_expires_on: Mapped[date | None] = mapped_column(Date)
    risk_assessment_on: Mapped[date | None] = mapped_column(Date)
    # Part of the calendar feed's secret address; raising it makes old addresses stop working.
    calendar_key: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    # A coordinator of the area (or an admin) checks a new organisation before its offers
    # reach pupils; until then, and while suspended, its offers are left out of matching.
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # users.employer_id points back here: the constraints are added after both tables.
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    suspended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True))

    users: Mapped[list[User]] = relationship(
        back_populates="employer", foreign_keys="User.employer_id"
    )
    offers: Mapped[list[Offer]] = relationship(back_populates="employer")
    area: Mapped[Area | None] = relationship()
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])
    suspended_by: Mapped[User | None] = relationship(foreign_keys=[suspended_by_id])

    @property
    def matchable(self) -> bool:
        """Whether the organisation's offers may enter matching: checked and not suspended."""
        return self.verified_at is not None and self.suspended_at is None

    def __repr__(self) -> str:
        return f"<Employer {self.id} {self.name!r}>"


class School(Model):
    """A school, identified by its DfE URN; imported from GIAS and kept up by its careers leader."""

    __tablename__ = "schools"
    __table_args__ = (
        CheckConstraint(_in("kind", SCHOOL_KINDS), name="kind_known"),
        CheckConstraint(_in("gender", SCHOOL_GENDERS), name="gender_known"),
        CheckConstraint("fsm_pct IS NULL OR (fsm_pct >= 0 AND fsm_pct <= 100)", name="fsm_pct"),
        CheckConstraint("pupils IS NULL OR pupils >= 0", name="pupils_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    urn: Mapped[int] = mapped_column(Integer, unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    postcode: Mapped[str | None] = mapped_column(String(10))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(20), default="mainstream")
    gender: Mapped[str] = mapped_column(String(10), default="mixed")
    phase: Mapped[str | None] = mapped_column(String(40))
    pupils: Mapped[int | None] = mapped_column(Integer)
    fsm_pct: Mapped[float | None] = mapped_column(Float)
    la_name: Mapped[str | None] = mapped_column(String(120))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    rural: Mapped[bool] = mapped_column(Boolean, default=False)
    careers_leader_name: Mapped[str | None] = mapped_column(String(120))
    careers_leader_email: Mapped[str | None] = mapped_column(String(254))
    careers_leader_phone: Mapped[str | None] = mapped_column(String(40))
    # The school's own web address (GIAS "SchoolWebsite"): people whose email is at its
    # domain are verified members when they claim the school (broker.services.memberships).
    website: Mapped[str | None] = mapped_column(String(200))
    # SEN codes the school's pupils need supported (matching.SEN_CODES).
    sen_profile: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Fields of the school list that the school has corrected; re-imports leave them alone.
    local_overrides: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Part of the calendar feed's secret address; raising it makes old addresses stop working.
    calendar_key: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, onupdate=clock.now
    )

    area: Mapped[Area | None] = relationship(back_populates="schools")
    users: Mapped[list[User]] = relationship(back_populates="school")
    year_groups: Mapped[list[SchoolYearGroup]] = relationship(
        back_populates="school", cascade="all, delete-orphan", order_by="SchoolYearGroup.year_group"
    )
    blackouts: Mapped[list[SchoolBlackout]] = relationship(
        back_populates="school", cascade="all, delete-orphan", order_by="SchoolBlackout.starts_on"
    )
    requests: Mapped[list[EncounterRequest]] = relationship(back_populates="school")

    def __repr__(self) -> str:
        return f"<School {self.id} URN {self.urn} {self.name!r}>"


class SchoolYearGroup(Model):
    """How many pupils a school has in one year group (a cohort count, never names)."""

    __tablename__ = "school_year_groups"
    __table_args__ = (
        UniqueConstraint("school_id", "year_group", name="uq_school_year_groups_school_year"),
        CheckConstraint("year_group BETWEEN 7 AND 13", name="year_range"),
        CheckConstraint("pupils >= 0", name="pupils_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    year_group: Mapped[int] = mapped_column(Integer)
    pupils: Mapped[int] = mapped_column(Integer)

    school: Mapped[School] = relationship(back_populates="year_groups")

    def __repr__(self) -> str:
        return f"<SchoolYearGroup school={self.school_id} Y{self.year_group} {self.pupils}>"


class SchoolBlackout(Model):
    """Dates a school cannot host or travel (exams, INSET days, trips); the matcher avoids them."""

    __tablename__ = "school_blackouts"
    __table_args__ = (CheckConstraint("starts_on <= ends_on", name="dates_in_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(120), default="")

    school: Mapped[School] = relationship(back_populates="blackouts")

    def __repr__(self) -> str:
        return f"<SchoolBlackout school={self.school_id} {self.starts_on}..{self.ends_on}>"


class Offer(Model):
    """What an employer offers: an encounter type, for some pupils, somewhere, some time."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(_in("type", ENCOUNTER_TYPES), name="type_known"),
        CheckConstraint(_in("delivery", OFFER_DELIVERY), name="delivery_known"),
        CheckConstraint(_in("status", OFFER_STATUSES), name="status_known"),
        CheckConstraint(_in("audience", SCHOOL_GENDERS), name="audience_known"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("max_km >= 0", name="max_km_nonneg"),
        CheckConstraint("earliest <= latest", name="dates_in_order"),
        CheckConstraint(
            "year_min BETWEEN 7 AND 13 AND year_max BETWEEN 7 AND 13 AND year_min <= year_max",
            name="years_valid",
        ),
        CheckConstraint(f"days BETWEEN 1 AND {MAX_DAYS}", name="days_range"),
        CheckConstraint(
            f"hours_a_day > 0 AND hours_a_day <= {MAX_HOURS_A_DAY:g}", name="hours_a_day_range"
        ),
        Index("ix_offers_status_type", "status", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employer_id: Mapped[int] = mapped_column(
        ForeignKey("employers.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(30))
    sector: Mapped[str] = mapped_column(String(80))
    stem: Mapped[bool] = mapped_column(Boolean, default=False)
    challenges_stereotype: Mapped[bool] = mapped_column(Boolean, default=False)
    stereotype_note: Mapped[str] = mapped_column(String(200), default="")
    sen_support: Mapped[list[str]] = mapped_column(JSON, default=list)
    year_min: Mapped[int] = mapped_column(Integer)
    year_max: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    delivery: Mapped[str] = mapped_column(String(20), default="at_workplace")
    audience: Mapped[str] = mapped_column(String(10), default="mixed")
    max_km: Mapped[float] = mapped_column(Float, default=25.0)
    postcode: Mapped[str] = mapped_column(String(10))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    earliest: Mapped[date] = mapped_column(Date)
    latest: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    # How long it lasts for each pupil: a talk is one day of an hour or two, a week's
    # placement five days of about six hours.
    days: Mapped[int] = mapped_column(Integer, default=1)
    hours_a_day: Mapped[float] = mapped_column(Float, default=1.0)
    # A provider encounter (Provider Access Legislation): offered by a college, training or
    # apprenticeship provider or university, covering the four topics the law names.
    provider_encounter: Mapped[bool] = mapped_column(Boolean, default=False)
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, onupdate=clock.now
    )

    employer: Mapped[Employer] = relationship(back_populates="offers")
    matches: Mapped[list[Match]] = relationship(back_populates="offer")

    @property
    def virtual(self) -> bool:
        return self.delivery == "virtual"

    @property
    def provider_topics(self) -> list[str]:
        """The topics a provider encounter covers: all four, or none for other offers."""
        return list(PROVIDER_TOPICS) if self.provider_encounter else []

    @property
    def duration_hours(self) -> float:
        """Hours each pupil spends on it: days times hours a day."""
        return (self.days or 1) * (self.hours_a_day or 1.0)

    def __repr__(self) -> str:
        return f"<Offer {self.id} {self.type} cap={self.capacity} {self.status}>"


class EncounterRequest(Model):
    """What a school asks for: an encounter type for a cohort of one year group, in a window."""

    __tablename__ = "requests"
    __table_args__ = (
        CheckConstraint(_in("type", ENCOUNTER_TYPES), name="type_known"),
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status_known"),
        CheckConstraint("pupils >= 1", name="pupils_positive"),
        CheckConstraint("year_group BETWEEN 7 AND 13", name="year_range"),
        CheckConstraint("earliest <= latest", name="dates_in_order"),
        Index("ix_requests_status_type", "status", "type"),
        Index("ix_requests_status_has_candidate", "status", "has_candidate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    year_group: Mapped[int] = mapped_column(Integer)
    pupils: Mapped[int] = mapped_column(Integer)
    earliest: Mapped[date] = mapped_column(Date)
    latest: Mapped[date] = mapped_column(Date)
    stem_goal: Mapped[bool] = mapped_column(Boolean, default=False)
    stereotype_goal: Mapped[bool] = mapped_column(Boolean, default=False)
    sen_needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Only a provider encounter will do (Provider Access Legislation): the matcher proposes
    # only offers marked as provider encounters.
    provider_only: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open")
    # Whether any open offer could serve this request under the engine's hard rules, as the
    # nightly match last found (None: posted since). The gaps page reads it instead of
    # re-running the engine's rules over every request and offer on each view.
    has_candidate: Mapped[bool | None] = mapped_column(Boolean)
    candidates_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, onupdate=clock.now
    )

    school: Mapped[School] = relationship(back_populates="requests")
    matches: Mapped[list[Match]] = relationship(back_populates="request")

    def __repr__(self) -> str:
        return f"<EncounterRequest {self.id} {self.type} Y{self.year_group} {self.pupils}>"


class MatchRun(Model):
    """One run of the matcher (nightly, on demand or a late drop-out) with its figures."""

    __tablename__ = "match_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="nightly")
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # requests, pupils_requested, pupils_matched, objective, upper_bound, seconds per phase...
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # proposals added, kept and withdrawn compared with the previous run.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<MatchRun {self.id} {self.kind} {self.status}>"


class Match(Model):
    """A pairing of a request with an offer for some pupils, and where it is in its lifecycle."""

    __tablename__ = "matches"
    __table_args__ = (
        CheckConstraint(_in("status", MATCH_STATUSES), name="status_known"),
        CheckConstraint("pupils >= 1", name="pupils_positive"),
        Index("ix_matches_status_offer", "status", "offer_id"),
        Index("ix_matches_status_request", "status", "request_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"))
    pupils: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=MatchStatus.PROPOSED, index=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    km: Mapped[float] = mapped_column(Float, default=0.0)
    reasons: Mapped[str] = mapped_column(Text, default="")
    terms: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("match_runs.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    school_response: Mapped[str | None] = mapped_column(String(10))  # accepted / declined
    employer_response: Mapped[str | None] = mapped_column(String(10))
    response_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, onupdate=clock.now
    )

    request: Mapped[EncounterRequest] = relationship(back_populates="matches")
    offer: Mapped[Offer] = relationship(back_populates="matches")
    run: Mapped[MatchRun | None] = relationship()
    events: Mapped[list[MatchEvent]] = relationship(
        back_populates="match", cascade="all, delete-orphan", order_by="MatchEvent.id"
    )
    encounter: Mapped[Encounter | None] = relationship(back_populates="match")

    @property
    def locked(self) -> bool:
        return self.status in LOCKED

    def __repr__(self) -> str:
        return f"<Match {self.id} r={self.request_id} o={self.offer_id} {self.status}>"


# The review queue: proposals by score, best first, then id, without sorting them all.
Index("ix_matches_status_score", Match.status, Match.score.desc(), Match.id)


class MatchEvent(Model):
    """One step in a match's status history: who moved it, from what, to what, and why."""

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    match: Mapped[Match] = relationship(back_populates="events")
    by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<MatchEvent {self.match_id} {self.from_status}->{self.to_status}>"


class Encounter(Model):
    """A delivered encounter: when it happened and how many pupils took part."""

    __tablename__ = "encounters"
    __table_args__ = (
        CheckConstraint("pupils_reached >= 0", name="pupils_nonneg"),
        CheckConstraint("hours IS NULL OR hours > 0", name="hours_positive"),
        CheckConstraint(
            "reflected_pct IS NULL OR reflected_pct BETWEEN 0 AND 100", name="reflected_pct_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), unique=True)
    delivered_on: Mapped[date] = mapped_column(Date, index=True)
    pupils_reached: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Hours each pupil spent, as delivered (the offer's duration when recorded).
    hours: Mapped[float | None] = mapped_column(Float)
    # The meaningful-encounter criteria (broker.services.meaningful) each side confirmed.
    school_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    employer_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Share of the pupils who reflected on it afterwards, as the school reports it.
    reflected_pct: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    match: Mapped[Match] = relationship(back_populates="encounter")
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="encounter", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Encounter {self.id} match={self.match_id} {self.delivered_on}>"


class Feedback(Model):
    """Feedback on a delivered encounter from the school or the employer (cohort level only)."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("encounter_id", "by_role", name="uq_feedback_encounter_role"),
        CheckConstraint("by_role IN ('school', 'employer')", name="role_known"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint(
            "pupil_voice_score IS NULL OR pupil_voice_score BETWEEN 1 AND 5",
            name="pupil_voice_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    encounter_id: Mapped[int] = mapped_column(ForeignKey("encounters.id", ondelete="CASCADE"))
    by_role: Mapped[str] = mapped_column(String(10))
    rating: Mapped[int] = mapped_column(Integer)
    pupil_voice_score: Mapped[int | None] = mapped_column(Integer)
    would_welcome_again: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    encounter: Mapped[Encounter] = relationship(back_populates="feedback")

    def __repr__(self) -> str:
        return f"<Feedback {self.id} {self.by_role} {self.rating}>"


class AuditEntry(Model):
    """Who changed what, when: written by every state-changing service."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        # The admins' audit log page filters by action and by person, newest first.
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_user_at", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action} {self.object_type}:{self.object_id}>"


class EmployerDocument(Model):
    """Vetting evidence an employer uploaded (an insurance certificate, a risk assessment).

    The file lives under the instance folder with a random name (``stored_name``); the
    uploader's filename is kept for display only, never used as a path.
    """

    __tablename__ = "employer_documents"
    __table_args__ = (CheckConstraint(_in("kind", EVIDENCE_KINDS), name="kind_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employer_id: Mapped[int] = mapped_column(
        ForeignKey("employers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    employer: Mapped[Employer] = relationship()
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])

    def __repr__(self) -> str:
        return f"<EmployerDocument {self.id} {self.kind} employer={self.employer_id}>"


class OutboxMessage(Model):
    """A notification waiting to be sent, or sent; the send-outbox job delivers it by SMTP."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Makes enqueueing idempotent: the same event never produces two messages.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(80))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.template} to={self.to_email} {self.status}>"


class JobLease(Model):
    """A lease that lets only one scheduler process run a given job at a time.

    Held while ``holder`` is set and ``expires_at`` is ahead of the database's clock; the
    running job renews it (see :mod:`jobs.runner`), so a dead holder's lease soon lapses.
    """

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def __repr__(self) -> str:
        return f"<JobLease {self.name} holder={self.holder} until {self.expires_at}>"


# APScheduler's job store (jobs/scheduler.py), as its SQLAlchemyJobStore defines it. The
# schema owns it, so `broker db upgrade` creates it: left to the job store, two schedulers
# started together on a fresh database both try to create it and the second one dies.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    db.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
