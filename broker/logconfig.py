"""Logging for every broker process: the web app, ``broker`` commands and the scheduler.

:func:`configure_logging` is called by the app factory, so whatever builds an app (gunicorn,
``broker jobs run``, ``broker scheduler``) sends the broker's own INFO lines (a job starting
and what it did, an import's counts) to stderr, where the process manager collects them.
Other libraries stay at WARNING. A process that set up logging itself (a root handler
already there, as under pytest) keeps its handlers; only the levels are set.
"""

from __future__ import annotations

import logging

from flask import Flask

__all__ = ["LOG_FORMAT", "OUR_LOGGERS", "configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The packages whose lines LOG_LEVEL governs.
OUR_LOGGERS = ("broker", "jobs", "matching")


def configure_logging(app: Flask) -> None:
    """Log the broker's packages at ``LOG_LEVEL`` to stderr (one handler per process)."""
    name = str(app.config.get("LOG_LEVEL", "INFO")).strip().upper()
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        raise ValueError(
            f"LOG_LEVEL {name!r} is not a logging level: use DEBUG, INFO, WARNING or ERROR."
        )
    for logger in OUR_LOGGERS:
        logging.getLogger(logger).setLevel(level)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()  # stderr
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
