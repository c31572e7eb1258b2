"""The one place that scopes queries to a tenant: the current one (web) or a given one (services);
and a tenant found or created by name (the CLI and the demo data)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from flask import abort, g
from flask_login import current_user
from sqlalchemy import Select, select

from app.extensions import db
from app.models import Tenant, Workspace

M = TypeVar("M")


def current_tenant_id() -> uuid.UUID:
    """The tenant of the signed-in user or of the API token on this request."""
    tenant_id = g.get("tenant_id")
    if tenant_id is not None:
        return tenant_id
    if current_user and current_user.is_authenticated:
        return current_user.tenant_id
    abort(401)


def owned(model: type[M], tenant_id: uuid.UUID, *columns: Any) -> Select[Any]:
    """A SELECT of `model` (or the given columns of it) limited to one tenant: what services
    and jobs use, given the tenant by their caller (the web layer passes the current one)."""
    stmt = select(*columns) if columns else select(model)
    return stmt.where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


def scoped(model: type[M], *columns: Any) -> Select[Any]:
    """A SELECT of `model` (or the given columns of it) limited to the current tenant."""
    return owned(model, current_tenant_id(), *columns)


def get_scoped_or_404(model: type[M], object_id: Any) -> M:
    """Load one object of the current tenant by id; 404 when absent or another tenant's."""
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        abort(404)
    obj = db.session.scalar(scoped(model).where(model.id == key))  # type: ignore[attr-defined]
    if obj is None:
        abort(404)
    return obj


def get_or_create_tenant(name: str) -> Tenant:
    """The tenant with this name, created with a default workspace when new."""
    tenant = db.session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        db.session.add(tenant)
        db.session.flush()
        db.session.add(Workspace(tenant_id=tenant.id, name="Main"))
    return tenant
