"""How fast the review table of refused rows answers: `python -m benchmarks.review_bench`.

A draft of a 1,000,000-row file whose dry run refused 10,000 rows (every 100th row: half an
invalid phone number, half an invalid email), 500 of them already corrected, beside 200,000
refused rows of 20 other drafts in the same table (PostgreSQL, a fresh database `cio_review`).
Each request goes through the whole app in this process (routing, sign-in, the queries, the
template), timed from request to response, 30 times each after two warm-ups; the median and the
slowest are printed with the load average. The timing includes no network.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

from benchmarks.import_bench import machine, prepare

ROWS = 1_000_000
REFUSED = 10_000
OTHER_DRAFTS = 20
HEADERS = ["Email", "First Name", "Phone", "City"]
MAPPING = {"Email": "email", "First Name": "first_name", "Phone": "phone"}


def main() -> None:
    prepare("cio_review")
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.imports.bulk import insert_rows
    from app.imports.options import ImportOptions
    from app.imports.refused_rows import problem_key
    from app.models import Correction, ImportJob, RefusedRow, User
    from app.models.types import utcnow
    from tests.conftest import PASSWORD, make_tenant

    app = create_app()
    app.config["WTF_CSRF_ENABLED"] = False
    phone, email = problem_key("Phone", "invalid"), problem_key("Email", "invalid")
    with app.app_context():
        upgrade()
        tenant = make_tenant("Review bench")
        user = User(tenant_id=tenant.id, email="bench@example.com", role="member")
        user.set_password(PASSWORD)
        db.session.add(user)
        options = ImportOptions(
            file_name="big.csv", file_key="x", field_mapping=dict(MAPPING), validate_phone=True
        )
        jobs = []
        for n in range(OTHER_DRAFTS + 1):
            job = ImportJob(
                tenant_id=tenant.id,
                file_name=f"big-{n}.csv",
                status="draft",
                total_rows=ROWS,
                import_options={
                    **options.to_dict(),
                    "wizard": {"headers": HEADERS, "dry_run_for": options.fingerprint()},
                },
                dry_run_status="completed",
                dry_run={
                    "headers": HEADERS,
                    "problems": {phone: REFUSED // 2, email: REFUSED // 2},
                },
            )
            db.session.add(job)
            jobs.append(job)
        db.session.commit()
        conn = db.session.connection()
        for job in jobs:
            records = []
            for i in range(REFUSED):
                number = 2 + i * (ROWS // REFUSED)
                bad_phone = i % 2 == 0
                cells = [
                    f"person{number}@example.com" if bad_phone else f"person{number}-at-example",
                    f"Person {number}",
                    "12" if bad_phone else "+44 20 7946 0958",
                    "London",
                ]
                key = phone if bad_phone else email
                problem = {
                    "column": "Phone" if bad_phone else "Email",
                    "index": 2 if bad_phone else 0,
                    "code": "invalid",
                    "message": "not valid",
                }
                records.append(
                    {
                        "import_job_id": job.id,
                        "row_number": number,
                        "cells": cells,
                        "problems": [problem],
                        "problem_keys": f"|{key}|",
                        "found_keys": f"|{key}|",
                    }
                )
            insert_rows(conn, RefusedRow.__table__, records)
        job = jobs[0]
        insert_rows(
            conn,
            Correction.__table__,
            [
                {
                    "import_job_id": job.id,
                    "row_number": 2 + i * (ROWS // REFUSED),
                    "column_index": 2,
                    "value": "+44 20 7946 0000",
                    "updated_at": utcnow(),
                }
                for i in range(0, 1000, 2)
            ],
        )
        db.session.commit()
        db.session.connection().exec_driver_sql("ANALYZE import_refused_rows, import_corrections")
        db.session.commit()
        job_id: uuid.UUID = job.id
        middle = 2 + (REFUSED // 2) * (ROWS // REFUSED)

    client = app.test_client()
    assert (
        client.post("/login", data={"email": "bench@example.com", "password": PASSWORD}).status_code
        == 302
    )
    base = f"/imports/{job_id}/review"
    requests = [
        ("first page", "GET", base, {}),
        ("a page in the middle (after row 500,002)", "GET", f"{base}?after={middle}", {}),
        ("the last page (before the end)", "GET", f"{base}?before={ROWS + 10}", {}),
        ("only invalid phone numbers, first page", "GET", f"{base}?problem={phone}", {}),
        (
            "only invalid emails, a page in the middle",
            "GET",
            f"{base}?problem={email}&after={middle}",
            {},
        ),
        (
            "one row saved (htmx)",
            "POST",
            f"{base}/row",
            {"row": str(middle), "cell-" + str(middle) + "-0": "ok@example.com"},
        ),
    ]
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f} at the start")
    print(
        f"{REFUSED:,} refused rows of a {ROWS:,}-row file, {OTHER_DRAFTS * REFUSED:,} more of other drafts"
    )
    print("| request | median | slowest of 30 |")
    print("|---|---|---|")
    for name, method, url, data in requests:
        times = []
        for attempt in range(32):
            start = time.perf_counter()
            response = client.open(
                url,
                method=method,
                data=data,
                headers={"HX-Request": "true"} if method == "POST" else {},
            )
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, (url, response.status_code)
            if attempt >= 2:
                times.append(elapsed * 1000)
        print(f"| {name} | {statistics.median(times):.0f} ms | {max(times):.0f} ms |")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
