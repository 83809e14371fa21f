"""Words for people: labels for vocabulary codes, and counts with their nouns.

Plain functions with no Flask in them, so services (email subjects, error messages) and
templates (as the ``label`` and ``plural`` filters, see :mod:`broker.templating`) word things
the same way.

>>> plural(1, "offer"), plural(3, "offer"), plural(0, "match")
('1 offer', '3 offers', '0 matches')
>>> plural(2, "pupil place"), plural(1, "proposed match", "proposed matches")
('2 pupil places', '1 proposed match')
>>> plural(None, "pupil"), plural(2, "pupil", with_count=False)
('0 pupils', 'pupils')
>>> label("work_experience"), label("ap"), label("some_new_code")
('Work experience', 'Alternative provision / PRU', 'Some new code')
"""

from __future__ import annotations

__all__ = ["LABELS", "label", "plural", "plural_noun"]

LABELS = {
    "talk": "Employer talk",
    "careers_fair": "Careers fair",
    "workplace_visit": "Workplace visit",
    "work_experience": "Work experience",
    "mentoring": "Mentoring",
    "mock_interview": "Mock interviews",
    "enterprise_challenge": "Enterprise challenge",
    "cv_workshop": "CV workshop",
    "mobility": "Physical / mobility",
    "autism": "Autism",
    "hearing": "Hearing impairment",
    "visual": "Visual impairment",
    "learning": "Learning difficulty",
    "semh": "Social, emotional and mental health",
    "mainstream": "Mainstream",
    "special": "Special school",
    "ap": "Alternative provision / PRU",
    "at_school": "At the school",
    "at_workplace": "At the workplace",
    "virtual": "Online",
    "public_sector": "Public sector",
    "training_provider": "Training or apprenticeship provider",
    # A benchmark's state when what was delivered is not (yet) confirmed meaningful.
    "unconfirmed": "Delivered, not confirmed meaningful",
}


def label(value: object) -> str:
    """Return a person-readable label for a vocabulary code."""
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").capitalize())


def plural_noun(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``singular`` when ``count`` is 1, else its plural (given, or made by rule).

    The rule adds "es" after s, x, z, ch and sh ("match", "matches") and "s" otherwise;
    pass ``plural`` for anything else ("person", "people").
    """
    if count == 1:
        return singular
    if plural is not None:
        return plural
    if singular.endswith(("s", "x", "z", "ch", "sh")):
        return singular + "es"
    return singular + "s"


def plural(
    count: int | None, singular: str, plural: str | None = None, *, with_count: bool = True
) -> str:
    """Return ``count`` and the noun that agrees with it: "1 offer", "3 offers".

    With ``with_count=False`` only the noun is returned, for pages that style the number
    apart (``<strong>3</strong> offers``). A missing count (None) is treated as 0.
    """
    n = count or 0
    noun = plural_noun(n, singular, plural)
    return f"{n} {noun}" if with_count else noun
