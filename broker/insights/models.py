"""What the nightly insights step stores per match run, so pages read it instead of solving."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker import clock
from broker.extensions import Model
from broker.models import MatchRun

__all__ = ["InsightSnapshot"]


class InsightSnapshot(Model):
    """The fairness comparison and "where one more offer helps most", for one match run.

    ``schools`` holds one row per school with open demand in the run:
    ``[school_id, requests, pupils_requested, goals, optimal_requests_served,
    optimal_pupils, optimal_goals_met, fcfs_requests_served, fcfs_pupils, fcfs_goals_met]``
    (``fcfs`` is first come, first served on the same data). ``gains`` lists the distinct
    candidate offers, best first, as dicts (see ``broker.services.insights``).
    """

    __tablename__ = "insight_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("match_runs.id", ondelete="SET NULL"), index=True
    )
    computed_for: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    gains: Mapped[list[Any]] = mapped_column(JSON, default=list)

    run: Mapped[MatchRun | None] = relationship()

    def __repr__(self) -> str:
        return f"<InsightSnapshot {self.id} run={self.run_id} {self.computed_for}>"
