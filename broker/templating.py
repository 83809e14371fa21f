"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, request

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
