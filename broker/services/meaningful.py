"""Meaningful encounters: the criteria of the updated Gatsby benchmarks 5 and 6 (2024).

An encounter counts towards benchmark 5 (encounters with employers) or 6 (experiences of
workplaces) only when it was *meaningful*: when the school and the employer each confirm
every criterion of its benchmark. Others still count as activity (pupils reached, hours).

- Benchmark 5 (any encounter but a workplace visit or work experience): a clear purpose
  shared with the employer and the pupils; learning outcomes suited to the pupils' needs;
  two-way interaction; time to reflect afterwards.
- Benchmark 6 (a workplace visit or work experience): a clear purpose; learning outcomes;
  extensive two-way interaction; meeting a range of people; a task or work set by the
  employer; feedback from the employer; reflection.

The school also gives the share of the pupils who reflected afterwards (0-100 %).
"""

from __future__ import annotations

from collections.abc import Iterable

from broker.extensions import db
from broker.models import Encounter, User
from broker.services import audit
from broker.services.errors import NotAllowed, ServiceError

__all__ = [
    "B5_CRITERIA",
    "B6_CRITERIA",
    "ALL_CRITERIA",
    "WORKPLACE_TYPES",
    "benchmark_for",
    "check_criteria",
    "confirm_criteria",
    "criteria_for",
    "is_meaningful",
]

WORKPLACE_TYPES = ("workplace_visit", "work_experience")

B5_CRITERIA: tuple[tuple[str, str], ...] = (
    ("purpose", "A clear purpose, shared with the employer and the pupils"),
    ("outcomes", "Learning outcomes suited to the pupils' needs"),
    ("interaction", "Two-way interaction between the pupils and the employer"),
    ("reflection", "Time for the pupils to reflect afterwards"),
)
B6_CRITERIA: tuple[tuple[str, str], ...] = (
    ("purpose", "A clear purpose, shared with the employer and the pupils"),
    ("outcomes", "Learning outcomes suited to the pupils' needs"),
    ("extensive_interaction", "Extensive two-way interaction with people at work"),
    ("range_of_people", "Meeting a range of people in the workplace"),
    ("task", "A task or piece of work set by the employer"),
    ("feedback", "Feedback from the employer to the pupils"),
    ("reflection", "Time for the pupils to reflect afterwards"),
)
#: Every criterion, each once, for forms that serve both benchmarks.
ALL_CRITERIA: tuple[tuple[str, str], ...] = tuple(
    dict([*B5_CRITERIA, *B6_CRITERIA]).items()
)


def benchmark_for(type_: str) -> int:
    """Return the benchmark an encounter of ``type_`` counts towards: 6 for workplaces, else 5."""
    return 6 if type_ in WORKPLACE_TYPES else 5


def criteria_for(type_: str) -> tuple[tuple[str, str], ...]:
    """Return (code, words) of the criteria an encounter of ``type_`` must meet."""
    return B6_CRITERIA if benchmark_for(type_) == 6 else B5_CRITERIA


def _complete(type_: str, confirmed: Iterable[str] | None) -> bool:
    return {code for code, _ in criteria_for(type_)} <= set(confirmed or ())


def is_meaningful(type_: str, school: Iterable[str] | None, employer: Iterable[str] | None) -> bool:
    """Whether both sides confirmed every criterion of the benchmark ``type_`` counts for."""
    return _complete(type_, school) and _complete(type_, employer)


def check_criteria(
    type_: str, criteria: Iterable[str], reflected_pct: int | None = None
) -> list[str]:
    """Return ``criteria`` in the benchmark's order, refusing codes of the other benchmark."""
    known = criteria_for(type_)
    codes = set(criteria)
    unknown = sorted(codes - {code for code, _ in known})
    if unknown:
        raise ServiceError(
            f"Not a criterion of benchmark {benchmark_for(type_)}: {', '.join(unknown)}.",
            field="criteria",
        )
    if reflected_pct is not None and not 0 <= reflected_pct <= 100:
        raise ServiceError("Give the share who reflected from 0 to 100 %.", field="reflected_pct")
    return [code for code, _ in known if code in codes]


def confirm_criteria(
    encounter: Encounter,
    *,
    by: User,
    side: str,
    criteria: Iterable[str],
    reflected_pct: int | None = None,
) -> Encounter:
    """Record which criteria one side confirms for a delivered encounter (replacing its last).

    ``side`` is "school" or "employer"; only the school gives ``reflected_pct``, the share
    of its pupils who reflected afterwards. Codes not of the encounter's benchmark are
    refused.
    """
    match = encounter.match
    if side == "school":
        if by.role not in ("school", "admin") or (
            by.role == "school" and by.school_id != match.request.school_id
        ):
            raise NotAllowed("Only the school can confirm the school's checklist.")
    elif side == "employer":
        if by.role != "employer" or by.employer_id != match.offer.employer_id:
            raise NotAllowed("Only the employer can confirm the employer's checklist.")
        if reflected_pct is not None:
            raise ServiceError(
                "Only the school says how many pupils reflected.", field="reflected_pct"
            )
    else:
        raise ServiceError(f"Unknown side {side!r}.", field="side")
    ordered = check_criteria(match.offer.type, criteria, reflected_pct)
    if side == "school":
        encounter.school_criteria = ordered
        if reflected_pct is not None:
            encounter.reflected_pct = reflected_pct
    else:
        encounter.employer_criteria = ordered
    db.session.flush()
    audit.record(
        "encounter.criteria", encounter, by=by, side=side, criteria=ordered,
        reflected_pct=reflected_pct,
    )
    return encounter
