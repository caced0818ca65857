"""One county's configuration and mapping, as validated data (mappings/county/<county>.yaml).

A county is described entirely here: its id and divisions, where its ticket JSON keeps
each field, its codes and how they translate to the hub's, its date format, its signing
secret (by env var name), how updates reach the hub (push or poll) and where the hub sends
dispatched cases. A sixth county is one more file; nothing here names a county.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.domain.events import EVENT_TYPES
from hub.domain.model import CaseState, RequestType, Urgency
from hub.mappings import Catalogue, LoadedMapping, MappingError, MappingErrors, load_yaml_mapping
from hub.mappings.loader import raise_all

Path_ = Annotated[
    str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", description="Dotted path into the county's JSON, e.g. caller.mobile.")
]
CountyId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,30}$")]
# township_*: 二次派单, the county dispatches on to its township unit and reports the township's steps:
# its sign-off, reply and return up, its extension request and the county's decision on it.
UpdateKind = Literal[
    "sign_off",
    "progress",
    "extension",
    "return",
    "reply",
    "forward",
    "township_sign_off",
    "township_reply",
    "township_return",
    "township_extension",
    "township_extension_approved",
    "township_extension_refused",
]
DateFormat = Annotated[str, Field(min_length=2, description="strftime pattern, or 'iso', 'epoch', 'epoch_ms'.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketFields(_Strict):
    """Where each canonical field sits in the county's ticket JSON."""

    ticket_id: Path_
    received_at: Path_
    request_type: Path_
    category: Path_
    title: Path_
    content: Path_
    division: Path_
    address: Path_ | None = None
    person_name: Path_ | None = None
    person_phone: Path_ | None = None
    anonymous: Path_ | None = None
    confidential: Path_ | None = None
    urgency: Path_ | None = None


class UpdateFields(_Strict):
    """Where each part of an update (sign-off, progress, extension, return, reply) sits."""

    kind: Path_
    at: Path_
    ticket_id: Path_ = Field(description="Used by the poller; pushed updates name the ticket in the URL.")
    update_id: Path_ | None = None
    text: Path_ | None = None
    reason: Path_ | None = None
    working_days: Path_ | None = None
    unit: Path_ | None = Field(default=None, description="二次派单 (forward): the township unit, a county unit code.")
    due_at: Path_ | None = Field(default=None, description="二次派单 (forward): the township's deadline, in the county's date format.")


class Codes(_Strict):
    """County code -> hub code. Outbound uses the reverse (first county code per hub code)."""

    request_type: dict[str, RequestType] = Field(min_length=1)
    category: dict[str, str] = Field(min_length=1, description="County category -> hub catalogue code.")
    urgency: dict[str, Urgency] = Field(default_factory=dict)
    unit: dict[str, str] = Field(min_length=1, description="County unit code -> hub unit code in units.yaml.")
    update_kind: dict[str, UpdateKind] = Field(min_length=1, description="County update code -> what it means.")
    status: dict[CaseState, str] = Field(default_factory=dict, description="Hub state -> county status word (outbound and reads).")


class Security(_Strict):
    hmac_secret_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] | None = Field(
        default=None, description="Env var holding the HMAC secret; when set, every push must be signed."
    )
    replay_window_seconds: int = Field(default=300, ge=10, le=3600)


class Transport(_Strict):
    updates: Literal["push", "poll"] = "push"
    poll_url: str | None = Field(default=None, description="The county's feed of tickets and updates (poll only).")
    poll_interval_seconds: float = Field(default=30.0, ge=1)
    poll_tickets_key: str = "tickets"
    poll_updates_key: str = "updates"
    poll_cursor_key: str = "next_cursor"

    @model_validator(mode="after")
    def _poll_needs_url(self) -> Transport:
        if self.updates == "poll" and not self.poll_url:
            raise ValueError("poll_url is required when updates: poll")
        return self


OutboundSource = Annotated[str, Field(pattern=r"^(case|event|message|const|op|ticket_id)(\.[A-Za-z0-9_]+)*(:.*)?$")]


class OutboundField(_Strict):
    """One field of the county's payload: where its value comes from and how it is translated."""

    source: OutboundSource = Field(description="case.<path>, event.<path>, message.<path>, op, ticket_id, or const:<value>.")
    map: Literal["request_type", "category", "urgency", "unit", "status"] | None = None
    date: bool = Field(default=False, description="Format the value with the county's date_format.")
    each: bool = Field(default=False, description="The source is a list: map every item.")
    keep_unknown: bool = Field(default=False, description="Send a hub code the map lacks as it is (e.g. a city unit co-handling).")
    omit_none: bool = Field(
        default=False, description="Leave the field out when the source holds nothing (a field only some events carry, e.g. an attachment's url)."
    )


class Outbound(_Strict):
    url: str = Field(description="The county's endpoint for dispatched cases and later changes.")
    answer_ticket_id: Path_ = Field(description="Where the county's answer carries its ticket id.")
    events: dict[str, str] = Field(min_length=1, description="Hub event type -> the county's operation code.")
    skip: list[str] = Field(
        default_factory=list,
        description="Hub event types the county is not sent. Every event type "
        "(hub.domain.events.EVENT_TYPES) is under events or skip, so a new one is never dropped silently.",
    )
    fields: dict[Path_, OutboundField | OutboundSource] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _normalise(cls, value: dict[str, Any]) -> dict[str, OutboundField]:
        return {k: v if isinstance(v, OutboundField) else OutboundField(source=v) for k, v in value.items()}


class CountyConfig(_Strict):
    county: CountyId
    name_zh: Annotated[str, Field(min_length=1, max_length=64)]
    party: str | None = Field(default=None, description="The API key's party; default: the county id.")
    divisions: list[Annotated[str, Field(pattern=r"^\d{6}$")]] = Field(min_length=1)
    date_format: DateFormat = "iso"
    timezone: str = "Asia/Shanghai"
    batch_max: int = Field(default=500, ge=1, le=5000)
    ticket: TicketFields
    update: UpdateFields
    codes: Codes
    security: Security = Field(default_factory=Security)
    transport: Transport = Field(default_factory=Transport)
    outbound: Outbound

    @property
    def system(self) -> str:
        """The ExternalRef system of this county's ticket ids."""
        return f"county.{self.county}"

    @property
    def key_party(self) -> str:
        return self.party or self.county

    def reverse(self, table: str) -> dict[str, str]:
        """Hub code -> county code for outbound; the first county code wins."""
        if table == "status":
            return {k.value: v for k, v in self.codes.status.items()}
        out: dict[str, str] = {}
        for county_code, hub_code in getattr(self.codes, table).items():
            out.setdefault(str(hub_code.value if hasattr(hub_code, "value") else hub_code), county_code)
        return out


_FILE = re.compile(r"^[a-z][a-z0-9_]*\.yaml$")


def county_files(mappings_dir: Path) -> list[Path]:
    folder = mappings_dir / "county"
    return sorted(p for p in folder.glob("*.yaml") if _FILE.match(p.name)) if folder.is_dir() else []


def load_counties(mappings_dir: Path, catalogue: Catalogue | None = None) -> dict[str, CountyConfig]:
    """Every county file, validated; with a catalogue, every code checked against it.

    All problems of all files are raised together with file and line (MappingError(s))."""
    errors: list[MappingError] = []
    docs: list[LoadedMapping[CountyConfig]] = []
    for path in county_files(mappings_dir):
        try:
            docs.append(load_yaml_mapping(path, CountyConfig))
        except MappingErrors as exc:
            errors.extend(exc.errors)
        except MappingError as exc:
            errors.append(exc)
    counties: dict[str, CountyConfig] = {}
    owner: dict[str, str] = {}
    for doc in docs:
        cfg = doc.model
        if Path(doc.file).stem != cfg.county:
            errors.append(doc.error(("county",), f"county {cfg.county!r} must match the file name {Path(doc.file).name!r}"))
        for i, division in enumerate(cfg.divisions):
            if division in owner:
                errors.append(doc.error(("divisions", i), f"division {division} already belongs to county {owner[division]!r}"))
            owner[division] = cfg.county
        if catalogue is not None:
            errors.extend(_check_codes(doc, catalogue))
        counties[cfg.county] = cfg
    raise_all(errors)
    return counties


def _check_codes(doc: LoadedMapping[CountyConfig], catalogue: Catalogue) -> list[MappingError]:
    cfg, errors = doc.model, []
    for i, division in enumerate(cfg.divisions):
        known = catalogue.divisions.get(division)
        if known is None or known.level != "county":
            errors.append(doc.error(("divisions", i), f"{division} is not a county-level code in divisions.yaml"))
    for county_code, hub_code in cfg.codes.category.items():
        if hub_code not in catalogue.categories:
            errors.append(doc.error(("codes", "category", county_code), f"{hub_code!r} is not a code in categories.yaml"))
    errors.extend(_check_events(doc))
    for county_code, hub_code in cfg.codes.unit.items():
        unit = catalogue.units.get(hub_code)
        if unit is None:
            errors.append(doc.error(("codes", "unit", county_code), f"{hub_code!r} is not a code in units.yaml"))
        elif unit.division[:6] not in cfg.divisions:  # a township unit (9 digits) sits in its county
            errors.append(doc.error(("codes", "unit", county_code), f"unit {hub_code!r} sits in {unit.division}, not in this county"))
    errors.extend(_check_forward(doc, catalogue))
    return errors


def _check_forward(doc: LoadedMapping[CountyConfig], catalogue: Catalogue) -> list[MappingError]:
    """二次派单: a county code meaning `forward` needs where the update names the township and its
    deadline, and a township unit (a 9-digit division) in codes.unit, or no forward could ever map."""
    cfg, errors = doc.model, []
    for code, kind in cfg.codes.update_kind.items():
        if kind != "forward":
            continue
        lacking = [name for name in ("unit", "due_at") if getattr(cfg.update, name) is None]
        if lacking:
            errors.append(
                doc.error(
                    ("codes", "update_kind", code),
                    f"{code!r} means forward (二次派单), but update.{' and update.'.join(lacking)} (where the update carries it) is not set",
                )
            )
        townships = [u for u in cfg.codes.unit.values() if (unit := catalogue.units.get(u)) is not None and len(unit.division) == 9]
        if not townships:
            errors.append(
                doc.error(
                    ("codes", "update_kind", code), f"{code!r} means forward (二次派单), but codes.unit names no township unit (9-digit division) to forward to"
                )
            )
    return errors


def _check_events(doc: LoadedMapping[CountyConfig]) -> list[MappingError]:
    """Every event type under outbound.events or outbound.skip, once, and no unknown one: a
    typo would otherwise never be sent, and a new event type never reach the county."""
    out, errors = doc.model.outbound, []
    known = set(EVENT_TYPES.values())
    for event in out.events:
        if event not in known:
            errors.append(doc.error(("outbound", "events", event), f"{event!r} is not a hub event type (hub.domain.events.EVENT_TYPES)"))
    for i, event in enumerate(out.skip):
        if event not in known:
            errors.append(doc.error(("outbound", "skip", i), f"{event!r} is not a hub event type (hub.domain.events.EVENT_TYPES)"))
        elif event in out.events:
            errors.append(doc.error(("outbound", "skip", i), f"{event} is under both outbound.events and outbound.skip"))
    missing = [e for e in EVENT_TYPES.values() if e not in out.events and e not in out.skip]
    if missing:
        errors.append(doc.error(("outbound",), f"event types neither under outbound.events nor outbound.skip: {', '.join(missing)}"))
    return errors
