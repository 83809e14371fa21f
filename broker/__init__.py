"""The broker: a Flask app that brings employers and English secondary schools together.

Call :func:`create_app` to build an app; only ``wsgi.py`` builds one at import time.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from broker import security, web
from broker.extensions import csrf, db, limiter, login_manager, migrate
from broker.logconfig import configure_logging
from config import BASE_DIR, INSTANCE_DIR, Config

__all__ = ["create_app"]

log = logging.getLogger(__name__)

# How long an SQLite connection waits for another's write lock before "database is locked".
# The nightly match holds it only while it writes at the end (seconds at national scale).
SQLITE_BUSY_TIMEOUT_MS = 15_000

DASHBOARDS = {
    "employer": "employer.dashboard",
    "school": "school.dashboard",
    "coordinator": "coordinator.dashboard",
    "admin": "admin.dashboard",
}


def create_app(config_class: type[Config] = Config) -> Flask:
    """Build the broker's Flask app from a config class."""
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(Path(__file__).parent / "static"),
    )
    app.config.from_object(config_class)
    configure_logging(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_on_connect)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    limiter.init_app(app)
    if proxies := int(app.config.get("TRUSTED_PROXIES") or 0):
        # Behind a load balancer, the visitor's address (for rate limits and the audit log)
        # is the one the proxies put in X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    # Before web: the import's larger size limit is set before anything reads a body.
    security.init_app(app)
    # Before the blueprints: their routes use its ``id`` converter.
    web.init_app(app)

    # Imported here so that models and views bind to the extensions created above.
    from broker import models  # noqa: F401
    from broker.admin.views import bp as admin_bp
    from broker.api.views import bp as api_bp
    from broker.auth.views import bp as auth_bp
    from broker.cli import register_commands
    from broker.coordinator.views import bp as coordinator_bp
    from broker.employer.views import bp as employer_bp
    from broker.insights.views import bp as insights_bp
    from broker.members.views import bp as members_bp
    from broker.school.views import bp as school_bp
    from broker.services.employer_checks import check_ceilings
    from broker.services.matching import check_weights
    from broker.templating import register_template_helpers

    # A misspelt weight stops the app here, with its name, not every nightly run later.
    app.config["MATCHING_WEIGHTS"] = check_weights(app.config.get("MATCHING_WEIGHTS"))
    app.config["CAPACITY_CEILINGS"] = check_ceilings(app.config.get("CAPACITY_CEILINGS"))

    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(employer_bp, url_prefix="/employer")
    app.register_blueprint(school_bp, url_prefix="/school")
    app.register_blueprint(coordinator_bp, url_prefix="/coordinator")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api")
    app.register_blueprint(insights_bp, url_prefix="/insights")
    app.register_blueprint(members_bp, url_prefix="/members")
    register_commands(app)
    register_template_helpers(app)

    @app.get("/")
    def index():
        if current_user.is_authenticated:
            return redirect(url_for(DASHBOARDS[current_user.role]))
        return render_template("index.html")

    @app.get("/privacy")
    def privacy():
        return render_template("privacy.html", outbox_days=app.config["OUTBOX_RETENTION_DAYS"])

    for code in (400, 403, 404, 500):
        app.register_error_handler(code, _error_page(code))

    return app


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    """Let SQLite readers and one writer work at once (WAL), and wait for a busy lock."""
    cursor = dbapi_connection.cursor()
    # In-memory databases keep their "memory" journal; the pragma leaves them as they are.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _error_page(code: int):
    def handler(error):
        return render_template("error.html", code=code, error=error), code

    return handler
