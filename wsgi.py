"""WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi ...`."""

from app import create_app
from app.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # one clear sentence instead of a traceback
    raise SystemExit(f"contacts-io cannot start: {exc}") from None
