"""Places: postcodes checked and turned into coordinates the way the app is configured to.

Every service that takes a postcode from a person goes through here, so the messages and
the optional online fallback are the same everywhere.
"""

from __future__ import annotations

from flask import current_app

from broker.geo import Place, PostcodeError, geocode, normalise_postcode
from broker.services.errors import ServiceError


def normalise(postcode: str, *, field: str = "postcode") -> str:
    """Return ``postcode`` in its standard form, or raise a ServiceError naming ``field``."""
    try:
        return normalise_postcode(postcode)
    except PostcodeError as exc:
        raise ServiceError(f"Postcode: {exc}", field=field) from exc


def locate(postcode: str, *, field: str = "postcode") -> Place:
    """Geocode ``postcode`` offline (and online if configured), or raise a ServiceError.

    The error names ``field`` so a form can show it beside the right input.
    """
    try:
        return geocode(postcode, online=current_app.config.get("ONLINE_GEOCODER_USER_AGENT"))
    except PostcodeError as exc:
        raise ServiceError(f"Postcode: {exc}", field=field) from exc
