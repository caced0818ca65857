"""Alembic, driven from code: `hotline-hub db upgrade` and the start of `serve` call this."""

from __future__ import annotations

from collections.abc import Callable
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

    @property
    def current_is_head(self) -> bool:
        return set(self.current) == set(self.heads)


def migration_status(engine: Engine) -> MigrationStatus:
    heads = tuple(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = tuple(MigrationContext.configure(conn).get_current_heads())
    return MigrationStatus(current, heads)
