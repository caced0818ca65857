"""The province's code tables from mappings/province/, validated when the adapter starts.

Each table is one-to-one (a hub code and a province code appear once each), every hub code
must exist (in hub.domain.model or the catalogue), and every hub event is either pushed as
a status or skipped on purpose. Any problem stops the start with file, line and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.events import EVENT_TYPES
from hub.domain.model import PersonKind, RequestType, Satisfaction, Urgency
from hub.integration.contract import MappingFailure
from hub.mappings import Catalogue, LoadedMapping, MappingError, MappingErrors, load_yaml_mapping
from hub.mappings.loader import raise_all

Code = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Pair(_Strict):
    hub: Code
    province: Code
    name_zh: str | None = None


class CodesFile(_Strict):
    request_types: list[Pair]
    urgencies: list[Pair]
    satisfactions: list[Pair]
    person_kinds: list[Pair]


class StatusRow(_Strict):
    event: Code
    province: Code
    name_zh: str | None = None


class StatusesFile(_Strict):
    events: list[StatusRow]
    skip: list[Code] = Field(default_factory=list)


class CategoriesFile(_Strict):
    default_province: Code | None = None
    default_hub: Code | None = None
    categories: list[Pair]


class DivisionsFile(_Strict):
    default_hub: Code | None = None
    divisions: list[Pair]


class UnitsFile(_Strict):
    default_province: Code | None = None
    units: list[Pair]


class FaultsFile(_Strict):
    transient: list[Code] = Field(default_factory=list)
    permanent: list[Code] = Field(default_factory=list)


@dataclass(frozen=True)
class Table:
    """A one-to-one code table with optional defaults for codes without a row."""

    kind: str
    to_province: dict[str, str]
    to_hub: dict[str, str]
    default_province: str | None = None
    default_hub: str | None = None

    def province(self, hub_code: str, *, fallbacks: Iterable[str] = ()) -> str:
        for code in (hub_code, *fallbacks):
            if code in self.to_province:
                return self.to_province[code]
        if self.default_province is not None:
            return self.default_province
        raise MappingFailure(f"{self.kind}: hub code {hub_code!r} has no province code in mappings/province/")

    def hub(self, province_code: str) -> str:
        if province_code in self.to_hub:
            return self.to_hub[province_code]
        if self.default_hub is not None:
            return self.default_hub
        raise MappingFailure(f"{self.kind}: province code {province_code!r} has no hub code in mappings/province/")


@dataclass(frozen=True)
class ProvinceCodes:
    request_types: Table
    urgencies: Table
    satisfactions: Table
    person_kinds: Table
    categories: Table
    divisions: Table
    units: Table
    statuses: dict[str, str]  # hub event type -> province status code
    skipped_events: frozenset[str]
    transient_faults: frozenset[str]
    permanent_faults: frozenset[str]

    def status(self, event_type: str) -> str | None:
        """The province status for an event; None when the event is skipped on purpose."""
        if event_type in self.statuses:
            return self.statuses[event_type]
        if event_type in self.skipped_events:
            return None
        raise MappingFailure(f"event {event_type!r} is neither mapped nor skipped in mappings/province/statuses.yaml")

    def category(self, hub_code: str) -> str:
        # A finer hub code (0101 -> 01) inherits its parent's province code.
        parents = [hub_code[:n] for n in range(len(hub_code) - 2, 0, -2)]
        return self.categories.province(hub_code, fallbacks=parents)


def load_province_codes(directory: Path, catalogue: Catalogue) -> ProvinceCodes:
    """Load every file of one province folder; all problems are reported together."""
    errors: list[MappingError] = []

    def load(name: str, model: type[BaseModel]) -> LoadedMapping | None:
        try:
            return load_yaml_mapping(directory / f"{name}.yaml", model, entry_key="hub")
        except MappingError as exc:
            errors.extend(exc.errors if isinstance(exc, MappingErrors) else [exc])
            return None

    codes_doc = load("codes", CodesFile)
    statuses_doc = load("statuses", StatusesFile)
    categories_doc = load("categories", CategoriesFile)
    divisions_doc = load("divisions", DivisionsFile)
    units_doc = load("units", UnitsFile)
    faults_doc = load("faults", FaultsFile)

    def enum_check(values: set[str]) -> Callable[[str], bool]:
        return lambda code: code in values

    def table(doc: LoadedMapping | None, key: str, kind: str, known: Callable[[str], bool]) -> Table:
        if doc is None:
            return Table(kind, {}, {})
        to_province: dict[str, str] = {}
        to_hub: dict[str, str] = {}
        for i, pair in enumerate(getattr(doc.model, key)):
            if not known(pair.hub):
                errors.append(doc.error((key, i, "hub"), f"hub: unknown hub code {pair.hub!r}"))
            if pair.hub in to_province:
                errors.append(doc.error((key, i, "hub"), f"hub: code {pair.hub!r} is listed twice"))
            if pair.province in to_hub:
                errors.append(doc.error((key, i, "province"), f"province: code {pair.province!r} is listed twice"))
            to_province.setdefault(pair.hub, pair.province)
            to_hub.setdefault(pair.province, pair.hub)
        default_hub = getattr(doc.model, "default_hub", None)
        if default_hub is not None and not known(default_hub):
            errors.append(doc.error(("default_hub",), f"default_hub: unknown hub code {default_hub!r}"))
        return Table(kind, to_province, to_hub, getattr(doc.model, "default_province", None), default_hub)

    def in_catalogue(lookup: Callable[[str], object]) -> Callable[[str], bool]:
        def check(code: str) -> bool:
            try:
                lookup(code)
                return True
            except Exception:  # UnknownCode: the catalogue's only miss
                return False

        return check

    request_types = table(codes_doc, "request_types", "request type", enum_check({m.value for m in RequestType}))
    urgencies = table(codes_doc, "urgencies", "urgency", enum_check({m.value for m in Urgency}))
    satisfactions = table(codes_doc, "satisfactions", "satisfaction", enum_check({m.value for m in Satisfaction}))
    person_kinds = table(codes_doc, "person_kinds", "person kind", enum_check({m.value for m in PersonKind}))
    categories = table(categories_doc, "categories", "category", in_catalogue(catalogue.category))
    divisions = table(divisions_doc, "divisions", "division", lambda c: c in catalogue.divisions)
    units = table(units_doc, "units", "unit", lambda c: c in catalogue.units)
    if codes_doc is not None:
        for key, enum in (("request_types", RequestType), ("urgencies", Urgency), ("person_kinds", PersonKind)):
            listed = {p.hub for p in getattr(codes_doc.model, key)}
            missing = sorted(m.value for m in enum if m.value not in listed)
            if missing:  # inbound and outbound both need every value of these small enums
                errors.append(codes_doc.error((key,), f"{key}: no row for {', '.join(missing)}"))

    statuses: dict[str, str] = {}
    skipped: set[str] = set()
    if statuses_doc is not None:
        known_events = set(EVENT_TYPES.values())
        for i, row in enumerate(statuses_doc.model.events):
            if row.event not in known_events:
                errors.append(statuses_doc.error(("events", i, "event"), f"event: unknown hub event {row.event!r}", row.event))
            elif row.event in statuses:
                errors.append(statuses_doc.error(("events", i, "event"), f"event: {row.event!r} is listed twice", row.event))
            statuses.setdefault(row.event, row.province)
        for i, event in enumerate(statuses_doc.model.skip):
            if event not in known_events:
                errors.append(statuses_doc.error(("skip", i), f"skip: unknown hub event {event!r}"))
            elif event in statuses or event in skipped:
                errors.append(statuses_doc.error(("skip", i), f"skip: {event!r} is already listed"))
            skipped.add(event)
        missing = sorted(known_events - statuses.keys() - skipped)
        if missing:
            errors.append(statuses_doc.error(("events",), f"events: neither mapped nor skipped: {', '.join(missing)}"))

    transient: set[str] = set()
    permanent: set[str] = set()
    if faults_doc is not None:
        transient = set(faults_doc.model.transient)
        permanent = set(faults_doc.model.permanent)
        for i, code in enumerate(faults_doc.model.permanent):
            if code in transient:
                errors.append(faults_doc.error(("permanent", i), f"permanent: {code!r} is also transient"))

    raise_all(errors)
    return ProvinceCodes(
        request_types,
        urgencies,
        satisfactions,
        person_kinds,
        categories,
        divisions,
        units,
        statuses,
        frozenset(skipped),
        frozenset(transient),
        frozenset(permanent),
    )
