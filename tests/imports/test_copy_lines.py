"""The COPY lines the reading process makes, and the ids it makes for them."""

from __future__ import annotations

import os
import time
import uuid

from app.imports.copy_lines import STAGE_COLUMNS, encode_rows, uuid7_strings
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
