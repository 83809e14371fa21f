"""After each nightly match: the fairness baseline and "where one more offer helps most".

Run in the ``match`` job once its run is committed, in a transaction of its own: a failure
here is logged and leaves the match (already saved) alone; the pages keep showing the
previous run's insights until the next night.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from broker.extensions import db
from broker.models import MatchRun
from broker.services.insights import refresh_insights

__all__ = ["refresh_after_match"]

log = logging.getLogger(__name__)


def refresh_after_match(run: MatchRun, now: datetime) -> dict[str, Any]:
    """Store the insights for ``run``; return their figures for the job's log line."""
    try:
        snapshot = refresh_insights(now, run=run)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("insights after match run %s failed; the match itself is saved", run.id)
        return {"insights": "failed"}
    return {"insights_seconds": snapshot.seconds, "suggestions": len(snapshot.gains)}
