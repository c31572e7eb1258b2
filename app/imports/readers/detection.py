"""Tell a file's type and text encoding from its bytes; the file name is only a hint."""

from __future__ import annotations

import codecs
import os
import unicodedata
import zipfile

from charset_normalizer import from_bytes

from app.imports.readers.table import FileFormatError

SAMPLE_BYTES = 64 * 1024
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
JSON_EXTENSIONS = frozenset({".json", ".ndjson", ".jsonl"})
SPREADSHEET_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xls"})

# Longest BOM first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WESTERN_DEFAULT = "cp1252"
_SYMBOL_CATEGORIES = frozenset({"Sc", "Sk", "Sm", "So", "No", "Cc", "Co", "Cn"})
_ENCRYPTED_OOXML_MARK = "EncryptionInfo".encode("utf-16-le")


def empty_file_error() -> FileFormatError:
    """The error for a file with no header row."""
    return FileFormatError(
        "The file is empty: it has no header row. "
        "Add a row of column names at the top and upload it again."
    )


def not_text_error() -> FileFormatError:
    """The error for binary content where text was expected."""
    return FileFormatError(
        "This doesn't look like a text file (it contains binary data): "
        "upload a CSV, Excel (.xlsx) or JSON file."
    )


def password_error() -> FileFormatError:
    """The error for an encrypted workbook."""
    return FileFormatError(
        "This workbook is password-protected: remove the password in Excel and upload it again."
    )


def not_a_workbook_error() -> FileFormatError:
    """The error for a file that claims to be a workbook but is not one."""
    return FileFormatError(
        "This file is not a valid Excel workbook: open it in Excel, save it as "
        "Excel Workbook (.xlsx) and upload it again (or, if it is a CSV file, name it .csv)."
    )


def read_sample(path: str, size: int = SAMPLE_BYTES) -> tuple[bytes, bool]:
    """Return the first `size` bytes and whether they are the whole file."""
    with open(path, "rb") as raw:
        sample = raw.read(size + 1)
    return sample[:size], len(sample) <= size


def detect_file_type(path: str, file_name: str | None = None) -> str:
    """Return "csv", "xlsx" or "json" from the content; raise FileFormatError otherwise."""
    extension = os.path.splitext(file_name or path)[1].lower()
    sample, at_eof = read_sample(path)
    if not sample:
        raise empty_file_error()
    if sample.startswith(ZIP_MAGIC):
        return zip_file_type(path)
    if sample.startswith(OLE2_MAGIC):
        raise ole2_error(path)
    if extension in SPREADSHEET_EXTENSIONS:
        raise not_a_workbook_error()
    encoding = sniff_encoding(sample, at_eof)
    text = decode_sample(sample, encoding, at_eof, errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise empty_file_error()
    return "json" if looks_like_json(text, extension) else "csv"


def looks_like_json(text: str, extension: str = "") -> bool:
    """Whether text (leading whitespace stripped) starts like a JSON array or object."""
    if not text or text[0] not in "[{":
        return False
    if extension in JSON_EXTENSIONS:
        return True
    rest = text[1:].lstrip()
    if not rest:
        return True
    if text[0] == "{":
        return rest[0] in '"}'
    return rest[0] in '{[]"-0123456789' or rest.startswith(("true", "false", "null"))


def zip_file_type(path: str) -> str:
    """Return "xlsx" for a workbook package; explain what else the ZIP is."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "xl/workbook.xml" in names:
                return "xlsx"
            content_types = ""
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as member:
                    content_types = member.read(1 << 20).decode("utf-8", "replace")
            mimetype = ""
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    mimetype = member.read(200).decode("ascii", "replace")
    except Exception as exc:  # zipfile and its decompressors fail in many ways on damaged parts
        raise not_a_workbook_error() from exc
    if "spreadsheetml.sheet.main" in content_types:
        return "xlsx"
    if "opendocument.spreadsheet" in mimetype:
        raise FileFormatError(
            "This is an OpenDocument spreadsheet (.ods): save it as Excel Workbook (.xlsx) "
            "or CSV and upload it again."
        )
    raise FileFormatError(
        "This is a ZIP archive, not an Excel workbook: unzip it and upload the CSV, "
        "Excel or JSON file inside."
    )


def ole2_error(path: str) -> FileFormatError:
    """Explain an OLE2 container: an encrypted workbook or an old .xls file."""
    overlap = len(_ENCRYPTED_OOXML_MARK)
    tail = b""
    with open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            if _ENCRYPTED_OOXML_MARK in tail + chunk:
                return password_error()
            tail = chunk[-overlap:]
    return FileFormatError(
        "This is an old-format Excel 97-2003 file (.xls) or another Office document: "
        "open it in Excel, save it as Excel Workbook (.xlsx) and upload it again."
    )


def bom_encoding(sample: bytes) -> str | None:
    """The codec a byte-order mark at the start names, if any."""
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    return None


def sniff_encoding(sample: bytes, at_eof: bool) -> str:
    """Pick the codec for a text sample: BOM, BOM-less UTF-16, UTF-8, else the best guess."""
    marked = bom_encoding(sample)
    if marked:
        return marked
    utf16 = _bomless_utf16(sample)
    if utf16:
        return utf16
    if b"\x00" in sample:
        raise not_text_error()
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=at_eof)
    except UnicodeDecodeError:
        return _guess_legacy_encoding(sample)
    return "utf-8"


def _bomless_utf16(sample: bytes) -> str | None:
    """Spot UTF-16 without a BOM: mostly-ASCII text leaves every other byte zero."""
    head = sample[:4096]
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even_zeros = head[0 : pairs * 2 : 2].count(0)
    odd_zeros = head[1 : pairs * 2 : 2].count(0)
    if odd_zeros >= 0.9 * pairs and even_zeros == 0:
        return "utf-16-le"
    if even_zeros >= 0.9 * pairs and odd_zeros == 0:
        return "utf-16-be"
    return None


def _guess_legacy_encoding(sample: bytes) -> str:
    """Guess a legacy code page, preferring Windows-1252 when it reads as ordinary Latin text.

    charset-normalizer alone often picks Central European code pages for short Western samples
    (turning "Peña" into "Peńa"), while Windows-1252 is what Excel writes on Western Windows.
    """
    best = from_bytes(sample).best()
    if best is None:
        raise not_text_error()
    guessed = codecs.lookup(best.encoding).name
    if not _is_latin_script(str(best)):
        return guessed
    try:
        western = sample.decode(_WESTERN_DEFAULT)
    except UnicodeDecodeError:
        return guessed
    return _WESTERN_DEFAULT if _reads_naturally(western) else guessed


def _is_latin_script(text: str) -> bool:
    """Whether every non-ASCII letter in text is a Latin letter."""
    return all(
        unicodedata.name(char, "").startswith("LATIN")
        for char in set(text)
        if ord(char) > 127 and char.isalpha()
    )


def _reads_naturally(text: str) -> bool:
    """False when symbols sit inside words, as a wrong code page produces ("Åukasz", "³")."""
    for index, char in enumerate(text):
        if ord(char) > 127 and unicodedata.category(char) in _SYMBOL_CATEGORIES:
            before = text[index - 1] if index else " "
            after = text[index + 1] if index + 1 < len(text) else " "
            if before.isalpha() or after.isalpha():
                return False
    return True


def check_encoding_name(encoding: str) -> str:
    """Return the canonical codec name, or explain that it is unknown."""
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise FileFormatError(
            f'"{encoding}" is not a text encoding we know: choose another one, such as UTF-8.'
        ) from exc


def decode_sample(sample: bytes, encoding: str, at_eof: bool, errors: str = "strict") -> str:
    """Decode a sample, leaving an incomplete trailing character out."""
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    return decoder.decode(sample, final=at_eof)
