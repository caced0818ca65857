"""cases at scale, third step: a trigram index of the cases' text on SQLite; division lists in
id order

Revision ID: 0025_case_text_index
Revises: 0023_scale_reads

`q=` (free text in title and content, a substring, Chinese as written) was a `LIKE '%text%'`
over every case on SQLite: 1-2 s at 200,000 cases for a phrase found in none (bench/RESULTS.md).
`cases_fts` is an FTS5 table with the trigram tokenizer over `cases.search_text` (external
content: it keeps the index only, the text stays in `cases`), kept in step by triggers on the
cases' writes, in the writing transaction: an insert adds the case's text, a change of the text
(a correction) replaces it, a delete removes it. A needle of three characters or more is
answered from it (hub.db.repository, `CaseQuery.text`); a shorter one stays a LIKE, which the
trigram index cannot serve. PostgreSQL has had its pg_trgm index since 0023: nothing there.

The index is built from the cases already stored (FTS5 'rebuild'): this whole migration took
14.6 s on a 200,000-case SQLite file (bench/RESULTS.md). Its size depends on how varied the
texts are: 87 bytes a case on the benchmark's ten texts; expect a few times the text's size.

`division=` (a prefix of the place's code: 6 digits a county, 9 a township, 12 a village)
walked the cases newest first, filtering, to its last page: a township holds one case in
sixty, so a page read thousands. With `(county_code, id)` (replacing the index on
`county_code` alone, whose prefix it is) and `(substr(division_code, 1, 9), id)` the query
names the county or township equal (hub.db.repository), and each page is a range of one index
in id order.

A month of `received_*` sorted the month's whole rows (documents and all) to keep a page: the
page's ids are now read first, from `(received_at, id)` alone (replacing the index on
`received_at`, whose prefix it is), and the documents of those ids only.
"""

from alembic import op

revision = "0025_case_text_index"
down_revision = "0024_assessment_items"
branch_labels = None
# After 0021 (another line of the tree): its batch add_column copies `cases` into a new table on
# SQLite, which keeps the indexes it can reflect and drops the triggers and the expression index
# made here. Any later batch operation on `cases` must make them again.
depends_on = "0021_worker_passes"

# As hub.db.models.CASE_TEXT_TABLE; written out here, as a migration keeps what it made.
_TABLE = "cases_fts"
_TRIGGERS = {
    "cases_fts_insert": f"""CREATE TRIGGER cases_fts_insert AFTER INSERT ON cases BEGIN
        INSERT INTO {_TABLE} (rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    "cases_fts_delete": f"""CREATE TRIGGER cases_fts_delete AFTER DELETE ON cases BEGIN
        INSERT INTO {_TABLE} ({_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    END""",
    # Every save sets every column; only a changed text is indexed again.
    "cases_fts_update": f"""CREATE TRIGGER cases_fts_update AFTER UPDATE OF search_text ON cases
        WHEN old.search_text IS NOT new.search_text BEGIN
        INSERT INTO {_TABLE} ({_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text);
        INSERT INTO {_TABLE} (rowid, search_text) VALUES (new.id, new.search_text);
    END""",
}


# As hub.db.models.township_code(): the queries name exactly this expression.
_TOWNSHIP_SQL = "substr(division_code, 1, 9)"


def upgrade() -> None:
    op.create_index("ix_cases_county_id", "cases", ["county_code", "id"], unique=False)
    op.drop_index("ix_cases_county_code", table_name="cases")
    op.execute(f"CREATE INDEX ix_cases_township_id ON cases ({_TOWNSHIP_SQL}, id)")
    op.create_index("ix_cases_received_id", "cases", ["received_at", "id"], unique=False)
    op.drop_index("ix_cases_received_at", table_name="cases")
    if op.get_bind().dialect.name != "sqlite":
        return
    # columnsize=0: no per-row token counts (they serve ranking, and a case list is in id order).
    op.execute(f"CREATE VIRTUAL TABLE {_TABLE} USING fts5(search_text, content='cases', content_rowid='id', tokenize='trigram', columnsize=0)")
    for sql in _TRIGGERS.values():
        op.execute(sql)
    op.execute(f"INSERT INTO {_TABLE} ({_TABLE}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"DROP TABLE IF EXISTS {_TABLE}")
    op.create_index("ix_cases_received_at", "cases", ["received_at"], unique=False)
    op.drop_index("ix_cases_received_id", table_name="cases")
    op.execute("DROP INDEX ix_cases_township_id")
    op.create_index("ix_cases_county_code", "cases", ["county_code"], unique=False)
    op.drop_index("ix_cases_county_id", table_name="cases")
