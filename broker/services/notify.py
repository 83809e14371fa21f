"""Notifications: rendered from templates into the outbox, sent later by the send-outbox job.

Enqueueing is idempotent on ``dedupe_key`` so a retried request or job never produces a
second message for the same event.

Who gets what: account mail (:data:`ACCOUNT_TEMPLATES`: confirmation links, password and
email changes) always goes, since it keeps the account safe. Every other email belongs to one
of :data:`EMAIL_KINDS`, which a person can turn off on their account page, and goes only to
addresses whose owner has confirmed them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import render_template
from jinja2 import TemplateNotFound
from sqlalchemy import select

from broker.extensions import db
from broker.models import OutboxMessage, User

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
    kind = _KIND_OF.get(template)
    return kind is None or kind not in (user.email_opt_outs or [])


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
    email = to.email if isinstance(to, User) else to
    if not email:
        return None
    if isinstance(to, User) and not wants(to, template):
        log.debug("not queueing %s for %s: turned off or address not confirmed", template, email)
        return None
    key = f"{dedupe_key}:{email}"
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))
    if existing is not None:
        return existing
    context.setdefault("recipient", to if isinstance(to, User) else None)
    body_text = render_template(f"email/{template}.txt", subject=subject, **context)
    try:
        body_html = render_template(f"email/{template}.html", subject=subject, **context)
    except TemplateNotFound:
        body_html = ""
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
