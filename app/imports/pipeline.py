"""Open an import's file, build its validator, and read it in validated batches.

The import, the dry run and the refused-rows report read a file the same way, through one
loop: `opened_source` downloads and opens the file, checks the mapping against its header and
builds the validator; `feed` reads it in validated batches (in a forked process for large
files) and hands each batch to a sink. The import's sink writes (`importing`), the dry run's
counts (`dry_run`), the report's collects the refused rows (`error_report`). The callers own
the database work.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import queue
import resource
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, takewhile
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.imports.copy_lines import StagedRows
from app.imports.corrections import Corrections, corrected
from app.imports.mapping import FieldTarget
from app.imports.options import ImportOptions
from app.imports.parsing import FileFormatError, ReaderLimits, open_as
from app.imports.service import storage
from app.imports.validation import (
    CleanRow,
    RowError,
    RowValidator,
    ValidationOptions,
)
from app.models import (
    CustomField,
    ImportJob,
)

log = logging.getLogger(__name__)


@dataclass
class ValidatedBatch:
    """One batch of rows, read and validated, ready for the database."""

    consumed: int
    rows: list[CleanRow]
    errors: list[tuple[RowError, list[str]]]
    staged: StagedRows | None = None  # the rows as COPY text, when the writer asked for it
    # with corrections: the original cells of the rows they touched (skipped ones included),
    # and why the row could not be read, if it could not
    touched: list[tuple[int, list[str], str | None]] | None = None


def error_dict(error: RowError) -> dict[str, Any]:
    return {
        "row": error.row,
        "column": error.column,
        "value": error.value,
        "message": error.message,
    }


Encoder = Callable[[list[CleanRow]], StagedRows]


def validated_batches(
    table: Any,
    validator: RowValidator,
    skip: int,
    batch_size: int,
    encode: Encoder | None = None,
    fixes: Corrections | None = None,
    only: frozenset[int] | None = None,
) -> Iterator[ValidatedBatch]:
    """The file's rows after the first `skip`, validated, `batch_size` at a time.

    With `encode`, each batch carries its clean rows as the writer's COPY text instead of
    objects: the reading process formats them, the writer only streams them. `fixes`: the
    corrections made in the browser, applied to their rows (a skipped row is consumed and
    goes nowhere). `only`: the row numbers to read (a follow-up import's corrected rows); the
    others are consumed and go nowhere.
    """
    rows = table.rows()
    if only is not None:  # no need to read past the last row wanted
        last = max(only, default=0)
        rows = takewhile(lambda source: source.line <= last, rows)
    if skip:
        for _ in islice(rows, skip):
            pass
    while True:
        chunk = list(islice(rows, batch_size))
        if not chunk:
            return
        clean: list[CleanRow] = []
        errors: list[tuple[RowError, list[str]]] = []
        touched: list[tuple[int, list[str], str | None]] | None = [] if fixes else None
        for source in chunk:
            if only is not None and source.line not in only:
                continue
            if fixes and source.line in fixes:
                fix = fixes[source.line]
                touched.append((source.line, source.values, source.error))  # type: ignore[union-attr]
                if fix is None:
                    continue
                source = corrected(source, fix)
            if source.error:
                error = RowError(source.line, None, "", source.error, "unreadable")
                errors.append((error, source.values))
                continue
            result = validator.validate(source.line, source.values)
            if isinstance(result, list):
                errors.extend((e, source.values) for e in result)
            else:
                clean.append(result)
        if encode is not None:
            yield ValidatedBatch(len(chunk), [], errors, staged=encode(clean), touched=touched)
        else:
            yield ValidatedBatch(len(chunk), clean, errors, touched=touched)


def prefetch(batches: Iterator[ValidatedBatch], depth: int = 2) -> Iterator[ValidatedBatch]:
    """Read and validate the next batches on a thread while the database writes this one."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        q.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# What the reading process may hold beyond what it inherits while it parses a workbook whose
# grid is measured meanwhile by the importing process. Measured needs: calamine ~230 MB for
# the largest sheet it parses (80 MB of XML), the streaming reader under 400 MB at Excel's row
# limit. A legitimate workbook that needs more (a far cell under the grid limit: up to 1.6 GB)
# is read again by a checked process without the cap (`importing._early_or_again`).
UNCHECKED_MEMORY_BYTES = 1 << 30


class ChildBatches:
    """Batches read and validated in a forked process, started at once; iterate, then close.

    Reading and validating is pure CPU work on plain values; a second process gives it a core of
    its own instead of sharing the interpreter lock with the batch writer. The child touches no
    database connection and leaves with os._exit.

    `checked=False`: the workbook's grid has not been measured yet (`check_source`; its ZIP
    directory has): the importing process measures it while the child parses, and takes no
    batch before it passed. The child then runs with its address space capped
    (`UNCHECKED_MEMORY_BYTES` more than it inherits): the grid a bomb makes calamine allocate
    meanwhile stays under the cap, or ends the child, never the worker.
    """

    def __init__(
        self,
        path: str,
        table: Any,
        validator: RowValidator,
        skip: int,
        batch_size: int,
        depth: int = 4,
        encode: Encoder | None = None,
        fixes: Corrections | None = None,
        only: frozenset[int] | None = None,
        checked: bool = True,
    ) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.validator, self.encode = validator, encode
        self.closed = False
        self.channel = channel = context.Queue(maxsize=depth)
        info = table.info
        limits = reader_limits()
        cap = None
        if not checked:
            try:
                cap = _address_space_bytes() + UNCHECKED_MEMORY_BYTES
            except OSError:  # no /proc: the child checks the package itself before it parses
                checked = True

        def produce() -> None:
            try:
                if cap is not None:  # a bomb ends it with an abort: no core, no stack dump
                    faulthandler.disable()
                    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
                    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
                with open_as(path, info, limits=limits, check=checked) as child_table:
                    for batch in validated_batches(
                        child_table, validator, skip, batch_size, encode, fixes, only
                    ):
                        channel.put(("batch", batch))
                channel.put(("done", None))
            except FileFormatError as exc:
                channel.put(("format", str(exc)))
            except BaseException as exc:  # reported to the parent, which raises it
                channel.put(("crash", f"{type(exc).__name__}: {exc}"))
            finally:
                channel.close()
                channel.join_thread()
                os._exit(0)

        self.child = context.Process(target=produce, name="import-validator", daemon=True)
        self.child.start()

    def __iter__(self) -> Iterator[ValidatedBatch]:
        try:
            while True:
                try:
                    kind, payload = self.channel.get(timeout=5)
                except queue.Empty:
                    if not self.child.is_alive():
                        raise RuntimeError(
                            "The process reading the file stopped unexpectedly."
                        ) from None
                    continue
                if kind == "batch":
                    yield payload
                elif kind == "done":
                    return
                elif kind == "format":
                    raise FileFormatError(payload)
                else:
                    raise RuntimeError(f"Reading the file failed: {payload}")
        finally:
            self.close()

    def close(self) -> None:
        """Stop the child (a parse in native code does not see SIGTERM: then SIGKILL)."""
        if self.closed:
            return
        self.closed = True
        if self.child.is_alive():
            self.child.terminate()
            self.child.join(timeout=2)
            if self.child.is_alive():
                self.child.kill()
        self.child.join(timeout=5)
        self.channel.close()


def _address_space_bytes() -> int:
    """This process's virtual memory size (what a forked child starts with)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def reader_limits() -> ReaderLimits:
    return ReaderLimits(max_rows=current_app.config["IMPORT_MAX_ROWS"])


@dataclass
class Source:
    """An import's file, open, with what reading it as the import reads it takes."""

    path: str
    table: Any
    options: ImportOptions
    targets: dict[str, FieldTarget]
    custom_types: dict[str, str]
    validator: RowValidator
    fixes: Corrections | None = None  # corrections made in the browser, by row number
    only: frozenset[int] | None = None  # the rows to read (a follow-up import), None: all

    @property
    def headers(self) -> list[str]:
        return list(self.table.headers)

    def with_types(self, custom_types: dict[str, str]) -> None:
        """Validate custom fields as these types (the ones the import found or created)."""
        if custom_types != self.custom_types:
            self.custom_types = custom_types
            self.validator = new_validator(
                self.headers, self.table.info.row_label, self.options, self.targets, custom_types
            )

    def batches(
        self,
        skip: int = 0,
        batch_size: int = 2000,
        *,
        encode: Encoder | None = None,
        ahead: bool = False,
    ) -> Iterator[ValidatedBatch]:
        """The rows after the first `skip`, validated, `batch_size` at a time, in this process
        (`ahead`: on a thread, a few batches ahead of the caller)."""
        batches = validated_batches(
            self.table, self.validator, skip, batch_size, encode, self.fixes, self.only
        )
        return prefetch(batches) if ahead else batches

    def in_child(
        self,
        skip: int = 0,
        batch_size: int = 2000,
        *,
        encode: Encoder | None = None,
        checked: bool = True,
    ) -> ChildBatches:
        """The same batches read and validated in a forked process, started now (large files;
        `checked`: see `ChildBatches`). Iterate it, or close it."""
        return ChildBatches(
            self.path,
            self.table,
            self.validator,
            skip,
            batch_size,
            encode=encode,
            fixes=self.fixes,
            only=self.only,
            checked=checked,
        )


@contextmanager
def opened_source(
    job: ImportJob,
    *,
    stream: bool = False,
    check: bool = True,
    fixes: Corrections | None = None,
    only: frozenset[int] | None = None,
) -> Iterator[Source]:
    """Download an import's file into a temporary folder and open it, for as long as the block.

    Raises, before the block runs, `StorageError` (the file cannot be fetched),
    `FileFormatError` (it cannot be read) or `OptionsError` (the mapping does not fit its
    header). `stream` and `check`: see `open_table` (with `check=False` the caller runs
    `check_source` before it reads a row). Custom fields are validated as the types they have,
    or the mapping declares for them (`declared_custom_types`, see `Source.with_types`).
    """
    options = ImportOptions.from_dict(job.import_options or {})
    with tempfile.TemporaryDirectory(prefix="import-") as folder:
        path = os.path.join(folder, "source")
        storage().download_to(options.file_key, path)
        with open_as(path, options, limits=reader_limits(), stream=stream, check=check) as table:
            targets = options.targets()
            options.check(table.headers)
            types = declared_custom_types(job.tenant_id, targets)
            validator = new_validator(table.headers, table.info.row_label, options, targets, types)
            yield Source(path, table, options, targets, types, validator, fixes, only)


class Sink(Protocol):
    """What one use of the pipeline does with each validated batch."""

    def take(self, batch: ValidatedBatch) -> bool:
        """Handle one batch; False stops the reading (the batch was not taken)."""


def feed(batches: Iterable[ValidatedBatch], sink: Sink) -> bool:
    """Hand the batches (of `Source.batches` or `Source.in_child`) to the sink, in order.

    True when the whole file was taken, False when the sink stopped the reading. A
    `FileFormatError` part-way (a row the reader cannot get past) reaches the caller after the
    batches before it were taken."""
    return all(sink.take(batch) for batch in batches)


def tenant_custom_types(tenant_id: uuid.UUID) -> dict[str, str]:
    """The type of each of the tenant's custom fields, by key."""
    query = select(CustomField.key, CustomField.field_type).where(
        CustomField.tenant_id == tenant_id
    )
    return {key: field_type for key, field_type in db.session.execute(query)}


def declared_custom_types(tenant_id: uuid.UUID, targets: dict[str, FieldTarget]) -> dict[str, str]:
    """The types of the mapped custom fields: the tenant's, else the one the mapping declares."""
    existing = tenant_custom_types(tenant_id)
    return {
        t.key: existing.get(t.key) or t.custom_type or "text"
        for t in targets.values()
        if t.kind == "custom" and t.key
    }


def new_validator(
    headers: list[str],
    row_label: str,
    options: ImportOptions,
    targets: dict[str, FieldTarget],
    custom_types: dict[str, str],
) -> RowValidator:
    """The validator of an import's rows: its mapping, custom field types and checks (the
    review step builds it from the headers its dry run recorded, without the file)."""
    return RowValidator(
        headers,
        targets,
        custom_types,
        ValidationOptions(options.validate_email, options.validate_phone, options.default_region),
        row_label,
    )
