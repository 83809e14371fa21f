"""The WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from broker import create_app

app = create_app()
