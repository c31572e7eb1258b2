"""The COPY lines the reading process makes, and the ids it makes for them."""

from __future__ import annotations

import os
import time
import uuid

from app.imports.copy_lines import (
    STAGE_COLUMNS,
    EmailMemory,
    RowEncoder,
    encode_rows,
    uuid7_strings,
)
from app.imports.validation import CleanRow
from app.models.types import new_id


def test_ids_are_time_ordered_version_7_uuids_and_all_different() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(text) for text in uuid7_strings(10_000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 10_000
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}
    assert all(before <= i.int >> 80 <= after for i in ids)


def test_rows_get_rounds_the_first_row_of_their_email_and_their_tags() -> None:
    rows = [
        CleanRow(2, "a@x.io", "a@x.io", {"first_name": "Ann"}, {"zip": "1"}, ["VIP", " "]),
        CleanRow(3, "b@x.io", "b@x.io", {"first_name": ""}, {"zip": ""}, []),
        CleanRow(4, "a@x.io", "a@x.io", {"first_name": "Anne"}, {}, ["vip"]),
    ]
    staged = encode_rows(rows)
    lines = [line.split("\t") for line in staged.data.decode().splitlines()]
    assert (staged.count, staged.rounds, staged.tag_names) == (3, 2, ["VIP"])
    assert all(len(line) == len(STAGE_COLUMNS) for line in lines)
    column = {name: i for i, name in enumerate(STAGE_COLUMNS)}
    assert [(r[column["round"]], r[column["batch_first"]]) for r in lines] == [
        ("1", "\\N"),
        ("1", "\\N"),
        ("2", "2"),
    ]
    assert lines[1][column["first_name"]] == "\\N"  # a blank cell is NULL
    assert lines[1][column["custom"]] == "{}"
    assert lines[0][column["tags"]] == '{"VIP"}' and lines[0][column["tags_norm"]] == '{"vip"}'


def test_a_forked_reader_does_not_repeat_its_parents_ids() -> None:
    new_id()  # the parent's pool of random bytes is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as the reading process: report an id and leave
        os.write(write, new_id().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    parent = new_id()
    os.close(read)
    os.close(write)
    assert child.int & ((1 << 74) - 1) != parent.int & ((1 << 74) - 1)


def _maybe_earlier(staged_data: bytes) -> list[tuple[str, str]]:
    column = STAGE_COLUMNS.index("maybe_earlier")
    email = STAGE_COLUMNS.index("email_normalized")
    return [
        (r.split("\t")[email], r.split("\t")[column]) for r in staged_data.decode().splitlines()
    ]


def test_a_row_says_whether_an_earlier_batch_may_have_had_its_email() -> None:
    """The writer reads the journal for a contact's earlier rows only where a row says so."""
    encode = RowEncoder()
    first = encode(
        [CleanRow(2, "a@x.io", "a@x.io", {}, {}, []), CleanRow(3, "b@x.io", "b@x.io", {}, {}, [])]
    )
    second = encode(
        [
            CleanRow(4, "c@x.io", "c@x.io", {}, {}, []),
            CleanRow(5, "A@x.io", "a@x.io", {}, {}, []),  # batch 1 had it
            CleanRow(6, "c@x.io", "c@x.io", {}, {}, []),  # this batch's row 4 had it: round 2
        ]
    )
    assert _maybe_earlier(first.data) == [("a@x.io", "f"), ("b@x.io", "f")]
    assert _maybe_earlier(second.data) == [("c@x.io", "f"), ("a@x.io", "t"), ("c@x.io", "f")]
    # without a memory (or one that did not see the file from its start) every first row may
    assert {
        m
        for _, m in _maybe_earlier(encode_rows([CleanRow(2, "d@x.io", "d@x.io", {}, {}, [])]).data)
    } == {"t"}
    resumed = RowEncoder(start_row=2000)
    assert _maybe_earlier(resumed([CleanRow(2001, "e@x.io", "e@x.io", {}, {}, [])]).data) == [
        ("e@x.io", "t")
    ]
    assert RowEncoder() == RowEncoder() and RowEncoder() != resumed


def test_the_email_memory_never_forgets_and_rarely_imagines() -> None:
    """A "no" is certain (a wrong one would lose a repeated row's journal lookup); a wrong
    "maybe" only costs the lookup: about one in 250 after a million emails."""
    memory = EmailMemory()
    emails = [f"person{n}@example{n % 97}.com" for n in range(200_000)]
    assert sum(memory.seen_before(e) for e in emails) < 100  # new ones: "no", but for a few
    assert all(memory.seen_before(e) for e in emails)
    wrong = sum(memory.seen_before(f"other{n}@example.org") for n in range(100_000))
    assert wrong < 200  # 2 bits an email, 200,000 emails in 2**25 bits: about 0.01%
