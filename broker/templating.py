"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, request

from broker.labels import label

__all__ = ["label", "register_template_helpers", "url_with"]


def url_with(**changes: object) -> str:
    """Return the current URL with some query arguments replaced (for sorting and paging)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = str(value)
    return request.path + ("?" + urlencode(args) if args else "")


def register_template_helpers(app: Flask) -> None:
    """Make the helpers above available in every template."""
    app.add_template_filter(label, "label")
    app.add_template_global(url_with, "url_with")
