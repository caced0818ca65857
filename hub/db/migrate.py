"""Alembic, driven from code: `hotline-hub db upgrade` and the start of `serve` call this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
