"""Load check: `python -m benchmarks.load_bench --rows 1000000 --users 50` (loopback only).

Starts the web app the way `make run` does (gunicorn, 2 processes x 4 threads) and one RQ
worker process, on a fresh PostgreSQL database. It imports the benchmark CSV twice into two
tenants: first with nobody using the app, then while `--users` signed-in users each poll the
import's progress partial once a second (as the page's HTMX poll does) and open the history
page every tenth poll. It stops by itself when the second import ends (or after
`--max-minutes`) and prints the latency percentiles per page, the error responses and the two
imports' throughputs.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

from benchmarks.data import write_csv
from benchmarks.import_bench import ROOT, machine, new_import, prepare, seed_existing

PASSWORD = "load-test-password"


@dataclass
class Samples:
    """Latencies (seconds) and failures of one page, shared by the user threads."""

    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, failure: str | None) -> None:
        """Record one request."""
        with self.lock:
            self.latencies.append(seconds)
            if failure:
                self.failures.append(failure)


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 60) -> None:
    """Wait until /healthz answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit(f"The app at {url} did not become healthy.")


def sign_in(url: str, email: str) -> requests.Session:
    """A browser-like session signed in as `email`."""
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, "no CSRF token on the sign-in page"
    answer = session.post(
        f"{url}/login",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code in (302, 303), f"sign-in failed for {email}: {answer.status_code}"
    return session


def user_loop(
    url: str, email: str, job_id: uuid.UUID, stop: threading.Event, pages: dict[str, Samples]
) -> None:
    """Poll the progress partial every second; open the history page every tenth poll."""
    session = sign_in(url, email)
    polls = 0
    while not stop.is_set():
        started = time.monotonic()
        name, path, headers = "progress partial", f"/imports/{job_id}", {"HX-Request": "true"}
        if polls % 10 == 9:
            name, path, headers = "history page", "/history", {}
        try:
            answer = session.get(url + path, headers=headers, timeout=30)
            failure = None if answer.status_code == 200 else f"{path}: HTTP {answer.status_code}"
        except requests.RequestException as exc:
            failure = f"{path}: {type(exc).__name__}"
        pages[name].add(time.monotonic() - started, failure)
        polls += 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


def start_import(tenant, path: Path):  # type: ignore[no-untyped-def]
    """Enqueue an import of `path` in the benchmark's configuration; returns its job."""
    from app.jobs.submit import enqueue_import

    job = new_import(tenant, path)
    enqueue_import(job)
    return job


def wait_for(job_id: uuid.UUID, deadline: float):  # type: ignore[no-untyped-def]
    """The job once it is no longer pending or processing (or at the deadline)."""
    from app.extensions import db
    from app.models import ImportJob

    while True:
        db.session.expire_all()
        job = db.session.get(ImportJob, job_id)
        if job.status not in ("pending", "processing") or time.monotonic() > deadline:
            return job
        time.sleep(1)


def throughput(job) -> float:  # type: ignore[no-untyped-def]
    """Rows per second from the job's own start and end times."""
    seconds = (job.completed_at - job.started_at).total_seconds()
    return job.processed_rows / seconds


def main() -> None:
    """Run the load check and print a Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--max-minutes", type=float, default=30)
    args = parser.parse_args()

    folder, database_url, env = prepare("cio_load")

    from flask_migrate import upgrade

    from app import create_app
    from app.cli import get_or_create_tenant
    from app.extensions import db
    from app.models import User

    app = create_app()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + args.max_minutes * 60
    bin_dir = Path(sys.executable).parent
    children: list[subprocess.Popen[bytes]] = []
    with app.app_context():
        upgrade()
        quiet = get_or_create_tenant("Load unloaded")
        busy = get_or_create_tenant("Load busy")
        db.session.commit()
        emails = [f"user{i}@load.example" for i in range(args.users)]
        for email in emails:
            user = User(tenant_id=busy.id, email=email, role="member")
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
        for tenant in (quiet, busy):
            seed_existing(database_url, tenant.id, args.rows)
        path = write_csv(folder / "load.csv", args.rows)
        try:
            children.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "gunicorn"),
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "2",
                        "--threads",
                        "4",
                        "wsgi:app",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            children.append(
                subprocess.Popen(
                    [str(bin_dir / "flask"), "--app", "wsgi", "worker", "imports"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_healthy(url)

            first = wait_for(start_import(quiet, path).id, deadline)
            quiet_rate, quiet_status = throughput(first), first.status
            print(f"unloaded import: {quiet_status}, {quiet_rate:,.0f} rows/s", flush=True)

            job = start_import(busy, path)
            pages = {"progress partial": Samples(), "history page": Samples()}
            stop = threading.Event()
            users = [
                threading.Thread(target=user_loop, args=(url, e, job.id, stop, pages), daemon=True)
                for e in emails
            ]
            for thread in users:
                thread.start()
            second = wait_for(job.id, deadline)
            stop.set()
            for thread in users:
                thread.join(timeout=35)
            busy_rate, busy_status = throughput(second), second.status
            print(f"loaded import: {busy_status}, {busy_rate:,.0f} rows/s", flush=True)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=30)

    ratio = busy_rate / quiet_rate
    lines = [
        f"Machine: {machine()}",
        f"Users: {args.users}; rows per import: {args.rows:,}",
        "",
        "| page | requests | p50 | p95 | p99 | max | error responses |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, samples in pages.items():
        values = samples.latencies
        lines.append(
            f"| {name} | {len(values):,} | {percentile(values, 50):.0f} ms | "
            f"{percentile(values, 95):.0f} ms | {percentile(values, 99):.0f} ms | "
            f"{max(values, default=0) * 1000:.0f} ms | {len(samples.failures)} |"
        )
    lines += [
        "",
        f"Import without users: {quiet_rate:,.0f} rows/s ({quiet_status}); "
        f"with {args.users} users: {busy_rate:,.0f} rows/s ({busy_status}); "
        f"ratio {ratio:.2f} ({(1 - ratio) * 100:+.1f}% slower)",
        f"Mean progress latency {statistics.fmean(pages['progress partial'].latencies or [0]) * 1000:.0f} ms",
    ]
    failures = [f for s in pages.values() for f in s.failures]
    if failures:
        lines.append(f"First failures: {failures[:5]}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
