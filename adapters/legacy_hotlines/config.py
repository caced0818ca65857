"""The legacy lines as validated data: mappings/legacy/lines.yaml (which lines, their merge
mode, their domain) and one mapping file per line (mappings/legacy/<line>.yaml: where the
export keeps each field, the line's codes, its date formats).

A new line is one more entry and one more file; nothing in code names a line.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.domain.events import EVENT_TYPES
from hub.domain.model import CaseState, RequestType, Urgency
from hub.mappings import Catalogue, LoadedMapping, MappingError, MappingErrors, load_yaml_mapping
from hub.mappings.loader import raise_all

LineId = Annotated[str, Field(pattern=r"^\d{5}$", description="The line's number, e.g. '12315'.")]
Column = Annotated[str, Field(min_length=1, max_length=64, description="Column header in the export (or JSON key).")]


class MergeMode(StrEnum):
    """DOMAIN.md: how a department line is folded into 12345."""

    ABSORB = "整体并入"  # number cancelled, seats moved: history imported, nothing live
    PARALLEL = "双号并行"  # number kept: history imported and cases exchanged live
    SUB_CENTRE = "设分中心"  # a sub-centre inside 12345: the line's cases go to its unit

    @classmethod
    def _missing_(cls, value: object) -> MergeMode | None:
        # English spellings for operators whose editors fight with CJK input.
        return {"absorb": cls.ABSORB, "parallel": cls.PARALLEL, "sub_centre": cls.SUB_CENTRE}.get(str(value))


# An imported case is history or a case 12345 continues; never one in a unit's hands,
# since the hub holds no dispatch record or deadline for it.
IMPORT_STATES = (CaseState.ACCEPTED, CaseState.CLOSED, CaseState.ARCHIVED, CaseState.REJECTED)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fields(_Strict):
    """Canonical field -> the line's column name."""

    original_id: Column
    received_at: Column
    content: Column
    category: Column
    status: Column
    title: Column | None = None
    request_type: Column | None = None
    person_name: Column | None = None
    person_phone: Column | None = None
    address: Column | None = None
    division: Column | None = None
    unit: Column | None = None
    urgency: Column | None = None
    reply: Column | None = None
    closed_at: Column | None = None


class Codes(_Strict):
    """The line's code -> the hub's. A code missing here refuses the row (reject file)."""

    status: dict[str, CaseState] = Field(min_length=1)
    category: dict[str, str] = Field(min_length=1, description="Line category -> hub catalogue code.")
    request_type: dict[str, RequestType] = Field(default_factory=dict)
    unit: dict[str, str] = Field(default_factory=dict, description="Line unit -> hub unit code in units.yaml.")
    urgency: dict[str, Urgency] = Field(default_factory=dict)
    division: dict[str, str] = Field(default_factory=dict, description="Line area code or name -> GB/T 2260 code.")

    @field_validator("status")
    @classmethod
    def _historical(cls, value: dict[str, CaseState]) -> dict[str, CaseState]:
        for code, state in value.items():
            if state not in IMPORT_STATES:
                raise ValueError(f"status {code!r} -> {state.value}: imported cases may only be {', '.join(s.value for s in IMPORT_STATES)}")
        return value


class LineMapping(_Strict):
    """mappings/legacy/<line>.yaml."""

    line: LineId
    name_zh: Annotated[str, Field(min_length=1, max_length=64)]
    fields: Fields
    codes: Codes
    date_formats: list[Annotated[str, Field(min_length=2)]] = Field(min_length=1, description="strptime patterns tried in order, e.g. '%Y年%m月%d日 %H:%M'.")
    default_request_type: RequestType = RequestType.COMPLAINT
    default_division: Annotated[str, Field(pattern=r"^\d{6}$")] = "512000"
    title_chars: int = Field(default=30, ge=5, le=200, description="Without a title column: this many characters of content.")
    timezone: str = "Asia/Shanghai"
    outbound_other_category: str | None = Field(
        default=None, description="Live bridge: the line's 'other' category, sent for a hub category it has no code for."
    )

    @field_validator("date_formats")
    @classmethod
    def _formats_parse(cls, value: list[str]) -> list[str]:
        sample = datetime(2018, 12, 28, 14, 5, 9)
        for fmt in value:
            try:
                if datetime.strptime(sample.strftime(fmt), fmt).year != 2018:
                    raise ValueError
            except ValueError:
                raise ValueError(f"date format {fmt!r} does not round-trip (needs at least %Y)") from None
        return value

    @property
    def system(self) -> str:
        return f"legacy.{self.line}"


EventType = Annotated[str, Field(pattern=r"^case\.[a-z_]+$")]


class BridgeConfig(_Strict):
    transport: Literal["rest", "soap"] = Field(
        default="rest", description="How the line's system speaks: rest (JSON over HTTP) or soap (legacy_exchange.wsdl)."
    )
    events: list[EventType] = Field(default_factory=lambda: ["case.accepted"], description="Hub event types that send a case in the line's domain over.")
    status_events: list[EventType] = Field(
        default_factory=list,
        description="Hub event types pushed to the line as status changes of a case it holds (one it sent to 12345, or one 12345 sent over).",
    )
    transient_faults: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: ["BUSY", "MAINTENANCE", "RATE_LIMITED"], description="SOAP: the line's fault codes worth retrying; other codes are permanent."
    )

    @model_validator(mode="after")
    def _known_events(self) -> BridgeConfig:
        known = set(EVENT_TYPES.values())
        for name in ("events", "status_events"):
            unknown = [e for e in getattr(self, name) if e not in known]
            if unknown:
                raise ValueError(f"{name}: unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        both = set(self.events) & set(self.status_events)
        if both:
            raise ValueError(f"{', '.join(sorted(both))} cannot both send a case over and push its status")
        return self


class LineEntry(_Strict):
    line: LineId
    name_zh: Annotated[str, Field(min_length=1, max_length=64)]
    mode: MergeMode
    categories: list[Annotated[str, Field(pattern=r"^(\d{2}){1,4}$")]] = Field(
        default_factory=list, description="The line's domain: hub category codes (a group code covers its children)."
    )
    sub_centre_unit: str | None = Field(default=None, description="设分中心: the unit that takes the line's cases.")
    bridge: BridgeConfig | None = None

    @model_validator(mode="after")
    def _mode_needs(self) -> LineEntry:
        if self.mode is MergeMode.SUB_CENTRE and not self.sub_centre_unit:
            raise ValueError("mode 设分中心 needs sub_centre_unit")
        if self.mode is not MergeMode.SUB_CENTRE and self.sub_centre_unit:
            raise ValueError(f"sub_centre_unit is only for mode 设分中心, not {self.mode.value}")
        if self.mode is MergeMode.PARALLEL and self.bridge is None:
            raise ValueError("mode 双号并行 needs a bridge section (the live exchange)")
        if self.mode is not MergeMode.PARALLEL and self.bridge is not None:
            raise ValueError(f"a bridge is only for mode 双号并行, not {self.mode.value}")
        if self.mode in (MergeMode.PARALLEL, MergeMode.SUB_CENTRE) and not self.categories:
            raise ValueError(f"mode {self.mode.value} needs categories (the line's domain)")
        return self

    def in_domain(self, category_code: str) -> bool:
        return any(category_code.startswith(prefix) for prefix in self.categories)

    @property
    def imports(self) -> bool:
        # A sub-centre line's history is imported too: its cases become 12345's.
        return True


class Dedupe(_Strict):
    window_days: float = Field(default=7.0, gt=0, le=90, description="Cases further apart than this are not duplicates.")
    threshold: float = Field(default=0.55, ge=0, le=1, description="Scores at or above this become candidates.")
    text_weight: float = Field(default=0.7, ge=0, le=1, description="Share of the score from content similarity; the rest from closeness in time.")
    max_text_chars: int = Field(default=300, ge=20, le=2000)


class SubCentreRouting(_Strict):
    """设分中心: the router that dispatches accepted cases of a sub-centre line's domain."""

    interval_seconds: float = Field(
        default=10.0, ge=1, le=3600, description="Seconds between the router's looks (a case accepted in the same process wakes it at once)."
    )
    batch: int = Field(default=200, ge=1, le=5000, description="Cases dispatched per look at most.")


class LinesFile(_Strict):
    dedupe: Dedupe = Field(default_factory=Dedupe)
    sub_centre: SubCentreRouting = Field(default_factory=SubCentreRouting)
    lines: list[LineEntry] = Field(min_length=1)


class LegacyConfig:
    """lines.yaml plus every line's mapping file, checked together and against the catalogue."""

    def __init__(self, lines: LinesFile, mappings: dict[str, LineMapping]) -> None:
        self.dedupe = lines.dedupe
        self.sub_centre = lines.sub_centre
        self.lines = {entry.line: entry for entry in lines.lines}
        self.mappings = mappings

    def line(self, line: str) -> LineEntry:
        if line not in self.lines:
            raise KeyError(f"no legacy line {line!r}; configured: {', '.join(sorted(self.lines))}")
        return self.lines[line]

    def mapping(self, line: str) -> LineMapping:
        self.line(line)
        return self.mappings[line]

    def sub_centre_lines(self) -> list[LineEntry]:
        return [e for e in self.lines.values() if e.mode is MergeMode.SUB_CENTRE]

    def sub_centre_for(self, category_code: str) -> LineEntry | None:
        """设分中心: the line whose domain covers this category, if one is a sub-centre."""
        for entry in self.lines.values():
            if entry.mode is MergeMode.SUB_CENTRE and entry.in_domain(category_code):
                return entry
        return None


BRIDGE_ADAPTER = "legacy_bridge"  # LegacyBridgeAdapter.name (bridge/adapter.py imports this module, not the other way)


def bridge_gaps(config: LegacyConfig, destinations: dict[str, Any]) -> dict[str, str]:
    """双号并行 lines that exchange nothing live, each with why: lines.yaml says the line keeps
    its number and shares cases, but no enabled `legacy_bridge` destination in the settings
    names it (the line's address is deployment settings, not mapping data). `destinations`
    is Settings.destinations (name -> DestinationConfig)."""
    enabled: dict[str, list[str]] = {}
    disabled: dict[str, list[str]] = {}
    for name, dest in destinations.items():
        if dest.adapter == BRIDGE_ADAPTER:
            (enabled if dest.enabled else disabled).setdefault(str(dest.settings.get("line", "")), []).append(name)
    gaps: dict[str, str] = {}
    for entry in config.lines.values():
        if entry.mode is not MergeMode.PARALLEL or entry.line in enabled:
            continue
        off = disabled.get(entry.line)
        gaps[entry.line] = (
            f"its destination {', '.join(off)} is disabled" if off else f"no {BRIDGE_ADAPTER} destination with line {entry.line!r} in the settings"
        )
    return gaps


def bridge_destination(destinations: dict[str, Any], line: str) -> str | None:
    """The enabled legacy_bridge destination of a line, if any (the first by name)."""
    names = sorted(
        name for name, dest in destinations.items() if dest.adapter == BRIDGE_ADAPTER and dest.enabled and str(dest.settings.get("line", "")) == line
    )
    return names[0] if names else None


def legacy_dir(mappings_dir: Path) -> Path:
    return mappings_dir / "legacy"


def load_legacy(mappings_dir: Path, catalogue: Catalogue | None = None) -> LegacyConfig:
    """Validate lines.yaml and the per-line files; every problem raised at once with file and line."""
    folder = legacy_dir(mappings_dir)
    errors: list[MappingError] = []
    try:
        lines_doc = load_yaml_mapping(folder / "lines.yaml", LinesFile, entry_key="line")
    except MappingErrors as exc:
        raise_all(exc.errors)
        raise
    docs: dict[str, LoadedMapping[LineMapping]] = {}
    seen: set[str] = set()
    for i, entry in enumerate(lines_doc.model.lines):
        if entry.line in seen:
            errors.append(lines_doc.error(("lines", i, "line"), f"line {entry.line} is listed twice", entry_key="line"))
        seen.add(entry.line)
        if catalogue is not None:
            for j, code in enumerate(entry.categories):
                if code not in catalogue.categories:
                    errors.append(lines_doc.error(("lines", i, "categories", j), f"{code!r} is not a code in categories.yaml", entry_key="line"))
            if entry.sub_centre_unit and entry.sub_centre_unit not in catalogue.units:
                errors.append(lines_doc.error(("lines", i, "sub_centre_unit"), f"{entry.sub_centre_unit!r} is not a unit in units.yaml", entry_key="line"))
        if entry.mode is MergeMode.SUB_CENTRE:
            for other in lines_doc.model.lines[:i]:
                clash = [c for c in entry.categories for o in other.categories if other.mode is MergeMode.SUB_CENTRE and (c.startswith(o) or o.startswith(c))]
                if clash:
                    errors.append(
                        lines_doc.error(
                            ("lines", i, "categories"),
                            f"{', '.join(clash)} overlaps sub-centre line {other.line}'s categories: a case can go to one sub-centre only",
                            entry_key="line",
                        )
                    )
        path = folder / f"{entry.line}.yaml"
        try:
            doc = load_yaml_mapping(path, LineMapping)
        except MappingErrors as exc:
            errors.extend(exc.errors)
            continue
        except MappingError as exc:
            errors.append(exc)
            continue
        if doc.model.line != entry.line:
            errors.append(doc.error(("line",), f"line {doc.model.line!r} must match the file name {path.name!r}"))
        if catalogue is not None:
            errors.extend(_check_codes(doc, catalogue))
        docs[entry.line] = doc
    raise_all(errors)
    return LegacyConfig(lines_doc.model, {line: doc.model for line, doc in docs.items()})


def _check_codes(doc: LoadedMapping[LineMapping], catalogue: Catalogue) -> list[MappingError]:
    m, errors = doc.model, []
    for code, hub in m.codes.category.items():
        if hub not in catalogue.categories:
            errors.append(doc.error(("codes", "category", code), f"{hub!r} is not a code in categories.yaml", entry=code))
    for code, hub in m.codes.unit.items():
        if hub not in catalogue.units:
            errors.append(doc.error(("codes", "unit", code), f"{hub!r} is not a unit in units.yaml", entry=code))
    for code, hub in m.codes.division.items():
        if hub[:6] not in catalogue.divisions:
            errors.append(doc.error(("codes", "division", code), f"{hub!r} is not a division in divisions.yaml", entry=code))
    if m.default_division not in catalogue.divisions:
        errors.append(doc.error(("default_division",), f"{m.default_division!r} is not a division in divisions.yaml"))
    return errors


def reverse(table: dict[str, Any]) -> dict[str, str]:
    """Hub code -> the line's code (first wins), for outbound payloads."""
    out: dict[str, str] = {}
    for line_code, hub in table.items():
        out.setdefault(str(getattr(hub, "value", hub)), line_code)
    return out
