"""contacts-io: contact import and export for a multi-tenant marketing platform."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event

from app.config import PROJECT_ROOT, load_settings


def jobs_run_in(app: Flask) -> None:
    """Jobs this process runs outside a request get this app's context (`job_app_context`)."""
    from app.jobs.context import use_app

    use_app(app)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: config, extensions, blueprints, error handlers, CLI commands."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_relative_config=True,
    )
    settings = load_settings(env=(test_config or {}).get("ENV"))
    app.config.update(settings)
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k != "ENV"})
    app.instance_path = app.config["INSTANCE_PATH"]

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_input_checks(app)
    register_template_helpers(app)
    register_security_headers(app)
    register_commands(app)
    register_proxies(app)
    jobs_run_in(app)
    return app


def register_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client's address, scheme and host from
    the X-Forwarded-* headers they add (rate limits per address need the client's own).

    With the default 0 the headers are ignored: a client could write anything into them.
    """
    from werkzeug.middleware.proxy_fix import ProxyFix

    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    """Attach the database, migrations, CSRF, sign-in, htmx, rate limits and storage to the app."""
    from app import models  # noqa: F401  (registers the tables on the metadata)
    from app.extensions import csrf, db, htmx, limiter, login_manager, migrate
    from app.storage import StorageSettings, build_storage

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_connection_settings)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    app.extensions["storage"] = build_storage(
        StorageSettings(
            backend=app.config["STORAGE_BACKEND"],
            local_path=app.config["STORAGE_LOCAL_PATH"],
            s3_bucket=app.config["S3_BUCKET"],
            s3_prefix=app.config["S3_PREFIX"],
            s3_region=app.config["S3_REGION"],
            s3_endpoint_url=app.config["S3_ENDPOINT_URL"],
            secret_key=app.config["SECRET_KEY"],
        )
    )

    from app.web.auth.sessions import register as register_sessions

    register_sessions(app)


def _sqlite_connection_settings(dbapi_connection: Any, _record: Any) -> None:
    """SQLite enforces foreign keys (and their ON DELETE CASCADE) only when asked, per connection;
    and only in write-ahead-log mode does a write not wait for every open read to end.

    Without foreign keys a rollback's deleted contacts left their tag and segment links behind.
    Without the log an export's progress could not be written while its rows were being read
    (nor an import's batch committed while an export, or a page, was reading): "database is
    locked" after five seconds. The mode is kept in the file; setting it again costs nothing.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def register_blueprints(app: Flask) -> None:
    """Mount each feature's blueprint."""
    from app.web.api import exports as _api_exports  # noqa: F401 # exports in the API
    from app.web.api import review as _api_review  # noqa: F401 # refused rows in the API
    from app.web.api.views import bp as api_bp
    from app.web.auth.views import bp as auth_bp
    from app.web.contacts.views import bp as contacts_bp
    from app.web.exports.views import bp as exports_bp
    from app.web.files.views import bp as files_bp
    from app.web.history.views import bp as history_bp
    from app.web.main.views import bp as main_bp
    from app.web.notifications.views import bp as notifications_bp
    from app.web.wizard import (  # noqa: F401 # each step's routes
        confirm_step,
        file_step,
        mapping_step,
        options_step,
        review,
    )
    from app.web.wizard.views import bp as wizard_bp

    for blueprint in (auth_bp, main_bp, contacts_bp, files_bp, api_bp, exports_bp):
        app.register_blueprint(blueprint)
    for blueprint in (wizard_bp, history_bp, notifications_bp):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    """Friendly pages for 400, 403, 404, 410, 413 and 500, JSON under /api."""
    from app.web.errors import register

    register(app)


def register_input_checks(app: Flask) -> None:
    """Refuse text no view could store (NUL characters) before any view runs."""
    from app.web.input_checks import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    """Filters for numbers and times, the navigation links, and the job states by name
    (`{% if job.status == ImportStatus.CANCELLED %}`), for every template."""
    from app.models.jobs import ExportStatus, ImportStatus, RunStatus
    from app.web import formatting, navigation

    formatting.register(app)
    navigation.register(app)
    app.jinja_env.globals.update(
        ImportStatus=ImportStatus, RunStatus=RunStatus, ExportStatus=ExportStatus
    )


def register_security_headers(app: Flask) -> None:
    """Send a strict CSP and the usual hardening headers on every response."""
    from app.web.security import register

    register(app)


def register_commands(app: Flask) -> None:
    """Add the `flask --app wsgi ...` commands."""
    from app.cli import register

    register(app)
