"""A school's or an employer's calendar page, its feed and a new feed address.

Shared by the school and employer blueprints, like :mod:`broker.matchpages`::

    register_calendar_pages(bp, model=School, own=lambda: current_user.school,
                            events=calendar.school_events)

It adds ``<bp>.calendar_page`` (``GET /calendar``), ``calendar_feed``
(``GET /calendar/<token>.ics``, no session: list it in the blueprint's ``role_guard`` as
public) and ``calendar_new_address`` (``POST /calendar/new-address``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from broker import clock
from broker.formutil import EmptyForm
from broker.services import calendar

__all__ = ["register_calendar_pages"]


def register_calendar_pages(
    bp: Blueprint,
    *,
    model: type[calendar.Org],
    own: Callable[[], calendar.Org],
    events: Callable[[calendar.Org], Sequence[calendar.Event]],
) -> None:
    """Add the calendar page, the feed and the new-address action to ``bp``, for the
    calendar of ``model`` (a school or an employer)."""
    kind = model.__name__.lower()

    def calendar_page():
        org = own()
        token = calendar.feed_token(
            current_app.config["SECRET_KEY"], kind, org.id, org.calendar_key
        )
        return render_template(
            "calendar.html",
            kind=kind,
            feed_url=url_for(f"{bp.name}.calendar_feed", token=token, _external=True),
            events=events(org),
            form=EmptyForm(),
        )

    def calendar_feed(token: str):
        org = calendar.feed_owner(current_app.config["SECRET_KEY"], token, model)
        if org is None:
            abort(404)
        body = calendar.render_ics(
            f"{org.name}: encounters", events(org), now=clock.now(), host=request.host.split(":")[0]
        )
        return Response(
            body,
            mimetype="text/calendar",
            headers={"Content-Disposition": "inline; filename=encounters.ics"},
        )

    def calendar_new_address():
        EmptyForm().validate_or_400()
        calendar.new_feed_address(own(), by=current_user)
        flash(
            "Your calendar has a new address. The old one no longer works: subscribe again "
            "with the new one.",
            "success",
        )
        return redirect(url_for(f"{bp.name}.calendar_page"))

    bp.add_url_rule("/calendar", view_func=calendar_page, methods=["GET"])
    bp.add_url_rule("/calendar/<token>.ics", view_func=calendar_feed, methods=["GET"])
    bp.add_url_rule("/calendar/new-address", view_func=calendar_new_address, methods=["POST"])
