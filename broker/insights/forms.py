"""Forms of the insights pages (filters are plain query arguments; only actions need CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm

__all__ = ["RefreshForm"]


class RefreshForm(FlaskForm):
    """CSRF only: an admin asks for the insights to be recomputed now."""
