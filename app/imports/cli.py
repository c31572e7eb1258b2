"""`flask --app wsgi contacts import|rollback|cancel`: the engine from the command line."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.imports.column_values import SUGGESTION_SAMPLE_ROWS
from app.imports.dry_run import run_dry_run
from app.imports.dry_run_result import dry_run_fields
from app.imports.importing import run_import
from app.imports.mapping import MappingError, parse_target, target_to_spec
from app.imports.options import DUPLICATE_STRATEGIES, ImportOptions, OptionsError
from app.imports.parsing import FileFormatError, SourceRow, detect_file_type, open_table
from app.imports.rollback_job import run_rollback, start_rollback
from app.imports.rollback_tally import RollbackTally, rollback_fields
from app.imports.service import ImportRefused, create_import_job, request_cancel, store_upload
from app.imports.suggestions import suggestions_for
from app.jobs.submit import enqueue_import, queue_rollback
from app.models import ImportJob, Tenant
from app.models.jobs import ImportStatus, RunStatus

contacts_cli = AppGroup("contacts", help="Import contacts, roll imports back, cancel them.")


def _tenant(name: str) -> Tenant:
    tenant: Tenant | None = db.session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise click.UsageError(f"There is no tenant named {name!r}.")
    return tenant


def _job(job_id: str) -> ImportJob:
    try:
        job = db.session.get(ImportJob, uuid.UUID(job_id))
    except ValueError:
        job = None
    if job is None:
        raise click.UsageError(f"There is no import {job_id}.")
    return job


def _result(job: ImportJob) -> dict[str, object]:
    return {
        "jobId": str(job.id),
        "status": job.status,
        "totalRows": job.total_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": job.unchanged_count,
        "repeated": job.repeated_count,
        "skipped": job.skipped_count,
        "errors": job.error_count,
        **({"failure": job.failure_message} if job.failure_message else {}),
    }


def _follow(
    job: ImportJob, done: Callable[[ImportJob], bool], line: Callable[[ImportJob], str]
) -> None:
    last = None
    while True:
        db.session.expire_all()
        db.session.refresh(job)
        text = line(job)
        if text != last:
            click.echo(text, err=True)
            last = text
        if done(job):
            return
        time.sleep(0.5)


def _progress_line(job: ImportJob) -> str:
    total = f"{job.total_rows:,}" if job.total_rows is not None else "?"
    return f"{job.status}: {job.processed_rows:,} of {total} rows"


@contacts_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_name", required=True, help="The tenant to import into.")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar='"HEADER=TARGET"',
    help="Column mapping: a standard field, tags, ignore, or custom_key[:type].",
)
@click.option(
    "--strategy",
    type=click.Choice(list(DUPLICATE_STRATEGIES)),
    default="update",
    show_default=True,
    help="What to do with contacts that already exist.",
)
@click.option("--tag", "tags", multiple=True, help="A tag for every imported contact.")
@click.option("--segment", help="Add the contacts to this segment (created if new).")
@click.option("--default-region", help="Country for phone numbers without a country code, e.g. GB.")
@click.option("--validate-email/--no-validate-email", default=True, show_default=True)
@click.option(
    "--validate-phone", is_flag=True, help="Reject rows whose phone is not a valid number."
)
@click.option("--blank-clears", is_flag=True, help="Blank cells clear existing values on update.")
@click.option("--sheet", help="Worksheet to read (default: the first with data).")
@click.option("--dry-run", is_flag=True, help="Only report what the import would do.")
@click.option("--wait", "mode", flag_value="wait", help="Follow the queued job to its end.")
@click.option("--sync", "mode", flag_value="sync", help="Run here, without a worker.")
def import_command(
    file: Path,
    tenant_name: str,
    maps: tuple[str, ...],
    strategy: str,
    tags: tuple[str, ...],
    segment: str | None,
    default_region: str | None,
    validate_email: bool,
    validate_phone: bool,
    blank_clears: bool,
    sheet: str | None,
    dry_run: bool,
    mode: str | None,
) -> None:
    """Import FILE (CSV, TSV, XLSX, JSON or NDJSON) into a tenant."""
    tenant = _tenant(tenant_name)
    try:
        file_type = detect_file_type(str(file), file.name)
        with open_table(str(file), file_type, sheet=sheet) as table:
            headers = list(table.headers)
            sample = list(islice(table.rows(), SUGGESTION_SAMPLE_ROWS))
    except FileFormatError as exc:
        raise click.ClickException(str(exc)) from None
    mapping = _mapping(tenant, headers, maps, sample)
    options = ImportOptions(
        file_name=file.name,
        file_key="",
        file_type=file_type,
        field_mapping=mapping,
        duplicate_strategy=strategy,
        tags=list(tags),
        segment_name=segment,
        validate_email=validate_email,
        validate_phone=validate_phone,
        default_region=default_region.upper() if default_region else None,
        blank_clears=blank_clears,
        sheet=sheet,
    )
    try:
        options.check(headers)
    except OptionsError as exc:
        raise click.ClickException("\n".join(exc.problems)) from None
    with file.open("rb") as stream:
        options.file_key, size = store_upload(tenant.id, stream, file.name)
    job = create_import_job(tenant.id, options, file_size=size)
    click.echo(f"Import job {job.id}", err=True)
    if dry_run:
        job.status = ImportStatus.DRAFT
        db.session.commit()
        result = dry_run_fields(run_dry_run(job.id))  # as the API shows it
        click.echo(json.dumps({"jobId": str(job.id), "dryRun": result}, default=str))
        return
    if mode == "sync":
        job = run_import(job.id)
    else:
        enqueue_import(job)
        if mode == "wait":
            _follow(
                job,
                lambda j: j.status not in (ImportStatus.PENDING, ImportStatus.PROCESSING),
                _progress_line,
            )
        else:
            click.echo(json.dumps({"jobId": str(job.id), "status": job.status}))
            return
    click.echo(_progress_line(job), err=True)
    click.echo(json.dumps(_result(job)))
    if job.status == ImportStatus.FAILED:
        sys.exit(1)


def _mapping(
    tenant: Tenant, headers: list[str], maps: tuple[str, ...], sample: list[SourceRow]
) -> dict[str, str]:
    if maps:
        mapping = {h: "ignore" for h in headers}
        for item in maps:
            header, sep, target = item.rpartition("=")
            if not sep or not header:
                raise click.UsageError(f'--map takes "HEADER=TARGET", not {item!r}.')
            if header not in headers:
                raise click.UsageError(
                    f"The file has no column {header!r}; its columns are: {', '.join(headers)}."
                )
            try:
                mapping[header] = target_to_spec(parse_target(target))
            except MappingError as exc:
                raise click.UsageError(" ".join(exc.problems)) from None
        return mapping
    suggestions = suggestions_for(tenant.id, headers, sample, leave_out="ignore")
    mapping = {s.header: target_to_spec(s.target) for s in suggestions}
    click.echo("No --map given; using the suggested mapping:", err=True)
    for s in suggestions:
        click.echo(f"  {s.header} -> {mapping[s.header] or 'ignore'}  ({s.detail})", err=True)
    return mapping


@contacts_cli.command("rollback")
@click.argument("job_id")
@click.option("--force", is_flag=True, help="Also restore contacts that changed since the import.")
@click.option("--wait", "mode", flag_value="wait", help="Follow the queued rollback to its end.")
@click.option("--sync", "mode", flag_value="sync", help="Run here, without a worker.")
def rollback_command(job_id: str, force: bool, mode: str | None) -> None:
    """Undo the import JOB_ID."""
    job = _job(job_id)
    try:
        if mode == "sync":
            start_rollback(job, force=force)
        else:
            queue_rollback(job, force=force)
    except ImportRefused as exc:
        raise click.ClickException(str(exc)) from None
    if mode == "sync":
        job = run_rollback(job.id)
    elif mode == "wait":
        _follow(
            job,
            lambda j: j.rollback_status not in (RunStatus.PENDING, RunStatus.PROCESSING),
            lambda j: (
                f"rollback {j.rollback_status}: {j.rollback_processed:,} of {j.rollback_total or 0:,}"
            ),
        )
    db.session.refresh(job)
    click.echo(
        json.dumps(
            {
                "jobId": str(job.id),
                "status": job.status,
                "rollbackStatus": job.rollback_status,
                **rollback_fields(RollbackTally.of(job)),
            }
        )
    )
    if job.rollback_status == RunStatus.FAILED:
        sys.exit(1)


@contacts_cli.command("cancel")
@click.argument("job_id")
def cancel_command(job_id: str) -> None:
    """Cancel the import JOB_ID (a running one stops at its next batch)."""
    job = _job(job_id)
    try:
        request_cancel(job)
    except ImportRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"jobId": str(job.id), "status": job.status, "cancelRequested": True}))
