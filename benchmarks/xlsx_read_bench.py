"""XLSX reader benchmark: `python -m benchmarks.xlsx_read_bench [--rows 100000 1048576]`.

Builds (once, cached under /tmp) a 10-column contacts workbook per size, its sheet XML written
directly as Excel writes it (shared strings, a date-styled column, numbers), then reads every
row to text with python-calamine and with the streaming reader, interleaved, each run in a
fresh subprocess: CPU time (`time.process_time`), rows/s and the subprocess's peak RSS.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from benchmarks.data import HEADER, rows

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/tmp/contacts-io-xlsx-bench")
DATE_COLUMN, NUMBER_COLUMN = 7, 8
PACKAGE = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/styles.xml": (
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
        "</cellXfs></styleSheet>"
    ),
}
READ = """
import resource, sys, time
from app.imports.readers import books, spreadsheet
books.STREAM_FROM_BYTES = 0 if sys.argv[2] == "streaming" else 1 << 62
started = time.process_time()
with spreadsheet.open_spreadsheet(sys.argv[1]) as table:
    count = sum(1 for _row in table.rows())
seconds = time.process_time() - started
print(count, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def workbook(count: int) -> Path:
    """The cached benchmark workbook of `count` data rows, written on first use."""
    path = CACHE / f"contacts-{count}.xlsx"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    strings: dict[str, int] = {}

    def cell(column: int, line: int, value: str) -> str:
        ref = f"{chr(65 + column)}{line}"
        if column == DATE_COLUMN:
            serial = (datetime.date.fromisoformat(value) - datetime.date(1899, 12, 30)).days
            return f'<c r="{ref}" s="1"><v>{serial}</v></c>'
        if column == NUMBER_COLUMN:
            return f'<c r="{ref}"><v>{value}</v></c>'
        if not value:
            return ""
        return f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'

    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, content in PACKAGE.items():
            archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns='
                b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref='
                b'"A1:J%d"/><sheetData>' % (count + 1)
            )
            header = "".join(
                f'<c r="{chr(65 + n)}1" t="s"><v>{strings.setdefault(name, len(strings))}</v></c>'
                for n, name in enumerate(HEADER)
            )
            batch = [f'<row r="1" spans="1:10">{header}</row>']
            for line, values in enumerate(rows(count), start=2):
                cells = "".join(cell(column, line, value) for column, value in enumerate(values))
                batch.append(f'<row r="{line}" spans="1:10">{cells}</row>')
                if len(batch) >= 10_000:
                    sheet.write("".join(batch).encode())
                    batch.clear()
            sheet.write("".join(batch).encode() + b"</sheetData></worksheet>")
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as shared:
            shared.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="http://'
                b'schemas.openxmlformats.org/spreadsheetml/2006/main" uniqueCount="%d">'
                % len(strings)
            )
            shared.write("".join(f"<si><t>{text}</t></si>" for text in strings).encode())
            shared.write(b"</sst>")
    partial.rename(path)
    return path


def read_once(path: Path, reader: str) -> dict[str, float]:
    """Rows, CPU seconds and peak RSS (MB) of one full read in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", READ, str(path), reader],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    count, seconds, peak_kb = result.stdout.split()
    return {"rows": int(count), "cpu_s": float(seconds), "peak_mb": int(peak_kb) / 1024}


def main() -> None:
    """Build the workbooks, time both readers interleaved and print a JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_048_575])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--readers", nargs="+", default=["calamine", "streaming"])
    options = parser.parse_args()
    print(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()}",
        flush=True,
    )
    for count in options.rows:
        started = time.monotonic()
        path = workbook(count)
        sizes = {m.filename: m.file_size >> 20 for m in zipfile.ZipFile(path).infolist()}
        print(f"{path} ready in {time.monotonic() - started:.1f} s; unpacked MB {sizes}")
        for repeat in range(options.repeats):
            for reader in options.readers:
                run = read_once(path, reader)
                run.update(
                    reader=reader,
                    repeat=repeat,
                    rows_per_s=round(run["rows"] / run["cpu_s"]),
                    load=os.getloadavg()[0],
                )
                print(json.dumps(run), flush=True)


if __name__ == "__main__":
    main()
