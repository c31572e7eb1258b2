"""History, rollback and cancel in Chromium, against the live server and a real worker process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.extensions import db
from app.imports.importing import run_import
from app.jobs.submit import enqueue_import
from app.models import Contact, ImportJob, Tenant, User
from tests.browser.conftest import screenshot, sign_in
from tests.imports.conftest import MAPPING, add_contact, csv_bytes, new_job, snapshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_import_is_rolled_back_from_the_history_page(
    page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes]
) -> None:
    add_contact(tenant, "grace@example.com", first_name="Grace", company="Navy")
    add_contact(tenant, "edsger@example.com", first_name="Edsger")
    before = snapshot(tenant.id)
    rows = [
        ["Email", "First", "Last", "Company", "Phone", "Tags"],
        ["ada@example.com", "Ada", "Lovelace", "Analytical", "", "vip"],
        ["grace@example.com", "Grace", "Hopper", "US Navy", "", ""],
        ["alan@example.com", "Alan", "Turing", "", "", ""],
        ["katherine@example.com", "Katherine", "Johnson", "NASA", "", ""],
    ]
    job = new_job(tenant, csv_bytes(rows), "spring-fair.csv", mapping=MAPPING, segment_name="Fair")
    job.created_by = user.id
    db.session.commit()
    run_import(job.id)
    # Someone edits one of the new contacts after the import: the rollback keeps it.
    alan = db.session.scalar(select(Contact).where(Contact.email_normalized == "alan@example.com"))
    alan.company = "Bletchley Park"
    db.session.commit()

    sign_in(page, user.email)
    page.get_by_role("link", name="History", exact=True).click()
    page.wait_for_url("**/history")
    row = page.locator(f"#import-{job.id}")
    expect(row).to_contain_text("3 created · 1 updated · 0 skipped · 0 errors")
    expect(row).to_contain_text("marketer@acme.test")
    screenshot(page, "history")
    row.get_by_role("link", name="spring-fair.csv").click()

    page.wait_for_url(f"**/history/imports/{job.id}")
    expect(page.locator("#detail-created")).to_have_text("3")
    expect(page.locator("#detail-segment")).to_contain_text("Fair (created by this import)")
    expect(page.locator("#created-contacts")).to_contain_text("katherine@example.com")
    screenshot(page, "history-import-detail")
    page.get_by_role("button", name="Roll back this import…").click()

    page.wait_for_url(f"**/history/imports/{job.id}/rollback")
    expect(page.locator("#rollback-plan")).to_have_text(
        re.compile(
            r"3\s+contacts created by this import will be deleted,\s+1\s+will get its "
            r"previous values back"
        )
    )
    screenshot(page, "history-rollback-confirm")
    page.get_by_role("button", name="Roll back", exact=True).click()

    page.wait_for_url(re.compile(rf"/history/imports/{job.id}#rollback$"))
    result = page.locator("#rollback-result")
    expect(result).to_contain_text("2 contacts deleted", timeout=30_000)
    expect(result).to_contain_text("1 given their previous values back")
    expect(result).to_contain_text("1 kept because they changed since the import")
    expect(page.locator("#kept-contacts")).to_contain_text("alan@example.com")
    expect(page.locator("#rollback")).not_to_have_attribute("hx-trigger", re.compile("."))
    expect(page.locator("#detail-status")).to_have_text("rolled back")  # the page reloaded
    expect(
        page.get_by_text("The rollback deleted the contacts this import created, except")
    ).to_be_visible()
    screenshot(page, "history-rollback-done")

    after = snapshot(tenant.id)
    assert after.pop("alan@example.com")["company"] == "Bletchley Park"
    assert after == before  # grace has her old values back, ada and katherine are gone
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "rolled_back"


def test_a_long_import_is_cancelled_from_its_page(
    page: Page, user: User, tenant: Tenant, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    lines = ["Email,First,Last,Company,Phone,Tags"]
    lines += [f"person{n}@example.com,First{n},Last{n},Company {n % 97},," for n in range(300_000)]
    content = ("\n".join(lines) + "\n").encode()
    job = new_job(tenant, content, "big-list.csv", mapping=MAPPING)
    job.created_by = user.id
    db.session.commit()
    enqueue_import(job)

    sign_in(page, user.email)
    page.goto(f"/imports/{job.id}")
    expect(page.locator("#job-status")).to_have_text("processing", timeout=30_000)
    expect(page.locator("#rows-processed")).not_to_have_text("0", timeout=30_000)
    expect(page.locator("#rate")).to_contain_text(re.compile(r"\d rows/s"))
    expect(page.locator("#time-left")).to_contain_text("left")
    expect(page.locator("#rows-total")).to_have_text("300,000")
    screenshot(page, "import-progress-running")

    # Cancel asks first; "Keep importing" leaves the import running.
    page.get_by_role("button", name="Cancel import").click()
    question = page.locator("#cancel-confirm")
    expect(question).to_contain_text(
        "Stop this import? Rows already imported stay imported and can be rolled back."
    )
    expect(page.get_by_role("button", name="Keep importing")).to_be_focused()
    page.wait_for_timeout(1500)  # the card polls meanwhile: the question stays up
    expect(question).to_be_visible()
    expect(page.get_by_role("button", name="Keep importing")).to_be_focused()
    page.get_by_role("button", name="Keep importing").click()
    expect(question).to_have_count(0)
    expect(page.locator("#job-status")).to_have_text("processing")

    page.get_by_role("button", name="Cancel import").click()
    expect(question).to_be_visible()
    screenshot(page, "import-cancel-confirm")
    page.get_by_role("button", name="Yes, stop the import").click()

    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=30_000)
    expect(page.get_by_role("heading", name="Import cancelled")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back this import")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel import")).to_have_count(0)
    screenshot(page, "import-cancelled")

    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "cancelled"
    assert 0 < job.processed_rows < 300_000
    # the bar and its text stop where the import did, not at 100%
    percent = job.processed_rows * 100 // 300_000
    expect(page.locator("#percent")).to_have_text(f"{percent}%")
    expect(page.locator("#progress-bar")).to_have_attribute("value", str(percent))
    expect(page.locator("#progress-line")).to_contain_text(
        f"Stopped at row {job.processed_rows:,} of 300,000 ({percent}%)"
    )
    page.goto("/history")
    expect(page.locator(f"#import-{job.id}")).to_contain_text(
        f"Stopped at row {job.processed_rows:,} of 300,000 ({percent}%)"
    )
    count = db.session.scalar(select(func.count(Contact.id)).where(Contact.tenant_id == tenant.id))
    assert count == job.created_count == job.processed_rows


def test_the_history_page_filters_imports_and_exports(
    page: Page, user: User, tenant: Tenant
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.models import ExportJob

    now = datetime.now(UTC)
    entries = [
        ImportJob(
            tenant_id=tenant.id,
            file_name="newsletter-signups.csv",
            status="completed",
            created_by=user.id,
            total_rows=12_480,
            processed_rows=12_480,
            created_count=11_902,
            updated_count=431,
            skipped_count=0,
            error_count=147,
            started_at=now - timedelta(minutes=3, seconds=5),
            completed_at=now - timedelta(minutes=3),
            created_at=now - timedelta(minutes=3, seconds=6),
        ),
        ImportJob(
            tenant_id=tenant.id,
            file_name="old-crm.xlsx",
            status="failed",
            created_by=user.id,
            failure_message="This workbook is password-protected.",
            created_at=now - timedelta(hours=2),
        ),
        ImportJob(
            tenant_id=tenant.id,
            file_name="webinar.csv",
            status="rolled_back",
            created_by=user.id,
            created_count=240,
            started_at=now - timedelta(days=1, seconds=4),
            completed_at=now - timedelta(days=1),
            created_at=now - timedelta(days=1, seconds=5),
        ),
        ExportJob(
            tenant_id=tenant.id,
            export_type="segment",
            file_format="xlsx",
            status="completed",
            file_size=2_412_000,
            total_contacts=18_230,
            created_by=user.id,
            created_at=now - timedelta(minutes=30),
            expires_at=now + timedelta(days=6),
        ),
        ExportJob(
            tenant_id=tenant.id,
            export_type="full",
            file_format="csv",
            status="completed",
            file_size=9_800_000,
            total_contacts=52_004,
            created_by=user.id,
            created_at=now - timedelta(days=9),
            expires_at=now - timedelta(days=2),
        ),
    ]
    db.session.add_all(entries)
    db.session.commit()
    sign_in(page, user.email)
    page.goto("/history")
    expect(page.locator("#history-total")).to_have_text("5 entries")
    expect(page.locator(f"#import-{entries[0].id}")).to_contain_text("11,902 created")
    expect(page.locator(f"#export-{entries[4].id}")).to_contain_text("expired")
    screenshot(page, "history-list")
    page.get_by_label("Show").select_option("exports")
    expect(page.locator("#history-total")).to_have_text("2 entries")
    expect(page).to_have_url(re.compile(r"kind=exports"))
    page.get_by_label("Status").select_option("expired")
    expect(page.locator("#history-total")).to_have_text("1 entry")
    page.reload()  # the filters are in the address, so reload keeps them
    expect(page.locator("#history-total")).to_have_text("1 entry")
