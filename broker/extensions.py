"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

from typing import TYPE_CHECKING, ClassVar

from flask import current_app, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every model maps one table (none maps a join or a select), for UPDATE and INSERT
        # statements written against the table.
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)
if TYPE_CHECKING:
    # db.Model is built at run time from Base (adding table naming and binds), which a type
    # checker cannot follow; it sees Base, whose Mapped[...] columns it understands.
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

# Rate limits. Limit strings are read from the app's config on each request (RATELIMIT_*), so
# one unbound limiter serves any app; the storage (memory or Redis) comes from
# RATELIMIT_STORAGE_URI. The application limit counts every POST from one address, across
# all routes; the sign-in, registration and reset pages add their own (broker/auth).
limiter = Limiter(
    get_remote_address,
    application_limits=[
        ApplicationLimit(
            limit_provider=lambda: current_app.config["RATELIMIT_POST"],
            exempt_when=lambda: request.method != "POST",
            error_message="Too many changes from your address in a short time.",
        )
    ],
    headers_enabled=True,
    key_prefix="broker",
)
