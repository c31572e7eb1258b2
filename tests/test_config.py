"""Settings from the environment, with embedded defaults and clear production errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, normalize_database_url
from tests.conftest import ROOT


def test_embedded_defaults_use_sqlite_and_a_local_folder(tmp_path: Path) -> None:
    settings = load_settings(env={}, instance_path=tmp_path)
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'contacts-io.db'}"
    assert settings["STORAGE_BACKEND"] == "local"
    assert settings["STORAGE_LOCAL_PATH"] == str(tmp_path / "storage")


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(env={}, instance_path=tmp_path)["SECRET_KEY"]
    second = load_settings(env={}, instance_path=tmp_path)["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_plain_postgresql_url_uses_the_psycopg_driver() -> None:
    assert normalize_database_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_upload_limit_sets_max_content_length(tmp_path: Path) -> None:
    settings = load_settings(env={"MAX_UPLOAD_MB": "3"}, instance_path=tmp_path)
    assert settings["MAX_CONTENT_LENGTH"] == 3 * 1024 * 1024


def test_import_batches_are_larger_on_postgresql_unless_set(tmp_path: Path) -> None:
    """5,000 rows a transaction on PostgreSQL (the worker's statements per batch cost 2 µs a
    row at 2,000), 2,000 on SQLite (it plans in process, faster in smaller batches)."""
    on = {"DATABASE_URL": "postgresql://u@h/db"}
    assert load_settings(env=on, instance_path=tmp_path)["IMPORT_BATCH_SIZE"] == 5000
    assert load_settings(env={}, instance_path=tmp_path)["IMPORT_BATCH_SIZE"] == 2000
    chosen = {**on, "IMPORT_BATCH_SIZE": "700"}
    assert load_settings(env=chosen, instance_path=tmp_path)["IMPORT_BATCH_SIZE"] == 700


PRODUCTION_OK = {
    "APP_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "DATABASE_URL": "postgresql://u@db/contacts",
    "REDIS_URL": "redis://r:6379/0",
    "STORAGE_BACKEND": "s3",
    "S3_BUCKET": "contacts",
    "PUBLIC_URL": "https://contacts.example.com",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is required when APP_ENV=production"),
        ({"SECRET_KEY": "short"}, "at least 32 characters"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must point at PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL is required"),
        ({"S3_BUCKET": ""}, "S3_BUCKET is required"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND must be local or s3"),
        ({"MAX_UPLOAD_MB": "lots"}, "MAX_UPLOAD_MB must be a whole number"),
        ({"TRUSTED_PROXIES": "-1"}, "TRUSTED_PROXIES must be 0 .no proxy. or the number"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must start with postgresql://"),
        ({"PUBLIC_URL": ""}, "PUBLIC_URL is required when APP_ENV=production: set it to"),
        ({"PUBLIC_URL": "contacts.example.com"}, "PUBLIC_URL must be an http:// or https://"),
        ({"PUBLIC_URL": "ftp://contacts.example.com"}, "PUBLIC_URL must be an http:// or"),
        ({"PUBLIC_URL": "https://"}, "PUBLIC_URL must be an http:// or https:// address with"),
        ({"PUBLIC_URL": "https://[::1"}, "PUBLIC_URL must be an http:// or https://"),
    ],
)
def test_wrong_production_setting_is_one_clear_sentence(
    change: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env={**PRODUCTION_OK, **change}, instance_path=tmp_path)


def test_complete_production_settings_are_accepted(tmp_path: Path) -> None:
    settings = load_settings(env=PRODUCTION_OK, instance_path=tmp_path)
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["PUBLIC_URL"] == "https://contacts.example.com"


def test_a_laptop_without_public_url_starts_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    assert load_settings(env={}, instance_path=tmp_path)["PUBLIC_URL"] == ""
    with pytest.raises(ConfigError, match="PUBLIC_URL must be an http:// or https://"):
        load_settings(env={"PUBLIC_URL": "javascript:alert(1)"}, instance_path=tmp_path)


def test_start_up_with_a_wrong_setting_prints_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_OK}
    env.update({**PRODUCTION_OK, "SECRET_KEY": "", "INSTANCE_PATH": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "contacts-io cannot start: SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr
