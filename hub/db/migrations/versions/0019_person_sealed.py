"""cases: the caller's name and phone sealed in the stored documents (docs/phone-at-rest.md)

Revision ID: 0019_person_sealed
Revises: 0014_repeat_calls (after the phone index, whose backfill reads the phone in clear)

No column changes: each stored document's `person.name` and `person.phone` are sealed into
`person.sealed` (hub.db.person_seal), in batches, with the key of the hub that runs the
migration (hub.db.person_seal.engine_seal_key; the key file's when none was given).
Documents already sealed are left as they are, so a run cut short is simply run again.
The downgrade opens them again (with the same key).
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import context, op

import hub.db.models
from hub.db.person_seal import DEFAULT_KEY_FILE, PersonSeal, engine_seal_key
from hub.db.phone_index import key_from_file

revision = "0019_person_sealed"
down_revision = "0018_scale_indexes"  # after the scale indexes: one line from 0013 on, so steps back are plain
branch_labels = None
depends_on = None

_BATCH = 500


def _seal() -> PersonSeal:
    return PersonSeal(engine_seal_key(context.config.attributes.get("engine")) or key_from_file(DEFAULT_KEY_FILE))


def _rewrite(change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    conn = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("doc", hub.db.models.JSONDoc))
    last = 0
    while True:
        rows = conn.execute(sa.select(cases.c.id, cases.c.doc).where(cases.c.id > last).order_by(cases.c.id).limit(_BATCH)).all()
        if not rows:
            break
        for row_id, doc in rows:
            new = change(doc)
            if new is not doc:
                conn.execute(sa.update(cases).where(cases.c.id == row_id).values(doc=new))
        last = rows[-1][0]


def upgrade() -> None:
    _rewrite(_seal().seal)


def downgrade() -> None:
    _rewrite(_seal().open)
