"""Signed-in sessions: who is signed in, and how sessions end.

Flask keeps the session in a signed cookie, so the server must not trust a cookie just
because it was once valid: a copy taken before signing out would otherwise keep working.
Sessions end on the server in three ways:

- The user id in the session carries the user's session version (``User.get_id`` gives
  ``"<id>:<version>"``). Signing out, changing or resetting the password and deactivation
  raise the version, so every older cookie of that user, on any device, stops loading.
- A session records when it was last used; after ``IDLE_TIMEOUT_MINUTES`` without a request
  it is signed out (and the cookie itself expires then).
- An inactive user never loads.

The CSRF token is replaced at sign-in, so a token seen before signing in is useless after.
"""

from __future__ import annotations

from flask import current_app, flash, g, session
from flask_login import login_user, logout_user

from broker import clock
from broker.extensions import db, login_manager
from broker.models import User

#: Session key: when the session was last used (seconds since the epoch, from broker.clock).
LAST_SEEN = "seen"
# Write the cookie again only when this many seconds have passed, not on every request.
_SEEN_RESOLUTION = 60


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Load the signed-in user, unless their session is from an older version or inactive."""
    id_text, _, version = user_id.partition(":")
    if not (id_text.isdigit() and version.isdigit()):
        return None  # a cookie from before session versions: sign in again
    user = db.session.get(User, int(id_text))
    if user is None or not user.active or (user.session_version or 0) != int(version):
        return None
    return user


def _forget_csrf_token() -> None:
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


def _now() -> int:
    return int(clock.now().timestamp())


def start(user: User) -> None:
    """Sign ``user`` in on this browser with a fresh CSRF token and the idle clock started."""
    _forget_csrf_token()
    login_user(user)
    session.permanent = True  # the cookie expires after PERMANENT_SESSION_LIFETIME unused
    session[LAST_SEEN] = _now()


def end() -> None:
    """Forget the signed-in user on this browser (other sessions end by the version)."""
    logout_user()
    _forget_csrf_token()
    session.pop(LAST_SEEN, None)


def end_if_idle() -> None:
    """Sign out a session unused for longer than the idle timeout; note the use of others.

    Runs before every request.
    """
    if "_user_id" not in session:
        return
    now = _now()
    seen = session.get(LAST_SEEN)
    limit = int(current_app.config["IDLE_TIMEOUT_MINUTES"]) * 60
    if not isinstance(seen, int) or now - seen > limit or now < seen - _SEEN_RESOLUTION:
        end()
        flash(
            f"You were signed out after {limit // 60} minutes without activity. "
            "Please sign in again.",
            "info",
        )
        return
    if now - seen >= _SEEN_RESOLUTION:
        session[LAST_SEEN] = now
