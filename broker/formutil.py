"""Small helpers shared by every blueprint's forms."""

from __future__ import annotations

from collections.abc import Iterable

from wtforms import SelectChoice

from broker.templating import label


def choices(
    values: Iterable[object], labels: dict[object, str] | None = None
) -> list[SelectChoice]:
    """Return select options for vocabulary codes, labelled for people."""
    return [SelectChoice(value, (labels or {}).get(value) or label(value)) for value in values]
