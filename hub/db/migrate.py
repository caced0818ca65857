"""Alembic, driven from code: `hotline-hub db upgrade` and the start of `serve` call this."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# A migration that creates a feature's table whose rows are derived by the feature's own code
# (which the core may not import) calls the backfill the feature registered here under the
# migration's revision, on its connection. Features register when their module is imported,
# which every caller of `upgrade` with a hub (the CLI, `serve`, the tests) has done; without
# the feature installed nothing reads its table and there is nothing to fill.
BACKFILLS: dict[str, Callable[[Connection], object]] = {}


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, target: str = "heads") -> None:
    command.upgrade(alembic_config(engine), target)


@dataclass(frozen=True)
class MigrationStatus:
    current: tuple[str, ...]
    heads: tuple[str, ...]
    # The revisions the current ones stand on (theirs, their parents', and those they depend on).
    reached: frozenset[str] = frozenset()

    @property
    def current_is_head(self) -> bool:
        # A head that another revision depends on (0025 on 0021) leaves the version table once
        # that revision is applied: it is reached, not missing.
        return set(self.heads) <= (set(self.current) | self.reached)


def migration_status(engine: Engine) -> MigrationStatus:
    script = ScriptDirectory.from_config(alembic_config(engine))
    heads = tuple(script.get_heads())
    with engine.connect() as conn:
        current = tuple(MigrationContext.configure(conn).get_current_heads())
    reached: set[str] = set()
    todo = list(current)
    while todo:
        rev = todo.pop()
        if rev in reached:
            continue
        reached.add(rev)
        found = script.get_revision(rev)
        if found is not None:
            todo += [*_revisions(found.down_revision), *_revisions(found.dependencies)]
    return MigrationStatus(current, heads, frozenset(reached))


def _revisions(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
