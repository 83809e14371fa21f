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

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

__all__ = [
    "LABELS",
    "RULE_WORDS",
    "day",
    "label",
    "pair_refusal",
    "plural",
    "plural_noun",
    "what_would_help",
    "why_nothing_matched",
]

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
    "dbs": "DBS check",
    "dbs_checked": "DBS check",
    "insurance": "Insurance",
    "risk_assessment": "Risk assessment",
    "fsm": "Free school meals",
    "sen": "Special educational needs",
    "stem": "STEM",
    # A benchmark's state when what was delivered is not (yet) confirmed meaningful.
    "unconfirmed": "Delivered, not confirmed meaningful",
}


def label(value: object) -> str:
    """Return a person-readable label for a vocabulary code."""
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").capitalize())


def day(value: date | datetime | None) -> str:
    """Return a date as people write it: "1 Dec 2026" (a dash for none).

    >>> day(date(2026, 12, 1)), day(None)
    ('1 Dec 2026', '—')
    """
    if value is None:
        return "—"
    return f"{value.day} {value:%b %Y}"


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


#: What each matching rule says about the offers it rules out: (one offer, several offers).
#: ``{needs}`` is filled with the SEN needs the offers do not support.
RULE_WORDS = {
    "type": ("is another type of encounter", "are other types of encounter"),
    "closed": ("is not open, or its dates have passed", "are not open, or their dates have passed"),
    "request_closed": ("cannot serve it: the request is not open, or its dates have passed",) * 2,
    "dates": ("is outside the dates asked for", "are outside the dates asked for"),
    "avoid_dates": (
        "falls only on the school's dates to avoid",
        "fall only on the school's dates to avoid",
    ),
    "year": ("is for other year groups", "are for other year groups"),
    "audience": ("is for girls' or boys' schools only", "are for girls' or boys' schools only"),
    "distance": ("is too far (over its travel limit)", "are too far (over their travel limit)"),
    "sen": ("does not support {needs}", "do not support {needs}"),
    "checks": (
        "is on hold until its employer's safety checks are up to date",
        "are on hold until their employers' safety checks are up to date",
    ),
    "full": ("has no places left", "have no places left"),
    "refused": (
        "was turned down for this request before",
        "were turned down for this request before",
    ),
    "other": ("is ruled out by the matching rules", "are ruled out by the matching rules"),
}


def _needs(codes: Iterable[str]) -> str:
    names = [label(c) for c in codes]
    if len(names) <= 1:
        return "".join(names) or "the SEN needs listed"
    return ", ".join(names[:-1]) + " or " + names[-1]


def _rule_phrase(rule: str, count: int, needs: Iterable[str] = ()) -> str:
    one, many = RULE_WORDS.get(rule, RULE_WORDS["other"])
    return (one if count == 1 else many).format(needs=_needs(needs))


def why_nothing_matched(explanation: Any) -> str:
    """One sentence on whether any offer could serve a request, with counts per rule.

    ``explanation`` is a :class:`broker.services.matching.explain.Explanation`:
    "No offer fits: of 42 open offers of this type (Employer talk), 30 are for other year
    groups, 9 are too far (over their travel limit), 3 do not support Autism."
    """
    e = explanation
    if not e.current:
        return "This request is not open, so the matcher does not look for offers for it."
    kind = label(e.type)
    considered = e.considered
    if e.fits:
        return (
            f"{plural(e.fits, 'open offer')} of this type ({kind}) could serve this request "
            f"(of {considered} open)."
        )
    if not considered:
        return f"No offer fits: no offers of this type ({kind}) are open at the moment."
    parts = [f"{n} {_rule_phrase(rule, n, e.missing_needs)}" for rule, n in e.counts()]
    head = f"No offer fits: of {plural(considered, 'open offer')} of this type ({kind}), "
    if len(parts) > 1:
        return head + ", ".join(parts[:-1]) + " and " + parts[-1] + "."
    return head + "".join(parts) + "."


def what_would_help(explanation: Any, *, school: bool = True) -> list[str]:
    """Plain suggestions for a request no offer fits, from the rules that rule offers out.

    Worded for the school; with ``school=False`` (a coordinator's page) the last one says
    what a coordinator can do instead of "ask your coordinator".
    """
    e = explanation
    if not e.current or e.fits:
        return []
    out = e.ruled_out
    only = e.only

    def more(rule: str) -> str:
        n = only.get(rule, 0)
        return f": {plural(n, 'offer')} would then fit" if n else ""

    tips: list[str] = []
    if out.get("dates"):
        tips.append("Widen your dates" + more("dates") + ".")
    if out.get("avoid_dates"):
        tips.append("Check the dates to avoid in your school's profile" + more("avoid_dates") + ".")
    if out.get("year"):
        tips.append("Ask for another year group, or a wider one" + more("year") + ".")
    if out.get("distance"):
        tips.append(
            "Allow online encounters: an online offer is never too far" + more("distance") + "."
        )
    if out.get("sen"):
        if e.profile_needs:
            tips.append(
                f"Remove a need that the school's profile added ({_needs(e.profile_needs)}) "
                "if these pupils do not have it" + more("sen") + "."
            )
        else:
            tips.append("Check the SEN needs listed are this group's" + more("sen") + ".")
    if out.get("checks") or out.get("full") or out.get("refused") or not e.considered:
        tips.append(
            "Ask your coordinator: they can find employers for the gaps in your area."
            if school
            else "Recruit an employer for this gap, or make a match by hand with an offer below."
        )
    if not e.considered and e.other_types:
        tips.append(
            f"Ask for another type of encounter: {plural(e.other_types, 'offer')} of other "
            "types are open."
        )
    return tips


def pair_refusal(rules: list[str], needs: Iterable[str] = ()) -> str:
    """Why a coordinator's hand match is refused: every rule that blocks the pair, in words."""
    phrases = [_rule_phrase(rule, 1, needs) for rule in rules] or [RULE_WORDS["other"][0]]
    return (
        "This offer cannot serve this request under the matching rules: it "
        + "; it ".join(phrases)
        + "."
    )
