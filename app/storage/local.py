"""Storage in a folder on local disk, with signed links the app itself serves."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from itsdangerous import BadData, URLSafeTimedSerializer

from app.storage.base import (
    InvalidKey,
    LinkExpired,
    LinkInvalid,
    ObjectNotFound,
    Storage,
    StorageError,
    validate_key,
)

CHUNK_SIZE = 1024 * 1024
"""Bytes read from an incoming stream at a time."""

SIGNING_SALT = "contacts-io.download"
"""Salt that keeps download tokens from being valid for any other signed value of the app."""

URL_PREFIX = "/files/"
"""Path the web layer serves signed local downloads under: `/files/<token>`."""


class LocalStorage(Storage):
    """Objects as files under one root folder; every write is atomic."""

    piece_size = CHUNK_SIZE

    def __init__(
        self, root: str, secret_key: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        """Keep objects under `root`; sign download links with `secret_key`.

        `clock` returns the current Unix time; tests pass their own to expire links without
        sleeping.
        """
        if not secret_key:
            raise ValueError("Local storage needs a secret key to sign download links.")
        self.root = Path(root).resolve()
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SIGNING_SALT)
        self._clock = clock

    def _write(self, key: str, pieces: Iterator[bytes], content_type: str | None) -> int:
        """Stream into a temporary file beside the target, then move it into place.

        `content_type` is not kept: the web layer picks the type from the download name.
        """
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".part"
            )
        except OSError as error:
            raise self._write_error(error) from error

        written = 0
        try:
            with os.fdopen(descriptor, "wb") as handle:
                for piece in pieces:
                    with self._writing():
                        handle.write(piece)
                    written += len(piece)
                with self._writing():
                    handle.flush()
                    os.fsync(handle.fileno())
            with self._writing():
                os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return written

    def save_file(self, key: str, path: str, *, content_type: str | None = None) -> int:
        """Copy the local file at `path` into `key`, atomically."""
        with open(path, "rb") as source:
            return self.save(key, source, content_type=content_type)

    def open(self, key: str) -> BinaryIO:
        """Return the stored file opened for binary reading."""
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def download_to(self, key: str, path: str) -> None:
        """Copy the stored file to the local file `path`."""
        try:
            shutil.copyfile(self._path(key), path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if not self.exists(key):
                raise ObjectNotFound(key) from None
            raise

    def delete(self, key: str) -> None:
        """Remove the stored file if it is there."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        """Tell whether the stored file is there."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """Return the stored file's size in bytes."""
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path.stat().st_size

    def signed_url(
        self, key: str, *, expires_in: int = 300, download_name: str | None = None
    ) -> str:
        """Return `/files/<token>`, a relative URL valid for `expires_in` seconds."""
        validate_key(key)
        if expires_in < 1:
            raise ValueError("A download link must be valid for at least one second.")
        payload = {"k": key, "n": download_name, "e": self._clock() + expires_in}
        return f"{URL_PREFIX}{self._serializer.dumps(payload)}"

    def resolve_signed_token(self, token: str) -> tuple[str, str | None]:
        """Return the `(key, download_name)` a token was signed for.

        Raises LinkInvalid when the token was not signed by this app or is damaged, and
        LinkExpired once the expiry written into the token has passed.
        """
        try:
            payload = self._serializer.loads(token)
        except BadData:
            raise LinkInvalid() from None
        if not isinstance(payload, dict):
            raise LinkInvalid()
        key, name, expires_at = payload.get("k"), payload.get("n"), payload.get("e")
        if (
            not isinstance(key, str)
            or not (name is None or isinstance(name, str))
            or not isinstance(expires_at, int | float)
        ):
            raise LinkInvalid()
        try:
            validate_key(key)
        except InvalidKey:
            raise LinkInvalid() from None
        if self._clock() >= expires_at:
            raise LinkExpired()
        return key, name

    def keys_older_than(self, folder: str, cutoff: datetime) -> Iterator[str]:
        """Yield the files under `folder` last written before `cutoff` (never unfinished writes)."""
        top = self._path(folder)
        if not top.is_dir():
            return
        limit = cutoff.timestamp()
        for path in sorted(top.rglob("*")):
            if path.name.startswith(".") or not path.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < limit:
                    yield path.relative_to(self.root).as_posix()

    def check(self) -> None:
        """Make sure the root folder exists and a file can be written in it."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            descriptor, probe = tempfile.mkstemp(dir=self.root, prefix=".check-")
            os.close(descriptor)
            os.unlink(probe)
        except OSError as error:
            raise self._write_error(error) from error

    def _path(self, key: str) -> Path:
        """Return the file for `key`, refusing keys that would leave the root folder."""
        validate_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(key, "it points outside the storage folder")
        return path

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed disk write into a StorageError; errors reading the input pass through."""
        try:
            yield
        except OSError as error:
            raise self._write_error(error) from error

    def _write_error(self, error: OSError) -> StorageError:
        """Describe a failed write to the storage folder."""
        reason = error.strerror or str(error)
        return StorageError(
            f"Storage folder {self.root} is not writable: {reason}: "
            "check STORAGE_LOCAL_PATH, the folder's permissions and the free disk space."
        )
