"""Stream CSV and TSV files: encoding and delimiter detection, then a thin layer over csv.reader.

Row numbers are the file's record numbers (a quoted value spanning lines is one record), so they
match what a spreadsheet program shows; blank records are skipped but still counted.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Generator, Iterator
from contextlib import contextmanager

from app.imports.readers import table
from app.imports.readers.detection import (
    check_encoding_name,
    decode_sample,
    empty_file_error,
    not_text_error,
    read_sample,
    sniff_encoding,
)
from app.imports.readers.table import FileFormatError, ReaderLimits, SourceInfo, SourceRow, Table

DELIMITERS = (",", "\t", ";", "|")
SNIFF_RECORDS = 200
ESTIMATE_SAMPLE_BYTES = 1 << 20
_DECODE_CHUNK = 1 << 20
# What UTF-8 text misread in a legacy code page turns back into: accented Latin letters,
# typographic punctuation and the euro sign ("CafÃ©" -> "Café", "â€™" -> "’").
_MISREAD_UTF8 = re.compile("[\u00a0-\u017f\u2010-\u203a\u20ac]")
# Misread UTF-8 always shows two non-ASCII characters in a row (a lead and a continuation byte).
_NON_ASCII_PAIR = re.compile("[^\x00-\x7f]{2}").search


class _LineTooLong(Exception):
    """A physical line is longer than any sane record; raised through csv.reader."""


def open_delimited(
    path: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    limits: ReaderLimits = table.DEFAULT_LIMITS,
) -> DelimitedTable:
    """Open a CSV/TSV file: detect what was not given, read the header row."""
    sample, at_eof = read_sample(path)
    if not sample:
        raise empty_file_error()
    encoding = check_encoding_name(encoding) if encoding else sniff_encoding(sample, at_eof)
    if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
        raise FileFormatError(
            "The delimiter must be one character, such as a comma, semicolon, tab or |."
        )
    try:
        text = decode_sample(sample, encoding, at_eof)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, delimiter or ",") from exc
    if "\x00" in text:
        raise not_text_error()
    delimiter = delimiter or sniff_delimiter(text, at_eof)
    _ensure_csv_field_limit(limits)
    header_line, cells = _read_header(path, encoding, delimiter, limits)
    cells[0] = cells[0].lstrip("\ufeff")
    table.check_column_count(len(cells), limits)
    info = SourceInfo(
        file_type="csv",
        encoding=encoding,
        delimiter=delimiter,
        headers=table.distinct_headers(cells),
    )
    return DelimitedTable(path, info, header_line, limits)


class DelimitedTable(Table):
    """A CSV/TSV file streamed through csv.reader."""

    def __init__(self, path: str, info: SourceInfo, header_line: int, limits: ReaderLimits):
        super().__init__(info, limits)
        self._path = path
        self._header_line = header_line

    def _iter_rows(self) -> Generator[SourceRow, None, None]:
        headers = self.info.headers
        width = len(headers)
        encoding = self.info.encoding or "utf-8"
        delimiter = self.info.delimiter or ","
        legacy = not codecs.lookup(encoding).name.startswith("utf")
        nul_lines = [0]
        nul_seen = 0
        with _reading(self._path, encoding, delimiter, self._limits, nul_lines) as records:
            for record, _row in records:
                if record >= self._header_line:
                    break
            for record, row in records:
                if not any(row):
                    continue
                error = None
                if nul_lines[0] != nul_seen:
                    nul_seen = nul_lines[0]
                    error = table.drop_nul_characters(record, row, headers) or None
                if legacy and not all(map(str.isascii, row)):
                    error = error or _utf8_in_legacy_file(record, row, headers, encoding)
                size = len(row)
                if size != width:
                    if size < width:
                        row.extend([""] * (width - size))
                    else:
                        if any(row[width:]):
                            error = (
                                f"Row {record} has {size} cells but the header has {width} "
                                "columns: check for an unquoted delimiter in this row."
                            )
                        del row[width:]
                yield SourceRow(record, row, error)

    def _release(self) -> None:
        """Nothing to free: each row stream opens and closes its own file handle."""


def count_delimited_rows(path: str, info: SourceInfo) -> int:
    """Count the non-blank records after the header in one pass."""
    encoding = info.encoding or "utf-8"
    delimiter = info.delimiter or ","
    with _reading(path, encoding, delimiter, table.DEFAULT_LIMITS) as records:
        for _record, row in records:
            if any(cell.strip() for cell in row):
                break
        return sum(1 for _record, row in records if any(row))


PROGRESS_CHUNK_BYTES = 1 << 20


def progress_delimited_rows(path: str, info: SourceInfo) -> int:
    """The rows below the header for an import's progress, from the file's line ends.

    Counting exactly means parsing every record once more before the import reads the file
    (3.4 µs a row in the worker, 3.4 s for a million rows before the first batch), so the
    line ends are counted in the bytes instead, where they can only be the records' own: a
    file without a quote character (no cell can hold a line break or leave a quote open), in
    one line-end style, with no line longer than a record may be. Any other file is counted
    by parsing, as are files in an encoding whose line end is not the byte 0x0A (UTF-16,
    UTF-32) and files with bytes their encoding does not allow: the exact count refuses an
    open quote, an overlong line or a bad byte naming the row, before anything is written. A
    blank line still counts; the import sets the exact total when it ends, as for a workbook.
    """
    encoding = info.encoding or "utf-8"
    try:
        compatible = "a\n".encode(encoding).endswith(b"a\n")  # a BOM may come first
    except (LookupError, UnicodeError):
        compatible = False
    if not compatible:
        return count_delimited_rows(path, info)
    # decoded on the way (C speed, a tenth of a second for 100 MB): a file that is not valid
    # in its encoding is counted by parsing, which names the row, before anything is written
    decoder = codecs.getincrementaldecoder(encoding)()
    newlines = returns = pairs = quotes = 0
    # bytes since the last line feed, and the longest line that crossed a piece's edge (a line
    # inside one piece is shorter than a piece, which is no longer than the longest line allowed)
    run = longest = 0
    limit = _line_limit(table.DEFAULT_LIMITS)
    last = b""
    try:
        with open(path, "rb") as raw:
            while chunk := raw.read(min(PROGRESS_CHUNK_BYTES, limit)):
                decoder.decode(chunk)
                newlines += chunk.count(b"\n")
                returns += chunk.count(b"\r")
                pairs += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
                quotes += chunk.count(b'"')
                first = chunk.find(b"\n")
                if first < 0:
                    run += len(chunk)
                else:
                    longest = max(longest, run + first)
                    run = len(chunk) - chunk.rfind(b"\n") - 1
                last = chunk[-1:]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return count_delimited_rows(path, info)
    longest = max(longest, run)
    if (
        not newlines  # one line, or old Mac line ends (a carriage return alone)
        or quotes
        or returns not in (0, pairs)  # line ends of two styles
        or longest > limit
    ):
        return count_delimited_rows(path, info)
    lines = newlines + (1 if last != b"\n" else 0)  # a last line without its line end
    return max(lines - 1, 0)  # less the header's


def estimate_delimited_rows(path: str, info: SourceInfo) -> int:
    """Extrapolate the row count from the first megabyte; exact for smaller files."""
    size = os.path.getsize(path)
    if size <= ESTIMATE_SAMPLE_BYTES:
        return count_delimited_rows(path, info)
    encoding = info.encoding or "utf-8"
    with open(path, "rb") as raw:
        sample = raw.read(ESTIMATE_SAMPLE_BYTES)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
    text = text[: _last_line_end(text)]
    if not text:
        return 0
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=info.delimiter or ",")
    try:
        filled = sum(1 for row in reader if any(row))
    except csv.Error:
        return 0
    sampled_bytes = len(text.encode(encoding, "replace"))
    return max(round(filled * size / sampled_bytes) - 1, 0)


def sniff_delimiter(text: str, at_eof: bool) -> str:
    """Choose the delimiter whose field count is steadiest across records and matches the header.

    Each candidate parses the sample with csv.reader, so quoted delimiters do not count; a
    candidate must split the header into at least two fields. Ties go to more fields, then to
    the order comma, tab, semicolon, pipe.
    """
    if not at_eof:
        text = text[: _last_line_end(text)] or text
    best = ","
    best_score = (0.0, 0)
    for delimiter in DELIMITERS:
        counts = _field_counts(text, delimiter)
        if not counts or counts[0] < 2:
            continue
        header, rest = counts[0], counts[1:] or counts[:1]
        steadiness = sum(count == header for count in rest) / len(rest)
        score = (round(steadiness, 2), header)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _field_counts(text: str, delimiter: str) -> list[int]:
    """Fields per non-blank record of a sample, for up to SNIFF_RECORDS records."""
    counts: list[int] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(row):
                counts.append(len(row))
                if len(counts) >= SNIFF_RECORDS:
                    break
    except csv.Error:
        return counts
    return counts


def _last_line_end(text: str) -> int:
    """Index just past the last line break, 0 if there is none."""
    return max(text.rfind("\n"), text.rfind("\r")) + 1


def _ensure_csv_field_limit(limits: ReaderLimits) -> None:
    """Raise csv's process-wide field limit when the cell limit needs more (never lower it)."""
    needed = 4 * limits.max_cell_chars
    if csv.field_size_limit() < needed:
        csv.field_size_limit(needed)


def _line_limit(limits: ReaderLimits) -> int:
    """The longest physical line a legitimate file with these limits could have."""
    return limits.max_columns * (limits.max_cell_chars + 3)


def _column(headers: list[str], index: int) -> str:
    """A column as a message names it: by its header, or by position past the last header."""
    if index < len(headers) and headers[index]:
        return f'column "{headers[index]}"'
    return f"column {index + 1} (it has no header)"


def _utf8_in_legacy_file(
    line: int, row: list[str], headers: list[str], encoding: str
) -> str | None:
    """Explain a value that is UTF-8 text although the file was read in a legacy code page.

    The encoding is detected from the top of the file; a file whose later rows were pasted in
    from another source can switch to UTF-8 further down, which would import as "CafÃ©".
    """
    for index, value in enumerate(row):
        if value.isascii() or not _NON_ASCII_PAIR(value):
            continue
        try:
            as_utf8 = value.encode(encoding).decode("utf-8")
        except UnicodeError:
            continue
        if _MISREAD_UTF8.search(as_utf8):
            label = _ENCODING_LABELS.get(encoding, encoding)
            return (
                f'Row {line}: the value in {_column(headers, index)} ("{as_utf8[:40]}") is UTF-8 '
                f"text, but the rows above it are {label}: the file mixes two text encodings. "
                "Re-save the whole file as UTF-8 (in Excel: Save As > CSV UTF-8) and upload it "
                "again."
            )
    return None


def _bounded_lines(
    text: io.TextIOWrapper, limit: int, nul_lines: list[int] | None = None
) -> Iterator[str]:
    """Yield lines, refusing one longer than `limit` before it is held in memory.

    Lines holding a NUL character are counted in `nul_lines[0]`, so the row loop only looks
    for one in its cells when there is one to find.
    """
    readline = text.readline
    counter = nul_lines if nul_lines is not None else [0]
    while line := readline(limit):
        if len(line) == limit and line[-1] not in "\r\n":
            raise _LineTooLong
        if "\x00" in line:
            counter[0] += 1
        yield line


def _read_header(
    path: str, encoding: str, delimiter: str, limits: ReaderLimits
) -> tuple[int, list[str]]:
    """Return the record number and cells of the first non-blank record."""
    with _reading(path, encoding, delimiter, limits) as records:
        for record, row in records:
            if any(cell.strip() for cell in row):
                return record, row
    raise empty_file_error()


@contextmanager
def _reading(
    path: str,
    encoding: str,
    delimiter: str,
    limits: ReaderLimits,
    nul_lines: list[int] | None = None,
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """Open the file as numbered csv records, turning read failures into FileFormatError."""
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        lines = _bounded_lines(text, _line_limit(limits), nul_lines)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            yield enumerate(reader, start=1)
        except (csv.Error, _LineTooLong) as exc:
            line = _records_before_failure(path, encoding, delimiter, limits) + 1
            raise _structure_error(exc, line, limits) from exc
        except UnicodeDecodeError as exc:
            raise _decode_error(path, encoding, delimiter) from exc


def _records_before_failure(path: str, encoding: str, delimiter: str, limits: ReaderLimits) -> int:
    """Re-read the file to count the records before a read failure (only on the error path)."""
    count = 0
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        reader = csv.reader(_bounded_lines(text, _line_limit(limits)), delimiter=delimiter)
        try:
            for _row in reader:
                count += 1
        except (csv.Error, _LineTooLong, UnicodeDecodeError):
            return count
    return count


def _structure_error(exc: Exception, line: int, limits: ReaderLimits) -> FileFormatError:
    """Explain a line or value the csv layer refused, at a given row."""
    if isinstance(exc, _LineTooLong):
        return FileFormatError(
            f"Row {line:,} is longer than {_line_limit(limits):,} characters: the file may not "
            'be a CSV file, or a quote (") is never closed. Check the file and upload it again.'
        )
    if "field larger than field limit" in str(exc):
        return FileFormatError(
            f"Row {line:,} has a value longer than {csv.field_size_limit():,} characters, "
            'which usually means a quote (") was opened and never closed: '
            "check the quotes in that row and upload the file again."
        )
    return FileFormatError(
        f"Row {line:,} could not be read ({exc}): check the quotes in that row "
        "and upload the file again."
    )


def _decode_error(path: str, encoding: str, delimiter: str) -> FileFormatError:
    """Name the row where decoding fails and suggest re-saving as UTF-8."""
    where = "part of it"
    offset = _first_undecodable_byte(path, encoding)
    if offset is not None:
        try:
            where = f"row {_record_at_offset(path, encoding, delimiter, offset):,}"
        except (csv.Error, UnicodeDecodeError):
            where = f"byte {offset:,}"
    label = _ENCODING_LABELS.get(encoding, encoding)
    return FileFormatError(
        f"The file is not valid {label} text (the problem starts at {where}): re-save it "
        "as UTF-8 (in Excel: Save As > CSV UTF-8) and upload it again, or choose its encoding."
    )


_ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
    "latin-1": "Latin-1",
    "iso8859-1": "Latin-1",
}


def _first_undecodable_byte(path: str, encoding: str) -> int | None:
    """Byte offset of the first sequence the codec rejects, None if it all decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    with open(path, "rb") as raw:
        while True:
            chunk = raw.read(_DECODE_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return consumed - pending + exc.start
            if not chunk:
                return None
            consumed += len(chunk)


def _record_at_offset(path: str, encoding: str, delimiter: str, offset: int) -> int:
    """The record number holding byte `offset`, by parsing only the bytes before it."""
    last_line = [""]
    records = 0
    with (
        open(path, "rb") as raw,
        io.TextIOWrapper(io.BufferedReader(_BytePrefix(raw, offset)), encoding, newline="") as text,
    ):

        def remembered() -> Iterator[str]:
            for line in text:
                last_line[0] = line
                yield line

        for _row in csv.reader(remembered(), delimiter=delimiter):
            records += 1
    if records == 0 or last_line[0].endswith(("\n", "\r")):
        return records + 1
    return records


class _BytePrefix(io.RawIOBase):
    """The first `size` bytes of a binary file, as a raw stream."""

    def __init__(self, raw: io.BufferedReader, size: int) -> None:
        self._raw = raw
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override] # typeshed: any Buffer
        wanted = min(len(buffer), self._left)
        data = self._raw.read(wanted) if wanted else b""
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)
