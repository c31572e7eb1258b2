"""The small parts of an XLSX package, read whole: relationships, the workbook's sheet list,
the date styles; and the XML parser every part goes through (no entity is ever declared,
expanded or fetched). `xlsx_stream` streams the worksheets themselves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

DATE, DURATION = "date", "duration"

_BUILTIN_FORMATS = {**dict.fromkeys((*range(14, 23), 45, 47), DATE), 46: DURATION}
_ESCAPE = re.compile(r"_x00([0-9A-Fa-f]{2})_")
XML_SPACE = " \t\r\n"


class WorkbookDamaged(Exception):
    """The package or one of its parts cannot be read as a workbook."""


@dataclass(frozen=True, slots=True)
class SheetEntry:
    """One sheet of the workbook as its workbook part lists it."""

    name: str
    part: str
    visible: bool
    worksheet: bool


def safe_parser() -> Any:
    """An expat parser that refuses any entity declaration (billion laughs, external entities)."""
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.buffer_size = 1 << 16

    def refuse(*_args: object) -> None:
        raise WorkbookDamaged("entity declaration")

    parser.EntityDeclHandler = refuse
    return parser


def local_name(name: str) -> str:
    """A tag or attribute name without its namespace prefix (calamine ignores prefixes)."""
    return name.rpartition(":")[2]


def part_elements(data: bytes) -> list[tuple[str, dict[str, str], int]]:
    """(local name, attributes, depth) of every element of a small part, in document order."""
    found: list[tuple[str, dict[str, str], int]] = []
    if not data:
        return found
    depth = 0
    parser = safe_parser()

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        found.append((local_name(name), attributes, depth))
        depth += 1

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise WorkbookDamaged("xml") from exc
    return found


def attribute(attributes: dict[str, str], local: str) -> str | None:
    """An attribute by its local name, whatever its prefix (`r:id`, `id`)."""
    for name, value in attributes.items():
        if local_name(name) == local:
            return value
    return None


def office_document_folder(rels: bytes) -> str:
    """The folder of the workbook part (`xl/`), from the package relationships."""
    for tag, attributes, _depth in part_elements(rels):
        if tag == "Relationship" and attributes.get("Type", "").endswith(
            "/relationships/officeDocument"
        ):
            target = attributes.get("Target")
            if target is not None:
                return target[: target.rfind("/") + 1].removeprefix("/")
    raise WorkbookDamaged("no office document")


def relationships(rels: bytes) -> dict[str, tuple[str, str]]:
    """Relationship id -> (target, type) of the workbook part."""
    return {
        attributes["Id"]: (attributes.get("Target", ""), attributes.get("Type", ""))
        for tag, attributes, _depth in part_elements(rels)
        if tag == "Relationship" and "Id" in attributes
    }


def workbook_sheets(
    workbook: bytes, relationships: dict[str, tuple[str, str]], base: str
) -> tuple[list[SheetEntry], bool]:
    """The sheets in workbook order and whether dates count from 1904."""
    sheets: list[SheetEntry] = []
    date_1904 = False
    for tag, attributes, _depth in part_elements(workbook):
        if tag == "workbookPr":
            date_1904 = attributes.get("date1904") in ("1", "true")
        elif tag == "sheet":
            state = attributes.get("state", "visible")
            if state not in ("visible", "hidden", "veryHidden"):
                raise WorkbookDamaged("sheet state")
            target, kind = relationships.get(attribute(attributes, "id") or "", ("", ""))
            kind = kind.rsplit("/", 1)[-1]
            if not target or kind not in ("worksheet", "chartsheet", "dialogsheet"):
                raise WorkbookDamaged("sheet relationship")
            part = target[1:] if target.startswith("/") else base + target
            name = attributes.get("name", "")
            sheets.append(SheetEntry(name, part, state == "visible", kind == "worksheet"))
    return sheets, date_1904


def date_styles(styles: bytes) -> dict[str, str]:
    """Cell style index (as the `s` attribute writes it) -> DATE or DURATION, for date styles."""
    custom: dict[str, str] = {}
    kinds: dict[str, str] = {}
    index = 0
    in_cell_formats_at: int | None = None
    for tag, attributes, depth in part_elements(styles):
        if in_cell_formats_at is not None and depth <= in_cell_formats_at:
            in_cell_formats_at = None
        if tag == "numFmt" and "numFmtId" in attributes and "formatCode" in attributes:
            custom[attributes["numFmtId"]] = attributes["formatCode"]
        elif tag == "cellXfs":
            in_cell_formats_at = depth
        elif tag == "xf" and in_cell_formats_at is not None:
            format_id = attributes.get("numFmtId")
            if format_id is not None:
                if format_id in custom:
                    kind = custom_format_kind(custom[format_id])
                else:
                    kind = _BUILTIN_FORMATS.get(int(format_id)) if format_id.isdigit() else None
                if kind:
                    kinds[str(index)] = kind
            index += 1
    return kinds


def custom_format_kind(code: str) -> str | None:
    """DATE, DURATION or None for a number format code, as calamine decides it."""
    escaped = quoted = hms = am_pm = False
    brackets = 0
    previous = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\*":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == ";":
            return None
        elif char == "[":
            brackets += 1
        elif char == "]" and brackets == 1 and hms:
            return DURATION
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not am_pm and brackets == 0:
            am_pm = True
        elif brackets == 0 and char in ("pm/PM" if am_pm else "dmhysDMHYS"):
            return DATE
        elif not (hms and char.lower() == previous.lower()):
            hms = previous == "[" and char in "mhsMHS"
        previous = char
    return None


def style_key(style: str) -> str:
    """The style index an `s` attribute means, as calamine reads it (`01` is 1, junk is 0)."""
    return str(int(style)) if style.isascii() and style.isdigit() else "0"


def unescape_text(text: str, preserve: bool) -> str:
    """A `<t>` element's text: trimmed unless preserved, `_x000D_` escapes decoded."""
    if not preserve:
        text = text.strip(XML_SPACE)
    if "_x00" in text:
        text = _ESCAPE.sub(lambda found: chr(int(found.group(1), 16)), text)
    return text
