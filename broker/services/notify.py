"""Notifications: rendered from templates into the outbox, sent later by the send-outbox job.

Enqueueing is idempotent on ``dedupe_key`` so a retried request or job never produces a
second message for the same event. :func:`notify` queues one message; :func:`notify_many`
queues many with one look-up for those already queued, for jobs and bulk actions.

Who gets what: account mail (:data:`ACCOUNT_TEMPLATES`: confirmation links, password and
email changes) always goes, since it keeps the account safe. Every other email belongs to one
of :data:`EMAIL_KINDS`, which a person can turn off on their account page, and goes only to
addresses whose owner has confirmed them and, for a school, who is a verified member of it
(:mod:`broker.services.memberships`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import render_template
from jinja2 import TemplateNotFound
from sqlalchemy import insert, select

from broker.extensions import db
from broker.models import OutboxMessage, User

__all__ = [
    "ACCOUNT_TEMPLATES",
    "EMAIL_KINDS",
    "Notice",
    "kinds_for",
    "notify",
    "notify_many",
    "wants",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmailKind:
    """A kind of email a person may choose not to get: what it is, its templates, who gets it."""

    label: str
    templates: tuple[str, ...]
    roles: tuple[str, ...]


#: The emails a person can turn off, by kind. Every email template is here or in
#: ACCOUNT_TEMPLATES (a test checks), so a new template has to be placed on purpose.
EMAIL_KINDS: dict[str, EmailKind] = {
    "match_updates": EmailKind(
        "Updates on your matches: approved, accepted, declined, cancelled, date agreed",
        (
            "match_approved",
            "match_accepted",
            "match_declined",
            "match_cancelled",
            "match_scheduled",
        ),
        ("school", "employer"),
    ),
    "reminders": EmailKind(
        "Reminders: matches waiting for your answer, encounters coming up, vetting that expires",
        ("confirm_reminder", "encounter_reminder", "vetting_reminder"),
        ("school", "employer"),
    ),
    "organisation": EmailKind(
        "Your organisation's checks: checked by a coordinator, suspended, suspension lifted",
        ("employer_checked", "employer_suspended", "employer_suspension_lifted"),
        ("employer",),
    ),
    "run_summary": EmailKind(
        "The nightly summary of proposed matches to review",
        ("run_summary",),
        ("coordinator", "admin"),
    ),
}
_KIND_OF = {t: kind for kind, k in EMAIL_KINDS.items() for t in k.templates}

#: Account mail: always sent, whatever the person's preferences, verified or not.
ACCOUNT_TEMPLATES = frozenset(
    {
        "verify_email",
        "account_exists",
        "password_reset",
        "password_reset_no_account",
        "password_changed",
        "email_change_verify",
        "email_change_taken",
        "email_change_requested",
        "email_changed",
        # School membership (broker.services.memberships): an invitation, what became of a
        # person's own request or membership, and the notices to the school's members and
        # coordinators of someone waiting or new, which keep the school safe.
        "school_invitation",
        "school_member_waiting",
        "school_member_verified",
        "school_member_refused",
        "school_member_removed",
        "school_new_member",
    }
)


def kinds_for(role: str) -> dict[str, EmailKind]:
    """Return the kinds of email that people with ``role`` get, and so may turn off."""
    return {name: kind for name, kind in EMAIL_KINDS.items() if role in kind.roles}


def wants(user: User, template: str) -> bool:
    """Return whether ``user`` gets the email ``template`` (account mail always goes)."""
    if template in ACCOUNT_TEMPLATES:
        return True
    if not user.email_verified:
        return False
    if user.role == "school" and not user.verified_member:
        # Until verified, a person who registered for a school gets none of its mail.
        return False
    kind = _KIND_OF.get(template)
    return kind is None or kind not in (user.email_opt_outs or [])


@dataclass(frozen=True)
class Notice:
    """One notification to queue: :func:`notify`'s arguments."""

    to: User | str | None
    template: str
    subject: str
    dedupe_key: str
    context: dict[str, Any] = field(default_factory=dict)


def _email(to: User | str | None) -> str | None:
    return to.email if isinstance(to, User) else to


def _render(notice: Notice) -> tuple[str, str]:
    """Return the text and HTML bodies of ``notice`` (HTML empty when it has no template)."""
    context = dict(notice.context)
    context.setdefault("recipient", notice.to if isinstance(notice.to, User) else None)
    body_text = render_template(
        f"email/{notice.template}.txt", subject=notice.subject, **context
    )
    try:
        body_html = render_template(
            f"email/{notice.template}.html", subject=notice.subject, **context
        )
    except TemplateNotFound:
        body_html = ""
    return body_text, body_html


def notify(
    to: User | str | None,
    template: str,
    *,
    subject: str,
    dedupe_key: str,
    **context: Any,
) -> OutboxMessage | None:
    """Queue the email ``template`` for ``to``; return the message, or None if nobody to tell.

    A user who turned this kind of email off, or has not confirmed their address, is not told
    (account mail excepted).

    The text body comes from ``templates/email/<template>.txt`` and the HTML body, when
    present, from ``templates/email/<template>.html``.
    """
    email = _email(to)
    if not email:
        return None
    if isinstance(to, User) and not wants(to, template):
        log.debug("not queueing %s for %s: turned off or address not confirmed", template, email)
        return None
    key = f"{dedupe_key}:{email}"
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if existing is not None:
        return existing
    body_text, body_html = _render(Notice(to, template, subject, dedupe_key, context))
    message = OutboxMessage(
        dedupe_key=key,
        to_email=email,
        subject=subject,
        template=template,
        body_text=body_text,
        body_html=body_html,
    )
    db.session.add(message)
    log.debug("queued %s for %s", template, email)
    return message


def notify_many(notices: Iterable[Notice]) -> list[Notice]:
    """Queue every notice not queued before; return those queued now, in order.

    As with :func:`notify`, people who turned that kind of email off, or have not confirmed
    their address, are skipped (account mail excepted).

    One query finds the messages already queued (per 500 keys) and one statement inserts
    the new ones, so a job or bulk action costs the same few statements however many
    people it tells.
    """
    wanted: dict[str, tuple[Notice, str]] = {}
    for notice in notices:
        email = _email(notice.to)
        if not email:
            continue
        if isinstance(notice.to, User) and not wants(notice.to, notice.template):
            continue
        wanted.setdefault(f"{notice.dedupe_key}:{email}", (notice, email))
    if not wanted:
        return []
    keys = list(wanted)
    queued = {m.dedupe_key for m in db.session.new if isinstance(m, OutboxMessage)}
    for start in range(0, len(keys), 500):
        queued.update(
            db.session.scalars(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.dedupe_key.in_(keys[start : start + 500])
                )
            )
        )
    rows, new = [], []
    for key, (notice, email) in wanted.items():
        if key in queued:
            continue
        body_text, body_html = _render(notice)
        rows.append(
            {
                "dedupe_key": key,
                "to_email": email,
                "subject": notice.subject,
                "template": notice.template,
                "body_text": body_text,
                "body_html": body_html,
            }
        )
        new.append(notice)
    if rows:
        db.session.execute(insert(OutboxMessage), rows)
        log.debug("queued %d messages", len(rows))
    return new
