"""Reading a line's export one row at a time: CSV (UTF-8 or GBK/GB18030), XLSX, JSON lines.

Rows are numbered as an operator sees them: in CSV and XLSX the header is row 1 and the
first case is row 2 (the spreadsheet's own numbering); in JSON lines a row is a line.
Nothing here holds more than one row (plus the reader's buffer) in memory.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

CHUNK = 1 << 20
# A cell longer than this is refused with its row: no case text is near it (an Excel cell
# holds 32,767 characters), and one such cell must not stop the rest of the file.
FIELD_LIMIT = 1 << 20
# What the CSV parser may hold for one field before it gives up on the file: a quote that
# is never closed would otherwise read the rest of the file into one field.
PARSE_LIMIT = 64 << 20


class UnreadableFile(Exception):
    """The file as a whole cannot be read (encoding, format, no header)."""


class Row(NamedTuple):  # a tuple: millions are made, and a frozen dataclass costs more to build
    number: int
    values: dict[str, Any] | None  # None: the row itself is unreadable, see `error`
    error: str | None = None


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    encoding: str | None  # what the file was read as (CSV: detected; JSON lines: UTF-8; XLSX: its own)


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise UnreadableFile(f"{path.name}: unknown file type {suffix!r}; use .csv, .xlsx or .jsonl")


def inspect_file(path: Path, kind: str) -> FileFacts:
    """Hash the file (the import run's identity) and, for CSV, settle its encoding in the same pass.

    UTF-8 is tried first and strictly: its byte structure is so regular that GBK text
    practically never passes as valid UTF-8, while the reverse does not hold (GB18030 maps
    almost any byte sequence to something). GB18030 is then used rather than GBK because it
    is a superset: a GBK file decodes identically, and the characters GBK lacks (rare names'
    characters, exported by newer systems) still decode. The whole file is checked, not a
    sample: a GBK character on row 900,000 must not turn into mojibake after 899,999 rows.
    """
    digest = hashlib.sha256()
    size = 0
    utf8 = codecs.getincrementaldecoder("utf-8")("strict") if kind == "csv" else None
    gb = codecs.getincrementaldecoder("gb18030")("strict") if kind == "csv" else None
    utf8_ok = kind == "csv"
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if utf8_ok:
                try:
                    utf8.decode(chunk)  # type: ignore[union-attr]
                except UnicodeDecodeError:
                    utf8_ok = False
    encoding = None
    if kind == "csv":
        if utf8_ok:
            try:
                utf8.decode(b"", final=True)  # type: ignore[union-attr]
                encoding = "utf-8-sig"
            except UnicodeDecodeError:
                utf8_ok = False
        if not utf8_ok:
            with path.open("rb") as f:
                try:
                    while chunk := f.read(CHUNK):
                        gb.decode(chunk)  # type: ignore[union-attr]
                    gb.decode(b"", final=True)  # type: ignore[union-attr]
                    encoding = "gb18030"
                except UnicodeDecodeError as exc:
                    raise UnreadableFile(
                        f"{path.name}: neither UTF-8 nor GBK/GB18030 ({exc.reason}); save it from Excel as 'CSV UTF-8' or 'CSV (GBK)'"
                    ) from None
    return FileFacts(digest.hexdigest(), size, encoding or {"jsonl": "utf-8", "xlsx": "xlsx"}.get(kind))


class _Counting(io.RawIOBase):
    """Counts the bytes read, for the progress bar's percentage."""

    def __init__(self, raw: io.RawIOBase) -> None:
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n or 0


class RowSource:
    """Iterate rows of one file; `progress()` says how far (0..1) as best the format allows."""

    def __init__(self, path: Path, kind: str, facts: FileFacts) -> None:
        self.path, self.kind, self.facts = path, kind, facts
        self._counter: _Counting | None = None
        self._rows_total: int | None = None
        self._rows_seen = 0

    def progress(self) -> float | None:
        if self._counter is not None and self.facts.size:
            return min(1.0, self._counter.count / self.facts.size)
        if self._rows_total:
            return min(1.0, self._rows_seen / self._rows_total)
        return None

    def __iter__(self) -> Iterator[Row]:
        if self.kind == "csv":
            return self._csv()
        if self.kind == "xlsx":
            return self._xlsx()
        return self._jsonl()

    def _open_text(self, encoding: str):  # noqa: ANN202
        raw = self.path.open("rb", buffering=0)
        self._counter = _Counting(raw)
        return io.TextIOWrapper(io.BufferedReader(self._counter, CHUNK), encoding=encoding, newline="")

    def _csv(self) -> Iterator[Row]:
        with self._open_text(self.facts.encoding if self.kind == "csv" and self.facts.encoding else "utf-8-sig") as text:
            if csv.field_size_limit() < PARSE_LIMIT:  # the default (128 KiB) would end the file at a long cell
                csv.field_size_limit(PARSE_LIMIT)
            reader = csv.reader(text)
            header = _header(_csv_row(reader, 1, self.path), self.path)
            width = len(header)
            i = 1
            while (cells := _csv_row(reader, i + 1, self.path)) is not None:
                i += 1
                if not cells or (not cells[0].strip() and all(not c.strip() for c in cells)):
                    continue  # blank lines are not cases
                if len(cells) != width:
                    yield Row(i, None, f"has {len(cells)} columns, the header has {width}")
                    continue
                if max(map(len, cells)) > FIELD_LIMIT:
                    longest = max(range(width), key=lambda k: len(cells[k]))
                    yield Row(i, None, f"column {header[longest]!r} holds {len(cells[longest]):,} characters, more than the {FIELD_LIMIT:,} a cell may hold")
                    continue
                yield Row(i, dict(zip(header, cells)))

    def _xlsx(self) -> Iterator[Row]:
        from openpyxl import load_workbook  # start-up cost: openpyxl (~0.7 s), loaded only for an XLSX file

        try:
            wb = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException for broken files
            raise UnreadableFile(f"{self.path.name}: not a readable XLSX workbook ({type(exc).__name__})") from None
        try:
            ws = wb.worksheets[0]
            self._rows_total = ws.max_row if isinstance(ws.max_row, int) else None
            rows = ws.iter_rows(values_only=True)
            header = _header([_cell_text(v) for v in next(rows, None) or []], self.path)
            width = len(header)
            for i, cells in enumerate(rows, start=2):
                self._rows_seen = i
                values = list(cells)
                if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                if len(values) > width and any(v not in (None, "") for v in values[width:]):
                    yield Row(i, None, f"has values beyond the {width} header columns")
                    continue
                values = (values + [None] * width)[:width]
                yield Row(i, {h: _cell_value(v) for h, v in zip(header, values)})
        finally:
            wb.close()

    def _jsonl(self) -> Iterator[Row]:
        with self._open_text("utf-8-sig") as text:
            for i, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:  # a JSONDecodeError, or a number too long to convert
                    where = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                    yield Row(i, None, f"not JSON: {where}")
                    continue
                if not isinstance(value, dict):
                    yield Row(i, None, f"a JSON {type(value).__name__}, not an object")
                    continue
                yield Row(i, value)


def _csv_row(reader: Any, number: int, path: Path) -> list[str] | None:
    try:
        return next(reader, None)
    except csv.Error as exc:  # the parser cannot go on from here: the file is unreadable past this row
        raise UnreadableFile(f"{path.name}: row {number} cannot be read as CSV ({exc})") from None


def _header(cells: list[Any] | None, path: Path) -> list[str]:
    if not cells:
        raise UnreadableFile(f"{path.name}: empty file, no header row")
    header = [str(c or "").strip().lstrip("\ufeff") for c in cells]
    while header and not header[-1]:
        header.pop()
    if len(set(header)) != len(header):
        raise UnreadableFile(f"{path.name}: the header repeats a column name")
    return header


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def _cell_value(value: Any) -> Any:
    # Excel keeps phone numbers and ids as numbers: 13800001111.0 must read "13800001111".
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value  # the mapper takes Excel's own dates as they are
    return value
