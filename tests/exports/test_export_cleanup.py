"""Expiry and clean-up with the clock moved: export files after 7 days, import files after 30."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from app.exports import service
from app.exports.service import ExportExpired, download_link
from app.extensions import db
from app.jobs.maintenance import run_cleanup
from app.models import ExportJob, ImportJob, Tenant
from app.models.types import utcnow
from app.storage import object_key
from tests.exports.conftest import export_now, person


def finished_export(app: Flask, tenant: Tenant) -> ExportJob:
    person(tenant, "a@example.com")
    job = export_now(tenant, ["email"])
    assert job.status == "completed"
    return job


def test_exports_expire_seven_days_after_they_are_made(app: Flask, tenant: Tenant) -> None:
    storage = app.extensions["storage"]
    job = finished_export(app, tenant)
    key = job.file_url
    assert run_cleanup(now=utcnow() + timedelta(days=6, hours=23)).exports_expired == 0
    assert storage.exists(key)
    assert download_link(job, now=utcnow() + timedelta(days=6, hours=23))

    later = utcnow() + timedelta(days=7, minutes=1)
    with pytest.raises(ExportExpired, match="has expired"):
        download_link(job, now=later)  # refused at once, even before the clean-up ran
    result = run_cleanup(now=later)
    assert result.exports_expired == 1
    db.session.expire_all()
    job = db.session.get(ExportJob, job.id)
    assert (job.status, job.file_url) == ("expired", None)  # the row stays, for the history
    assert job.processed_contacts == 1
    assert not storage.exists(key)
    with pytest.raises(ExportExpired):
        download_link(job)
    assert run_cleanup(now=later).exports_expired == 0  # nothing left to do


def test_leftover_uploads_of_failed_runs_are_deleted(app: Flask, tenant: Tenant) -> None:
    storage = app.extensions["storage"]
    key = object_key(tenant.id, "exports", ".csv")
    storage.save(key, io.BytesIO(b"half"))
    job = ExportJob(tenant_id=tenant.id, status="failed", upload_key=key, started_at=utcnow())
    db.session.add(job)
    db.session.commit()
    run_cleanup()
    assert not storage.exists(key)
    assert db.session.get(ExportJob, job.id).upload_key is None


def _import_with_files(app: Flask, tenant: Tenant, age: timedelta, status: str) -> ImportJob:
    storage = app.extensions["storage"]
    upload = object_key(tenant.id, "uploads", ".csv")
    report = object_key(tenant.id, "error-reports", ".csv")
    storage.save(upload, io.BytesIO(b"Email\nbroken\n"))
    storage.save(report, io.BytesIO(b"Email,row,error\n"))
    job = ImportJob(
        tenant_id=tenant.id,
        file_name="leads.csv",
        file_url=upload,
        error_report_key=report,
        status=status,
        created_at=utcnow() - age,
        error_count=1,
    )
    db.session.add(job)
    db.session.commit()
    return job


def test_import_files_and_error_reports_are_deleted_after_the_retention(
    app: Flask, tenant: Tenant
) -> None:
    storage = app.extensions["storage"]
    old = _import_with_files(app, tenant, timedelta(days=31), "completed")
    young = _import_with_files(app, tenant, timedelta(days=29), "completed")
    running = _import_with_files(app, tenant, timedelta(days=40), "processing")
    old_keys = (old.file_url, old.error_report_key)

    assert run_cleanup().import_files_deleted == 2
    db.session.expire_all()
    old = db.session.get(ImportJob, old.id)
    assert (old.file_url, old.error_report_key) == (None, None)
    assert (old.status, old.error_count, old.file_name) == ("completed", 1, "leads.csv")
    assert not any(storage.exists(k) for k in old_keys)
    for kept in (young, running):
        kept = db.session.get(ImportJob, kept.id)
        assert storage.exists(kept.file_url) and storage.exists(kept.error_report_key)


def test_retention_follows_the_setting(app: Flask, tenant: Tenant) -> None:
    _import_with_files(app, tenant, timedelta(days=3), "failed")
    app.config["FILE_RETENTION_DAYS"] = 2
    assert run_cleanup().import_files_deleted == 2


def test_cleanup_command_runs_the_same_clean_up(
    app: Flask, tenant: Tenant, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = finished_export(app, tenant)
    _import_with_files(app, tenant, timedelta(days=45), "completed")
    job.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = runner.invoke(args=["exports", "cleanup"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Deleted 1 expired export file(s), 2 import file(s) past their retention, "
        "0 unfinished import(s) and 0 upload(s) never imported."
    )
    assert db.session.get(ExportJob, job.id).status == "expired"
    assert service.LINK_SECONDS == 300
