"""The `flask --app wsgi ...` commands."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, Contact, CustomField, Segment, Tag, Tenant, User, hash_token


def test_users_create_makes_tenant_and_admin(runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "Boss@Acme.test",
            "--password",
            "s3cret-pass",
            "--tenant",
            "Acme",
            "--admin",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "boss@acme.test"))
    assert user is not None and user.role == "admin" and user.check_password("s3cret-pass")
    assert user.tenant.name == "Acme" and user.tenant.workspaces


def test_users_create_refuses_a_short_password_and_a_taken_email(runner: FlaskCliRunner) -> None:
    short = runner.invoke(
        args=["users", "create", "--email", "a@b.test", "--password", "short", "--tenant", "T"]
    )
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@b.test",
            "--password",
            "long-enough",
            "--tenant",
            "T",
        ]
    )
    again = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@b.test",
            "--password",
            "long-enough",
            "--tenant",
            "T",
        ]
    )
    assert again.exit_code != 0 and "already exists" in again.output


def test_tokens_create_prints_the_token_alone_on_the_last_line(runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "api@acme.test",
            "--password",
            "long-enough",
            "--tenant",
            "Acme",
        ]
    )
    result = runner.invoke(args=["tokens", "create", "--email", "api@acme.test"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("cio_") and " " not in raw
    assert db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))


def test_seed_demo_creates_tenant_contacts_and_sample_files(
    runner: FlaskCliRunner, app: Flask
) -> None:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Demo login: demo@example.com / demo-password" in result.output
    tenant = db.session.scalar(select(Tenant).where(Tenant.name == "Demo Marketing"))
    assert (
        db.session.scalar(select(func.count(Contact.id)).where(Contact.tenant_id == tenant.id))
        == 300
    )
    assert db.session.scalar(select(func.count(Tag.id)).where(Tag.tenant_id == tenant.id)) == 5
    assert db.session.scalar(select(func.count(Segment.id))) == 1
    assert db.session.scalar(select(func.count(CustomField.id))) == 3
    samples = Path(app.instance_path) / "samples"
    assert sorted(p.name for p in samples.iterdir()) == [
        "crm-export.json",
        "event-attendees.xlsx",
        "leads.csv",
    ]
    assert (samples / "leads.csv").read_text().startswith("E-mail Address,Given Name,Surname")


def test_seed_demo_if_empty_does_nothing_when_users_exist(runner: FlaskCliRunner) -> None:
    runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@b.test",
            "--password",
            "long-enough",
            "--tenant",
            "T",
        ]
    )
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "skipped" in result.output
    assert db.session.scalar(select(func.count(Contact.id))) == 0


def test_worker_refuses_an_unknown_queue(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["worker", "nope"])
    assert result.exit_code != 0 and "Unknown queue 'nope'" in result.output
