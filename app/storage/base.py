"""The storage interface (with the streamed save both backends share), its errors, and key rules."""

from __future__ import annotations

import re
import unicodedata
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO
from urllib.parse import quote

from app.sizes import format_size

KINDS = ("uploads", "exports", "error-reports")
"""The kinds of object a tenant owns; each gets its own folder under the tenant."""

MAX_KEY_LENGTH = 1024
"""S3's limit on a key's length in bytes, applied to both backends so they accept the same keys."""

_SUFFIX = re.compile(r"(?:\.[a-z0-9]{1,9}){1,2}")
_TENANT_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,64}")


class StorageError(Exception):
    """Storage could not do what was asked; the message says what failed and what to check."""


class ObjectNotFound(StorageError):
    """The stored object does not exist."""

    def __init__(self, key: str) -> None:
        """Name the missing key in the message."""
        super().__init__(f"Stored file {key} was not found: it may have been deleted.")
        self.key = key


class ObjectTooLarge(StorageError):
    """The stream was longer than the allowed number of bytes; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        """State the limit in the message, in words a user reads."""
        super().__init__(
            f"The file is larger than the limit of {format_size(max_bytes)}: "
            "upload a smaller file or split it."
        )
        self.max_bytes = max_bytes


class InvalidKey(StorageError):
    """The key is not a safe relative object key (empty, absolute, `..`, backslash, NUL...)."""

    def __init__(self, key: str, reason: str) -> None:
        """Say why the key was refused."""
        super().__init__(f"Storage key {key!r} was refused: {reason}.")
        self.key = key


class LinkExpired(StorageError):
    """A signed download link is past its expiry time."""

    def __init__(self) -> None:
        """Use the one message a user sees for every expired link."""
        super().__init__("This download link has expired: ask for a new link.")


class LinkInvalid(StorageError):
    """A signed download link was altered, cut short or signed with another key."""

    def __init__(self) -> None:
        """Use the one message a user sees for every forged or damaged link."""
        super().__init__(
            "This download link is not valid: it may have been altered or copied incompletely."
        )


class Storage(ABC):
    """Where uploads, exports and error reports are kept; keys are relative `a/b/c` paths.

    `save` is written once, here: it reads the stream in pieces of `piece_size` bytes without
    passing `max_bytes` and hands them to the backend's `_write`, so both backends keep to a
    limit the same way (at most one byte past it is read, and nothing is stored).
    """

    piece_size: int
    """The most bytes of a stream read at a time, and held in memory while it is written."""

    def save(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Stream `stream` into `key` in pieces and return the bytes written; past `max_bytes`
        nothing is stored and ObjectTooLarge is raised."""
        return self._write(key, read_pieces(stream, self.piece_size, max_bytes), content_type)

    @abstractmethod
    def _write(self, key: str, pieces: Iterator[bytes], content_type: str | None) -> int:
        """Store the pieces in order as `key`, nothing if reading them raises; return the bytes."""

    @abstractmethod
    def save_file(self, key: str, path: str, *, content_type: str | None = None) -> int:
        """Upload the local file at `path` to `key` and return its size."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Return a readable binary stream of `key`; raise ObjectNotFound when missing."""

    @abstractmethod
    def download_to(self, key: str, path: str) -> None:
        """Copy `key` to the local file `path`; raise ObjectNotFound when missing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete `key`; a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Return the size of `key` in bytes; raise ObjectNotFound when missing."""

    @abstractmethod
    def signed_url(
        self, key: str, *, expires_in: int = 300, download_name: str | None = None
    ) -> str:
        """Return a URL that downloads `key` for `expires_in` seconds as `download_name`."""

    @abstractmethod
    def keys_older_than(self, folder: str, cutoff: datetime) -> Iterator[str]:
        """Yield the keys under the key folder `folder` last written before `cutoff`."""

    @abstractmethod
    def check(self) -> None:
        """Raise StorageError when the storage cannot be used."""


@dataclass(frozen=True)
class StorageSettings:
    """Which backend to use and how to reach it."""

    backend: str = "local"
    local_path: str = "instance/storage"
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_region: str | None = None
    s3_endpoint_url: str | None = None
    secret_key: str = ""


def object_key(
    tenant_id: uuid.UUID | str, kind: str, suffix: str = "", *, now: datetime | None = None
) -> str:
    """Return a new tenant-scoped key `tenants/<id>/<kind>/<yyyy>/<mm>/<hex><suffix>`.

    The key never contains a user's file name: `suffix` is kept only when it is a plain
    extension such as ".csv" or ".tar.gz" (lower-cased, at most 10 characters), else dropped.
    """
    when = now or datetime.now(UTC)
    return (
        f"{kind_folder(tenant_id, kind)}/{when:%Y}/{when:%m}/"
        f"{uuid.uuid4().hex}{clean_suffix(suffix)}"
    )


def kind_folder(tenant_id: uuid.UUID | str, kind: str) -> str:
    """Return the key folder `tenants/<id>/<kind>` that holds a tenant's objects of one kind."""
    if kind not in KINDS:
        raise ValueError(f"Unknown storage kind {kind!r}: use one of {', '.join(KINDS)}.")
    return f"tenants/{_tenant_segment(tenant_id)}/{kind}"


def clean_suffix(suffix: str) -> str:
    """Return `suffix` as a safe lower-case extension like ".csv", or "" when it is not one."""
    candidate = suffix.strip().lower()
    if candidate and not candidate.startswith("."):
        candidate = f".{candidate}"
    if len(candidate) <= 10 and _SUFFIX.fullmatch(candidate):
        return candidate
    return ""


def key_belongs_to(key: str, tenant_id: uuid.UUID | str) -> bool:
    """Tell whether `key` is a safe key inside the tenant's own folder."""
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return key.startswith(f"tenants/{_tenant_segment(tenant_id)}/")


def validate_key(key: str) -> str:
    """Return `key` unchanged when it is a safe relative key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(str(key), "it is empty")
    if len(key.encode("utf-8")) > MAX_KEY_LENGTH:
        raise InvalidKey(key[:40] + "...", f"it is longer than {MAX_KEY_LENGTH} bytes")
    if "\x00" in key:
        raise InvalidKey(key, "it contains a NUL character")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise InvalidKey(key, "it contains a control character")
    if "\\" in key:
        raise InvalidKey(key, "it contains a backslash")
    if key.startswith("/"):
        raise InvalidKey(key, "it is an absolute path")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(key, "it has an empty, '.' or '..' path segment")
    return key


def read_pieces(stream: BinaryIO, size: int, max_bytes: int | None) -> Iterator[bytes]:
    """The stream in pieces of `size` bytes (the last one shorter), raising ObjectTooLarge as
    soon as it proves longer than `max_bytes`."""
    already_read = 0
    while piece := read_limited(stream, size, already_read, max_bytes):
        already_read += len(piece)
        yield piece


def read_limited(stream: BinaryIO, size: int, already_read: int, max_bytes: int | None) -> bytes:
    """Read up to `size` bytes (fewer only at the end of the stream) without passing the limit.

    `already_read` is how much of the stream earlier calls returned. At most one byte past
    `max_bytes` is ever read: that byte proves the stream is too long and ObjectTooLarge is raised.
    """
    if max_bytes is not None:
        size = min(size, max_bytes + 1 - already_read)
    buffer = bytearray()
    while len(buffer) < size:
        piece = stream.read(size - len(buffer))
        if not piece:
            break
        buffer += piece
    if max_bytes is not None and already_read + len(buffer) > max_bytes:
        raise ObjectTooLarge(max_bytes)
    return bytes(buffer)


def clean_file_name(raw: str | None, fallback: str = "upload", max_length: int = 255) -> str:
    """A user's file name fit to store and show: its last path segment, printable characters only.

    Control characters (NUL, escape, line breaks), direction overrides and isolates (which make
    "invoice\u202ecsv.exe" look like "invoiceexe.csv") and other invisible format characters
    are dropped; folders a browser or client sent along are cut off; a name made only of dots
    becomes `fallback`; a name too long is shortened before its extension. The stored object's
    key never contains this name (see `object_key`): it is only shown and offered on download.
    """
    printable = "".join(
        " " if unicodedata.category(char) in ("Zl", "Zp") else char
        for char in raw or ""
        if not unicodedata.category(char).startswith("C")
    )
    name = " ".join(PureWindowsPath(PurePosixPath(printable).name).name.split())
    if not name.strip("."):
        return fallback
    if len(name) <= max_length:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) < 16:
        return stem[: max_length - len(extension) - 1] + "." + extension
    return name[:max_length]


def content_disposition(download_name: str) -> str:
    """Return an `attachment` Content-Disposition value, RFC 5987 encoded for non-ASCII names."""
    name = "".join(
        "_" if char in '/\\"' or unicodedata.category(char).startswith("C") else char
        for char in download_name
    ).strip()
    name = name or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    fallback = ascii_name.strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _tenant_segment(tenant_id: uuid.UUID | str) -> str:
    """Return the tenant id as it appears in keys, refusing ids that are not a safe segment."""
    text = str(tenant_id)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if not _TENANT_SEGMENT.fullmatch(text):
        raise ValueError(f"Tenant id {text!r} cannot be used in a storage key.")
    return text
