"""Tenants, their workspaces, users and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint, update
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import Model, db
from app.models.types import Timestamp, UUIDType, new_id, utcnow

ROLES = ("admin", "member")
TOKEN_PREFIX = "cio_"  # nosec B105 # the public prefix that marks our tokens, not a secret


class Tenant(Model):
    """A customer account: every piece of contact data belongs to exactly one."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    workspaces: Mapped[list[Workspace]] = relationship(back_populates="tenant")


class TenantOwned:
    """The columns of a tenant's named things (workspaces, custom fields, tags, segments): an
    id first, the tenant (indexed) second, the time it was made last; the class's own between.
    """

    # sort_order keeps the tables' column order as it was before the mixin (a mixin's columns
    # otherwise come after the class's own)
    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id, sort_order=-1)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id"), index=True, sort_order=-1
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, sort_order=1)


class Workspace(TenantOwned, Model):
    """A team or brand inside a tenant."""

    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))

    tenant: Mapped[Tenant] = relationship(back_populates="workspaces")


class User(UserMixin, Model):
    """A person who signs in; belongs to one tenant with the role admin or member."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), default="member")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The "For Excel" box of the export form as the user last left it; None until they export.
    export_csv_for_excel: Mapped[bool | None] = mapped_column(Boolean)

    tenant: Mapped[Tenant] = relationship()

    @property
    def wants_csv_for_excel(self) -> bool:
        """Whether the export form starts with "For Excel" on: yes until the user says no."""
        return self.export_csv_for_excel is not False

    def set_password(self, password: str) -> None:
        """Store a slow (scrypt) hash of the password, never the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        """Deactivated users cannot sign in."""
        return self.active

    @property
    def is_admin(self) -> bool:
        """True for the tenant's administrators."""
        return self.role == "admin"


def hash_token(raw: str) -> str:
    """The SHA-256 of an API token: tokens are random and long, so a fast hash is safe here."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(Model):
    """A bearer token for the JSON API, stored hashed, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="API token")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)

    user: Mapped[User] = relationship()

    @classmethod
    def issue(cls, user: User, name: str = "API token") -> tuple[ApiToken, str]:
        """Make a token for a user; returns the row and the raw token, shown once."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls(
            tenant_id=user.tenant_id,
            user_id=user.id,
            name=name,
            token_hash=hash_token(raw),
            token_prefix=raw[:10],
        )
        return token, raw


SESSION_IDLE = timedelta(hours=12)
"""A browser session not remembered ends after this long without a request."""
REMEMBER_FOR = timedelta(days=30)
"""How long "Keep me signed in" lasts from the sign-in; never extended."""


class UserSession(Model):
    """One signed-in browser, checked on every request: revoking the row signs it out.

    The browser holds only random secrets (in the signed session cookie, and in the remember-me
    cookie when asked); the server keeps their SHA-256, so a database read does not give a
    session away. Sign-out, a password change, a deactivation and "sign out everywhere" set
    `revoked_at`.
    """

    __tablename__ = "user_sessions"

    id: Mapped[uuid.UUID] = mapped_column(UUIDType, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # the secret the last rotation replaced: accepted for a few seconds (two tabs restoring at
    # once), after that its use means a copy, and the session is revoked
    previous_remember_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    remember_rotated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()

    @property
    def remembered(self) -> bool:
        """True when the browser was asked to keep the user signed in."""
        return self.remember_hash is not None

    @staticmethod
    def revoke_all(user_id: uuid.UUID) -> int:
        """Sign a user out on every browser; returns how many sessions ended (not committed)."""
        result = db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
