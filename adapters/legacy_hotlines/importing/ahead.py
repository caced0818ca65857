"""Reading and mapping a file's rows ahead of the writes, in a process of its own.

Per row the import spends about as long in Python (decode, parse, check, render the case
document) as SQLite spends writing it. In one process they take turns; a thread of its own
for the Python side did not help, since both sides then trade the one interpreter lock
(bench/RESULTS.md, "A read-ahead thread, tried and reverted"). A forked process has its own
interpreter: it reads, maps and renders each row (`prepare`) and sends them in chunks, as
flat tuples of text that unpickle cheaply, while the import's process writes the batch
before. The case number and the import time are put into the document at the batch
(`finish_document`), since only the batch's transaction knows them.

In file order; at most `chunks` chunks wait (memory stays bounded). A failure to read (a
broken file) surfaces in the import where the row would have been, after the rows before
it; `close()` stops the process. The child never touches the parent's database
connections, and it ends with `os._exit` (multiprocessing's fork start), so it closes none.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import queue
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.legacy_hotlines.importing.dedupe import index_text, phone_key
from adapters.legacy_hotlines.importing.readers import Row, RowSource
from adapters.legacy_hotlines.importing.report import Rejected
from adapters.legacy_hotlines.mapping import RowMapper, RowRefused, case_document, history_document
from hub.domain.model import Urgency
from hub.mappings import UnknownCode

if TYPE_CHECKING:
    from hub.db.person_seal import PersonSeal


class Prepared(NamedTuple):
    """A mapped row as the batch writes it: codes as their values, texts rendered."""

    row: int
    original_id: str
    received_at: datetime
    state: str
    request_type: str
    category_code: str
    division_code: str
    urgency: str
    unit: str | None
    search_text: str
    document: str  # case_document with an empty number and time: finish_document puts them in
    phone: str | None
    history: str
    phone_key: str | None
    index_text: str


_DOC_HEAD, _DOC_TAIL = '{"number": ""', '""}'


def prepare(mapper: RowMapper, row: Row, line: str, run_id: int | None, limit: int, seal: PersonSeal | None) -> Prepared | Rejected:
    """One row mapped and rendered, or why it is refused (the reasons the mapper gives)."""
    if row.values is None:
        return Rejected(row.number, "", "(row)", row.error or "unreadable")
    try:
        m = mapper.map(row.values)
    except RowRefused as exc:
        return Rejected(row.number, id_of(mapper, row.values), exc.column, exc.reason)
    except UnknownCode as exc:
        return Rejected(row.number, id_of(mapper, row.values), exc.field, f"unknown code {exc.code!r}")
    return Prepared(
        row.number,
        m.original_id,
        m.received_at,
        m.state.value,
        m.request_type.value,
        m.category_code,
        m.division_code,
        (m.urgency or Urgency.NORMAL).value,
        m.unit or None,
        f"{m.title}\n{m.content}",
        case_document(m, "", "", line, seal),
        m.person_phone or None,
        history_document(m, line, run_id, row.number),
        phone_key(m.person_phone),
        index_text(m.title, m.content, limit),
    )


def finish_document(prepared: str, number: str, now_doc: str) -> str:
    """case_document(m, number, now_doc, ...) from prepare()'s rendering: the number is the
    document's first field and the import time its last."""
    if not (prepared.startswith(_DOC_HEAD) and prepared.endswith(_DOC_TAIL)):
        raise ValueError("not a document rendered by prepare()")
    return f'{{"number": {json.dumps(number)}{prepared[len(_DOC_HEAD) : -len(_DOC_TAIL)]}{json.dumps(now_doc)}}}'


def id_of(mapper: RowMapper, values: dict[str, Any]) -> str:
    value = values.get(mapper.f.original_id)
    return "" if value is None else str(value).strip()[:128]


def prepared_rows(
    source: RowSource, mapper: RowMapper, start_after: int, line: str, run_id: int | None, limit: int, seal: PersonSeal | None
) -> Iterator[Prepared | Rejected]:
    """The same, in this process: for small files, dry runs and imports beside live traffic."""
    for row in source:
        if row.number > start_after:
            yield prepare(mapper, row, line, run_id, limit, seal)


_END = "end"


class ReadAhead:
    """prepared_rows in a forked process, `chunks` chunks of `chunk` rows ahead at most;
    `progress()` is the fraction of the file the child had read at the last chunk taken."""

    def __init__(
        self,
        source: RowSource,
        mapper: RowMapper,
        start_after: int,
        line: str,
        run_id: int | None,
        limit: int,
        seal: PersonSeal | None,
        *,
        chunk: int = 250,
        chunks: int = 8,
    ) -> None:
        context = multiprocessing.get_context("fork")
        self._queue: Any = context.Queue(maxsize=chunks)
        self._fraction: float | None = None
        self._process = context.Process(
            target=_run,
            args=(self._queue, os.getpid(), source, mapper, start_after, line, run_id, limit, seal, chunk),
            name="legacy-import-read",
            daemon=True,
        )
        self._process.start()

    def progress(self) -> float | None:
        return self._fraction

    def __iter__(self) -> Iterator[Prepared | Rejected]:
        while True:
            try:
                kind, payload, fraction = self._queue.get(timeout=5)
            except queue.Empty:
                if not self._process.is_alive():  # killed (out of memory, a signal): say so, never hang
                    raise RuntimeError(f"the import's reading process ended without a word (exit code {self._process.exitcode})") from None
                continue
            self._fraction = fraction
            if kind == _END:
                return
            if kind == "error":
                raise payload
            for item in payload:
                yield Prepared(*item) if len(item) == len(Prepared._fields) else Rejected(*item)

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=30)
        self._queue.close()
        self._queue.cancel_join_thread()


def _run(
    out: Any, parent: int, source: RowSource, mapper: RowMapper, start_after: int, line: str, run_id: int | None, limit: int, seal: PersonSeal | None, size: int
) -> None:
    def put(message: tuple) -> None:
        while True:
            try:
                out.put(message, timeout=1)
                return
            except queue.Full:
                if os.getppid() != parent:  # the import's process is gone (killed): so is its reader
                    os._exit(0)

    # The heap inherited from the import's process (models, schemas, the app) sits out this
    # process's collections: walking it would cost time and copy its pages into this one.
    gc.freeze()
    # Plain tuples across the pipe: a NamedTuple or dataclass would pickle by class and cost more.
    chunk: list[tuple] = []
    try:
        for item in prepared_rows(source, mapper, start_after, line, run_id, limit, seal):
            chunk.append(tuple(item) if isinstance(item, Prepared) else (item.row, item.original_id, item.column, item.reason))
            if len(chunk) >= size:
                put(("rows", chunk, source.progress()))
                chunk = []
        put(("rows", chunk, source.progress()))
        put((_END, None, 1.0))
    except Exception as exc:  # handed to the import, raised there after the rows before it
        put(("rows", chunk, source.progress()))
        put(("error", exc, source.progress()))
    out.close()
    out.join_thread()
