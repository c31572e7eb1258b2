"""A batch's clean rows as COPY text, made by the process that reads and validates the file.

`encode_rows` turns `CleanRow`s into the lines `app.imports.staged_write` streams into its
stage table: values escaped for COPY's text format only in the rare row that needs it, tag
names as text[] literals, and the ids the row's contact and journal row would get, made here
(time-ordered, as `new_id` makes them) so that the writer does nothing per row.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field

from app.imports.upsert import STANDARD_FIELDS
from app.imports.validation import CleanRow

STAGE_COLUMNS = (  # the stage table's columns, in the order of each line
    "row_number",
    "round",
    "batch_first",
    "maybe_earlier",
    "id",
    "event_id",
    "email",
    "email_normalized",
    *STANDARD_FIELDS,
    "custom",
    "tags",
    "tags_norm",
)
_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_dumps = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class StagedRows:
    """A batch's clean rows as COPY text for `import_stage`, and what the writer needs besides."""

    data: bytes
    count: int
    rounds: int
    tag_names: list[str] = field(default_factory=list)


_SPECIAL = re.compile(r"[\\\t\n\r]")
_ARRAY_SPECIAL = re.compile(r'[\\"]')
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _escaped(value: str) -> str:
    return value.translate(_ESCAPES)


def _array(values: list[str]) -> str:
    """A text[] literal (before COPY's own escaping)."""
    if _ARRAY_SPECIAL.search("".join(values)):
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}'


def uuid7_strings(count: int) -> list[str]:
    """`count` fresh time-ordered ids as text (what `new_id` makes, without a UUID object each)."""
    millis = f"{time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF:012x}"
    head = f"{millis[:8]}-{millis[8:]}-7"
    noise = os.urandom(10 * count).hex()
    ids = []
    for i in range(0, 20 * count, 20):
        r = noise[i : i + 20]
        ids.append(f"{head}{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}")
    return ids


def tag_key(name: str) -> str:
    """A tag name as tags are unique by (`ensure_tags` keeps the same rule)."""
    return name.strip().lower()[:100]


class EmailMemory:
    """The emails the batches before this one may have brought, in a Bloom filter.

    The writer looks up an existing contact's earlier rows in this import's journal (one index
    probe a contact, 1.2 µs of PostgreSQL per row at 500k rows) only where a row says an earlier
    batch may have had its email. A filter of fixed size (4 MB, two bits an email from the hash
    the email's string already carries) answers "no" for certain and "maybe" wrongly for about
    one in 250 after a million emails: a wrong "maybe" costs the probe, never a result. A read
    that starts past the file's first row (an import resumed after its checkpoint) did not see
    the rows before it: every row then says "maybe".
    """

    BITS = 1 << 25
    _MASK = BITS - 1

    def __init__(self, complete: bool = True) -> None:
        self.complete = complete
        self._bits = bytearray(self.BITS // 8)

    def seen_before(self, key: str) -> bool:
        """Whether `key` may have been given before; it is remembered from now on."""
        h = hash(key)
        a, b = h & self._MASK, (h >> 25) & self._MASK
        bits = self._bits
        found = (bits[a >> 3] >> (a & 7)) & (bits[b >> 3] >> (b & 7)) & 1
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        return bool(found) or not self.complete


class RowEncoder:
    """`encode_rows` with the memory of one read's earlier batches (`EmailMemory`).

    Made before the reading process starts, whose copy keeps the memory from batch to batch.
    Two encoders are equal when they would write the same lines for the same rows: both
    reads start at the file's first row, or neither does.
    """

    def __init__(self, start_row: int = 0) -> None:
        self.memory = EmailMemory(complete=start_row == 0)

    def __call__(self, rows: list[CleanRow]) -> StagedRows:
        return encode_rows(rows, self.memory)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowEncoder):
            return NotImplemented
        return self.memory.complete == other.memory.complete

    __hash__ = None  # type: ignore[assignment] # mutable


def encode_rows(rows: list[CleanRow], memory: EmailMemory | None = None) -> StagedRows:
    """Format clean rows as COPY lines (run by the reading process, beside the writer).

    Each row gets its round (1 for the first row of the batch with its email, 2 for the second,
    ...) and, from round 2, the batch's first row with that email; a first row says whether an
    earlier batch may have brought its email (always, without a `memory`). Values are escaped
    for COPY only in the rare row that holds a backslash, tab or line break.
    """
    lines: list[str] = []
    seen: dict[str, list[int]] = {}
    tags: dict[str, str] = {}
    rounds = 1
    ids = uuid7_strings(2 * len(rows))
    for i, row in enumerate(rows):
        key = row.email_normalized
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = [row.row, 1]
            round_, first = "1", _NULL
            maybe = "t" if memory is None or memory.seen_before(key) else "f"
        else:  # the batch's first row with the email is the one the writer reads it for
            earlier[1] += 1
            rounds = max(rounds, earlier[1])
            round_, first, maybe = str(earlier[1]), str(earlier[0]), "f"
        fields = row.fields
        values = [key, *[fields.get(name) or None for name in STANDARD_FIELDS]]
        custom = row.custom
        if custom:
            custom = {k: v for k, v in custom.items() if v is not None and v != ""}
        values.append(_dumps(custom) if custom else "{}")
        names = [t.strip()[:100] for t in row.tags if t.strip()] if row.tags else None
        if names:
            keys = [tag_key(t) for t in names]
            for k, name in zip(keys, names, strict=True):
                tags.setdefault(k, name)
            values += (_array(names), _array(keys))
        else:
            values += (None, None)
        if _SPECIAL.search("".join(filter(None, values))):
            user = "\t".join([_escaped(v) if v else _NULL for v in values])
        else:
            user = "\t".join([v or _NULL for v in values])
        lines.append(
            f"{row.row}\t{round_}\t{first}\t{maybe}\t{ids[2 * i]}\t{ids[2 * i + 1]}\t"
            f"{_escaped(row.email)}\t{user}"
        )
    data = ("\n".join(lines) + "\n").encode() if lines else b""
    return StagedRows(data, len(lines), rounds, list(tags.values()))
