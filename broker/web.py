"""How the app answers every request: one transaction, refusals shown, bad input refused.

:func:`init_app` (called by the app factory) installs these for every view, so views and
services never commit, roll back or catch a :class:`~broker.services.errors.ServiceError`
themselves (STYLE.md 17, after GOV.UK Notify's ``@transactional`` and indico's
``RH.process``):

- **One transaction per request.** A request that may change state (POST and the like) is
  committed once, after its view, when the answer is a success or a redirect; it is rolled
  back when the answer is an error (4xx), when a service refused, or when the view raised.
  A GET never commits. (A write that must outlive a refusal, such as counting failed
  sign-ins, is the one place a view commits itself.)
- **Refusals.** A service's ``ServiceError`` propagates out of the view. The session is rolled
  back, then the person is shown the message:

  * where the view says refusals go (:func:`redirect_on_refusal`, for buttons whose page is
    elsewhere), as a flash on that page;
  * on the form they posted, beside the field the service names (or flashed if it names
    none): the view runs again, its form's ``validate_on_submit()`` now answers no and
    carries the message, and the view renders it with a 400 as for any invalid input
    (:class:`broker.formutil.Form`);
  * otherwise as a flash on the page they came from;
  * on a GET, as an error page: ``NotAllowed`` answers 404 (like anything not yours),
    any other refusal 400.
- **Ids in URLs** use the ``id`` converter (``/offers/<id:offer_id>``): a whole number
  from 1 to what an integer column holds; anything else matches no route (404).
- **NUL characters** in the query or a posted form answer 400 naming the field: no
  database text column stores one (PostgreSQL refuses it) and no person types one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, redirect, request, url_for
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import IntegerConverter, Map
from werkzeug.wrappers import Response

from broker.extensions import db
from broker.formutil import INT_MAX, Refusal, request_state, safe_next
from broker.services.errors import NotAllowed, ServiceError

__all__ = ["IdConverter", "init_app", "redirect_on_refusal"]

F = TypeVar("F", bound=Callable[..., Any])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class IdConverter(IntegerConverter):
    """A row id in a URL: 1 to :data:`broker.formutil.INT_MAX`; anything else is a 404."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=INT_MAX)


def redirect_on_refusal(target: str | Callable[..., str]) -> Callable[[F], F]:
    """Declare where a view's refusals go: an endpoint, or a function returning a URL.

    An endpoint gets the view's URL arguments (``"employer.offer_detail"`` for
    ``/offers/<id:offer_id>/pause``); a function is called with them. The service's message
    is flashed there.
    """

    def mark(view: F) -> F:
        view.refusal_target = target  # type: ignore[attr-defined]
        return view

    return mark


def init_app(app: Flask) -> None:
    """Install the id converter, the NUL check, the transaction and the refusal handler."""
    app.url_map.converters["id"] = IdConverter
    app.before_request(_refuse_nul)
    app.after_request(_end_transaction)
    app.register_error_handler(ServiceError, _refused)


def _refuse_nul() -> None:
    sources = [request.args] if request.method in SAFE_METHODS else [request.args, request.form]
    for values in sources:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                name = key.replace("\x00", "\\0")
                raise BadRequest(
                    f"The field “{name}” contains a NUL character (\\0), which cannot be "
                    "stored. Remove it and try again."
                )


def _end_transaction(response: Response) -> Response:
    if request.method in SAFE_METHODS:
        return response  # nothing to commit; the session's teardown ends the transaction
    if response.status_code < 400 and not request_state().get("refused", False):
        db.session.commit()
    else:
        db.session.rollback()
    return response


def _refused(error: ServiceError) -> Any:
    db.session.rollback()
    state = request_state()
    state["refused"] = True
    if request.method in SAFE_METHODS:
        page = NotFound() if isinstance(error, NotAllowed) else BadRequest(error.message)
        return current_app.handle_http_exception(page)
    args = request.view_args or {}
    view = current_app.view_functions[request.endpoint or ""]
    target = getattr(view, "refusal_target", None)
    if target is not None:
        flash(error.message, "error")
        return redirect(target(**args) if callable(target) else url_for(target, **args))
    form = state.pop("submitted_form", None)
    if form is not None:
        state["refusal"] = Refusal(error, form)
        try:
            answer = current_app.ensure_sync(view)(**args)
        except HTTPException as exc:
            answer = current_app.handle_http_exception(exc)
        except ServiceError as again:
            db.session.rollback()
            flash(again.message, "error")
            return redirect(_back())
        if state.pop("refusal", None) is not None:  # no form on the page took it
            flash(error.message, "error")
        return answer
    flash(error.message, "error")
    return redirect(_back())


def _back() -> str:
    """The page the person came from, if it is on this site; else their dashboard."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host:
        return url_for("index")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path, "index")
