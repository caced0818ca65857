"""`hotline-hub init DIR` and the data directory (issue #19): what init writes, that the hub
starts from what it wrote, that it overwrites nothing, and where state goes by default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub.cli import main
from hub.init_dir import InitRefused, init_dir
from hub.settings import Settings


def test_init_writes_settings_mappings_deploy_and_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "hub"
    done = init_dir(home)
    assert done.settings_file == home / "hub.yaml"
    assert (home / "mappings" / "units.yaml").is_file() and (home / "mappings" / "legacy" / "lines.yaml").is_file()
    assert (home / "deploy" / "compose.yaml").is_file() and (home / "deploy" / "systemd" / "hotline-hub.env").is_file()
    assert (home / "var").is_dir()
    assert not list(home.rglob("__init__.py")) and not list(home.rglob("__pycache__"))
    written = yaml.safe_load(done.settings_file.read_text(encoding="utf-8"))
    assert written == {"data_dir": str(home / "var"), "mappings_dir": str(home / "mappings"), "destinations": {}}

    for name in ("HUB_DATABASE_URL", "HUB_DATA_DIR", "HUB_MAPPINGS_DIR", "HUB_PHONE_INDEX_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUB_CONFIG_FILE", str(done.settings_file))
    settings = Settings()
    assert settings.mappings_dir == home / "mappings"
    assert settings.database_url == f"sqlite:///{home / 'var' / 'hub.db'}"
    assert settings.phone_index_key_file == home / "var" / "phone-index.key"
    assert settings.attachments_directory() == home / "var" / "attachments"
    assert settings.backups_dir == home / "var" / "backups"


def test_init_overwrites_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "hub"
    (home / "mappings").mkdir(parents=True)
    (home / "mappings" / "mine.yaml").write_text("edited: true\n", encoding="utf-8")
    with pytest.raises(InitRefused):
        init_dir(home)
    assert main(["init", str(home)]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert sorted(p.name for p in home.rglob("*")) == ["mappings", "mine.yaml"]


def test_state_defaults_under_the_data_dir_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUB_DATABASE_URL", "HUB_DATA_DIR", "HUB_CONFIG_FILE", "HUB_PHONE_INDEX_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    default = Settings()
    assert default.data_dir == tmp_path / "var"
    assert default.database_url == f"sqlite:///{tmp_path / 'var' / 'hub.db'}"

    monkeypatch.setenv("HUB_DATA_DIR", "state")
    moved = Settings()
    assert moved.data_dir == tmp_path / "state" and moved.phone_index_key_file == tmp_path / "state" / "phone-index.key"
    given = Settings(database_url="sqlite:///elsewhere.db", phone_index_key_file=tmp_path / "k")
    assert given.database_url == "sqlite:///elsewhere.db" and given.phone_index_key_file == tmp_path / "k"
    # Attachments live beside the SQLite file they belong to (one directory per database);
    # with PostgreSQL, under the data dir.
    assert given.attachments_directory() == Path("attachments")
    assert moved.attachments_directory() == tmp_path / "state" / "attachments"
    on_pg = Settings(database_url="postgresql+psycopg://hub@db.example/hub")
    assert on_pg.attachments_directory() == tmp_path / "state" / "attachments"


def test_backup_without_a_directory_writes_into_the_data_dir(sqlite_template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_CONFIG_FILE", raising=False)
    monkeypatch.delenv("HUB_BACKUPS_DIR", raising=False)
    monkeypatch.setenv("HUB_DATABASE_URL", sqlite_template.fresh(tmp_path))
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "state"))
    assert main(["backup"]) == 0
    assert len(list((tmp_path / "state" / "backups").glob("hub-*.db"))) == 1
