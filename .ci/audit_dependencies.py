"""Run pip-audit on requirements.lock and say plainly what was and was not checked.

pip-audit alone reports "No known vulnerabilities found" and exits 0 even when it could not look
a single package up (it only lists them as skipped). This wrapper:
- fails (exit 1) when a locked package has a known vulnerability that is not in the audited
  ignore list (.ci/pip-audit-ignore.txt, one `ID  reason` a line);
- prints a loud INCOMPLETE block naming how many packages could not be checked and why, and
  fails too when REQUIRE_AUDIT=1 (set it where the vulnerability database is reachable);
- prints how many packages were checked when all were.

Usage: python .ci/audit_dependencies.py [--report pip-audit.json]   (--report: parse only)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404 # runs pip-audit with a fixed argv
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
IGNORE = ROOT / ".ci" / "pip-audit-ignore.txt"


def ignored() -> dict[str, str]:
    """The audited ignore list: vulnerability id -> why it does not apply to us."""
    entries = {}
    if IGNORE.exists():
        for line in IGNORE.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            vuln_id, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{IGNORE.name}: {vuln_id} needs a reason after its id.")
            entries[vuln_id] = reason.strip()
    return entries


def run_pip_audit() -> tuple[dict[str, object] | None, str]:
    """Run pip-audit on the lock file; return its JSON report (None if it crashed) and stderr."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        command = [
            str(Path(sys.executable).parent / "pip-audit"),
            "--requirement",
            str(LOCK),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(out),
        ]
        for vuln_id in ignored():
            command += ["--ignore-vuln", vuln_id]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
        if not out.exists() or not out.read_text().strip():
            return None, result.stderr
        return json.loads(out.read_text()), result.stderr


def judge(report: dict[str, object] | None, stderr: str, require_audit: bool) -> int:
    """Print the verdict on a pip-audit report; return the exit code."""
    if report is None:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        print("DEPENDENCY AUDIT INCOMPLETE: pip-audit could not run to the end.")
        print(f"  its last words: {last}")
        return 1 if require_audit else 0
    dependencies = report.get("dependencies", [])
    assert isinstance(dependencies, list)  # nosec B101 # the shape pip-audit writes
    skipped = [d for d in dependencies if d.get("skip_reason")]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    checked = len(dependencies) - len(skipped)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            print(f"VULNERABLE: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if vulnerable:
        print(
            "Upgrade the package (edit pyproject.toml if needed, then `make lock`), or add the "
            f"id with the reason it does not apply to {IGNORE.relative_to(ROOT)}."
        )
        return 1
    if skipped:
        print(
            f"DEPENDENCY AUDIT INCOMPLETE: {len(skipped)} of {len(dependencies)} locked packages "
            "could NOT be checked for known vulnerabilities."
        )
        print(f"  e.g. {skipped[0]['skip_reason']}")
        print(
            "  The vulnerability database is not reachable from this machine; run `make "
            "security` where it is (REQUIRE_AUDIT=1 makes this a failure)."
        )
        return 1 if require_audit else 0
    print(f"pip-audit: {checked} locked packages checked, no known vulnerabilities.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="judge this pip-audit JSON report only")
    args = parser.parse_args()
    if args.report:
        report, stderr = json.loads(args.report.read_text()), ""
    else:
        report, stderr = run_pip_audit()
    return judge(report, stderr, os.environ.get("REQUIRE_AUDIT") == "1")


if __name__ == "__main__":
    sys.exit(main())
