"""Command-line entry points: `flask --app wsgi COMMAND`."""

from __future__ import annotations

import logging

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, User, UserSession
from app.tenancy import get_or_create_tenant

users_cli = AppGroup("users", help="Manage users.")
tokens_cli = AppGroup("tokens", help="Manage API tokens.")


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in email of the new user.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Password (at least 8 characters); asked for, unseen, when left out.",
)
@click.option("--tenant", "tenant_name", required=True, help="Tenant name; created if new.")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
def create_user(email: str, password: str, tenant_name: str, admin: bool) -> None:
    """Create a user in a tenant."""
    email = email.strip().lower()
    if len(password) < 8:
        raise click.UsageError("The password must be at least 8 characters long.")
    if db.session.scalar(select(User).where(func.lower(User.email) == email)):
        raise click.UsageError(f"A user with the email {email} already exists.")
    tenant = get_or_create_tenant(tenant_name)
    user = User(tenant_id=tenant.id, email=email, role="admin" if admin else "member")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {user.role} {email} in tenant {tenant.name}.")


def _user_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.UsageError(f"There is no user with the email {email}.")
    return user


@users_cli.command("deactivate")
@click.option("--email", required=True, help="Sign-in email of the user.")
def deactivate_user(email: str) -> None:
    """Stop a user signing in: every session ends now and their API tokens stop working."""
    user = _user_by_email(email)
    user.active = False
    ended = UserSession.revoke_all(user.id)
    db.session.commit()
    click.echo(f"Deactivated {user.email}; {ended} signed-in session(s) ended.")


@users_cli.command("activate")
@click.option("--email", required=True, help="Sign-in email of the user.")
def activate_user(email: str) -> None:
    """Let a deactivated user sign in again (they sign in afresh; old sessions stay ended)."""
    user = _user_by_email(email)
    user.active = True
    db.session.commit()
    click.echo(f"Activated {user.email}: they can sign in again.")


@tokens_cli.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option("--name", default="API token", help="A label to recognise the token by.")
def create_token(email: str, name: str) -> None:
    """Create an API token; the token alone is printed on the last line."""
    user = _user_by_email(email)
    token, raw = ApiToken.issue(user, name=name)
    db.session.add(token)
    db.session.commit()
    click.echo(f"Token for {user.email} (tenant {user.tenant.name}); it is shown only once:")
    click.echo(raw)


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run an RQ worker for the given queues (imports, exports, maintenance; all by default)."""
    from rq import Worker
    from rq.logutils import setup_loghandlers

    from app.jobs.queue import QUEUES, get_queue, redis_connection

    names = queues or QUEUES
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise click.UsageError(f"Unknown queue {unknown[0]!r}; use {', '.join(QUEUES)}.")
    # the app's own lines (an import resuming at row N, a batch retried) beside RQ's
    setup_loghandlers(logging.INFO, name="app")
    conn = redis_connection()
    worker = Worker([get_queue(n) for n in names], connection=conn)
    # RQ's scheduler runs the retries (Retry intervals) and scheduled jobs; one worker at a
    # time holds its lock, the others only work
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


@click.command("scheduler")
def scheduler_command() -> None:
    """Run RQ's cron scheduler with the app's periodic jobs (the daily clean-up at 04:00)."""
    from app.jobs.queue import redis_connection
    from app.jobs.scheduler import build_scheduler

    build_scheduler(redis_connection()).start()


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has users.")
def seed_demo_command(if_empty: bool) -> None:
    """Create a demo tenant, user, contacts and sample files; print the login."""
    from app.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("Demo data skipped: the database already has users.")
        return
    summary = seed_demo(current_app.instance_path)
    click.echo(summary)
    click.echo(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")


def register(app: Flask) -> None:
    """Add every command group to the app's CLI."""
    from app.exports.cli import exports_cli
    from app.imports.cli import contacts_cli

    for command in (
        users_cli,
        tokens_cli,
        worker_command,
        scheduler_command,
        seed_demo_command,
        contacts_cli,
        exports_cli,
    ):
        app.cli.add_command(command)
