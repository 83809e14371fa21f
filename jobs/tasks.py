"""The scheduled jobs themselves: plain functions taking ``now`` that call the services.

Each job owns its transaction: it commits once per batch (the nightly match commits once, so
its proposals are replaced all at once or not at all) and rolls back on error.
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime
from typing import Any

from broker import clock
from broker.extensions import db
from broker.models import MatchRun
from broker.services.housekeeping import expire_stale, remind_due
from broker.services.matching import run_matching
from broker.services.outbox import SmtpSettings, claim_due, send_claimed
from broker.services.privacy import purge_outbox
from jobs.insights import refresh_after_match

__all__ = ["expire", "match", "purge", "remind", "send_outbox"]

log = logging.getLogger(__name__)

#: Batches one send-outbox run goes through at most, so a run always ends.
OUTBOX_BATCHES = 20
OUTBOX_BATCH_SIZE = 100


def match(now: datetime) -> dict[str, Any]:
    """Match open requests to remaining capacity and replace the unapproved proposals."""
    try:
        run = run_matching(now, kind="nightly")
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        failed = MatchRun(
            kind="nightly",
            status="failed",
            started_at=now,
            finished_at=clock.now(),
            error="".join(traceback.format_exception_only(exc)).strip(),
        )
        db.session.add(failed)
        db.session.commit()
        log.exception("nightly match failed (run %s)", failed.id)
        raise
    insights = refresh_after_match(run, now)
    return {
        "run": run.id,
        **run.changes,
        "pupils_matched": run.figures["pupils_matched"],
        "seconds": run.figures["seconds"],
        **insights,
    }


def expire(now: datetime) -> dict[str, Any]:
    """Expire requests and offers past their dates, and supersede proposals on them."""
    counts = expire_stale(now)
    db.session.commit()
    return counts


def purge(now: datetime) -> dict[str, Any]:
    """Empty the text of emails older than OUTBOX_RETENTION_DAYS (the rows stay)."""
    emptied = purge_outbox(now)
    db.session.commit()
    return {"outbox_emptied": emptied}


def remind(now: datetime) -> dict[str, Any]:
    """Queue reminders: confirmations due within a week, agreed dates close, vetting expiring."""
    counts = remind_due(now)
    db.session.commit()
    return counts


def send_outbox(now: datetime) -> dict[str, Any]:
    """Send due outbox messages by SMTP: claim (committed), send, record, retry with backoff."""
    settings = SmtpSettings.from_config()
    sent = claimed = 0
    for _ in range(OUTBOX_BATCHES):
        ids = claim_due(now, limit=OUTBOX_BATCH_SIZE)
        db.session.commit()
        if not ids:
            break
        claimed += len(ids)
        sent += send_claimed(ids, now, settings, commit=db.session.commit)
    return {"claimed": claimed, "sent": sent, "failed": claimed - sent}
