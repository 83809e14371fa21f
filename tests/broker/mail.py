"""Reading the outbox in tests: the messages queued and the links in them."""

from __future__ import annotations

import re

from sqlalchemy import select

from broker.extensions import db
from broker.models import OutboxMessage


def queued(template: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    """Return the queued messages, of one template and to one address when given."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        query = query.where(OutboxMessage.template == template)
    if to:
        query = query.where(OutboxMessage.to_email == to)
    return list(db.session.scalars(query))


def link_in(message: OutboxMessage) -> str:
    """Return the path of the broker link in ``message`` that carries a token."""
    found = re.findall(r"https?://\S+?(/auth/(?:confirm|reset|email)/\S+)", message.body_text)
    assert len(found) == 1, message.body_text
    return found[0]
