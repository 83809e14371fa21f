"""Rate limits on signing in, registering and password resets, and the page shown when one is hit.

Sign-in counts failures only, per account (the email address typed) and per address (IP):
people who type their password right are never slowed, but while an account or address is
locked even the right password is refused, so guessing cannot go on. The account page's
changes, which need the current password, count wrong ones per user the same way.
Registration and reset requests count every attempt. Every POST anywhere also counts towards
a looser per-address limit (``broker.extensions.limiter``). The limits are settings
(``RATELIMIT_*`` in config.py).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, render_template, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from broker import clock
from broker.extensions import limiter

#: Set on ``g`` by a view when a password typed was wrong; only these count.
PASSWORD_WRONG = "password_wrong"


def setting(name: str) -> Callable[[], str]:
    """Return a limit provider that reads the limit string ``name`` from the app's config."""
    return lambda: current_app.config[name]


def by_email() -> str:
    """Key a limit by the email address in the submitted form (lower case)."""
    email = (request.form.get("email") or "").strip().lower()[:254]
    return f"email:{email or '-'}"


def by_user() -> str:
    """Key a limit by the signed-in user."""
    return f"user:{getattr(current_user, 'id', None) or '-'}"


def _password_wrong(response: Response) -> bool:
    return bool(g.get(PASSWORD_WRONG))


def sign_in_limits(view: Callable) -> Callable:
    """Limit failed sign-ins on ``view`` per account and per address."""
    per_account = limiter.limit(
        setting("RATELIMIT_LOGIN_ACCOUNT"),
        key_func=by_email,
        methods=["POST"],
        deduct_when=_password_wrong,
        error_message="Too many failed sign-ins to this account.",
    )
    per_address = limiter.limit(
        setting("RATELIMIT_LOGIN_ADDRESS"),
        key_func=get_remote_address,
        methods=["POST"],
        deduct_when=_password_wrong,
        error_message="Too many failed sign-ins from your address.",
    )
    return per_address(per_account(view))


def password_check_limits(view: Callable) -> Callable:
    """Limit wrong current passwords on ``view`` (account changes) per user, as at sign-in;
    every view so decorated shares the count.

    A session left open elsewhere must not become a way to guess the password.
    """
    return limiter.shared_limit(
        setting("RATELIMIT_LOGIN_ACCOUNT"),
        scope="password_check",
        key_func=by_user,
        methods=["POST"],
        deduct_when=_password_wrong,
        error_message="Too many wrong passwords for this account.",
    )(view)


def register_limits(view: Callable) -> Callable:
    """Limit registrations per address (both registration pages share the count)."""
    return limiter.shared_limit(
        setting("RATELIMIT_REGISTER"),
        scope="register",
        methods=["POST"],
        error_message="Too many registrations from your address.",
    )(view)


def reset_limits(view: Callable) -> Callable:
    """Limit password reset requests per address and per email address."""
    per_account = limiter.limit(
        setting("RATELIMIT_RESET_ACCOUNT"),
        key_func=by_email,
        methods=["POST"],
        error_message="Too many password reset requests for this email address.",
    )
    per_address = limiter.limit(
        setting("RATELIMIT_RESET_ADDRESS"),
        methods=["POST"],
        error_message="Too many password reset requests from your address.",
    )
    return per_address(per_account(view))


def retry_after_seconds() -> int:
    """Return how many seconds until the limit hit in this request lifts."""
    hit = limiter.current_limit
    if hit is None:
        return 60
    return max(1, int(hit.reset_at - clock.now().timestamp()))


def too_many_requests(error: RateLimitExceeded) -> tuple[str, int]:
    """Render the page for a rate limit that was hit; Flask-Limiter adds Retry-After."""
    seconds = retry_after_seconds()
    return render_template(
        "auth/too_many.html",
        reason=error.description,
        minutes=max(1, round(seconds / 60)),
        sign_in=request.endpoint == "auth.login",
    ), 429
