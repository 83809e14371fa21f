"""The migrations build the same schema as the models, and go down again cleanly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from broker import create_app
from broker.extensions import db
from config import TestConfig
from tests.conftest import ON_POSTGRES

SCHEMA = "migration_test"


@pytest.fixture
def empty_database_url(tmp_path):
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    # A schema of its own, so the suite's tables in "public" are not touched.
    admin = create_engine(TestConfig.SQLALCHEMY_DATABASE_URI)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in TestConfig.SQLALCHEMY_DATABASE_URI else "?"
    yield f"{TestConfig.SQLALCHEMY_DATABASE_URI}{sep}options=-csearch_path%3D{SCHEMA}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_database_url):
    config = type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database_url})
    app = create_app(config)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "schools", "offers", "requests", "matches", "outbox"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.engine.dispose()
