"""One match's page and its actions, shared by the school and employer blueprints.

Both sides see a match, answer it, agree its date, cancel it, record its delivery and give
feedback in the same way; what differs is which side answers, whose details they see, the
feedback form (schools add the pupils' own score) and some wording. Call
:func:`register_match_pages` on a blueprint::

    register_match_pages(bp, side="school", own_match=_own_match,
                         template="school/match.html", feedback_form=SchoolFeedbackForm,
                         delivered="Delivery recorded. Now tell us how it went.")

It adds ``<bp>.match_detail``, ``match_respond``, ``match_schedule``, ``match_cancel``,
``match_deliver`` and ``match_feedback`` under ``/matches/<match_id>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import Select
from wtforms import BooleanField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Optional

from broker import clock
from broker.employer.forms import MAX_CAPACITY, MultiCheckboxField
from broker.formutil import DateField, Form, InRange, IntegerField, MaxLength, choices
from broker.models import ENCOUNTER_TYPES, Match, Offer
from broker.services import matches, meaningful
from broker.statuses import CONFIRMED, LIVE, MatchStatus

__all__ = [
    "CriteriaForm",
    "DeliveryForm",
    "FeedbackForm",
    "ReasonForm",
    "RespondForm",
    "ScheduleForm",
    "SchoolFeedbackForm",
    "VISIBLE_MATCH_STATUSES",
    "filter_matches",
    "register_match_pages",
]

# The statuses a side can filter its list by (not rejected or superseded proposals); with no
# status chosen the list shows the live and delivered ones.
VISIBLE_MATCH_STATUSES = tuple(
    s for s in MatchStatus if s in LIVE or s in {MatchStatus.DECLINED, MatchStatus.CANCELLED}
)


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[Optional(), MaxLength(2000)])


class RespondForm(Form):
    answer = RadioField(
        "Your answer",
        choices=choices(("accept", "decline"), {"accept": "Accept", "decline": "Decline"}),
        validators=[InputRequired()],
    )
    reason = TextAreaField("Reason (needed to decline)", validators=[Optional(), MaxLength(2000)])


def _criteria_choices(criteria: tuple[tuple[str, str], ...]) -> list[Any]:
    codes = [code for code, _ in criteria]
    return choices(codes, dict(criteria))


class CriteriaForm(Form):
    """One side's meaningful-encounter checklist; the page shows its benchmark's criteria."""

    criteria = MultiCheckboxField(
        "What made it meaningful (tick each that held)",
        choices=_criteria_choices(meaningful.ALL_CRITERIA),
    )
    reflected_pct = IntegerField(
        "Pupils who reflected afterwards (%)", validators=[Optional(), InRange(0, 100)],
        description="The share of the pupils who took part, e.g. from a class discussion "
        "or a short form; a cohort figure, never names.",
    )

    def for_match(self, match: Match, side: str) -> CriteriaForm:
        """Show only the criteria of the match's benchmark, and the share only to schools."""
        self.criteria.choices = _criteria_choices(meaningful.criteria_for(match.offer.type))
        if side != "school":
            del self.reflected_pct
        return self

    def answers(self, side: str) -> dict[str, Any]:
        """Return the answers as ``confirm_criteria``'s (and ``record_delivery``'s) arguments."""
        reflected = self.reflected_pct.data if side == "school" else None
        return {"criteria": list(self.criteria.data or []), "reflected_pct": reflected}


class DeliveryForm(CriteriaForm):
    delivered_on = DateField("Date it happened", validators=[InputRequired()])
    move_date = BooleanField("It happened on another day: move the agreed date to this one")
    pupils_reached = IntegerField(
        "Pupils who took part", validators=[InputRequired(), InRange(0, MAX_CAPACITY)]
    )


class ScheduleForm(Form):
    on = DateField("Agreed date", validators=[InputRequired()])


class FeedbackForm(Form):
    # Starts empty: a rating the user did not choose must not be recorded as 5/5.
    rating = SelectField(
        "How useful was it? (1 poor - 5 excellent)",
        choices=choices(("", "5", "4", "3", "2", "1"), {"": "Choose a rating"}),
        validators=[InputRequired(message="Choose a rating from 1 (poor) to 5 (excellent).")],
        default="",
    )
    would_welcome_again = SelectField(
        "Would you work with them again?",
        choices=choices(("", "yes", "no"), {"": "Not sure", "yes": "Yes", "no": "No"}),
        default="",
    )
    comment = TextAreaField("Comment", validators=[Optional(), MaxLength(4000)])

    def feedback(self) -> dict[str, Any]:
        """Return the answers as ``give_feedback``'s keyword arguments."""
        return {
            "rating": int(self.rating.data),
            "would_welcome_again": {"yes": True, "no": False}.get(
                self.would_welcome_again.data or ""
            ),
            "comment": self.comment.data or "",
        }


class SchoolFeedbackForm(FeedbackForm):
    pupil_voice_score = SelectField(
        "Pupils' own score for the year group (1-5)",
        choices=choices(("", "5", "4", "3", "2", "1"), {"": "Not collected"}),
        description="A cohort-level score; never give pupils' names.",
        default="",
    )

    def feedback(self) -> dict[str, Any]:
        """Return the answers, with the pupils' own score, as ``give_feedback``'s arguments."""
        score = self.pupil_voice_score.data
        return {**super().feedback(), "pupil_voice_score": int(score) if score else None}


def _default_delivery_day(match: Match) -> date | None:
    """The agreed date, once it has come: what the delivery form offers first."""
    if match.scheduled_on is not None and match.scheduled_on <= clock.today():
        return match.scheduled_on
    return None


def filter_matches(query: Select, *, status: str, type_: str, sorts: dict, sort: str) -> Select:
    """Narrow a query for matches (joined to their offers) by status and type, and order it.

    An unknown ``status`` shows the live and delivered matches, an unknown ``type_`` every
    type and an unknown ``sort`` the newest first; ``sorts`` maps sort names to order-by
    clauses and must have ``"newest"``.
    """
    if status in VISIBLE_MATCH_STATUSES:
        query = query.where(Match.status == status)
    else:
        query = query.where(Match.status.in_(LIVE))
    if type_ in ENCOUNTER_TYPES:
        query = query.where(Offer.type == type_)
    return query.order_by(*sorts.get(sort, sorts["newest"]))


def register_match_pages(
    bp: Blueprint,
    *,
    side: str,
    own_match: Callable[[int], Match],
    template: str,
    feedback_form: type[FeedbackForm],
    delivered: str,
) -> None:
    """Add a match's page and its answer, cancel, delivery and feedback actions to ``bp``.

    ``side`` ("school" or "employer") is who answers and gives feedback; the page gets the
    other side's organisation under that side's name (``school`` or ``employer``).
    ``own_match`` loads a match by id or answers 404 when it is not the user's; ``template``
    renders the page; ``delivered`` is the message after delivery is recorded.
    """
    if side not in ("school", "employer"):
        raise ValueError(f"side must be 'school' or 'employer', not {side!r}")
    other = "employer" if side == "school" else "school"

    def render(match: Match, status: int = 200, **forms: Form):
        feedback = None
        if match.encounter is not None:
            feedback = {f.by_role: f for f in match.encounter.feedback}
        counterpart = match.offer.employer if other == "employer" else match.request.school
        criteria_form = forms.get("criteria_form")
        if criteria_form is None:
            encounter = match.encounter
            mine = getattr(encounter, f"{side}_criteria", None) if encounter else None
            criteria_form = CriteriaForm(
                formdata=None, criteria=mine or [],
                reflected_pct=encounter.reflected_pct if encounter else None,
            )
        delivery_form = forms.get("delivery_form") or DeliveryForm(
            formdata=None, delivered_on=_default_delivery_day(match)
        )
        return render_template(
            template,
            match=match,
            show_contacts=match.status in CONFIRMED,  # both sides said yes
            feedback=feedback,
            respond_form=forms.get("respond_form") or RespondForm(formdata=None),
            schedule_form=forms.get("schedule_form")
            or ScheduleForm(formdata=None, on=match.scheduled_on),
            window=matches.common_window(match),
            cancel_form=forms.get("cancel_form") or ReasonForm(formdata=None),
            delivery_form=delivery_form.for_match(match, side),
            criteria_form=criteria_form.for_match(match, side),
            benchmark=meaningful.benchmark_for(match.offer.type),
            meaningful=match.encounter is not None and meaningful.is_meaningful(
                match.offer.type, match.encounter.school_criteria,
                match.encounter.employer_criteria,
            ),
            today=clock.today(),
            feedback_form=forms.get("feedback_form") or feedback_form(formdata=None),
            **{other: counterpart},
        ), status

    def act(match_id: int, form: Form, form_name: str, action, done: str):
        """Validate ``form``, run ``action(match)``, then go back to the match.

        A refusal comes back here (``broker.web``): the form then fails to validate and
        carries the message, and the match's page shows it with a 400.
        """
        match = own_match(match_id)
        if not form.validate_on_submit():
            return render(match, 400, **{form_name: form})
        action(match)
        flash(done, "success")
        return redirect(url_for(f"{bp.name}.match_detail", match_id=match.id))

    def match_detail(match_id: int):
        return render(own_match(match_id))

    def match_respond(match_id: int):
        form = RespondForm()
        accept = form.answer.data == "accept"
        return act(
            match_id,
            form,
            "respond_form",
            lambda match: matches.respond_to_match(
                match, by=current_user, side=side, accept=accept, reason=form.reason.data or ""
            ),
            "Thank you: your answer is recorded." if accept else "You declined this match.",
        )

    def match_schedule(match_id: int):
        form = ScheduleForm()
        return act(
            match_id,
            form,
            "schedule_form",
            lambda match: matches.schedule_match(match, by=current_user, on=form.on.data),
            f"Date saved. The {other} has been told.",
        )

    def match_cancel(match_id: int):
        form = ReasonForm()
        return act(
            match_id,
            form,
            "cancel_form",
            lambda match: matches.cancel_match(
                match, by=current_user, reason=form.reason.data or ""
            ),
            f"The encounter is cancelled and the {other} has been told.",
        )

    def match_deliver(match_id: int):
        # record_delivery checks the date (in the window, not in the future, the agreed
        # date unless move_date is ticked) and names the delivered_on field.
        form = DeliveryForm()
        return act(
            match_id,
            form,
            "delivery_form",
            lambda match: matches.record_delivery(
                match,
                by=current_user,
                delivered_on=form.delivered_on.data,
                pupils_reached=form.pupils_reached.data,
                move_date=bool(form.move_date.data),
                **form.answers(side),
            ),
            delivered,
        )

    def match_criteria(match_id: int):
        match = own_match(match_id)
        if match.encounter is None:
            flash("The checklist is for encounters that have been delivered.", "error")
            return redirect(url_for(f"{bp.name}.match_detail", match_id=match.id))
        form = CriteriaForm()
        return act(
            match_id,
            form,
            "criteria_form",
            lambda match: meaningful.confirm_criteria(
                match.encounter, by=current_user, side=side, **form.answers(side)
            ),
            "Checklist saved.",
        )

    def match_feedback(match_id: int):
        match = own_match(match_id)
        if match.encounter is None:
            flash("Feedback can be given once the encounter has been delivered.", "error")
            return redirect(url_for(f"{bp.name}.match_detail", match_id=match.id))
        form = feedback_form()
        return act(
            match_id,
            form,
            "feedback_form",
            lambda match: matches.give_feedback(
                match.encounter, by=current_user, by_role=side, **form.feedback()
            ),
            "Thank you for your feedback.",
        )

    bp.add_url_rule("/matches/<id:match_id>", view_func=match_detail, methods=["GET"])
    for view in (match_respond, match_schedule, match_cancel, match_deliver, match_feedback,
                 match_criteria):
        action = view.__name__.removeprefix("match_")
        bp.add_url_rule(f"/matches/<id:match_id>/{action}", view_func=view, methods=["POST"])
