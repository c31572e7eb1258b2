"""Storage in an S3 bucket (AWS or any S3-compatible store), streamed in parts."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from app.storage.base import (
    ObjectNotFound,
    Storage,
    StorageError,
    content_disposition,
    validate_key,
)

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses multipart parts smaller than this, except the last one."""

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Streams shorter than this go up in one request; others in parts of this size."""

READ_BUFFER = 256 * 1024
"""Bytes fetched from the network at a time when reading an object."""

MAX_LINK_SECONDS = 7 * 24 * 3600
"""The longest a presigned (SigV4) URL can stay valid."""

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
}


class S3Storage(Storage):
    """Objects in one bucket, under an optional key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any | None = None,
        *,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        """Use `bucket` through `client`, or through a new client for `region`/`endpoint_url`.

        `part_size` is both the size above which uploads go in parts and the size of a part;
        one part is the most of a stream held in memory.
        """
        if not bucket:
            raise ValueError("S3 storage needs a bucket name: set S3_BUCKET.")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"An S3 part must be at least {MIN_PART_SIZE} bytes.")
        self.bucket = bucket
        self.prefix = "/".join(part for part in prefix.split("/") if part)
        self.part_size = part_size
        self.piece_size = part_size  # a stream is read and sent one part at a time
        self._client = client or _new_client(region, endpoint_url)
        self._transfer_config = TransferConfig(
            multipart_threshold=part_size, multipart_chunksize=part_size
        )

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint the client talks to."""
        return str(self._client.meta.endpoint_url)

    def _write(self, key: str, pieces: Iterator[bytes], content_type: str | None) -> int:
        """One request when the stream is shorter than a part, a multipart upload when longer.

        Past `max_bytes` reading stops, any multipart upload is aborted and ObjectTooLarge is
        raised, so nothing is left in the bucket.
        """
        name = self._full_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        first = next(pieces, b"")
        if len(first) < self.part_size:
            with self._translated(key):
                self._client.put_object(Bucket=self.bucket, Key=name, Body=first, **extra)
            return len(first)
        return self._save_in_parts(key, itertools.chain([first], pieces), extra)

    def save_file(self, key: str, path: str, *, content_type: str | None = None) -> int:
        """Upload the local file at `path`, in parallel parts when it is large."""
        name = self._full_key(key)
        size = os.path.getsize(path)
        extra = {"ContentType": content_type} if content_type else None
        with self._translated(key):
            self._client.upload_file(
                path, self.bucket, name, ExtraArgs=extra, Config=self._transfer_config
            )
        return size

    def open(self, key: str) -> BinaryIO:
        """Return the object's body as a buffered, readable (not seekable) binary stream."""
        with self._translated(key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._full_key(key))
        return cast(BinaryIO, io.BufferedReader(_ResponseBody(response["Body"], key), READ_BUFFER))

    def download_to(self, key: str, path: str) -> None:
        """Download the object to the local file `path`."""
        name = self._full_key(key)
        with self._translated(key):
            self._client.download_file(self.bucket, name, path, Config=self._transfer_config)

    def delete(self, key: str) -> None:
        """Delete the object and abort any unfinished upload to it; S3 does not mind when missing.

        An upload cut off by a storage outage leaves its parts behind (the abort could not reach
        the store either): deleting the key later removes them too.
        """
        name = self._full_key(key)
        with self._translated(key):
            self._client.delete_object(Bucket=self.bucket, Key=name)
        try:
            uploads = self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=name)
        except ClientError:  # not allowed to list uploads: the bucket's lifecycle rule will do
            return
        for upload in uploads.get("Uploads", []):
            if upload["Key"] == name:
                with self._translated(key):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=name, UploadId=upload["UploadId"]
                    )

    def keys_older_than(self, folder: str, cutoff: datetime) -> Iterator[str]:
        """Yield the keys under `folder` whose objects were last written before `cutoff`."""
        prefix = self._full_key(folder) + "/"
        skip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        with self._translated(None):
            for page in pages:
                for item in page.get("Contents", []):
                    if item["LastModified"] < cutoff:
                        yield item["Key"][skip:]

    def exists(self, key: str) -> bool:
        """Tell whether the object is in the bucket."""
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """Return the object's size in bytes."""
        with self._translated(key):
            response = self._client.head_object(Bucket=self.bucket, Key=self._full_key(key))
        return int(response["ContentLength"])

    def signed_url(
        self, key: str, *, expires_in: int = 300, download_name: str | None = None
    ) -> str:
        """Return a presigned GET URL; with `download_name` the browser saves it under that name."""
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise ValueError(f"An S3 link must be valid for 1 to {MAX_LINK_SECONDS} seconds.")
        params = {"Bucket": self.bucket, "Key": self._full_key(key)}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        return str(
            self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        )

    def presigned_upload(
        self, key: str, *, max_bytes: int, expires_in: int = 3600
    ) -> dict[str, Any]:
        """A presigned POST (`url` and form `fields`) that stores one file of 1 to `max_bytes`
        bytes at `key`; the file goes last in the form, as the field `file`."""
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise ValueError(f"An S3 link must be valid for 1 to {MAX_LINK_SECONDS} seconds.")
        with self._translated(key):
            post = self._client.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._full_key(key),
                Conditions=[["content-length-range", 1, max_bytes]],
                ExpiresIn=expires_in,
            )
        return {"url": str(post["url"]), "fields": dict(post["fields"])}

    def check(self) -> None:
        """Make sure the endpoint answers and the bucket exists and is ours to use."""
        with self._translated(None):
            self._client.head_bucket(Bucket=self.bucket)

    def _save_in_parts(self, key: str, pieces: Iterator[bytes], extra: dict[str, str]) -> int:
        """Upload the pieces as the parts of a multipart upload, aborting on any error."""
        name = self._full_key(key)
        with self._translated(key):
            upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=name, **extra)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        written = 0
        try:
            with self._translated(key):
                for number, chunk in enumerate(pieces, start=1):
                    response = self._client.upload_part(
                        Bucket=self.bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    )
                    parts.append({"ETag": response["ETag"], "PartNumber": number})
                    written += len(chunk)
                self._client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise
        return written

    def _full_key(self, key: str) -> str:
        """Return the bucket key for `key`: checked, then placed under the prefix."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextlib.contextmanager
    def _translated(self, key: str | None) -> Iterator[None]:
        """Turn boto errors into StorageError; `key` is None for requests about the bucket."""
        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as error:
            raise self._describe(error, key) from error

    def _describe(self, error: Exception, key: str | None) -> StorageError:
        """Describe a boto error in one sentence that says what to check."""
        if isinstance(error, ClientError):
            return self._client_error(error, key)
        if isinstance(error, BotoConnectionError | HTTPClientError):
            return StorageError(
                f"Storage is not reachable: could not connect to the S3 endpoint "
                f"{self.endpoint_url}: check S3_ENDPOINT_URL and that the store is running."
            )
        if isinstance(error, NoCredentialsError | PartialCredentialsError):
            return StorageError(
                "Storage credentials are missing: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or give the machine an IAM role)."
            )
        # boto3's transfer errors (S3UploadFailedError, RetriesExceededError) wrap the real one.
        cause = getattr(error, "last_exception", None) or error.__cause__ or error.__context__
        if isinstance(error, Boto3Error) and isinstance(cause, ClientError | BotoCoreError):
            return self._describe(cause, key)
        return StorageError(f"Storage request to {self.endpoint_url} failed: {error}.")

    def _client_error(self, error: ClientError, key: str | None) -> StorageError:
        """Describe an error answer from S3 in one sentence."""
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        if code == "NoSuchBucket" or (key is None and code in _MISSING_CODES):
            return StorageError(
                f"Storage bucket {self.bucket} does not exist at {self.endpoint_url}: "
                "create it or check S3_BUCKET."
            )
        if key is not None and code in _MISSING_CODES:
            return ObjectNotFound(key)
        if code in _DENIED_CODES:
            return StorageError(
                f"Storage refused access to bucket {self.bucket} ({code}): "
                "check the S3 credentials and the bucket's permissions."
            )
        message = details.get("Message") or "no details given"
        return StorageError(f"Storage request on bucket {self.bucket} failed: {code}: {message}.")


class _ResponseBody(io.RawIOBase):
    """botocore's StreamingBody as a plain raw stream, so io.BufferedReader can wrap it.

    StreamingBody's own `with` hands out the urllib3 response instead of itself, and that
    reports itself closed at the end of the data, which breaks io.TextIOWrapper.
    """

    def __init__(self, body: Any, key: str) -> None:
        """Read stored object `key` from `body`, a botocore StreamingBody."""
        self._body = body
        self._key = key

    def readable(self) -> bool:
        """Tell io that this stream can be read."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the response; 0 at the end of the object."""
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as error:
            raise StorageError(
                f"Reading stored file {self._key} broke off: {error}: try again."
            ) from error
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the HTTP connection."""
        if not self.closed:
            self._body.close()
        super().close()


def _new_client(region: str | None, endpoint_url: str | None) -> Any:
    """Create an S3 client that signs with SigV4, retries briefly and fails fast when down.

    A custom endpoint (MinIO, Garage, a test server) gets path-style addressing, which every
    S3-compatible store understands.
    """
    config = Config(
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    session = boto3.session.Session()
    return session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)
