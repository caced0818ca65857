"""`hotline-hub init DIR`: a place to run an installed hub from. Writes a settings file, a copy
of the shipped mappings to edit, the deploy/ examples and the data directory, and refuses to
overwrite any of them (docs/operations.md, "Installing")."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hub.db.phone_index import key_from_file
from hub.settings import REPO_ROOT

SHIPPED_MAPPINGS = REPO_ROOT / "mappings"
SHIPPED_DEPLOY = REPO_ROOT / "deploy"
SETTINGS_FILE = "hub.yaml"
# The key that seals the callers' names and phones in the case documents (hub.db.person_seal):
# made here, mode 0600, to be backed up apart from the database's backups (docs/operations.md).
PERSON_SEAL_KEY_FILE = "person-seal.key"

SETTINGS_TEXT = """\
# The hub's settings (HUB_CONFIG_FILE={settings}). Environment variables HUB_* override any key
# here (README, Configuration). Written by `hotline-hub init`; edit freely.

# State: the embedded database (hub.db), the phone index key, the person seal key
# (person-seal.key: back it up APART from the database's backups), attachments, backups.
data_dir: {data_dir}
# The code catalogues and the peers' mappings: a copy of the shipped ones, yours to edit
# (`hotline-hub mappings check` validates them without starting).
mappings_dir: {mappings}

# The embedded default is a SQLite file under data_dir. To scale out (deploy/, docs/operations.md):
# database_url: postgresql+psycopg://hotline_hub@db.internal:5432/hotline_hub

# Where the hub sends cases (README, Configuration; docs/outbox.md). For example:
# destinations:
#   city-webhook:
#     adapter: webhook
#     settings: {{url: "https://example.internal/12345/events", timeout: 5}}
#     events: ["case.*"]
destinations: {{}}
"""


class InitRefused(Exception):
    """Something init would write is already there: nothing was written."""


@dataclass(frozen=True)
class Initialised:
    settings_file: Path
    mappings_dir: Path
    deploy_dir: Path
    data_dir: Path


def _copy_data(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "__init__.py"))


def init_dir(directory: Path) -> Initialised:
    directory = directory.expanduser().absolute()
    done = Initialised(directory / SETTINGS_FILE, directory / "mappings", directory / "deploy", directory / "var")
    present = [p for p in (done.settings_file, done.mappings_dir, done.deploy_dir) if p.exists()]
    if present:
        raise InitRefused(f"{', '.join(str(p) for p in present)} already there; nothing written (move it away, or init another directory)")
    for source in (SHIPPED_MAPPINGS, SHIPPED_DEPLOY):
        if not source.is_dir():  # an install without its package data
            raise FileNotFoundError(2, "the shipped defaults are missing from this install", str(source))
    directory.mkdir(parents=True, exist_ok=True)
    _copy_data(SHIPPED_MAPPINGS, done.mappings_dir)
    _copy_data(SHIPPED_DEPLOY, done.deploy_dir)
    done.data_dir.mkdir(exist_ok=True)
    key_from_file(done.data_dir / PERSON_SEAL_KEY_FILE)  # created 0600 if missing
    done.settings_file.write_text(SETTINGS_TEXT.format(settings=done.settings_file, data_dir=done.data_dir, mappings=done.mappings_dir), encoding="utf-8")
    return done
