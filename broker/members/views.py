"""School membership pages (issue 10): who acts for a school, and how they come to.

- ``/members/waiting``: what a school user sees until verified (every other page sends them
  here: :func:`hold_unverified`, installed for the whole app).
- ``/members/``: a school's verified members, its people waiting, an invitation form.
- ``/members/claims``: the queue of people waiting, with the evidence, for coordinators (their
  areas) and admins.
- ``/members/<id>/verify|refuse|remove``: the decisions, taken by
  :mod:`broker.services.memberships`, which checks who may take them.
- ``/members/join/<token>``: accepting an emailed invitation (no session needed).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from broker.auth.access import get_or_404, role_guard
from broker.extensions import db
from broker.members.forms import AcceptInvitationForm, DecisionReasonForm, InviteForm
from broker.models import User
from broker.services import memberships
from broker.services.errors import ServiceError
from broker.web import redirect_on_refusal

__all__ = ["bp"]

bp = Blueprint("members", __name__)

_GUARDS = {
    "members.waiting": role_guard("school"),
    "members.school_members": role_guard("school"),
    "members.invite": role_guard("school"),
    "members.claims": role_guard("coordinator", "admin"),
    "members.verify": role_guard("school", "coordinator", "admin"),
    "members.refuse": role_guard("school", "coordinator", "admin"),
    "members.remove": role_guard("school", "coordinator", "admin"),
}

# What a school user who is not (yet) a verified member may still reach: their account,
# signing out, public data, this waiting page and an invitation link.
_OPEN_TO_UNVERIFIED = frozenset({"static", "members.waiting", "members.accept_invitation"})
_OPEN_BLUEPRINTS = frozenset({"auth", "api"})


@bp.before_request
def guard():
    check = _GUARDS.get(request.endpoint or "")
    return check() if check is not None else None


@bp.before_app_request
def hold_unverified():
    """Send a school user who is not a verified member to the waiting page, whatever they ask.

    They see no match, contact, calendar or request and can change nothing (a post is
    refused) until a coordinator, an admin or a member of the school verifies them.
    """
    if not current_user.is_authenticated or current_user.role != "school":
        return None
    if current_user.verified_member:
        return None
    endpoint = request.endpoint or ""
    if endpoint in _OPEN_TO_UNVERIFIED or request.blueprint in _OPEN_BLUEPRINTS:
        return None
    if request.method not in ("GET", "HEAD"):
        abort(403)
    return redirect(url_for("members.waiting"))


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _decisions_page(**_: object) -> str:
    return url_for("members.school_members" if current_user.role == "school" else "members.claims")


def _person(user_id: int) -> User:
    """A school user the signed-in person may decide on (anything else answers 404)."""
    return get_or_404(
        User,
        user_id,
        lambda u: (
            u.role == "school"
            and u.school is not None
            and memberships.may_decide(current_user, u.school)
        ),
    )


# --------------------------------------------------------------------------- school users
@bp.get("/waiting")
def waiting():
    if current_user.verified_member:
        return redirect(url_for("school.dashboard"))
    school = current_user.school
    return render_template(
        "members/waiting.html",
        school=school,
        joining=bool(memberships.verified_members(school)),
    )


@bp.get("/")
def school_members():
    school = current_user.school
    waiting = list(db.session.scalars(memberships.claims_query(_me())))
    return render_template(
        "members/school.html",
        school=school,
        members=memberships.verified_members(school),
        claims=memberships.claims_with_evidence(waiting),
        invite_form=InviteForm(formdata=None),
        reason_form=DecisionReasonForm(formdata=None),
    )


@bp.post("/invite")
@redirect_on_refusal(_decisions_page)
def invite():
    form = InviteForm()
    form.validate_or_400()
    memberships.invite_member(current_user.school, form.email.data, by=_me())
    flash(f"Invitation sent to {form.email.data.strip().lower()}.", "success")
    return redirect(url_for("members.school_members"))


# --------------------------------------------------------------------------- the queue
@bp.get("/claims")
def claims():
    waiting = list(db.session.scalars(memberships.claims_query(_me()).limit(200)))
    return render_template(
        "members/claims.html",
        claims=memberships.claims_with_evidence(waiting),
        reason_form=DecisionReasonForm(formdata=None),
    )


# --------------------------------------------------------------------------- decisions
@bp.post("/<id:user_id>/verify")
@redirect_on_refusal(_decisions_page)
def verify(user_id: int):
    person = _person(user_id)
    DecisionReasonForm().validate_or_400()
    memberships.verify_member(person, by=_me())
    school = person.school.name if person.school else "the school"
    flash(f"{person.name} is now a verified member of {school}.", "success")
    return redirect(_decisions_page())


@bp.post("/<id:user_id>/refuse")
@redirect_on_refusal(_decisions_page)
def refuse(user_id: int):
    person = _person(user_id)
    form = DecisionReasonForm()
    form.validate_or_400()
    memberships.refuse_member(person, by=_me(), reason=form.reason.data or "")
    flash(f"{person.name}'s request is refused and their account closed.", "success")
    return redirect(_decisions_page())


@bp.post("/<id:user_id>/remove")
@redirect_on_refusal(_decisions_page)
def remove(user_id: int):
    person = _person(user_id)
    form = DecisionReasonForm()
    form.validate_or_400()
    memberships.remove_member(person, by=_me(), reason=form.reason.data or "")
    if person.id == current_user.id:
        flash("You are no longer a member of the school.", "success")
        return redirect(url_for("auth.login"))
    school = person.school.name if person.school else "the school"
    flash(f"{person.name} is no longer a member of {school}.", "success")
    return redirect(_decisions_page())


# --------------------------------------------------------------------------- invitations
@bp.route("/join/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    if current_user.is_authenticated:
        flash("Sign out first: the invitation makes a new account.", "error")
        return redirect(url_for("index"))
    try:
        invitation = memberships.read_invitation(token)
    except ServiceError as exc:
        return render_template("auth/link_refused.html", message=exc.message), 400
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        memberships.accept_invitation(
            token, name=form.name.data, password=form.password.data, phone=form.phone.data or ""
        )
        flash(
            f"Welcome: you are a member of {invitation.school.name}. Sign in with your email "
            "address and the password you chose.",
            "success",
        )
        return redirect(url_for("auth.login"))
    return render_template("members/accept.html", form=form, invitation=invitation), form.status
