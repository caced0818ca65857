"""The one settings object. Built once by the composition root and passed in; nothing
reads the environment at import time.

Sources, strongest first: keyword arguments, environment (HUB_*, nested with __), the YAML
file named by HUB_CONFIG_FILE, then these defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from hub.db.phone_index import resolve_key
from hub.domain.deadlines import TimeLimits

REPO_ROOT = Path(__file__).resolve().parent.parent


class DestinationConfig(BaseModel):
    """One peer the hub delivers to: which adapter (an entry-point name) and its settings.
    A key not listed here (`evnets:`) stops the start with the file, the line and the valid keys."""

    model_config = ConfigDict(extra="forbid")

    adapter: str = Field(description="Entry-point name in group 'hotline_hub.adapters'.")
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, description="Validated by the adapter's settings model.")
    # Subscriptions (the outbox routes case events with these; docs/outbox.md).
    events: list[str] = Field(default_factory=list, description="Event types this destination receives, as glob patterns "
                              "('case.*', 'case.dispatched'); empty: no case events.")
    cases: "CaseScope" = Field(default_factory=lambda: CaseScope(), description="Which cases' events; empty: every case.")
    personal_data: bool = Field(default=False, description="False: the case in each message is masked "
                                "(hub.domain.access.export_view: the person's name and phone, and the "
                                "address past its first characters); True: the full case, for peers that must see the person or go to the place.")


class CaseScope(BaseModel):
    """Which cases a destination hears about. Nothing set: every case. Of `with_ref`, `units`
    and `divisions`, several set: a case matching any of them. `categories` narrows whatever
    the others let through: only cases of those categories."""

    model_config = ConfigDict(extra="forbid")

    with_ref: str | None = Field(default=None, description="Cases carrying an external ref of this system (e.g. 'province').")
    units: list[str] = Field(default_factory=list, description="Cases dispatched to one of these units (lead or co-handler).")
    divisions: list[str] = Field(default_factory=list, description="Cases whose division code starts with one of these.")
    categories: list[str] = Field(default_factory=list, description="Only cases of these categories: item codes "
                                  "('0105') or groups ('01': every item under it), from mappings/categories.yaml; "
                                  "checked against the catalogue when the hub starts.")

    @property
    def is_everything(self) -> bool:
        return self.with_ref is None and not self.units and not self.divisions and not self.categories

    def wants_category(self, category_code: str) -> bool:
        # A child's code is its parent's code plus two digits (categories.yaml), so a group is a prefix.
        return not self.categories or any(category_code.startswith(c) for c in self.categories)


class SupervisionSettings(BaseModel):
    """The scheduler (预警, 超期, 督办) and the assessment (考核). Warning share: time_limits."""

    model_config = ConfigDict(extra="forbid")

    scheduler_interval_seconds: float = Field(default=60.0, ge=1, description="Seconds between scheduler runs.")
    lease_ttl_seconds: float = Field(default=300.0, ge=5, description="A scheduler that stops renewing loses the lead after this.")
    supervise_overdue: bool = Field(default=True, description="Open 督办 on a case once it is overdue (超期).")
    max_redos_before_supervision: int = Field(default=1, ge=0, description="A case redone (重办) more times than this is supervised.")
    response_working_days: int = Field(default=1, ge=1, le=30, description="Working days a unit has to answer an automatic supervision.")
    close_unreached_after_attempts: int = Field(default=3, ge=1, le=20,
                                                description="回访 attempts in a row that did not reach the person after which the scheduler closes the case.")
    close_unreached_after_days: int | None = Field(default=7, ge=1, le=90,
                                                   description="Days after the first of those unreached attempts after which the "
                                                               "scheduler closes the case, however few attempts; null: attempts only.")
    assessment_lookback_days: int = Field(default=180, ge=31, le=730,
                                          description="Cases with no history within this many days before a period are not read for it.")


class OutboxSettings(BaseModel):
    """The relay (outbox/relay.py): batches, leases, retries and the circuit breaker."""

    model_config = ConfigDict(extra="forbid")

    batch: int = Field(default=50, ge=1, le=1000, description="Messages claimed per round.")
    concurrency: int = Field(default=8, ge=1, le=64, description="Deliveries in flight at once per relay (different keys).")
    lease_seconds: float = Field(default=60.0, gt=0, description="A claimed message returns to the queue after this even "
                                 "if its relay still beats (hung); a dead relay's claims are taken over sooner (takeover_seconds).")
    heartbeat_seconds: float = Field(default=1.0, gt=0, description="How often a running relay counts up its heartbeat.")
    takeover_seconds: float = Field(default=3.0, gt=0, description="A relay whose heartbeat stood still this long (or whose "
                                    "process on this machine is gone: at once) loses its claims to the other relays.")
    idle_poll_seconds: float = Field(default=2.0, gt=0, description="Longest sleep without a wake-up (safety net behind LISTEN/NOTIFY).")
    max_attempts: int = Field(default=12, ge=1, description="Transient failures beyond this send the message to dead letters.")
    backoff_base_seconds: float = Field(default=1.0, gt=0, description="First retry waits up to this (full jitter), doubling.")
    backoff_max_seconds: float = Field(default=600.0, gt=0, description="Cap of one backoff wait.")
    breaker_failures: int = Field(default=5, ge=1, description="Consecutive transient failures that pause a destination.")
    breaker_pause_seconds: float = Field(default=60.0, gt=0, description="How long the breaker pauses a failing destination.")
    keep_delivered_hours: float = Field(default=168.0, gt=0, description="Delivered messages older than this are deleted "
                                        "by the relay (dead letters are kept until replayed or pruned by hand).")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="`hotline-hub relay` serves Prometheus "
                                     "metrics on this port (0: a free one); none when unset. --metrics-port overrides it.")
    metrics_host: str = Field(default="127.0.0.1", description="Address the relay's metrics endpoint listens on.")

    @model_validator(mode="after")
    def _takeover_after_beats(self) -> "OutboxSettings":
        if self.takeover_seconds <= self.heartbeat_seconds:
            raise ValueError("takeover_seconds must be longer than heartbeat_seconds (a live relay would lose its claims)")
        return self


class RetentionSettings(BaseModel):
    """How long the hub keeps callers' personal data (个人信息保护法; docs/operations.md)."""

    model_config = ConfigDict(extra="forbid")

    archived_years: int = Field(default=3, ge=1, le=100, description="Years after a case is archived (归档) "
                                "before its caller's name, phone, address, coordinates and attachment references "
                                "are erased. Set it to your local rule; 3 is this repository's placeholder, not a law.")
    interval_hours: float = Field(default=24.0, ge=1, description="Hours between retention passes of the scheduler.")


class ChannelSettings(BaseModel):
    """Citizens' doors (docs/channels.md): channel intake, retrieval codes, the public lookup,
    the citizen's evaluation and the SMS sent through the outbox."""

    model_config = ConfigDict(extra="forbid")

    intake_per_minute: int = Field(default=60, ge=1, le=100_000, description="Cases one channel key may register per "
                                   "minute (per hub process); more are refused 429 with Retry-After.")
    lookup_failures_per_case: int = Field(default=5, ge=1, le=100, description="Wrong retrieval codes for one case number "
                                          "before lookups of that number are locked out (429).")
    lookup_failures_per_client: int = Field(default=20, ge=1, le=1000, description="Wrong retrieval codes from one client "
                                            "address before its lookups are locked out (429).")
    lookup_lockout_minutes: int = Field(default=15, ge=1, le=1440, description="How long a lockout lasts; the count starts "
                                        "again after it.")
    evaluation_days: int = Field(default=7, ge=1, le=90, description="Days after the reply is approved during which the "
                                 "citizen may rate it (满意/基本满意/不满意).")
    sms_destination: str | None = Field(default="sms", description="The outbox destination (adapter 'sms', with its "
                                        "seal_key) the citizen's SMS go to; no such destination, or null: no SMS is sent "
                                        "(codes are still issued and returned to the channel).")
    sms_events: dict[Literal["registered", "reply_approved", "follow_up_invitation", "closed"], bool] = Field(
        default_factory=lambda: {"registered": True, "reply_approved": True, "follow_up_invitation": True, "closed": True},
        description="Which events send an SMS (templates: mappings/channels/sms_templates.yaml); an event not named sends none.")


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
    metrics_token: SecretStr | None = Field(default=None, description="When set, /metrics answers only `Authorization: Bearer <token>` (for Prometheus' bearer_token).")
    log_format: Literal["text", "json"] = Field(default="text", description="Log lines as text (for a terminal) or one JSON object each (for a log shipper).")
    workers_in_serve: bool = Field(default=False, description="Also run background workers inside `serve` on PostgreSQL (always on SQLite).")
    calendar_cache_seconds: float = Field(default=30.0, ge=0)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    bootstrap_key: SecretStr | None = Field(default=None, description="A supervisor key created at start if no key exists (sandbox).")
    phone_index_key: SecretStr | None = Field(default=None, description="Key of the phone index's keyed hash (HMAC-SHA256 of the "
                                              "caller's phone, hub.db.phone_index). Set it (HUB_PHONE_INDEX_KEY) wherever more than "
                                              "one machine shares the database; unset: phone_index_key_file's key.")
    phone_index_key_file: Path = Field(default=REPO_ROOT / "var" / "phone-index.key",
                                       description="Where the key is kept when phone_index_key is unset (created once, mode 0600).")
    repeat_call_days: int = Field(default=7, ge=0, le=90, description="重复来电: a new case is linked to an open case of the same "
                                  "phone and category received within this many days before it, for the agent to confirm; 0: never.")
    caller_history_days: int = Field(default=90, ge=1, le=730, description="Days back the caller's history at intake counts by default.")

    def phone_index_key_bytes(self) -> bytes:
        return resolve_key(self.phone_index_key.get_secret_value() if self.phone_index_key else None, self.phone_index_key_file)

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
        file = config_file()
        if file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=file, yaml_file_encoding="utf-8"))
        return tuple(sources)


def config_file() -> Path | None:
    """The YAML settings file named by HUB_CONFIG_FILE, if any (read when asked, never at import)."""
    name = os.environ.get("HUB_CONFIG_FILE")
    return Path(name) if name else None


def load_settings_file(path: Path) -> tuple[Any, dict[tuple, int]]:
    """A YAML settings file and each key's line, so a bad setting is said as file:line (the
    hub's settings file, or an adapter's settings for the conformance kit)."""
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, loc: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[loc + (key.value,)] = key.start_mark.line + 1
                walk(value, loc + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                lines[loc + (i,)] = value.start_mark.line + 1
                walk(value, loc + (i,))

    if root is not None:
        walk(root, ())
    data = yaml.safe_load(text)
    return ({} if data is None else data), lines
