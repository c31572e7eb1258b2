"""Object storage for uploads, exports and error reports: one protocol, local disk or S3."""

from __future__ import annotations

from app.storage.base import (
    KINDS,
    InvalidKey,
    LinkExpired,
    LinkInvalid,
    ObjectNotFound,
    ObjectTooLarge,
    Storage,
    StorageError,
    StorageSettings,
    clean_file_name,
    content_disposition,
    key_belongs_to,
    kind_folder,
    object_key,
    validate_key,
)
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage

__all__ = [
    "KINDS",
    "InvalidKey",
    "LinkExpired",
    "LinkInvalid",
    "LocalStorage",
    "ObjectNotFound",
    "ObjectTooLarge",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageSettings",
    "build_storage",
    "clean_file_name",
    "content_disposition",
    "key_belongs_to",
    "kind_folder",
    "object_key",
    "validate_key",
]


def build_storage(settings: StorageSettings) -> Storage:
    """Return the storage backend `settings` names; no network call is made."""
    if settings.backend == "local":
        return LocalStorage(settings.local_path, settings.secret_key)
    if settings.backend == "s3":
        if not settings.s3_bucket:
            raise ValueError("The s3 storage backend needs a bucket: set S3_BUCKET.")
        return S3Storage(
            settings.s3_bucket,
            prefix=settings.s3_prefix,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
        )
    raise ValueError(f"Unknown storage backend {settings.backend!r}: use 'local' or 's3'.")
