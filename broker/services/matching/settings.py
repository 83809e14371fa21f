"""The engine's weights from the app's configuration, checked when the app starts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from flask import current_app

import matching as engine

__all__ = ["check_weights", "weights"]


def weights() -> engine.Weights:
    """Return the engine's weights, overridden by ``app.config["MATCHING_WEIGHTS"]``."""
    return engine.Weights.from_mapping(current_app.config.get("MATCHING_WEIGHTS") or {})


def check_weights(value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``MATCHING_WEIGHTS`` as a dict, or raise ``ValueError`` saying what is wrong.

    ``value`` is the JSON object from the environment or a mapping set in a config class.
    The app factory calls this, so that a misspelt weight stops the app at start-up with
    a message naming it, instead of failing every nightly run.

    Examples
    --------
    >>> check_weights('{"stem": 30}')
    {'stem': 30}
    >>> check_weights({"stem_goal": 30})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: MATCHING_WEIGHTS: unknown weight "stem_goal"; the weights are: proximity, ...
    """
    names = [f.name for f in dataclasses.fields(engine.Weights)]
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"MATCHING_WEIGHTS is not valid JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise ValueError(
            'MATCHING_WEIGHTS must be a JSON object of weight names and numbers, e.g. {"stem": 30}'
        )
    unknown = sorted(str(k) for k in value if k not in names)
    if unknown:
        quoted = ", ".join(f'"{k}"' for k in unknown)
        raise ValueError(
            f"MATCHING_WEIGHTS: unknown weight{'s' if len(unknown) > 1 else ''} {quoted}; "
            f"the weights are: {', '.join(names)}"
        )
    try:
        engine.Weights.from_mapping(value)
    except engine.MatchingError as exc:
        raise ValueError(f"MATCHING_WEIGHTS: {exc}") from None
    return dict(value)
