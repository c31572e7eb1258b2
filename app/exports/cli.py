"""`flask --app wsgi exports ...`: the export clean-up on demand."""

from __future__ import annotations

import click
from flask.cli import AppGroup

exports_cli = AppGroup("exports", help="Manage exports.")


@exports_cli.command("cleanup")
def cleanup_command() -> None:
    """Delete expired exports and old import files and drafts now (as the daily 04:00 job does)."""
    from app.jobs.maintenance import run_cleanup

    result = run_cleanup()
    click.echo(
        f"Deleted {result.exports_expired} expired export file(s), "
        f"{result.import_files_deleted} import file(s) past their retention, "
        f"{result.drafts_deleted} unfinished import(s) and "
        f"{result.unused_uploads_deleted} upload(s) never imported."
    )
