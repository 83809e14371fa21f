"""Response headers and request size limits, for every answer the app gives.

:func:`init_app` (called by the app factory) installs them:

- **A content security policy without inline script or style** (:data:`CSP`): pages load
  scripts and styles only from ``/static``, so text someone slipped into a page cannot run.
  Templates therefore carry no ``<script>``, ``<style>``, ``style="..."`` or ``on...=``
  attributes (a test reads every main page to check).
- **HSTS** when the request came over HTTPS (behind a proxy, set ``TRUSTED_PROXIES`` so that
  its ``X-Forwarded-Proto`` counts): browsers then refuse plain HTTP to the site for a year.
  Never over HTTP, where it would mean nothing and could lock a test server out.
- **No caching** of anything shown to a signed-in person, nor of the sign-in pages: a shared
  computer's back button or a proxy must not show someone's matches and contacts. (Static
  files, the same for everyone, are left to cache.)
- **Permissions-Policy**, ``nosniff``, ``Referrer-Policy`` and frame refusal.
- **A size limit on requests** (``MAX_CONTENT_LENGTH``): a larger body is refused with 413 as
  soon as its declared length is seen, before it is read. The admin's schools import may be
  larger (``IMPORT_MAX_CONTENT_LENGTH``), a GIAS extract being tens of megabytes.
"""

from __future__ import annotations

from flask import Flask, current_app, render_template, request
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

__all__ = ["CSP", "HSTS", "PERMISSIONS_POLICY", "init_app"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"

#: The endpoint allowed the larger upload limit, and only for an admin.
IMPORT_ENDPOINT = "admin.import_schools"


def init_app(app: Flask) -> None:
    """Install the headers, the import's own size limit and the friendly 413 page.

    Call it before :func:`broker.web.init_app`, whose NUL check reads posted forms: the
    import's limit must be set before anything reads the body.
    """
    app.before_request(_import_limit)
    app.after_request(_headers)
    app.register_error_handler(RequestEntityTooLarge, _too_large)


def _import_limit() -> None:
    if (
        request.endpoint == IMPORT_ENDPOINT
        and current_user.is_authenticated
        and current_user.role == "admin"
    ):
        request.max_content_length = current_app.config["IMPORT_MAX_CONTENT_LENGTH"]


def _headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    # Static files hold nothing private: browsers may keep them.
    if request.endpoint != "static" and (
        request.blueprint == "auth" or current_user.is_authenticated
    ):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


def _too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
    limit = request.max_content_length or 0
    return render_template("error.html", code=413, error=error, limit=limit), 413
