"""Words for people: the label of each vocabulary code (offer types, SEN needs, ...).

A plain module, so that services (emails, calendar entries), forms and the templates' ``label``
filter all say the same thing.

>>> label("work_experience")
'Work experience'
>>> label("public_sector")
'Public sector'
>>> label("engineering")
'Engineering'
"""

from __future__ import annotations

__all__ = ["LABELS", "label"]

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
}


def label(value: object) -> str:
    """Return a person-readable label for a vocabulary code."""
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").capitalize())
