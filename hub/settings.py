"""The one settings object. Built once by the composition root and passed in; nothing
reads the environment at import time.

Sources, strongest first: keyword arguments, environment (HUB_*, nested with __), the YAML
file named by HUB_CONFIG_FILE, then these defaults.

Over 400 lines on purpose: every setting and its default in one file, so an operator (and the
README's table) reads the whole configuration in one place.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from hub.api.client_address import networks
from hub.db.phone_index import resolve_key
from hub.domain.deadlines import TimeLimits

# Where the hub's code is installed: the source checkout, or site-packages for a built wheel.
# The shipped defaults sit under it (mappings/, deploy/: package data of the wheel); state never
# does: that lives in data_dir.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = Path("var")


class DestinationConfig(BaseModel):
    """One peer the hub delivers to: which adapter (an entry-point name) and its settings.
    A key not listed here (`evnets:`) stops the start with the file, the line and the valid keys."""

    model_config = ConfigDict(extra="forbid")

    adapter: str = Field(description="Entry-point name in group 'hotline_hub.adapters'.")
    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict, description="Validated by the adapter's settings model.")
    # Subscriptions (the outbox routes case events with these; docs/outbox.md).
    events: list[str] = Field(
        default_factory=list, description="Event types this destination receives, as glob patterns ('case.*', 'case.dispatched'); empty: no case events."
    )
    cases: CaseScope = Field(default_factory=lambda: CaseScope(), description="Which cases' events; empty: every case.")
    personal_data: bool = Field(
        default=False,
        description="False: the case in each message is masked "
        "(hub.domain.access.export_view: the person's name and phone, and the "
        "address past its first characters); True: the full case, for peers that must see the person or go to the place.",
    )


class CaseScope(BaseModel):
    """Which cases a destination hears about. Nothing set: every case. Of `with_ref`, `units`
    and `divisions`, several set: a case matching any of them. `categories` narrows whatever
    the others let through: only cases of those categories."""

    model_config = ConfigDict(extra="forbid")

    with_ref: str | None = Field(default=None, description="Cases carrying an external ref of this system (e.g. 'province').")
    units: list[str] = Field(default_factory=list, description="Cases dispatched to one of these units (lead or co-handler).")
    divisions: list[str] = Field(default_factory=list, description="Cases whose division code starts with one of these.")
    categories: list[str] = Field(
        default_factory=list,
        description="Only cases of these categories: item codes "
        "('0105') or groups ('01': every item under it), from mappings/categories.yaml; "
        "checked against the catalogue when the hub starts.",
    )

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
    close_unreached_after_attempts: int = Field(
        default=3, ge=1, le=20, description="回访 attempts in a row that did not reach the person after which the scheduler closes the case."
    )
    close_unreached_after_days: int | None = Field(
        default=7,
        ge=1,
        le=90,
        description="Days after the first of those unreached attempts after which the scheduler closes the case, however few attempts; null: attempts only.",
    )
    assessment_lookback_days: int = Field(
        default=180,
        ge=31,
        le=730,
        description="Not read since migration 0024 (the assessment reads its stored items); kept so a configuration that sets it still loads.",
    )


class OutboxSettings(BaseModel):
    """The relay (outbox/relay.py): batches, leases, retries and the circuit breaker."""

    model_config = ConfigDict(extra="forbid")

    batch: int = Field(default=50, ge=1, le=1000, description="Messages claimed per round.")
    concurrency: int = Field(default=8, ge=1, le=64, description="Deliveries in flight at once per relay (different keys).")
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A claimed message returns to the queue after this even "
        "if its relay still beats (hung); a dead relay's claims are taken over sooner (takeover_seconds).",
    )
    heartbeat_seconds: float = Field(default=1.0, gt=0, description="How often a running relay counts up its heartbeat.")
    takeover_seconds: float = Field(
        default=3.0,
        gt=0,
        description="A relay whose heartbeat stood still this long (or whose process on this machine is gone: at once) loses its claims to the other relays.",
    )
    idle_poll_seconds: float = Field(default=2.0, gt=0, description="Longest sleep without a wake-up (safety net behind LISTEN/NOTIFY).")
    max_attempts: int = Field(default=12, ge=1, description="Transient failures beyond this send the message to dead letters.")
    backoff_base_seconds: float = Field(default=1.0, gt=0, description="First retry waits up to this (full jitter), doubling.")
    backoff_max_seconds: float = Field(default=600.0, gt=0, description="Cap of one backoff wait.")
    breaker_failures: int = Field(default=5, ge=1, description="Consecutive transient failures that pause a destination.")
    breaker_pause_seconds: float = Field(default=60.0, gt=0, description="How long the breaker pauses a failing destination.")
    keep_delivered_hours: float = Field(
        default=168.0, gt=0, description="Delivered messages older than this are deleted by the relay (dead letters are kept until replayed or pruned by hand)."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="`hotline-hub relay` serves Prometheus metrics on this port (0: a free one); none when unset. --metrics-port overrides it.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address the relay's metrics endpoint listens on.")

    @model_validator(mode="after")
    def _takeover_after_beats(self) -> OutboxSettings:
        if self.takeover_seconds <= self.heartbeat_seconds:
            raise ValueError("takeover_seconds must be longer than heartbeat_seconds (a live relay would lose its claims)")
        return self


class RetentionSettings(BaseModel):
    """How long the hub keeps callers' personal data (个人信息保护法; docs/operations.md)."""

    model_config = ConfigDict(extra="forbid")

    archived_years: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Years after a case is archived (归档) "
        "before its caller's name, phone, address, coordinates and attachment references "
        "are erased. Set it to your local rule; 3 is this repository's placeholder, not a law.",
    )
    interval_hours: float = Field(default=24.0, ge=1, description="Hours between retention passes of the scheduler.")


SmsEvent = Literal["registered", "reply_approved", "follow_up_invitation", "closed"]
SMS_EVENTS: tuple[SmsEvent, ...] = ("registered", "reply_approved", "follow_up_invitation", "closed")
WeChatEvent = Literal["reply_approved", "follow_up_invitation", "closed"]
WECHAT_EVENTS: tuple[WeChatEvent, ...] = ("reply_approved", "follow_up_invitation", "closed")


class WeChatSettings(BaseModel):
    """The WeChat official account's server endpoint (channels/wechat.py, docs/channels.md
    "WeChat"): what the 公众平台 was given as 服务器配置. Secrets are SecretStr: never logged."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="The account's AppID.")
    token: SecretStr = Field(
        min_length=3, max_length=32, description="The Token set in 服务器配置: WeChat signs every request with it (3 to 32 letters and digits)."
    )
    encoding_aes_key: SecretStr | None = Field(
        default=None,
        min_length=43,
        max_length=43,
        description=(
            "The EncodingAESKey of 服务器配置 (43 characters): set it for 兼容模式/安全模式 (messages encrypted with "
            "AES); left out, only 明文模式 messages are taken and an encrypted one is refused."
        ),
    )
    party: str = Field(
        default="zy-wechat",
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description=("The channel party the account's cases are registered as; the sender's openid is kept as its ref (system channel.<party>)."),
    )
    max_skew_seconds: int = Field(
        default=300, ge=30, le=86_400, description="A signed request whose timestamp is further than this from the hub's clock is refused (a replayed capture)."
    )
    destination: str | None = Field(
        default="wechat",
        description="The outbox destination (adapter 'wechat', with its seal_key) progress messages go to; null or no such destination: none are sent.",
    )
    dialogue_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description=(
            "A follower's guided dialogue (1 反映问题 ...) is forgotten after this many minutes of silence "
            "(table wechat_dialogues, shared by every process; expired rows are deleted)."
        ),
    )
    push_events: dict[WeChatEvent, bool] = Field(
        default_factory=lambda: dict.fromkeys(WECHAT_EVENTS, True),
        description="Which events send a template message (mappings/channels/wechat_templates.yaml).",
    )

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                key = base64.b64decode(value.get_secret_value() + "=", validate=True)
            except binascii.Error:
                raise ValueError("not base64 (43 characters of A-Z, a-z, 0-9, + and /, as the 公众平台 shows it)") from None
            if len(key) != 32:
                raise ValueError("does not decode to a 32-byte AES key")
        return value


class ChannelSettings(BaseModel):
    """Citizens' doors (docs/channels.md): channel intake, retrieval codes, the public lookup,
    the citizen's evaluation and the SMS sent through the outbox."""

    model_config = ConfigDict(extra="forbid")

    intake_per_minute: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Cases one channel key may register per "
        "minute, shared by every hub process (counted in the database); more are refused 429 with Retry-After.",
    )
    lookup_failures_per_case: int = Field(
        default=5, ge=1, le=100, description="Wrong retrieval codes for one case number before lookups of that number are locked out (429)."
    )
    lookup_failures_per_client: int = Field(
        default=20, ge=1, le=1000, description="Wrong retrieval codes from one client address before its lookups are locked out (429)."
    )
    lookup_lockout_minutes: int = Field(default=15, ge=1, le=1440, description="How long a lockout lasts; the count starts again after it.")
    evaluation_days: int = Field(
        default=7, ge=1, le=90, description="Days after the reply is approved during which the citizen may rate it (满意/基本满意/不满意)."
    )
    sms_destination: str | None = Field(
        default="sms",
        description="The outbox destination (adapter 'sms', with its "
        "seal_key) the citizen's SMS go to; no such destination, or null: no SMS is sent "
        "(codes are still issued and returned to the channel).",
    )
    sms_events: dict[SmsEvent, bool] = Field(
        default_factory=lambda: dict.fromkeys(SMS_EVENTS, True),
        description="Which events send an SMS (templates: mappings/channels/sms_templates.yaml); an event not named sends none.",
    )
    wechat: WeChatSettings | None = Field(default=None, description="The WeChat official account endpoint; not set: /api/v1/channel/wechat answers 404.")


AttachmentType = Literal["image/jpeg", "image/png", "application/pdf", "image/webp", "image/heic", "audio/mpeg", "audio/wav", "audio/amr", "audio/mp4"]
ATTACHMENT_TYPES: tuple[AttachmentType, ...] = (
    "image/jpeg",
    "image/png",
    "application/pdf",
    "image/webp",
    "image/heic",
    "audio/mpeg",
    "audio/wav",
    "audio/amr",
    "audio/mp4",
)
AttachmentKind = Literal["image", "document", "audio"]


def _default_kind_limits() -> dict[AttachmentKind, int]:
    return {"image": 10 * 1024 * 1024, "document": 10 * 1024 * 1024, "audio": 10 * 1024 * 1024}


class S3StoreSettings(BaseModel):
    """A bucket of S3-compatible object storage for the attachment files (`attachments.store: s3`,
    hub/attachment_s3.py; needs the extra `s3`). The bucket is the operator's: the hub creates none."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=63, description="The bucket's name; it must exist (a missing bucket: uploads and downloads answer 503).")
    endpoint_url: str | None = Field(default=None, description="The store's address, e.g. `http://minio.internal:9000`; unset: AWS S3 of `region`.")
    region: str = Field(default="us-east-1", description="The region the request is signed for (MinIO and most stores take any).")
    prefix: str = Field(
        default="", max_length=200, description="Keys start with this (e.g. `hub-prod/`): several hubs may share a bucket, each under its own prefix."
    )
    access_key_id: SecretStr | None = Field(
        default=None, description="The access key (HUB_ATTACHMENTS__S3__ACCESS_KEY_ID); unset: boto3's own chain (AWS_* environment, instance role)."
    )
    secret_access_key: SecretStr | None = Field(default=None, description="Its secret (HUB_ATTACHMENTS__S3__SECRET_ACCESS_KEY).")
    addressing_style: Literal["path", "virtual", "auto"] = Field(
        default="path", description="`path` (http://host/bucket/key: MinIO, Ceph) or `virtual` (http://bucket.host/key: AWS, most clouds)."
    )
    connect_timeout: float = Field(default=3.0, gt=0, le=60, description="Seconds to connect before the store counts as down.")
    read_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds to wait for an answer.")
    attempts: int = Field(default=2, ge=1, le=10, description="Tries per call (boto3's standard retry) before the store counts as unavailable.")
    retry_after_seconds: int = Field(default=60, ge=1, le=86400, description="The Retry-After of the 503 answered while the store is unavailable.")


class AttachmentSettings(BaseModel):
    """Photos and documents of a case (hub/attachments.py, docs/channels.md "Attachments").
    The type is read from the file's first bytes, never from the name or the client's header."""

    model_config = ConfigDict(extra="forbid")

    directory: Path | None = Field(
        default=None,
        description="Where the files are kept, content-addressed by SHA-256 "
        "(ab/cd/<sha256>); `hotline-hub backup` copies them with the database (docs/operations.md). "
        "Unset: `attachments/` beside the SQLite database file, or <data_dir>/attachments on PostgreSQL.",
    )
    max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest file the centre, a unit or a county may attach; larger: 413 naming the field `file`.",
    )
    allowed_types: list[AttachmentType] = Field(
        default_factory=lambda: list(ATTACHMENT_TYPES),
        min_length=1,
        description="Types taken, as sniffed from the content; any other: 415 naming the field `file`.",
    )
    kind_max_bytes: dict[AttachmentKind, int] = Field(
        default_factory=_default_kind_limits,
        description="Largest file per kind of content (image: JPEG, PNG, WebP, HEIC; document: PDF; audio: MP3, WAV, AMR, "
        "M4A call recordings), as sniffed; a kind left out: only the party's limit. The party's limit "
        "(max_bytes, citizen_max_bytes) still caps every kind; larger: 413 naming the field `file`.",
    )
    store: Literal["directory", "s3"] = Field(
        default="directory",
        description="Where the files are kept: `directory` (the default, `directory` below) or `s3` (a bucket, `s3` below; the extra `s3`).",
    )
    s3: S3StoreSettings | None = Field(default=None, description="The bucket, when `store` is `s3`.")
    citizen_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024, description="Largest file a citizen sends (through a channel or with the retrieval code)."
    )
    citizen_max_per_case: int = Field(
        default=5, ge=0, le=100, description="Files citizens may add to one case in all (channel and retrieval code together); more: 409. 0: citizens add none."
    )
    orphan_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="A file no attachment row names (an upload whose transaction failed) is deleted by the retention pass once this old.",
    )

    @model_validator(mode="after")
    def _s3_named(self) -> AttachmentSettings:
        if self.store == "s3" and self.s3 is None:
            raise ValueError("attachments.store is s3: attachments.s3 must name the bucket (attachments.s3.bucket)")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Where the hub keeps its state (HUB_DATA_DIR): the "
        "default SQLite file, the phone index key, attachments, backups. Relative: to the working "
        "directory at start (made absolute then).",
    )
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'hub.db'}",
        description="sqlite:///path or postgresql+psycopg://...; unset: the embedded default, sqlite:///<data_dir>/hub.db.",
    )
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
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics answers only `Authorization: Bearer <token>` (for Prometheus' bearer_token)."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Log lines as text (for a terminal) or one JSON object each (for a log shipper).")
    serve_workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="API processes `serve` starts on its one port (HUB_SERVE_WORKERS; `serve --workers N`); unset: 2 with two cores or more, else 1.",
    )

    def api_processes(self) -> int:
        """How many API processes `serve` runs: serve_workers, or by the machine's cores (two
        processes use both cores of the usual small server: bench/RESULTS.md, intake)."""
        if self.serve_workers is not None:
            return self.serve_workers
        return 2 if (os.cpu_count() or 1) >= 2 else 1

    workers_in_serve: bool = Field(default=False, description="Also run background workers inside `serve` on PostgreSQL (always on SQLite).")
    calendar_cache_seconds: float = Field(default=30.0, ge=0)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)
    bootstrap_key: SecretStr | None = Field(default=None, description="A supervisor key created at start if no key exists (sandbox).")
    phone_index_key: SecretStr | None = Field(
        default=None,
        description="Key of the phone index's keyed hash (HMAC-SHA256 of the "
        "caller's phone, hub.db.phone_index). Set it (HUB_PHONE_INDEX_KEY) wherever more than "
        "one machine shares the database; unset: phone_index_key_file's key.",
    )
    phone_index_key_file: Path = Field(
        default=DEFAULT_DATA_DIR / "phone-index.key",
        description="Where the key is kept when phone_index_key is unset (created once, mode 0600); unset: <data_dir>/phone-index.key.",
    )
    person_seal_key: SecretStr | None = Field(
        default=None,
        description="Key that seals the caller's name and phone in the stored case documents "
        "(Fernet, hub.db.person_seal; docs/phone-at-rest.md). Set it (HUB_PERSON_SEAL_KEY) wherever more than "
        "one machine shares the database, and back it up apart from the database's backups; unset: person_seal_key_file's key.",
    )
    person_seal_key_file: Path = Field(
        default=DEFAULT_DATA_DIR / "person-seal.key",
        description="Where the seal key is kept when person_seal_key is unset (created once, mode 0600, "
        "by `hotline-hub init` or the first start); unset: <data_dir>/person-seal.key.",
    )
    backups_dir: Path = Field(
        default=DEFAULT_DATA_DIR / "backups", description="Where `hotline-hub backup` writes when no directory is given; unset: <data_dir>/backups."
    )
    repeat_call_days: int = Field(
        default=7,
        ge=0,
        le=90,
        description="重复来电: a new case is linked to an open case of the same "
        "phone and category received within this many days before it, for the agent to confirm; 0: never.",
    )
    caller_history_days: int = Field(default=90, ge=1, le=730, description="Days back the caller's history at intake counts by default.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (10.0.0.5, 10.0.0.0/8, ::1) of "
        "the reverse proxies in front of the hub. Only from these is X-Forwarded-For (or X-Real-IP) "
        "believed as the client's address, for the lookup lockouts and the access log; empty: the "
        "peer's address always (hub/api/client_address.py).",
    )

    def attachments_directory(self) -> Path:
        """attachments.directory, or its default for this database (one directory per database:
        a file no row of the database names is an orphan of that database alone)."""
        if self.attachments.directory is not None:
            return self.attachments.directory
        return default_attachments_directory(self.database_url, self.data_dir)

    def phone_index_key_bytes(self) -> bytes:
        return resolve_key(self.phone_index_key.get_secret_value() if self.phone_index_key else None, self.phone_index_key_file)

    def person_seal_key_bytes(self) -> bytes:
        return resolve_key(self.person_seal_key.get_secret_value() if self.person_seal_key else None, self.person_seal_key_file)

    @model_validator(mode="before")
    @classmethod
    def _state_under_data_dir(cls, data: Any) -> Any:
        """The state settings not given default to places under data_dir, itself made
        absolute now: a later change of working directory moves nothing."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        base = Path(data.get("data_dir") or DEFAULT_DATA_DIR).expanduser().absolute()
        data["data_dir"] = base
        data.setdefault("database_url", f"sqlite:///{base / 'hub.db'}")
        data.setdefault("phone_index_key_file", base / "phone-index.key")
        data.setdefault("person_seal_key_file", base / "person-seal.key")
        data.setdefault("backups_dir", base / "backups")
        return data

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        networks(value)  # raises naming the bad entry
        return value

    @field_validator("mappings_dir")
    @classmethod
    def _mappings_exist(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"mappings directory {value} does not exist")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        file = config_file()
        if file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=file, yaml_file_encoding="utf-8"))
        return tuple(sources)


def default_attachments_directory(database_url: str, data_dir: Path) -> Path:
    """`attachments/` beside a SQLite database file (with the default database that is
    <data_dir>/attachments); <data_dir>/attachments otherwise (PostgreSQL)."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and database_url[len(prefix) :] not in ("", ":memory:"):
        return Path(database_url[len(prefix) :].split("?", 1)[0]).parent / "attachments"
    return data_dir / "attachments"


def config_file() -> Path | None:
    """The YAML settings file named by HUB_CONFIG_FILE, if any (read when asked, never at import)."""
    name = os.environ.get("HUB_CONFIG_FILE")
    return Path(name) if name else None


def load_settings_file(path: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """A YAML settings file and each key's line, so a bad setting is said as file:line (the
    hub's settings file, or an adapter's settings for the conformance kit)."""
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, loc: tuple[Any, ...]) -> None:
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
