"""Email: notifications go through the outbox and send-outbox delivers them over real SMTP.

A local SMTP server (aiosmtpd) on a free port receives what is sent.
"""

from __future__ import annotations

import email
import socket
import threading
from datetime import UTC, timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from broker.extensions import db
from broker.models import OutboxMessage
from broker.services import outbox
from broker.services.notify import notify
from jobs import tasks
from tests.frozen import NOW


class Inbox:
    """Collects what the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), ready_timeout=5)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def _use(app, port: int) -> None:
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_FROM="The broker <noreply@broker.test>",
    )


def _queue(app, n: int = 1, **kw) -> list[OutboxMessage]:
    run = type("Run", (), {"kind": "nightly", "id": 7})()
    out = []
    for i in range(n):
        out.append(
            notify(
                f"coordinator{i}@example.org",
                "run_summary",
                subject="To review",
                dedupe_key=f"test:{i}",
                run=run,
                waiting=3,
                added=1,
                areas=["Leeds"],
                **kw,
            )
        )
    db.session.commit()
    return out


def test_send_outbox_delivers_text_and_html_once(app, smtp):
    controller, inbox = smtp
    _use(app, controller.port)
    (message,) = _queue(app)
    assert tasks.send_outbox(NOW) == {"claimed": 1, "sent": 1, "failed": 0}
    assert len(inbox.messages) == 1
    got = inbox.messages[0]
    assert got["To"] == "coordinator0@example.org" and got["Subject"] == "To review"
    assert got.is_multipart()
    assert got.get_body(("plain",)).get_content().count("3 proposed matches") == 1
    assert "<strong>3</strong>" in got.get_body(("html",)).get_content()
    db.session.refresh(message)
    assert message.status == "sent" and message.sent_at is not None and message.attempts == 1
    # Running again sends nothing: a message is never sent twice.
    assert tasks.send_outbox(NOW + timedelta(hours=1))["sent"] == 0
    assert len(inbox.messages) == 1


def test_a_claimed_message_is_not_sent_again(app, smtp):
    controller, inbox = smtp
    _use(app, controller.port)
    _queue(app, 3)
    first = outbox.claim_due(NOW, limit=2)
    second = outbox.claim_due(NOW, limit=10)
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    db.session.commit()
    # A sender that died after claiming leaves "sending" rows, which are never retried.
    assert tasks.send_outbox(NOW)["claimed"] == 0
    assert inbox.messages == []


def test_server_down_backs_off_then_fails(app):
    _use(app, _free_port())  # nothing listens there
    (message,) = _queue(app)
    assert tasks.send_outbox(NOW) == {"claimed": 1, "sent": 0, "failed": 1}
    db.session.refresh(message)
    assert message.status == "pending" and message.attempts == 1
    assert message.last_error and "cannot connect" in message.last_error
    first_retry = message.next_attempt_at.replace(tzinfo=UTC)
    assert first_retry == NOW + outbox.BACKOFF
    # Not due yet: nothing happens.
    assert tasks.send_outbox(NOW + timedelta(minutes=1))["claimed"] == 0
    assert tasks.send_outbox(first_retry)["failed"] == 1
    db.session.refresh(message)
    assert message.attempts == 2
    assert message.next_attempt_at.replace(tzinfo=UTC) == first_retry + 2 * outbox.BACKOFF
    later = first_retry
    for _ in range(outbox.MAX_ATTEMPTS - 2):
        later += timedelta(days=1)
        tasks.send_outbox(later)
    db.session.refresh(message)
    assert message.status == "failed" and message.attempts == outbox.MAX_ATTEMPTS
    assert tasks.send_outbox(later + timedelta(days=1))["claimed"] == 0


def test_retry_succeeds_when_the_server_is_back(app, smtp):
    controller, inbox = smtp
    _use(app, _free_port())
    (message,) = _queue(app)
    tasks.send_outbox(NOW)
    _use(app, controller.port)
    assert tasks.send_outbox(NOW + outbox.BACKOFF)["sent"] == 1
    db.session.refresh(message)
    assert message.status == "sent" and message.attempts == 2
    assert len(inbox.messages) == 1


def test_concurrent_senders_never_send_twice(committing_db, smtp):
    controller, inbox = smtp
    _use(committing_db, controller.port)
    _queue(committing_db, 30)
    barrier = threading.Barrier(2, timeout=10)
    errors = []

    def sender():
        try:
            with committing_db.app_context():
                barrier.wait()
                tasks.send_outbox(NOW)
                db.session.remove()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    received = sorted(m["To"] for m in inbox.messages)
    assert len(received) == 30 and len(set(received)) == 30
    statuses = db.session.scalars(select(OutboxMessage.status)).all()
    assert statuses == ["sent"] * 30
