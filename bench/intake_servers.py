"""The two servers the intake benchmark compares, as uvicorn factories.

- `hub_app`: the hub itself on a SQLite file (WAL, synchronous=FULL): POST /api/v1/cases
  validates, numbers the case, writes the case, its history and its event in one durable
  transaction (and whatever sinks the installed features add, e.g. the outbox).
- `baseline_app`: a bare FastAPI endpoint that inserts equivalent rows (a case row with its
  JSON document, one history row, one event row) with the raw sqlite3 driver in one
  transaction at the same durability. No validation, no auth, no engine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime

from fastapi import FastAPI, Request


def hub_app():
    from hub.api.app import create_app
    from hub.db.migrate import upgrade
    from hub.runtime import build_hub
    from hub.settings import Settings

    hub = build_hub(Settings())
    upgrade(hub.db.writer)
    return create_app(hub)


def baseline_app():
    path = os.environ["BASELINE_DB"]
    local = threading.local()

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "c"):
            c = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            local.c = c
        return local.c

    setup = conn()
    setup.executescript("""
        CREATE TABLE IF NOT EXISTS cases (id INTEGER PRIMARY KEY, number TEXT UNIQUE, state TEXT, doc TEXT, created_at TEXT);
        CREATE TABLE IF NOT EXISTS case_history (case_id INTEGER, seq INTEGER, action TEXT, at TEXT, PRIMARY KEY (case_id, seq));
        CREATE TABLE IF NOT EXISTS case_events (id INTEGER PRIMARY KEY, case_id INTEGER, type TEXT, payload TEXT);
    """)
    counter = {"n": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.post("/cases", status_code=201)
    async def create(request: Request) -> dict:
        body = await request.body()
        with lock:
            counter["n"] += 1
            number = f"512000{counter['n']:012d}"
        now = datetime.now(UTC).isoformat()

        def write() -> None:
            c = conn()
            c.execute("BEGIN IMMEDIATE")
            cur = c.execute("INSERT INTO cases (number, state, doc, created_at) VALUES (?, 'registered', ?, ?)", (number, body.decode(), now))
            c.execute("INSERT INTO case_history VALUES (?, 1, 'register', ?)", (cur.lastrowid, now))
            c.execute("INSERT INTO case_events (case_id, type, payload) VALUES (?, 'case.registered', ?)", (cur.lastrowid, json.dumps({"number": number})))
            c.execute("COMMIT")

        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(write)
        return {"number": number}

    return app
