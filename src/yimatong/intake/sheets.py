"""Read source spreadsheets as rows with the row numbers Excel shows: xlsx (streamed with openpyxl's
read-only mode, so memory does not grow with the rows), xls (xlrd) and CSV in UTF-8 (with or without BOM)
or GBK/GB18030."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openpyxl
import xlrd

from yimatong.config import Settings
from yimatong.formats.archives import ArchiveError, ZipLimits, count_matches, open_zip
from yimatong.formats.text import decode_text


class IntakeFileError(ValueError):
    """A source file refused whole: 413 when over a limit, else 422."""

    def __init__(self, message: str, field: str = "file", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


@dataclass
class RawSheet:
    """Rows as (Excel row number, cell values). `rows` is an iterator: read it once."""

    title: str
    rows: Iterator[tuple[int, list[Any]]]


@dataclass(frozen=True)
class SheetLimits:
    """What a source list may cost to open (settings YMT_MAX_ZIP_MEMBERS, YMT_MAX_UNZIPPED_BYTES,
    YMT_MAX_SHARED_STRINGS)."""

    zip: ZipLimits = field(default_factory=ZipLimits)
    shared_strings: int = 1_000_000


def limits_of(settings: Settings) -> SheetLimits:
    return SheetLimits(ZipLimits(settings.max_zip_members, settings.max_unzipped_bytes), settings.max_shared_strings)


def read_table(data: bytes, filename: str, max_bytes: int = 100 * 1024 * 1024,
               limits: SheetLimits | None = None) -> RawSheet:
    if len(data) > max_bytes:
        raise IntakeFileError(f"文件超过上限 {max_bytes} 字节", status=413)
    if not data:
        raise IntakeFileError("文件为空")
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        check_xlsx(data, filename, limits or SheetLimits())
        sheet = _xlsx(data)
    elif name.endswith(".xls"):
        sheet = _xls(data)
    elif name.endswith((".csv", ".txt")):
        sheet = _csv(data)
    else:
        raise IntakeFileError(f"不支持的文件类型 {filename}：支持 .xlsx、.xls、.csv")
    return RawSheet(sheet.title, _without_control_characters(sheet.rows))


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _without_control_characters(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """Control characters (NUL above all, which PostgreSQL cannot store) carry nothing in a cell; exports of
    other systems leave them behind. Dropped here so that a name is the name on every database."""
    for row_no, values in rows:
        yield row_no, [_CONTROL.sub("", v) if isinstance(v, str) and not v.isprintable() else v for v in values]


SHARED_STRING = re.compile(rb"<(?:\w{1,16}:)?si[\s>/]")


def check_xlsx(data: bytes, filename: str, limits: SheetLimits) -> None:
    """Before openpyxl opens it: an xlsx is a zip, so its member count and declared sizes are checked, and the
    shared-string table is counted (streamed) — openpyxl holds that table in memory, and a 0.95 MB workbook with
    3 million shared strings froze the service for 35 s. A workbook that is no zip is left to openpyxl's error."""
    try:
        z = open_zip(data, filename, limits.zip)
    except ArchiveError as exc:
        if exc.status == 413:
            raise IntakeFileError(exc.message, exc.field, 413) from None
        return
    with z:
        for info in z.infolist():
            if not info.filename.lower().endswith("sharedstrings.xml"):
                continue
            try:
                n = count_matches(z, info, SHARED_STRING, limits.shared_strings)
            except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError):
                return  # openpyxl says what is wrong with it
            if n > limits.shared_strings:
                raise IntakeFileError(f"{filename}：工作簿的共享字符串超过 {limits.shared_strings} 个的上限"
                                      "（YMT_MAX_SHARED_STRINGS）：请拆分文件或另存为 CSV 后导入", status=413)


# What a person can do about a file the readers cannot open (the libraries' own messages are English and say
# nothing useful to a clerk, e.g. "BadZipFile: File is not a zip file").
XLSX_UNREADABLE = "无法读取该 xlsx 文件：文件已损坏或并非 Excel 工作簿；请用 Excel 或 WPS 打开后另存为 .xlsx 再导入"
XLS_UNREADABLE = "无法读取该 xls 文件：文件已损坏或并非 Excel 97-2003 工作簿；请用 Excel 或 WPS 打开后另存为 .xlsx 再导入"


def _xlsx(data: bytes) -> RawSheet:
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - zipfile/lxml/openpyxl raise many kinds (English) on corrupt files
        raise IntakeFileError(XLSX_UNREADABLE) from None
    ws = wb.worksheets[0]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield i, list(row)
        finally:
            wb.close()

    return RawSheet(ws.title, rows())


def _xls(data: bytes) -> RawSheet:
    try:
        book = xlrd.open_workbook(file_contents=data)
    except Exception:  # noqa: BLE001 - xlrd raises assorted errors (English) on corrupt input
        raise IntakeFileError(XLS_UNREADABLE) from None
    sheet = book.sheet_by_index(0)

    def cell(c: Any) -> Any:
        if c.ctype == xlrd.XL_CELL_DATE:
            return xlrd.xldate_as_datetime(c.value, book.datemode)
        if c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return None
        return c.value

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for i in range(sheet.nrows):
            yield i + 1, [cell(c) for c in sheet.row(i)]

    return RawSheet(sheet.name, rows())


def decode_csv(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise IntakeFileError("CSV 编码无法识别：请使用 UTF-8 或 GBK")
    return text


def _csv(data: bytes) -> RawSheet:
    text = decode_csv(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for i, row in enumerate(csv.reader(io.StringIO(text), dialect), start=1):
            yield i, [v if v != "" else None for v in row]

    return RawSheet("csv", rows())


def excel_serial_to_date(value: float) -> dt.date:
    return (dt.datetime(1899, 12, 30) + dt.timedelta(days=float(value))).date()
