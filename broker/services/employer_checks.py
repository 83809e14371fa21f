"""Employers are checked before they reach pupils: verification, suspension, capacity, evidence.

The rules, in one place:

- **Verification.** A new organisation's offers are left out of matching (the nightly run,
  the incremental runs and hand matches alike: :func:`matchable_clause` is part of every
  query that loads offers for the engine) until a coordinator of its area or an admin has
  checked it (:func:`verify_employer`) from the queue of organisations waiting.
- **Suspension.** A coordinator of the area or an admin can suspend an organisation with a
  reason (:func:`suspend_employer`): its offers leave matching and its unapproved proposals
  are withdrawn; approved and confirmed matches stay for the coordinator to handle one by
  one. :func:`lift_suspension` lets its offers back in.
- **Capacity ceilings.** Each encounter type has a ceiling on the pupils one offer can take,
  in person and virtual (:data:`DEFAULT_CAPACITY_CEILINGS`, overridden by the
  ``CAPACITY_CEILINGS`` setting), so one offer cannot absorb a region's demand, or the
  country's. :func:`check_capacity` refuses an offer beyond it.
- **Vetting evidence.** An employer can upload an insurance certificate and a risk
  assessment (PDF, PNG or JPEG, at most ``EVIDENCE_MAX_BYTES``). Each is stored under the
  instance folder with a random name, served only to the employer's members, the area's
  coordinators and admins (:func:`may_see_document`), and marked verified by whoever
  checked it (:func:`verify_document`). Dates the employer typed stay "self-declared".
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from flask import current_app
from sqlalchemy import Select, select
from werkzeug.utils import secure_filename

from broker import clock
from broker.extensions import db
from broker.models import (
    ENCOUNTER_TYPES,
    EVIDENCE_KINDS,
    Employer,
    EmployerDocument,
    Match,
    Offer,
    User,
)
from broker.services import audit
from broker.services.errors import NotAllowed, ServiceError
from broker.services.matches import lock_matches_of, withdraw_proposals_beyond
from broker.services.notify import Notice, notify_many
from broker.services.vetting import matchable_clause
from broker.statuses import MatchStatus
from broker.wording import label

__all__ = [
    "DEFAULT_CAPACITY_CEILINGS",
    "EVIDENCE_NAMES",
    "capacity_ceiling",
    "ceilings",
    "ceilings_hint",
    "check_capacity",
    "check_ceilings",
    "checks_query",
    "document_path",
    "documents_of",
    "evidence_by_kind",
    "lift_suspension",
    "matchable_clause",
    "may_check",
    "may_see_document",
    "save_document",
    "size_words",
    "suspend_employer",
    "verify_document",
    "verify_employer",
]

#: Pupils one offer may take, per encounter type, in person and virtual. A talk fills a
#: hall, a virtual talk several; a workplace visit is a coach load; work experience a few
#: desks; mentoring and mock interviews need an adult per few pupils.
DEFAULT_CAPACITY_CEILINGS: dict[str, dict[str, int]] = {
    "talk": {"in_person": 300, "virtual": 2000},
    "careers_fair": {"in_person": 600, "virtual": 3000},
    "workplace_visit": {"in_person": 60, "virtual": 300},
    "work_experience": {"in_person": 10, "virtual": 50},
    "mentoring": {"in_person": 30, "virtual": 30},
    "mock_interview": {"in_person": 60, "virtual": 60},
    "enterprise_challenge": {"in_person": 200, "virtual": 500},
    "cv_workshop": {"in_person": 120, "virtual": 500},
}
MODES = ("in_person", "virtual")

EVIDENCE_NAMES = {
    "insurance": "employers' liability insurance certificate",
    "risk_assessment": "risk assessment",
}
# What a file's first bytes must be, by the type it is stored and served as.
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


# --- capacity ceilings ------------------------------------------------------------------


def check_ceilings(value: str | Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """Return the ceilings: the defaults overridden by ``CAPACITY_CEILINGS``, or raise ValueError.

    ``value`` is JSON text (from the environment) or a dict, of encounter type to
    ``{"in_person": n, "virtual": n}`` (either key may be left out).

    >>> check_ceilings('{"talk": {"virtual": 1000}}')["talk"]
    {'in_person': 300, 'virtual': 1000}
    >>> check_ceilings({"tlak": {"virtual": 1}})
    Traceback (most recent call last):
    ...
    ValueError: CAPACITY_CEILINGS: unknown encounter type "tlak"
    """
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"CAPACITY_CEILINGS is not valid JSON: {exc}") from None
    value = value or {}
    if not isinstance(value, Mapping):
        raise ValueError(
            'CAPACITY_CEILINGS must be a JSON object, e.g. {"talk": {"virtual": 1000}}'
        )
    out = {t: dict(modes) for t, modes in DEFAULT_CAPACITY_CEILINGS.items()}
    for type_, modes in value.items():
        if type_ not in ENCOUNTER_TYPES:
            raise ValueError(f'CAPACITY_CEILINGS: unknown encounter type "{type_}"')
        if not isinstance(modes, Mapping):
            raise ValueError(
                f'CAPACITY_CEILINGS: "{type_}" must be an object like {{"in_person": 300}}'
            )
        for mode, n in modes.items():
            if mode not in MODES:
                raise ValueError(
                    f'CAPACITY_CEILINGS: "{type_}" has "{mode}"; use "in_person" or "virtual"'
                )
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100_000:
                raise ValueError(
                    f'CAPACITY_CEILINGS: "{type_}" "{mode}" must be a whole number, 1 to 100000'
                )
            out[type_][mode] = n
    return out


def ceilings() -> dict[str, dict[str, int]]:
    """Return the ceilings in force (the app's checked setting, else the defaults)."""
    configured = current_app.config.get("CAPACITY_CEILINGS")
    if isinstance(configured, dict) and configured:
        return configured
    return check_ceilings(configured if isinstance(configured, str) else None)


def capacity_ceiling(type_: str, delivery: str) -> int | None:
    """Return the most pupils one offer of ``type_`` delivered so may take (None if unknown)."""
    modes = ceilings().get(type_)
    if modes is None:
        return None
    return modes["virtual" if delivery == "virtual" else "in_person"]


def check_capacity(type_: str, delivery: str, capacity: int) -> None:
    """Raise :class:`ServiceError` on ``capacity`` if it is above the type's ceiling."""
    ceiling = capacity_ceiling(type_, delivery)
    if ceiling is not None and capacity > ceiling:
        how = "virtual" if delivery == "virtual" else "in person"
        raise ServiceError(
            f"Capacity: {label(type_).lower()} offers ({how}) take at most {ceiling} pupils "
            "each. Post separate offers for separate sessions.",
            field="capacity",
        )


def ceilings_hint() -> str:
    """Say the ceilings in words, for the offer form's capacity field."""
    parts = [
        f"{label(t).lower()} {m['in_person']} ({m['virtual']} virtual)"
        for t, m in ceilings().items()
    ]
    return "At most, per offer: " + "; ".join(parts) + "."


# --- verification and suspension ----------------------------------------------------------


def may_check(user: User, employer: Employer) -> bool:
    """Return whether ``user`` may verify or suspend ``employer``: an admin, or its coordinator."""
    if user.role == "admin":
        return True
    return (
        user.role == "coordinator"
        and employer.area_id is not None
        and employer.area_id in {a.id for a in user.areas}
    )


def _require_check(user: User, employer: Employer) -> None:
    if not may_check(user, employer):
        raise NotAllowed("Only a coordinator for this organisation's area can do that.")


def checks_query(user: User, *, show: str = "waiting") -> Select[Any]:
    """Return the organisations ``user`` may check, oldest first.

    ``show`` is ``waiting`` (not yet checked), ``suspended``, or ``all``.
    """
    query = select(Employer)
    if user.role != "admin":
        query = query.where(Employer.area_id.in_([a.id for a in user.areas] or [-1]))
    if show == "waiting":
        query = query.where(Employer.verified_at.is_(None))
    elif show == "suspended":
        query = query.where(Employer.suspended_at.is_not(None))
    return query.order_by(Employer.created_at, Employer.id)


def _lock_employer(employer: Employer) -> None:
    db.session.flush()
    db.session.execute(
        select(Employer.id).where(Employer.id == employer.id).with_for_update()
    ).all()
    db.session.refresh(employer)


def _tell_members(employer: Employer, template: str, subject: str, **context: Any) -> None:
    """Email the organisation's active people about its standing (once per change)."""
    people = db.session.scalars(
        select(User).where(User.employer_id == employer.id, User.active.is_(True))
    )
    stamp = clock.now().isoformat()
    notify_many(
        Notice(person, template, subject, f"{template}:{employer.id}:{stamp}",
               {"employer": employer, **context})
        for person in people
    )


def verify_employer(employer: Employer, *, by: User) -> Employer:
    """Mark ``employer`` checked: its open offers enter matching from the next run."""
    _require_check(by, employer)
    _lock_employer(employer)
    if employer.verified_at is not None:
        raise ServiceError("This organisation has already been checked.")
    employer.verified_at = clock.now()
    employer.verified_by_id = by.id
    db.session.flush()
    audit.record("employer.verified", employer, by=by)
    _tell_members(employer, "employer_checked", "Your organisation has been checked")
    return employer


def suspend_employer(employer: Employer, *, by: User, reason: str) -> list[Match]:
    """Suspend ``employer``: its offers leave matching and its unapproved proposals go.

    Returns the proposals withdrawn. Approved and confirmed matches stay; a coordinator
    cancels those one by one if they must.
    """
    _require_check(by, employer)
    reason = reason.strip()
    if not reason:
        raise ServiceError("Say why the organisation is suspended.", field="reason")
    offer_ids = list(
        db.session.scalars(select(Offer.id).where(Offer.employer_id == employer.id))
    )
    withdrawn: list[Match] = []
    why = f"The organisation was suspended by a coordinator: {reason}"
    for offer_id in offer_ids:
        proposals = lock_matches_of(offer_id=offer_id, statuses=(MatchStatus.PROPOSED,))
        withdrawn += withdraw_proposals_beyond(proposals, 0, by=by, reason=why)
    _lock_employer(employer)
    if employer.suspended_at is not None:
        raise ServiceError("This organisation is already suspended.")
    employer.suspended_at = clock.now()
    employer.suspended_reason = reason
    employer.suspended_by_id = by.id
    db.session.flush()
    audit.record(
        "employer.suspended", employer, by=by, reason=reason,
        matches=[m.id for m in withdrawn], pupils=sum(m.pupils for m in withdrawn),
    )
    _tell_members(
        employer, "employer_suspended", "Your organisation is suspended", reason=reason
    )
    return withdrawn


def lift_suspension(employer: Employer, *, by: User) -> Employer:
    """Lift ``employer``'s suspension: its open offers enter matching again."""
    _require_check(by, employer)
    _lock_employer(employer)
    if employer.suspended_at is None:
        raise ServiceError("This organisation is not suspended.")
    reason = employer.suspended_reason
    employer.suspended_at = None
    employer.suspended_reason = None
    employer.suspended_by_id = None
    db.session.flush()
    audit.record("employer.suspension_lifted", employer, by=by, was=reason)
    _tell_members(
        employer, "employer_suspension_lifted", "Your organisation's suspension is lifted"
    )
    return employer


# --- vetting evidence ---------------------------------------------------------------------


def _evidence_dir() -> Path:
    configured = current_app.config.get("EVIDENCE_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "evidence"


def size_words(n: int) -> str:
    """Say a number of bytes in MB or KB, e.g. ``5 MB``.

    >>> size_words(5 * 1024 * 1024), size_words(200 * 1024)
    ('5 MB', '200 KB')
    """
    mb = 1024 * 1024
    return f"{n // mb} MB" if n >= mb else f"{max(n // 1024, 1)} KB"


def document_path(doc: EmployerDocument) -> Path:
    """Where ``doc``'s file is stored (its random name, under the evidence folder)."""
    return _evidence_dir() / doc.stored_name


def save_document(
    employer: Employer, kind: str, stream: IO[bytes], filename: str, *, by: User
) -> EmployerDocument:
    """Store an uploaded evidence file for ``employer``; refuse other types and large files.

    The file's type is read from its first bytes, not from its name or the browser's word.
    """
    if kind not in EVIDENCE_KINDS:
        raise ServiceError("Choose which document this is.", field="kind")
    limit = int(current_app.config.get("EVIDENCE_MAX_BYTES", 5 * 1024 * 1024))
    data = stream.read(limit + 1)
    if not data:
        raise ServiceError("Choose a file to upload.", field="file")
    if len(data) > limit:
        raise ServiceError(f"The file is too large: at most {size_words(limit)}.", field="file")
    content_type = next((t for sig, t in _SIGNATURES if data.startswith(sig)), None)
    if content_type is None:
        raise ServiceError("Upload a PDF, PNG or JPEG file.", field="file")
    shown = (secure_filename(filename or "") or f"{kind}")[:200]
    doc = EmployerDocument(
        employer_id=employer.id,
        kind=kind,
        stored_name=secrets.token_hex(16),
        filename=shown,
        content_type=content_type,
        size=len(data),
        uploaded_by_id=by.id,
    )
    folder = _evidence_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / doc.stored_name, "xb") as fh:
            fh.write(data)
    except OSError:
        current_app.logger.exception(
            "Could not store an evidence file for employer %s", employer.id
        )
        raise ServiceError("The file could not be stored. Please try again later.") from None
    db.session.add(doc)
    db.session.flush()
    audit.record("employer.document_uploaded", employer, by=by, kind=kind, document=doc.id)
    return doc


def may_see_document(user: User, doc: EmployerDocument) -> bool:
    """Return whether ``user`` may open ``doc``: its employer's people, coordinators, admins."""
    if user.role == "employer":
        return user.employer_id == doc.employer_id
    return may_check(user, doc.employer)


def verify_document(doc: EmployerDocument, *, by: User) -> EmployerDocument:
    """Mark an evidence document checked by ``by``, now."""
    _require_check(by, doc.employer)
    if doc.verified_at is not None:
        raise ServiceError("This document has already been checked.")
    doc.verified_at = clock.now()
    doc.verified_by_id = by.id
    db.session.flush()
    audit.record(
        "employer.document_verified", doc.employer, by=by, kind=doc.kind, document=doc.id
    )
    return doc


def documents_of(employer: Employer) -> list[EmployerDocument]:
    """Return ``employer``'s evidence documents, newest first."""
    return list(
        db.session.scalars(
            select(EmployerDocument)
            .where(EmployerDocument.employer_id == employer.id)
            .order_by(EmployerDocument.uploaded_at.desc(), EmployerDocument.id.desc())
        )
    )


def evidence_by_kind(employer: Employer) -> dict[str, EmployerDocument | None]:
    """Return, per vetting item with evidence, the document that backs it best.

    The newest verified document, else the newest uploaded one, else None: the item rests
    on what the employer typed (self-declared).
    """
    out: dict[str, EmployerDocument | None] = {kind: None for kind in EVIDENCE_KINDS}
    for doc in documents_of(employer):
        best = out[doc.kind]
        if best is None or (best.verified_at is None and doc.verified_at is not None):
            out[doc.kind] = doc
    return out
