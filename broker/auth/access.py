"""Role checks for blueprints and the object-level rule: you see only what is yours.

An employer sees and edits only its own organisation's data, a school only its own, a
coordinator only its areas; admins see everything. Objects that are not yours answer 404,
so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from broker.extensions import db, login_manager
from broker.formutil import INT_MAX
from broker.models import Employer, School, User

T = TypeVar("T")


def role_guard(
    *roles: str, public: tuple[str, ...] = ()
) -> Callable[[], ResponseReturnValue | None]:
    """Return a ``before_request`` hook that admits only signed-in users with one of ``roles``.

    Endpoints named in ``public`` skip the check: they carry their own credential (a signed
    token in the URL, for calendar apps that cannot sign in).
    """

    def guard() -> ResponseReturnValue | None:
        if request.endpoint in public:
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.role not in roles:
            abort(403)
        return None

    return guard


def can_see_school(user: User, school: School) -> bool:
    """Return whether ``user`` may see ``school``'s data."""
    if user.role == "admin":
        return True
    if user.role == "school":
        # Only a verified member acts for the school (broker.services.memberships).
        return user.school_id == school.id and user.verified_member
    if user.role == "coordinator":
        return school.area_id is not None and school.area_id in {a.id for a in user.areas}
    return False


def can_see_employer(user: User, employer: Employer) -> bool:
    """Return whether ``user`` may see ``employer``'s data."""
    if user.role == "admin":
        return True
    if user.role == "employer":
        return user.employer_id == employer.id
    if user.role == "coordinator":
        return employer.area_id is not None and employer.area_id in {a.id for a in user.areas}
    return False


def get_or_404(model: type[T], object_id: int, allowed: Callable[[T], bool]) -> T:
    """Load ``model`` by id, answering 404 when it is missing or not the user's to see.

    An id no row can have (beyond an integer column) is missing too, not a database error.
    """
    if not 1 <= object_id <= INT_MAX:
        abort(404)
    obj = db.session.get(model, object_id)
    if obj is None or not allowed(obj):
        abort(404)
    return obj
