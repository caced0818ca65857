"""For the tests that check a plan: the statements a read sends, and SQLite planner
statistics of a long-lived database."""

from __future__ import annotations

from sqlalchemy import event


def sent(hub, read) -> list[tuple[str, object]]:  # noqa: ANN001
    """The SELECTs on the cases table `read()` sends, with their parameters, as the driver got them."""
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM cases" in statement:
            seen.append((statement, parameters))

    event.listen(hub.db.reader, "before_cursor_execute", grab)
    try:
        read()
    finally:
        event.remove(hub.db.reader, "before_cursor_execute", grab)
    return seen


def with_fill_statistics(hub) -> None:
    """The planner's statistics of bench/scale_generate.py's fills (a million cases, a few
    thousand running, every finished case with its old deadline), not of this test's dozen."""
    with hub.db.writer.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'cases'")
        stats = {
            None: "1000000",
            "ix_cases_state": "1000000 100000",
            "ix_cases_running": "3500 1",
            "ix_cases_running_deadline": "3500 1",
            "ix_cases_due_at": "1000000 1",
            "ix_cases_id_due": "1000000 1 1",
            "ix_cases_channel_id": "1000000 28572 1",
            "ix_cases_received_id": "1000000 1 1",
            "ix_cases_category_id": "1000000 3175 1",
        }
        for idx, stat in stats.items():
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('cases', ?, ?)", (idx, stat))
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # reload them
