"""Jinja filters and globals shared by every template.

The words themselves live in :mod:`broker.wording` so that services can use them without
importing anything of the web layer; this module only registers them.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, request

from broker.wording import LABELS, day, label, plural, what_would_help, why_nothing_matched

__all__ = ["LABELS", "distance", "label", "plural", "register_template_helpers", "url_with"]


def url_with(**changes: object) -> str:
    """Return the current URL with some query arguments replaced (for sorting and paging)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return request.path + ("?" + urlencode(args) if args else "")


def distance(match: object) -> str:
    """Return how far a match's pupils or employer travel, or "Online" for a virtual offer.

    A virtual encounter involves no travel, so the straight-line distance between the two
    postcodes (which the matcher still records) means nothing to either side.
    """
    offer = getattr(match, "offer", None)
    if offer is not None and getattr(offer, "delivery", None) == "virtual":
        return "Online: no travel"
    km = getattr(match, "km", None)
    return "—" if km is None else f"{km:.1f} km"


def hours(value: float | None) -> str:
    """Return hours in plain words: "1 hour", "1.5 hours", "30 hours"."""
    if value is None:
        return "—"
    rounded = round(float(value), 1)
    return f"{rounded:g} hour" + ("" if rounded == 1 else "s")


def duration(offer: object) -> str:
    """Return how long an offer lasts for each pupil: "5 days of 6 hours (30 hours)"."""
    days = getattr(offer, "days", 1) or 1
    a_day = float(getattr(offer, "hours_a_day", 1.0) or 1.0)
    if days == 1:
        return hours(a_day)
    return f"{days} days of {hours(a_day)} ({hours(days * a_day)})"


def register_template_helpers(app: Flask) -> None:
    """Make the helpers above available in every template."""
    app.add_template_filter(label, "label")
    app.add_template_filter(day, "day")
    app.add_template_filter(plural, "plural")
    app.add_template_filter(distance, "distance")
    app.add_template_filter(why_nothing_matched, "why_nothing_matched")
    app.add_template_filter(what_would_help, "what_would_help")
    app.add_template_filter(hours, "hours")
    app.add_template_filter(duration, "duration")
    app.add_template_global(url_with, "url_with")
