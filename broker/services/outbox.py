"""Sending the outbox by SMTP: claim due messages, send each once, back off on failure.

A message is *claimed* (``pending`` -> ``sending``) in a step the job commits before any
mail leaves, so two senders never send the same message, and a sender killed mid-way leaves
``sending`` rows that are never retried automatically: at most once, never twice. A failed
attempt goes back to ``pending`` with ``next_attempt_at`` pushed out exponentially, until
:data:`MAX_ATTEMPTS`, when it is marked ``failed``.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from broker.extensions import db
from broker.models import OutboxMessage

__all__ = ["BACKOFF", "MAX_ATTEMPTS", "SmtpSettings", "claim_due", "send_claimed"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
#: First retry delay; each further failure doubles it (5, 10, 20, 40, 80 minutes).
BACKOFF = timedelta(minutes=5)
SMTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send mail, from the app config (environment variables)."""

    server: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None
    sender: str

    @classmethod
    def from_config(cls, config: Any | None = None) -> SmtpSettings:
        c = config if config is not None else current_app.config
        return cls(
            c["MAIL_SERVER"],
            int(c["MAIL_PORT"]),
            bool(c.get("MAIL_USE_TLS")),
            c.get("MAIL_USERNAME"),
            c.get("MAIL_PASSWORD"),
            c["MAIL_FROM"],
        )


def claim_due(now: datetime, *, limit: int = 100) -> list[int]:
    """Mark up to ``limit`` due messages ``sending`` and return their ids; commit before sending.

    On PostgreSQL the candidate rows are read with ``FOR UPDATE SKIP LOCKED`` so concurrent
    senders take different rows; everywhere, each row is claimed by a conditional UPDATE
    (``WHERE status = 'pending'``), so a row can only be claimed once.
    """
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for message_id in db.session.scalars(query).all():
        result = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
            .values(status="sending")
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(message_id)
    db.session.flush()
    return claimed


def _email(message: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def _failed(message: OutboxMessage, now: datetime, error: str) -> None:
    message.attempts += 1
    message.last_error = error[:1000]
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        log.warning("outbox %s to %s failed for good: %s", message.id, message.to_email, error)
    else:
        message.status = "pending"
        message.next_attempt_at = now + BACKOFF * 2 ** (message.attempts - 1)
        log.info("outbox %s: attempt %d failed (%s)", message.id, message.attempts, error)


def send_claimed(ids: list[int], now: datetime, settings: SmtpSettings, *, commit: Any) -> int:
    """Send the claimed messages over one SMTP connection; return how many were sent.

    ``commit`` is called after each message so its outcome is saved before the next one is
    sent (the job owns the transaction).
    """
    messages = list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        )
    )
    try:
        smtp = smtplib.SMTP(settings.server, settings.port, timeout=SMTP_TIMEOUT)
    except (OSError, smtplib.SMTPException) as exc:
        for message in messages:
            _failed(message, now, f"cannot connect to {settings.server}:{settings.port}: {exc}")
        commit()
        return 0
    sent = 0
    try:
        if settings.use_tls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for message in messages:
            try:
                smtp.send_message(_email(message, settings.sender))
            except (OSError, smtplib.SMTPException) as exc:
                _failed(message, now, str(exc))
            else:
                message.status = "sent"
                message.sent_at = now
                message.attempts += 1
                message.last_error = None
                sent += 1
            commit()
    except (OSError, smtplib.SMTPException) as exc:
        for message in messages:
            if message.status == "sending":
                _failed(message, now, str(exc))
        commit()
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return sent
