"""Serving vetting evidence files, for the employer's pages and the coordinators' alike.

Who may open a file is decided by each blueprint (its own employer; the area's
coordinators and admins, see :func:`broker.services.employer_checks.may_see_document`).
"""

from __future__ import annotations

from flask import abort, send_file
from werkzeug.wrappers import Response

from broker.models import EmployerDocument
from broker.services import employer_checks

__all__ = ["send_evidence"]


def send_evidence(doc: EmployerDocument) -> Response:
    """Answer with an evidence file as a download under its shown name; 404 if it is gone.

    Sent as an attachment with the type read from its first bytes at upload, so a browser
    never renders an uploaded file as a page of this site.
    """
    path = employer_checks.document_path(doc)
    if not path.is_file():
        abort(404)
    return send_file(
        path, mimetype=doc.content_type, as_attachment=True, download_name=doc.filename,
        max_age=0,
    )
