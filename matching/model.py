"""Plain data of the matching engine: vocabularies, inputs, outputs, weights and errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUDIENCES",
    "ENCOUNTER_TYPES",
    "SCHOOL_GENDERS",
    "SCHOOL_KINDS",
    "SEN_CODES",
    "Assignment",
    "Candidate",
    "InputError",
    "Locked",
    "MatchingError",
    "Offer",
    "Request",
    "School",
    "Weights",
]

#: Encounter types, in the order used for internal codes.
ENCOUNTER_TYPES: tuple[str, ...] = (
    "talk",
    "careers_fair",
    "workplace_visit",
    "work_experience",
    "mentoring",
    "mock_interview",
    "enterprise_challenge",
    "cv_workshop",
)
#: Special educational needs codes a request may need and an offer may support.
SEN_CODES: tuple[str, ...] = ("mobility", "autism", "hearing", "visual", "learning", "semh")
#: A school's gender intake.
SCHOOL_GENDERS: tuple[str, ...] = ("mixed", "girls", "boys")
#: Mainstream, special school, or alternative provision / pupil referral unit.
SCHOOL_KINDS: tuple[str, ...] = ("mainstream", "special", "ap")
#: Who an offer is for; "girls" and "boys" offers go only to schools with that intake.
AUDIENCES: tuple[str, ...] = ("mixed", "girls", "boys")

DateRange = tuple[dt.date, dt.date]


class MatchingError(Exception):
    """Base class of every error the matching engine raises on purpose."""


class InputError(MatchingError):
    """Bad input, located as precisely as known (file, line and field).

    Parameters
    ----------
    message : str
        What is wrong.
    file, line, field : optional
        Where: a file name, a 1-based line number (the header is line 1) and a column name.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass(frozen=True, slots=True, kw_only=True)
class School:
    """A school, as the engine needs to see it (every field is passed by keyword).

    Attributes
    ----------
    encounters_so_far : int
        Where the school's diminishing returns start: its encounters accepted or delivered
        this school year, not counting those passed to the engine as rows (``locked`` or
        ``current``), which the engine counts itself.
    sectors_seen : sectors of the school's encounters so far (``sector_variety``).
    avoid_dates : inclusive ``(start, end)`` ranges the school cannot do; a pair is feasible
        only if the overlap of the request and offer windows keeps at least one other date.
    encounters_reported : int or None
        The figure the reasons give for the school's encounters accepted or delivered this
        school year; ``None`` gives ``encounters_so_far``. A caller that passes some of them
        as rows passes the full count here, so every run explains the school the same way.
    offers_nearby : int or None
        In-person offers with places within ``cold_spot_km`` of the school, which set its
        ``cold_spot`` term; ``None`` counts the problem's own in-person offers. A caller that
        builds a small sub-problem passes its count over every current offer, so that the
        school is scored and explained as a full run would. Counts of ``cold_spot_offers``
        or more all score nothing, so a caller may stop counting there.
    """

    school_id: Hashable
    lat: float
    lon: float
    gender: str
    kind: str
    fsm_pct: float
    encounters_so_far: int
    sectors_seen: frozenset[str] = frozenset()
    avoid_dates: tuple[DateRange, ...] = ()
    encounters_reported: int | None = None
    offers_nearby: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A school's request for one encounter for a cohort of pupils (fields by keyword)."""

    request_id: Hashable
    school_id: Hashable
    type: str
    year_group: int
    pupils: int
    earliest: dt.date
    latest: dt.date
    stem_goal: bool
    stereotype_goal: bool
    sen_needs: frozenset[str] = frozenset()
    #: Only a provider encounter will do (Provider Access Legislation): only offers with
    #: ``provider`` set fit.
    provider_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """An employer's offer of encounters for up to ``capacity`` pupils in total (by keyword)."""

    offer_id: Hashable
    employer_id: Hashable
    lat: float
    lon: float
    type: str
    capacity: int
    max_km: float
    virtual: bool
    earliest: dt.date
    latest: dt.date
    year_min: int
    year_max: int
    stem: bool
    challenges_stereotype: bool
    sen_support: frozenset[str] = frozenset()
    sector: str = ""
    audience: str = "mixed"
    #: A provider encounter: a college, training or apprenticeship provider or university
    #: covering the four topics the Provider Access Legislation names.
    provider: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Locked:
    """A match already approved: kept as it is, it uses capacity and demand first."""

    request_id: Hashable
    offer_id: Hashable
    pupils: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """One (request, offer) pair in a result, with the points it earns and why.

    ``terms`` maps each scoring term to the points it contributes; they add up to ``score``.
    ``reasons`` is the same breakdown as a short sentence for people.
    """

    request_id: Hashable
    offer_id: Hashable
    pupils: int
    score: float
    km: float
    reasons: str
    terms: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    locked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A feasible offer the engine considered for a request, with its score if fully served."""

    request_id: Hashable
    offer_id: Hashable
    score: float
    km: float
    reasons: str
    terms: dict[str, float] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Weights:
    """Points of each scoring term, in one place so coordinators can read and tune them.

    A pair's points count once per fully served request (a partly served request earns the
    served share), so a request for 5 pupils is worth as much as one for 30 on every goal;
    only ``pupil`` counts per pupil, so that contested capacity still reaches as many pupils
    as it can (BENCHMARKS.md: with 0.5 the optimiser reached 95.6% of the max-flow bound,
    with 3.0 97.7%, still serving every school).

    Attributes
    ----------
    proximity : points for a pair at distance 0, falling linearly to 0 at the offer's max_km.
    virtual_proximity : share of ``proximity`` a virtual offer earns (it has no travel cost,
        but meeting people in person is worth more).
    stem : the request has a STEM goal and the offer is STEM.
    stereotype : the request wants its stereotypes challenged and the offer's role models do.
    sen : the request has SEN needs and the offer supports all of them.
    fsm : disadvantage; full points at ``fsm_full_pct`` % free school meals or more.
    fsm_full_pct : % FSM at which ``fsm`` is earned in full.
    few_encounters : a school's first encounter of the year; each later one (counting those
        delivered already) is worth ``decay`` times the previous. This is the diminishing
        return per school that spreads encounters across schools.
    decay : ratio between a school's successive encounters, 0 < decay < 1.
    tiers : how many successive encounters get a ``few_encounters`` bonus.
    special : special schools and alternative provision.
    sector_variety : the offer's sector is new to the school (impartial, varied provision).
    cold_spot : a school with few in-person offers nearby; full points with none within
        ``cold_spot_km``, none with ``cold_spot_offers`` or more.
    cold_spot_km, cold_spot_offers : how the cold spot term is measured.
    pupil : points per pupil served.
    stability : the pair was proposed last run; keeps proposals steady between runs.
    """

    proximity: float = 10.0
    virtual_proximity: float = 0.3
    stem: float = 15.0
    stereotype: float = 15.0
    sen: float = 10.0
    fsm: float = 10.0
    fsm_full_pct: float = 50.0
    few_encounters: float = 100.0
    decay: float = 0.4
    tiers: int = 4
    special: float = 15.0
    sector_variety: float = 5.0
    cold_spot: float = 10.0
    cold_spot_km: float = 25.0
    cold_spot_offers: int = 50
    pupil: float = 3.0
    stability: float = 5.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or value < 0:
                raise MatchingError(f"weight {f.name} must be a number >= 0, not {value!r}")
        if not 0 < self.decay < 1:
            raise MatchingError(f"weight decay must be strictly between 0 and 1, not {self.decay}")
        if self.tiers < 1 or int(self.tiers) != self.tiers:
            raise MatchingError(f"weight tiers must be a whole number >= 1, not {self.tiers}")
        if self.fsm_full_pct <= 0 or self.cold_spot_offers < 1:
            raise MatchingError("fsm_full_pct must be > 0 and cold_spot_offers >= 1")

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any] | None) -> Weights:
        """Build weights from defaults overridden by a mapping (e.g. the web app's config).

        Examples
        --------
        >>> Weights.from_mapping({"stem": 20}).stem
        20.0
        """
        if not overrides:
            return cls()
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise MatchingError(
                f"unknown weight(s): {', '.join(unknown)}; the weights are: {', '.join(names)}"
            )
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            try:
                values[key] = int(value) if key in ("tiers", "cold_spot_offers") else float(value)
            except (TypeError, ValueError) as exc:
                raise MatchingError(f"weight {key} must be a number, not {value!r}") from exc
        return cls(**values)
