"""Notifications: rendered from templates into the outbox, sent later by the send-outbox job.

Enqueueing is idempotent on ``dedupe_key`` so a retried request or job never produces a
second message for the same event.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import render_template
from jinja2 import TemplateNotFound
from sqlalchemy import select

from broker.extensions import db
from broker.models import OutboxMessage, User

log = logging.getLogger(__name__)


def notify(
    to: User | str | None,
    template: str,
    *,
    subject: str,
    dedupe_key: str,
    **context: Any,
) -> OutboxMessage | None:
    """Queue the email ``template`` for ``to``; return the message, or None if nobody to tell.

    The text body comes from ``templates/email/<template>.txt`` and the HTML body, when
    present, from ``templates/email/<template>.html``.
    """
    email = to.email if isinstance(to, User) else to
    if not email:
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
