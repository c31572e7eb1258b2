"""Behaviour of both storage backends against a real folder and a real S3-protocol server."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.storage import (
    InvalidKey,
    LinkExpired,
    LinkInvalid,
    LocalStorage,
    ObjectNotFound,
    ObjectTooLarge,
    S3Storage,
    Storage,
    StorageError,
    StorageSettings,
    build_storage,
    content_disposition,
    key_belongs_to,
    kind_folder,
    object_key,
)

MiB = 1024 * 1024
TENANT = uuid.UUID("7d3f8a52-2c1e-4b7a-9f43-0c5a1e2b3d4f")
SECRET = "test-secret"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


PATTERN = bytes(range(251)) * 1100


class GeneratedStream(io.RawIOBase):
    """A stream of `length` patterned bytes made on demand, counting what was read."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.length - self.bytes_read, 256 * 1024)
        offset = self.bytes_read % 251
        buffer[:count] = PATTERN[offset : offset + count]
        self.bytes_read += count
        return count


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def local_storage(tmp_path: Path, clock: Clock) -> LocalStorage:
    return LocalStorage(str(tmp_path / "storage"), SECRET, clock=clock)


@pytest.fixture
def s3_storage(s3_client: Any, s3_bucket: str) -> S3Storage:
    return S3Storage(s3_bucket, prefix="/contacts-io/", client=s3_client)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture
def key() -> str:
    return object_key(TENANT, "uploads", ".csv")


def read_all(storage: Storage, key: str) -> bytes:
    with storage.open(key) as stream:
        return stream.read()


def alter_signature(token: str) -> str:
    """Change the first character of a token's signature (its last bits may not count)."""
    start = token.rindex(".") + 1
    replacement = "A" if token[start] != "A" else "B"
    return token[:start] + replacement + token[start + 1 :]


def bucket_keys(s3_client: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


# Both backends


def test_backends_satisfy_the_storage_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)


def test_saved_bytes_read_back_unchanged(storage: Storage, key: str) -> None:
    data = b"email,name\r\nada@example.com,Ada \xc3\xa9\r\n"

    written = storage.save(key, io.BytesIO(data), content_type="text/csv")

    assert written == len(data)
    assert read_all(storage, key) == data


def test_saving_an_empty_stream_stores_an_empty_object(storage: Storage, key: str) -> None:
    assert storage.save(key, io.BytesIO(b"")) == 0
    assert storage.exists(key)
    assert storage.size(key) == 0


def test_save_overwrites_an_existing_object(storage: Storage, key: str) -> None:
    storage.save(key, io.BytesIO(b"first version"))
    storage.save(key, io.BytesIO(b"second"))
    assert read_all(storage, key) == b"second"


def test_opened_object_reads_as_text_line_by_line(storage: Storage, key: str) -> None:
    storage.save(key, io.BytesIO("email,name\na@example.com,Zoë\n".encode()))

    with storage.open(key) as stream:
        rows = list(csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline="")))

    assert rows == [["email", "name"], ["a@example.com", "Zoë"]]
    assert stream.closed


def test_exists_size_and_delete(storage: Storage, key: str) -> None:
    assert not storage.exists(key)
    storage.save(key, io.BytesIO(b"x" * 1234))

    assert storage.exists(key)
    assert storage.size(key) == 1234

    storage.delete(key)
    assert not storage.exists(key)


def test_deleting_a_missing_object_is_not_an_error(storage: Storage, key: str) -> None:
    storage.delete(key)
    assert not storage.exists(key)


def test_keys_older_than_lists_one_kind_of_one_tenant_by_age(storage: Storage) -> None:
    folder = kind_folder(TENANT, "uploads")
    uploads = sorted(object_key(TENANT, "uploads", ".csv") for _ in range(3))
    other_kind = object_key(TENANT, "exports", ".csv")
    other_tenant = object_key(uuid.uuid4(), "uploads", ".csv")
    for key in [*uploads, other_kind, other_tenant]:
        storage.save(key, io.BytesIO(b"Email\n"))
    now = datetime.now(UTC)

    assert sorted(storage.keys_older_than(folder, now + timedelta(minutes=1))) == uploads
    assert list(storage.keys_older_than(folder, now - timedelta(minutes=1))) == []
    assert list(storage.keys_older_than(kind_folder(uuid.uuid4(), "uploads"), now)) == []


@pytest.mark.parametrize("action", ["open", "size", "download_to"])
def test_missing_object_raises_object_not_found(
    storage: Storage, key: str, tmp_path: Path, action: str
) -> None:
    with pytest.raises(ObjectNotFound, match="was not found"):
        if action == "download_to":
            storage.download_to(key, str(tmp_path / "copy.csv"))
        else:
            getattr(storage, action)(key)


def test_download_to_writes_a_local_copy(storage: Storage, key: str, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    storage.save(key, io.BytesIO(data))
    target = tmp_path / "copy.csv"

    storage.download_to(key, str(target))

    assert target.read_bytes() == data


def test_save_file_uploads_a_local_file(storage: Storage, key: str, tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(b"id,email\n1,a@example.com\n")

    assert storage.save_file(key, str(source), content_type="text/csv") == source.stat().st_size
    assert read_all(storage, key) == source.read_bytes()


def test_stream_within_max_bytes_is_stored(storage: Storage, key: str) -> None:
    assert storage.save(key, io.BytesIO(b"12345"), max_bytes=5) == 5
    assert read_all(storage, key) == b"12345"


def test_stream_over_max_bytes_stops_reading_and_stores_nothing(storage: Storage, key: str) -> None:
    stream = GeneratedStream(64 * MiB)

    with pytest.raises(ObjectTooLarge, match="larger than the limit of 1 MB") as raised:
        storage.save(key, stream, max_bytes=MiB)

    assert raised.value.max_bytes == MiB
    assert stream.bytes_read == MiB + 1
    assert not storage.exists(key)


def test_big_stream_round_trips(storage: Storage, key: str) -> None:
    stream = GeneratedStream(12 * MiB)
    expected = hashlib.sha256(bytes(GeneratedStream(12 * MiB).read())).hexdigest()

    assert storage.save(key, stream) == 12 * MiB

    with storage.open(key) as stored:
        digest = hashlib.sha256()
        while chunk := stored.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert storage.size(key) == 12 * MiB


@pytest.mark.parametrize(
    "bad_key",
    [
        "../outside.csv",
        "tenants/../../etc/passwd",
        "/etc/passwd",
        "tenants\\x\\file.csv",
        "tenants/x/\x00.csv",
        "tenants//x.csv",
        "tenants/./x.csv",
        "",
    ],
)
def test_unsafe_keys_are_refused(storage: Storage, bad_key: str) -> None:
    with pytest.raises(InvalidKey, match="was refused"):
        storage.save(bad_key, io.BytesIO(b"data"))
    with pytest.raises(InvalidKey):
        storage.open(bad_key)


# Local storage


def test_local_objects_live_under_the_root_folder(local_storage: LocalStorage, key: str) -> None:
    local_storage.save(key, io.BytesIO(b"data"))
    assert (local_storage.root / key).read_bytes() == b"data"


def test_local_symlink_out_of_the_root_is_refused(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    local_storage.root.mkdir(parents=True)
    (local_storage.root / "link").symlink_to(outside)

    with pytest.raises(InvalidKey, match="outside the storage folder"):
        local_storage.open("link/secret.txt")


def test_local_failed_save_leaves_no_partial_file(local_storage: LocalStorage, key: str) -> None:
    class BrokenStream(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError("client went away")

    local_storage.save(key, io.BytesIO(b"previous"))

    with pytest.raises(ConnectionResetError):
        local_storage.save(key, BrokenStream())

    assert read_all(local_storage, key) == b"previous"
    folder = (local_storage.root / key).parent
    assert [path.name for path in folder.iterdir()] == [Path(key).name]


def test_local_signed_url_resolves_to_key_and_name(local_storage: LocalStorage, key: str) -> None:
    url = local_storage.signed_url(key, download_name="Contacts März.csv")

    assert url.startswith("/files/")
    token = url.removeprefix("/files/")
    assert local_storage.resolve_signed_token(token) == (key, "Contacts März.csv")


def test_local_signed_url_expires_exactly_at_its_own_expiry(
    local_storage: LocalStorage, key: str, clock: Clock
) -> None:
    short = local_storage.signed_url(key, expires_in=60).removeprefix("/files/")
    long = local_storage.signed_url(key, expires_in=3600).removeprefix("/files/")

    clock.now += 59
    assert local_storage.resolve_signed_token(short) == (key, None)

    clock.now += 1
    with pytest.raises(LinkExpired, match="has expired"):
        local_storage.resolve_signed_token(short)
    assert local_storage.resolve_signed_token(long) == (key, None)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: alter_signature(token),
        lambda token: token[: len(token) // 2],
        lambda token: "not-a-token",
        lambda token: LocalStorage("/unused", "another-secret").signed_url("a.csv")[7:],
    ],
    ids=["altered", "cut-short", "garbage", "other-secret"],
)
def test_local_tampered_token_is_invalid(
    local_storage: LocalStorage, key: str, tamper: Any
) -> None:
    token = local_storage.signed_url(key).removeprefix("/files/")
    with pytest.raises(LinkInvalid, match="not valid"):
        local_storage.resolve_signed_token(tamper(token))


def test_local_check_passes_and_creates_the_folder(local_storage: LocalStorage) -> None:
    local_storage.check()
    assert local_storage.root.is_dir()
    assert list(local_storage.root.iterdir()) == []


def test_local_check_fails_when_the_folder_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "storage"
    blocker.write_text("not a folder")
    storage = LocalStorage(str(blocker), SECRET)

    with pytest.raises(StorageError, match=r"Storage folder .*storage is not writable"):
        storage.check()


def test_local_storage_needs_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret key"):
        LocalStorage(str(tmp_path), "")


# S3 storage


def test_s3_keys_are_placed_under_the_prefix(
    s3_storage: S3Storage, s3_client: Any, s3_bucket: str, key: str
) -> None:
    s3_storage.save(key, io.BytesIO(b"data"), content_type="text/csv")

    assert bucket_keys(s3_client, s3_bucket) == [f"contacts-io/{key}"]
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"contacts-io/{key}")
    assert head["ContentType"] == "text/csv"


def test_s3_big_stream_goes_up_in_parts(
    s3_storage: S3Storage, s3_client: Any, s3_bucket: str, key: str
) -> None:
    s3_storage.save(key, GeneratedStream(12 * MiB))

    head = s3_client.head_object(Bucket=s3_bucket, Key=f"contacts-io/{key}")
    assert re.search(r"-2\"?$", head["ETag"])
    assert head["ContentLength"] == 12 * MiB


def test_s3_big_file_goes_up_in_parts(
    s3_storage: S3Storage, s3_client: Any, s3_bucket: str, key: str, tmp_path: Path
) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(os.urandom(12 * MiB))

    assert s3_storage.save_file(key, str(source)) == 12 * MiB

    head = s3_client.head_object(Bucket=s3_bucket, Key=f"contacts-io/{key}")
    assert re.search(r"-2\"?$", head["ETag"])
    assert read_all(s3_storage, key) == source.read_bytes()


def test_s3_stream_over_max_bytes_aborts_the_multipart_upload(
    s3_storage: S3Storage, s3_client: Any, s3_bucket: str, key: str
) -> None:
    stream = GeneratedStream(64 * MiB)

    with pytest.raises(ObjectTooLarge):
        s3_storage.save(key, stream, max_bytes=10 * MiB)

    assert stream.bytes_read == 10 * MiB + 1
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert bucket_keys(s3_client, s3_bucket) == []


def test_s3_signed_url_downloads_the_bytes_under_the_given_name(
    s3_storage: S3Storage, key: str
) -> None:
    s3_storage.save(key, io.BytesIO(b"id,email\n"), content_type="text/csv")

    url = s3_storage.signed_url(key, expires_in=60, download_name="contacts.csv")
    with urllib.request.urlopen(url) as response:
        body = response.read()
        disposition = response.headers["Content-Disposition"]

    assert body == b"id,email\n"
    assert disposition == 'attachment; filename="contacts.csv"'


def test_s3_signed_url_encodes_a_non_ascii_name(s3_storage: S3Storage, key: str) -> None:
    s3_storage.save(key, io.BytesIO(b"data"))

    url = s3_storage.signed_url(key, download_name="Kontakte März.csv")
    with urllib.request.urlopen(url) as response:
        disposition = response.headers["Content-Disposition"]

    assert disposition == (
        "attachment; filename=\"Kontakte Marz.csv\"; filename*=UTF-8''Kontakte%20M%C3%A4rz.csv"
    )


def test_s3_check_passes_for_an_existing_bucket(s3_storage: S3Storage) -> None:
    s3_storage.check()


def test_s3_check_fails_clearly_when_the_bucket_is_missing(s3_server: str) -> None:
    storage = S3Storage("no-such-bucket-here", endpoint_url=s3_server, region="us-east-1")

    with pytest.raises(StorageError, match="bucket no-such-bucket-here does not exist"):
        storage.check()


def test_s3_check_fails_clearly_when_the_server_is_down(
    aws_credentials: None, unreachable_s3_endpoint: str
) -> None:
    storage = S3Storage("contacts", endpoint_url=unreachable_s3_endpoint, region="us-east-1")

    with pytest.raises(StorageError) as raised:
        storage.check()

    assert str(raised.value) == (
        "Storage is not reachable: could not connect to the S3 endpoint "
        f"{unreachable_s3_endpoint}: check S3_ENDPOINT_URL and that the store is running."
    )


@pytest.mark.parametrize("action", ["save", "save_file"])
def test_s3_upload_into_a_missing_bucket_says_so(
    s3_server: str, key: str, tmp_path: Path, action: str
) -> None:
    storage = S3Storage("no-such-bucket-here", endpoint_url=s3_server, region="us-east-1")
    source = tmp_path / "export.csv"
    source.write_bytes(b"data")

    with pytest.raises(StorageError, match="bucket no-such-bucket-here does not exist"):
        if action == "save":
            storage.save(key, io.BytesIO(b"data"))
        else:
            storage.save_file(key, str(source))


# Keys and settings


def test_object_key_is_tenant_scoped_and_never_uses_the_file_name() -> None:
    key = object_key(TENANT, "uploads", ".CSV", now=datetime(2025, 3, 9, tzinfo=UTC))

    assert re.fullmatch(rf"tenants/{TENANT}/uploads/2025/03/[0-9a-f]{{32}}\.csv", key)
    assert key_belongs_to(key, TENANT)
    assert key_belongs_to(key, str(TENANT))
    assert not key_belongs_to(key, uuid.uuid4())


def test_object_keys_are_unique() -> None:
    assert object_key(TENANT, "exports") != object_key(TENANT, "exports")


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (".csv", ".csv"),
        ("xlsx", ".xlsx"),
        (".tar.gz", ".tar.gz"),
        ("../../etc/passwd", ""),
        ("Kunden März.csv", ""),
        (".c$v", ""),
        (".waytoolongext", ""),
    ],
)
def test_object_key_keeps_only_a_plain_extension(suffix: str, expected: str) -> None:
    key = object_key(TENANT, "error-reports", suffix)
    assert re.fullmatch(r"[0-9a-f]{32}" + re.escape(expected), key.rsplit("/", 1)[1])


def test_object_key_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="Unknown storage kind"):
        object_key(TENANT, "backups")


@pytest.mark.parametrize(
    "key",
    [
        f"tenants/{TENANT}x/uploads/a.csv",
        f"tenants/{TENANT}/../other/uploads/a.csv",
        f"other/{TENANT}/uploads/a.csv",
        f"/tenants/{TENANT}/uploads/a.csv",
    ],
)
def test_key_belongs_to_rejects_other_and_unsafe_keys(key: str) -> None:
    assert not key_belongs_to(key, TENANT)


def test_content_disposition_keeps_ascii_names_plain() -> None:
    assert content_disposition('re"port/2025.csv') == 'attachment; filename="re_port_2025.csv"'


def test_build_storage_gives_the_named_backend(tmp_path: Path, s3_server: str) -> None:
    local = build_storage(StorageSettings(local_path=str(tmp_path), secret_key=SECRET))
    s3 = build_storage(
        StorageSettings(
            backend="s3", s3_bucket="contacts", s3_endpoint_url=s3_server, s3_region="us-east-1"
        )
    )

    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path.resolve()
    assert isinstance(s3, S3Storage)
    assert s3.endpoint_url == s3_server


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (StorageSettings(backend="ftp", secret_key=SECRET), "Unknown storage backend 'ftp'"),
        (StorageSettings(backend="s3"), "needs a bucket"),
    ],
)
def test_build_storage_refuses_incomplete_settings(settings: StorageSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_storage(settings)


def test_s3_delete_also_aborts_an_upload_cut_off_half_way(
    s3_storage: S3Storage, s3_client: Any, s3_bucket: str, key: str
) -> None:
    name = f"contacts-io/{key}"
    upload = s3_client.create_multipart_upload(Bucket=s3_bucket, Key=name)
    s3_client.upload_part(
        Bucket=s3_bucket, Key=name, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    other = s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"{name}.other")
    s3_storage.delete(key)
    left = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u["UploadId"] for u in left] == [other["UploadId"]]  # only that key's upload
