"""Places: postcodes turned into coordinates the way the app is configured to do it."""

from __future__ import annotations

from flask import current_app

from broker.geo import Place, PostcodeError, geocode
from broker.services.errors import ServiceError


def locate(postcode: str, *, field: str = "postcode") -> Place:
    """Geocode ``postcode`` offline (and online if configured), or raise a ServiceError.

    The error names ``field`` so a form can show it beside the right input.
    """
    try:
        return geocode(postcode, online=current_app.config.get("ONLINE_GEOCODER_USER_AGENT"))
    except PostcodeError as exc:
        raise ServiceError(str(exc), field=field) from exc
