"""The history page, an import's page, rollbacks from the browser forms, and notifications."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from rq import SimpleWorker
from sqlalchemy import func, select

from app.extensions import db
from app.imports.importing import run_import
from app.jobs.queue import get_queue, redis_connection
from app.models import Contact, ExportJob, ImportJob, Notification, Tenant, User
from tests.conftest import csrf_token, make_tenant, make_user
from tests.imports.conftest import MAPPING, add_contact, csv_bytes, new_job, snapshot

ROWS = [
    ["Email", "First", "Last", "Company", "Phone", "Tags"],
    ["ada@example.com", "Ada", "Lovelace", "Analytical", "", "vip"],
    ["grace@example.com", "Grace", "Hopper", "Navy", "", ""],
    ["bad-email", "No", "Body", "", "", ""],
    ["alan@example.com", "Alan", "Turing", "", "", ""],
]


def work() -> None:
    """Run every queued job on a real (in-process) RQ worker until the queue is empty."""
    db.session.expire_all()  # the worker shares this session: forget what the test read
    SimpleWorker([get_queue("imports")], connection=redis_connection()).work(burst=True)


def finished_import(tenant: Tenant, user: User | None = None, **options: object) -> ImportJob:
    """A completed import of ROWS into the tenant (grace@ already exists, so she is updated)."""
    job = new_job(
        tenant,
        csv_bytes(ROWS),
        "leads.csv",
        mapping=MAPPING,
        segment_name=options.pop("segment_name", "Spring"),
        tags=["fair"],
        **options,
    )
    if user is not None:
        job.created_by = user.id
        db.session.commit()
    return run_import(job.id, batch_size=2)


def export(tenant: Tenant, **fields: object) -> ExportJob:
    job = ExportJob(tenant_id=tenant.id, export_type="full", file_format="csv", **fields)
    db.session.add(job)
    db.session.commit()
    return job


def test_history_lists_imports_and_exports_newest_first(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="G")
    job = finished_import(tenant, signed_in)
    later = datetime.now(UTC) + timedelta(minutes=5)
    done = export(
        tenant,
        status="completed",
        file_size=123_456,
        total_contacts=3,
        created_at=later,
        expires_at=later + timedelta(days=7),
    )
    old = export(
        tenant,
        status="completed",
        file_size=10,
        created_at=later - timedelta(days=30),
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    page = client.get("/history").get_data(as_text=True)
    assert page.index(f'id="export-{done.id}"') < page.index(f'id="import-{job.id}"')
    assert page.index(f'id="import-{job.id}"') < page.index(f'id="export-{old.id}"')
    row = page[page.index(f'id="import-{job.id}"') :]
    assert "leads.csv" in row and "marketer@acme.test" in row
    assert "2 created · 1 updated · 0 skipped · 1 error" in row
    assert "120.6 KB" in page and "All contacts" in page
    expired_row = page[page.index(f'id="export-{old.id}"') :]
    assert "badge-expired" in expired_row
    download_exists = "exports.download" in client.application.view_functions
    assert ("Download</a>" in page) == download_exists


def test_history_filters_by_kind_and_status(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = finished_import(tenant)
    failed = ImportJob(tenant_id=tenant.id, file_name="broken.csv", status="failed")
    db.session.add(failed)
    draft = ImportJob(tenant_id=tenant.id, file_name="draft.csv", status="draft")
    db.session.add(draft)
    db.session.commit()
    export(tenant, status="completed")
    everything = client.get("/history").get_data(as_text=True)
    assert "draft.csv" not in everything and 'id="history-total">3 entries' in everything
    imports = client.get("/history?kind=imports").get_data(as_text=True)
    assert "history-export" not in imports and "broken.csv" in imports
    failed_only = client.get("/history?kind=imports&status=failed").get_data(as_text=True)
    assert "broken.csv" in failed_only and f"import-{job.id}" not in failed_only
    partial = client.get("/history?kind=exports", headers={"HX-Request": "true"})
    text = partial.get_data(as_text=True)
    assert "<html" not in text and "history-export" in text and "history-import" not in text


def test_history_is_paginated(client: FlaskClient, signed_in: User, tenant: Tenant) -> None:
    now = datetime.now(UTC)
    for n in range(30):
        db.session.add(
            ImportJob(
                tenant_id=tenant.id,
                file_name=f"file-{n:02d}.csv",
                status="completed",
                created_at=now - timedelta(minutes=n),
            )
        )
    db.session.commit()
    first = client.get("/history").get_data(as_text=True)
    assert "file-00.csv" in first and "file-24.csv" in first and "file-25.csv" not in first
    assert "Page 1 of 2" in first
    assert '<a href="/history?page=2&amp;kind=all">Older &rarr;</a>' in first
    second = client.get("/history?page=2").get_data(as_text=True)
    assert "file-25.csv" in second and "file-29.csv" in second and "file-00.csv" not in second
    assert '<a href="/history?page=1&amp;kind=all">&larr; Newer</a>' in second
    filtered = client.get("/history?kind=imports&status=completed").get_data(as_text=True)
    assert '<a href="/history?page=2&amp;kind=imports&amp;status=completed">Older' in filtered


def test_a_page_past_the_end_of_the_history_shows_the_last_page(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    now = datetime.now(UTC)
    for n in range(30):
        db.session.add(
            ImportJob(
                tenant_id=tenant.id,
                file_name=f"file-{n:02d}.csv",
                status="completed",
                created_at=now - timedelta(minutes=n),
            )
        )
    db.session.commit()

    for page in ("3", "9223372036854775807", "9" * 40):
        response = client.get(f"/history?page={page}")

        text = response.get_data(as_text=True)
        assert response.status_code == 200, page
        assert "Page 2 of 2" in text and "file-29.csv" in text and "file-24.csv" not in text, page
    empty = client.get("/history?kind=exports&page=9223372036854775807")
    assert empty.status_code == 200
    assert "Nothing matches these filters." in empty.get_data(as_text=True)


def test_import_page_shows_mapping_options_errors_labels_and_created_contacts(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="G")
    job = finished_import(tenant, signed_in)
    page = client.get(f"/history/imports/{job.id}").get_data(as_text=True)
    assert re.search(r'id="detail-created">2<', page)
    assert re.search(r'id="detail-updated">1<', page)
    assert "<dt>Email</dt><dd>Email</dd>" in page and "<dt>Tags</dt><dd>Tags</dd>" in page
    assert "Spring (created by this import)" in page
    assert ">vip</a>" in page and ">fair</a>" in page  # tags it created
    assert "bad-email" in page and "Download the error report" in page
    assert "</a> with the one refused row, to fix and import again." in page  # not "all 1 rows"
    created = page[page.index('id="created-contacts"') :]
    assert "ada@example.com" in created and "alan@example.com" in created
    assert "grace@example.com" not in created
    ada = db.session.scalar(select(Contact).where(Contact.email_normalized == "ada@example.com"))
    assert f'href="/contacts/{ada.id}"' in page
    assert "Roll back this import" in page


def test_rollback_confirmation_says_what_will_happen_and_the_rollback_runs(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="G", company="Old Co")
    before = snapshot(tenant.id)
    job = finished_import(tenant, signed_in)
    url = f"/history/imports/{job.id}/rollback"
    page = client.get(url).get_data(as_text=True)
    plan = re.sub(r"\s+", " ", page[page.index('id="rollback-plan"') :].split("</p>")[0])
    assert "<strong>2</strong> contacts created by this import will be deleted" in plan
    assert "<strong>1</strong> will get its previous values back" in plan
    response = client.post(url, data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 303
    running = client.get(f"/history/imports/{job.id}", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in running.get_data(as_text=True)
    work()
    done = client.get(f"/history/imports/{job.id}", headers={"HX-Request": "true"})
    text = done.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' not in text
    assert done.headers["HX-Refresh"] == "true"  # the whole page changed: reload it
    assert "<strong>2</strong> contacts deleted" in text
    assert "<strong>1</strong> given their previous values back" in text
    assert snapshot(tenant.id) == before
    again = client.get(url).get_data(as_text=True)
    assert "already been rolled back" in again


def test_rollback_lists_contacts_kept_because_they_changed(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = finished_import(tenant, signed_in)
    ada = db.session.scalar(select(Contact).where(Contact.email_normalized == "ada@example.com"))
    ada.first_name = "Augusta"
    db.session.commit()
    url = f"/history/imports/{job.id}/rollback"
    client.post(url, data={"csrf_token": csrf_token(client, url)})
    work()
    page = client.get(f"/history/imports/{job.id}").get_data(as_text=True)
    kept = page[page.index('id="kept-contacts"') :]
    assert "ada@example.com" in kept and "changed since the import, kept" in kept
    assert f'href="/contacts/{ada.id}"' in kept
    assert db.session.scalar(select(func.count(Contact.id))) == 1


def test_rollback_is_refused_while_the_import_runs(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = ImportJob(tenant_id=tenant.id, file_name="running.csv", status="processing")
    db.session.add(job)
    db.session.commit()
    page = client.get(f"/history/imports/{job.id}/rollback").get_data(as_text=True)
    assert "still running" in page and 'id="confirm-rollback"' not in page
    token = csrf_token(client, f"/history/imports/{job.id}")
    response = client.post(f"/history/imports/{job.id}/rollback", data={"csrf_token": token})
    assert response.status_code == 303
    follow = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "still running" in follow
    db.session.expire_all()
    assert job.rollback_status is None


def test_notifications_show_in_the_header_and_dashboard_and_open_their_link(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = finished_import(tenant, signed_in)
    other = make_user(tenant, "colleague@acme.test")
    db.session.add(
        Notification(tenant_id=tenant.id, user_id=other.id, kind="import", message="Not yours")
    )
    db.session.add(
        Notification(tenant_id=make_tenant("Globex").id, kind="import", message="Other tenant")
    )
    db.session.commit()
    dashboard = client.get("/").get_data(as_text=True)
    assert 'id="unread-count">1<' in dashboard
    assert "Import of leads.csv finished" in dashboard
    assert "Not yours" not in dashboard and "Other tenant" not in dashboard
    note = db.session.scalar(select(Notification).where(Notification.user_id == signed_in.id))
    response = client.get(f"/notifications/{note.id}")
    assert response.status_code == 303 and response.headers["Location"] == f"/imports/{job.id}"
    assert 'id="unread-count"' not in client.get("/").get_data(as_text=True)


def test_mark_all_notifications_read(
    client: FlaskClient, signed_in: User, tenant: Tenant, app: Flask
) -> None:
    for n in range(3):
        db.session.add(Notification(tenant_id=tenant.id, kind="export", message=f"Export {n}"))
    db.session.commit()
    page = client.get("/notifications/").get_data(as_text=True)
    assert page.count('class="notification unread') == 3
    token = csrf_token(client, "/notifications/")
    response = client.post("/notifications/read", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get("/notifications/").get_data(as_text=True)
    assert "notification unread" not in page and "Export 2" in page


def test_an_export_notification_opens_the_export_in_the_history(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = export(tenant, status="completed")
    note = Notification(
        tenant_id=tenant.id, kind="export", message="m", object_kind="export", object_id=job.id
    )
    db.session.add(note)
    db.session.commit()
    response = client.get(f"/notifications/{note.id}")
    assert response.headers["Location"] == f"/history#export-{job.id}"


def test_a_notification_about_nothing_known_opens_the_notifications_list(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    note = Notification(tenant_id=tenant.id, kind="x", message="m", object_kind="x")
    db.session.add(note)
    db.session.commit()
    response = client.get(f"/notifications/{note.id}")
    assert response.headers["Location"] == "/notifications/"


def test_a_cancelled_import_says_where_it_stopped_in_the_history_and_on_its_page(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    job = new_job(tenant, csv_bytes(ROWS), "big-list.csv", mapping=MAPPING)
    job.status, job.cancel_requested = "cancelled", True
    job.started_at = datetime.now(UTC) - timedelta(seconds=30)
    job.completed_at = datetime.now(UTC)
    job.total_rows, job.processed_rows, job.created_count = 10_000, 4000, 4000
    db.session.commit()
    listed = " ".join(client.get("/history").get_data(as_text=True).split())
    row = listed[listed.index(f'id="import-{job.id}"') :].split("</tr>")[0]
    assert "Stopped at row 4,000 of 10,000 (40%)" in row
    page = " ".join(client.get(f"/history/imports/{job.id}").get_data(as_text=True).split())
    assert "Stopped at row 4,000 of 10,000 (40%)" in page


def test_a_finished_import_draws_its_outcome_as_one_bar_with_the_numbers_beside_it(
    client: FlaskClient, signed_in: User, tenant: Tenant
) -> None:
    add_contact(tenant, "grace@example.com", first_name="G")
    job = finished_import(tenant, signed_in)
    for url, chart_id in (
        (f"/history/imports/{job.id}", "detail-outcome"),
        (f"/imports/{job.id}", "job-outcome"),
    ):
        page = client.get(url).get_data(as_text=True)
        chart = page[page.index(f'id="{chart_id}"') :].split("</figure>")[0]
        assert f'role="img" aria-labelledby="{chart_id}-title {chart_id}-legend"' in chart
        kinds = re.findall(r'<rect class="chart-(\w+)" x="[\d.]+%" y="0" width="[\d.]+%"', chart)
        assert kinds == ["created", "updated", "refused"]
        legend = " ".join(re.sub(r"<[^>]+>", "", chart).split())
        assert "What the import did with the 4 rows it read" in legend
        assert "created: 2 (50%)" in legend
        assert "updated: 1 (25%)" in legend
        assert "refused for errors: 1 (25%)" in legend
        assert "unchanged" not in legend and "skipped" not in legend
