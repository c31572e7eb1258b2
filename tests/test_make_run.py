"""`make run` as a new user meets it: a fresh folder, no settings, everything started and stopped."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_checkout(dest: Path) -> None:
    """Copy the project's files as a clone would have them, and reuse the installed venv."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")


class OutputReader:
    """Collects a process's output on a thread so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self.thread = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not printed; output was:\n{self.text[-4000:]}")


def test_make_run_serves_a_healthy_app_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    copy_checkout(tmp_path)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PORT": str(port), "LANG": "C.UTF-8"}
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = OutputReader(proc)
        match = output.wait_for(r"is running at \S+\s+Demo login: (\S+) / (\S+)", timeout=120)
        assert f"http://127.0.0.1:{port}" in output.text
        email, password = match.groups()
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
            assert resp.status == 200

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(base + "/login", timeout=10).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf_token": token}
        ).encode()
        dashboard = opener.open(base + "/login", data=body, timeout=10).read().decode()
        assert "Demo Marketing" in dashboard
        assert '<span class="stat-value" id="contact-count">300</span>' in dashboard
        assert (tmp_path / "instance" / "contacts-io.db").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    output.thread.join(timeout=5)
    assert "contacts-io stopped." in output.text
    leftovers = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    ).stdout
    assert leftovers.strip() == ""


def test_ctrl_c_stops_the_app_before_redis_and_exits_cleanly(tmp_path: Path) -> None:
    """The launcher (what `make run` ends in) on Ctrl-C: no connection tracebacks, status 0."""
    copy_checkout(tmp_path)
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PORT": str(port), "LANG": "C.UTF-8"}
    flask = [str(tmp_path / ".venv" / "bin" / "flask"), "--app", "wsgi"]
    subprocess.run(
        [*flask, "db", "upgrade"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    proc = subprocess.Popen(
        [str(tmp_path / ".venv" / "bin" / "python"), "-m", "scripts.launcher"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = OutputReader(proc)
        output.wait_for(r"Press Ctrl-C to stop", timeout=120)
        time.sleep(3)  # the worker and scheduler are up and talking to Redis
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        status = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output.thread.join(timeout=5)
    assert "contacts-io stopped." in output.text
    noise = [
        line
        for line in output.text.splitlines()
        if re.search(r"Traceback|ConnectionError|Connection refused", line)
    ]
    assert noise == [], output.text[-4000:]
    assert status == 0
