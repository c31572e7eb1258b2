"""The data model, one module per aggregate; importing this registers every table."""

from app.models.contact import (
    CUSTOM_FIELD_TYPES,
    STATUS_LABELS,
    SUBSCRIPTION_STATUSES,
    Contact,
    CustomField,
    Segment,
    Tag,
    contact_tags,
    segment_contacts,
)
from app.models.exports import ExportJob
from app.models.imports import Correction, ImportEvent, ImportJob, ImportRowError, RefusedRow
from app.models.jobs import ExportStatus, ImportStatus, RunStatus
from app.models.notifications import Notification, NotifiedObject
from app.models.tenancy import ApiToken, Tenant, User, UserSession, Workspace, hash_token

__all__ = [
    "CUSTOM_FIELD_TYPES",
    "STATUS_LABELS",
    "SUBSCRIPTION_STATUSES",
    "ApiToken",
    "Contact",
    "Correction",
    "CustomField",
    "ExportJob",
    "ExportStatus",
    "ImportEvent",
    "ImportJob",
    "ImportRowError",
    "ImportStatus",
    "Notification",
    "NotifiedObject",
    "RefusedRow",
    "RunStatus",
    "Segment",
    "Tag",
    "Tenant",
    "User",
    "UserSession",
    "Workspace",
    "contact_tags",
    "hash_token",
    "segment_contacts",
]
