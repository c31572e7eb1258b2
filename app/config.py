"""Settings read from environment variables, with embedded defaults for a laptop."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence saying which and how to fix it."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from exc


def _rate_limit(env: dict[str, str], name: str, default: str) -> str:
    from limits import parse_many

    value = env.get(name) or default
    try:
        parse_many(value)
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be a rate such as '300 per minute' or '10/second', not {value!r}."
        ) from exc
    return value


def normalize_database_url(url: str) -> str:
    """Make the plain `postgresql://` form use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _secret_key(env: dict[str, str], instance_path: Path, production: bool) -> str:
    key = env.get("SECRET_KEY", "")
    if key:
        if production and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long in production.")
        return key
    if production:
        raise ConfigError(
            "SECRET_KEY is required when APP_ENV=production: set it to a long random string."
        )
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _public_url(env: dict[str, str], production: bool) -> str:
    """PUBLIC_URL, the base of absolute links (emails, API answers), checked to be http(s).

    Required in production: without it links would be built from the request's Host header,
    which any client can write. A laptop (development, test) falls back to the request's host.
    """
    url = env.get("PUBLIC_URL", "").strip()
    if not url:
        if production:
            raise ConfigError(
                "PUBLIC_URL is required when APP_ENV=production: set it to the address people "
                "open the app at, e.g. https://contacts.example.com."
            )
        return ""
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port out of range, an unclosed [IPv6 address
        usable = False
    if not usable:
        raise ConfigError(
            f"PUBLIC_URL must be an http:// or https:// address with a host name, such as "
            f"https://contacts.example.com, not {url!r}."
        )
    return url.rstrip("/")


def load_settings(
    env: dict[str, str] | None = None, instance_path: Path | None = None
) -> dict[str, Any]:
    """Build the Flask config mapping from the environment."""
    env = dict(os.environ if env is None else env)
    instance_path = Path(env.get("INSTANCE_PATH") or instance_path or PROJECT_ROOT / "instance")
    app_env = env.get("APP_ENV", "development")
    if app_env not in ("development", "production", "test"):
        raise ConfigError(f"APP_ENV must be development, production or test, not {app_env!r}.")
    production = app_env == "production"

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'contacts-io.db'}"
    if production and database_url.startswith("sqlite"):
        raise ConfigError("DATABASE_URL must point at PostgreSQL when APP_ENV=production.")
    if not database_url.startswith(("sqlite", "postgres")):
        raise ConfigError(
            f"DATABASE_URL must start with postgresql:// or sqlite:///, not {database_url.split(':')[0]!r}."
        )
    redis_url = env.get("REDIS_URL", "")
    if production and not redis_url:
        raise ConfigError(
            "REDIS_URL is required when APP_ENV=production, e.g. redis://host:6379/0."
        )

    backend = env.get("STORAGE_BACKEND", "local")
    if backend not in ("local", "s3"):
        raise ConfigError(f"STORAGE_BACKEND must be local or s3, not {backend!r}.")
    if backend == "s3" and not env.get("S3_BUCKET"):
        raise ConfigError("S3_BUCKET is required when STORAGE_BACKEND=s3.")
    if production and backend == "local" and not env.get("STORAGE_LOCAL_PATH"):
        raise ConfigError(
            "Set STORAGE_BACKEND=s3 (with S3_BUCKET) or STORAGE_LOCAL_PATH to a shared folder in production."
        )

    smtp_host = env.get("SMTP_HOST", "")
    settings: dict[str, Any] = {
        "APP_ENV": app_env,
        "SECRET_KEY": _secret_key(env, instance_path, production),
        "INSTANCE_PATH": str(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalize_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "STORAGE_BACKEND": backend,
        "STORAGE_LOCAL_PATH": env.get("STORAGE_LOCAL_PATH") or str(instance_path / "storage"),
        "S3_BUCKET": env.get("S3_BUCKET"),
        "S3_PREFIX": env.get("S3_PREFIX", ""),
        "S3_REGION": env.get("S3_REGION") or env.get("AWS_DEFAULT_REGION"),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL"),
        "MAX_UPLOAD_MB": _int(env, "MAX_UPLOAD_MB", 512),
        "IMPORT_MAX_ROWS": _int(env, "IMPORT_MAX_ROWS", 5_000_000),
        # PostgreSQL: 5,000 rows a transaction; at 2,000 the worker's own work per batch (about
        # 16 statements through SQLAlchemy and psycopg) cost 2 µs more a row, waited for by the
        # database (docs/benchmarks.md). SQLite plans in this process: 2,000 is 5% faster there.
        "IMPORT_BATCH_SIZE": _int(
            env, "IMPORT_BATCH_SIZE", 2000 if database_url.startswith("sqlite") else 5000
        ),
        "IMPORT_PARALLEL_ROWS": _int(env, "IMPORT_PARALLEL_ROWS", 20_000),
        "ROLLBACK_BATCH_SIZE": _int(env, "ROLLBACK_BATCH_SIZE", 5000),
        "ROLLBACK_CONNECTIONS": _int(env, "ROLLBACK_CONNECTIONS", 2),
        "JOB_STALE_SECONDS": _int(env, "JOB_STALE_SECONDS", 120),
        "FILE_RETENTION_DAYS": _int(env, "FILE_RETENTION_DAYS", 30),
        "EXPORT_RETENTION_DAYS": _int(env, "EXPORT_RETENTION_DAYS", 7),
        "SMTP_HOST": smtp_host,
        "SMTP_PORT": _int(env, "SMTP_PORT", 587 if smtp_host else 25),
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": env.get("SMTP_STARTTLS", "true").lower() in ("1", "true", "yes"),
        "PUBLIC_URL": _public_url(env, production),
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        "MAIL_FROM": env.get("MAIL_FROM", "contacts-io <no-reply@localhost>"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "API_RATE_LIMIT": _rate_limit(env, "API_RATE_LIMIT", "300 per minute"),
        "API_AUTH_FAILURE_LIMIT": _rate_limit(env, "API_AUTH_FAILURE_LIMIT", "20 per minute"),
        # Flask-Limiter: counters live in the app's Redis; a Redis outage never fails a request.
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        "RATELIMIT_KEY_PREFIX": "contacts-io",
        "RATELIMIT_SWALLOW_ERRORS": True,
    }
    if settings["TRUSTED_PROXIES"] < 0:
        raise ConfigError("TRUSTED_PROXIES must be 0 (no proxy) or the number of proxies in front.")
    settings["MAX_CONTENT_LENGTH"] = settings["MAX_UPLOAD_MB"] * 1024 * 1024
    return settings
