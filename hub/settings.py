"""The one settings object. Built once by the composition root and passed in; nothing
reads the environment at import time.

Sources, strongest first: keyword arguments, environment (HUB_*, nested with __), the YAML
file named by HUB_CONFIG_FILE, then these defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from hub.domain.deadlines import TimeLimits

REPO_ROOT = Path(__file__).resolve().parent.parent


class DestinationConfig(BaseModel):
    """One peer the hub delivers to: which adapter (an entry-point name) and its settings."""

    adapter: str = Field(description="Entry-point name in group 'hotline_hub.adapters'.")
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, description="Validated by the adapter's settings model.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="forbid")

    database_url: str = Field(default=f"sqlite:///{REPO_ROOT / 'var' / 'hub.db'}",
                              description="sqlite:///path (embedded default) or postgresql+psycopg://...")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(default="FULL", description="FULL: every commit survives power loss.")
    auto_migrate: bool = Field(default=True, description="Apply migrations when `serve` starts on SQLite.")
    mappings_dir: Path = REPO_ROOT / "mappings"
    region_code: str = Field(default="512000", pattern=r"^\d{6}$", description="Prefix of case numbers (Ziyang).")
    time_limits: TimeLimits = Field(default_factory=TimeLimits)
    max_content_chars: int = Field(default=5000, ge=100, description="Longer case content is refused with 413.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger request bodies are refused with 413.")
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    workers_in_serve: bool = Field(default=False, description="Also run background workers inside `serve` on PostgreSQL (always on SQLite).")
    calendar_cache_seconds: float = Field(default=30.0, ge=0)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    bootstrap_key: SecretStr | None = Field(default=None, description="A supervisor key created at start if no key exists (sandbox).")

    @field_validator("mappings_dir")
    @classmethod
    def _mappings_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"mappings directory {value} does not exist")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("HUB_CONFIG_FILE")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file, yaml_file_encoding="utf-8"))
        return tuple(sources)
