"""Reading an uploaded table row by row: an .xlsx workbook, or CSV text in UTF-8 (with or without BOM) or GB18030.

Workbooks are read by calamine (Rust; python-calamine), about five times faster than openpyxl, which a
100 000-row roster needs to import in under 30 s; calamine holds the sheet's cells natively, and Python objects
are made one row at a time. A workbook calamine refuses (a damaged sheet, a raw control character) is read again
by openpyxl in read-only mode, whose streaming parser can say at which row it breaks off. CSV is streamed (the
csv module over incrementally decoded text). Each row comes with its spreadsheet row number as the clerk
sees it (the first row is 1), which is what error messages cite.
"""

import codecs
import csv
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.files import File
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext as _

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls / .et format
# Excel on a Chinese Windows writes GB18030 (GBK) CSV; everything else writes UTF-8, often with a BOM.
# UTF-8 is tried first and strictly: GB18030 would decode almost any UTF-8 text into mojibake.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
_CHUNK = 1 << 20


class UnreadableFile(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    file_format: str  # "xlsx" or "csv"
    encoding: str  # "" for xlsx
    rows: Iterator[tuple[int, Sequence]]


@contextmanager
def open_table(source) -> Iterator[Table]:
    """Open a path, a Django File (upload or stored FieldFile) or a binary file object as a table."""
    stream, close = _binary_stream(source)
    try:
        head = stream.read(4)
        stream.seek(0)
        if head == XLSX_MAGIC:
            workbook, table = _xlsx_table(stream)
            try:
                yield table
            finally:
                workbook.close()
        elif head == OLE_MAGIC:
            raise UnreadableFile(_("This is an old .xls workbook; save it as .xlsx (or CSV) and upload it again."))
        else:
            yield _csv_table(stream)
    finally:
        close()


def _binary_stream(source):
    if isinstance(source, str | os.PathLike):
        handle = open(source, "rb")  # noqa: SIM115 - closed by open_table
        return handle, handle.close
    if isinstance(source, File):
        source.open("rb")
        close = source.close if isinstance(source, FieldFile) else (lambda: None)
        inner = source
        while isinstance(inner, File):
            inner = inner.file
        return inner, close
    source.seek(0)
    return source, lambda: None


def _xlsx_table(stream, *, reset_dimensions: bool = True):
    """(something to close, Table): calamine's reading of the first sheet, or openpyxl's where calamine fails."""
    if reset_dimensions:  # i.e. the rows are wanted, not only openpyxl's cheap dimension
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            workbook = CalamineWorkbook.from_filelike(stream)
            sheet = workbook.get_sheet_by_index(0)
        except (CalamineError, ValueError, OSError):
            stream.seek(0)
        else:
            return workbook, Table(file_format="xlsx", encoding="", rows=_calamine_rows(sheet))
    return _openpyxl_table(stream, reset_dimensions=reset_dimensions)


def _calamine_rows(sheet) -> Iterator[tuple[int, Sequence]]:
    """Rows as openpyxl gives them (an empty cell is None), numbered from the sheet's first row. calamine starts
    its rows at the sheet's row 1 but its columns at the first used one, so the columns before are put back:
    error messages cite the column letters the clerk sees."""
    if sheet.height == 0:
        return
    left = (None,) * sheet.start[1]
    for number, row in enumerate(sheet.iter_rows(), start=1):
        yield number, left + tuple(None if cell == "" else cell for cell in row)


def _openpyxl_table(stream, *, reset_dimensions: bool):
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # data_only: a formula cell gives the value Excel last computed, which is what the clerk saw.
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        raise UnreadableFile(_("The file is not a readable .xlsx workbook."))
    sheet = workbook.worksheets[0]
    if reset_dimensions:
        # Some programs write a wrong <dimension>; without it openpyxl reads every row that is really there.
        sheet.reset_dimensions()
    return workbook, Table(file_format="xlsx", encoding="", rows=_xlsx_rows(sheet))


def _xlsx_rows(sheet) -> Iterator[tuple[int, Sequence]]:
    """The sheet's rows; a sheet whose XML breaks off (a control character written raw, a cut-off file) stops
    with the row it could not read, as a message, not an exception from the XML parser."""
    from xml.etree.ElementTree import ParseError

    number = 0
    try:
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, row
    except (ParseError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise UnreadableFile(
            _("Row %(row)d of the workbook cannot be read (%(error)s); a cell may hold a control character "
              "or the file may be damaged.") % {"row": number + 1, "error": exc})


def _csv_table(stream) -> Table:
    encoding = _detect_encoding(stream)
    stream.seek(0)
    return Table(file_format="csv", encoding=encoding, rows=_csv_rows(csv.reader(_text_lines(stream, encoding))))


def _csv_rows(reader) -> Iterator[tuple[int, list[str]]]:
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            yield number, row
    except csv.Error as exc:
        raise UnreadableFile(
            _("Row %(row)d of the CSV file cannot be read (%(error)s).") % {"row": number + 1, "error": exc})


def _detect_encoding(stream) -> str:
    for encoding in CSV_ENCODINGS:
        stream.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise UnreadableFile(
        _("The file is neither an .xlsx workbook nor CSV text in UTF-8 or GB18030; save it as one of those."))


def _text_lines(stream, encoding: str) -> Iterator[str]:
    """Decoded lines with their line ends, split only at "\\n" so quoted cells may hold other line breaks."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    pending = ""
    while chunk := stream.read(_CHUNK):
        lines = (pending + decoder.decode(chunk)).split("\n")
        pending = lines.pop()
        for line in lines:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def estimate_data_rows(source) -> int:
    """About how many data rows a file has, cheaply, to choose between checking it in the request and in the
    background: CSV rows are counted (fast); a workbook's own dimension is trusted, and one without a
    dimension counts as big."""
    stream, close = _binary_stream(source)
    try:
        head = stream.read(4)
        stream.seek(0)
        if head == XLSX_MAGIC:
            workbook, _table = _openpyxl_table(stream, reset_dimensions=False)
            try:
                max_row = workbook.worksheets[0].max_row
            finally:
                workbook.close()
            return max(max_row - 1, 0) if max_row else UNKNOWN_SIZE
        if head == OLE_MAGIC:
            return 0
        rows = sum(1 for _number, cells in _csv_table(stream).rows if any(cell.strip() for cell in cells))
        return max(rows - 1, 0)
    finally:
        close()


UNKNOWN_SIZE = 10**9
