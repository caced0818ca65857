"""Open311 GeoReport v2, the mapping side: which categories are services, what a request
registers as, and the hub's states as GeoReport's open/closed. Data in
mappings/channels/open311.yaml, checked against the catalogue when the hub starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.domain.model import CaseState, RequestType
from hub.mappings import Catalogue
from hub.mappings.loader import MappingError, MappingErrors, load_yaml_mapping

MAPPING_FILE = Path("channels") / "open311.yaml"

# GeoReport knows two statuses. Closed: the hub is done with the citizen's matter (closed,
# archived, not accepted, handed to the emergency line, merged into another case). A reply
# awaiting its follow-up is still open: the citizen may rate it and it may be redone.
CLOSED_STATES = frozenset({CaseState.CLOSED, CaseState.ARCHIVED, CaseState.REJECTED, CaseState.TRANSFERRED, CaseState.MERGED})


GeoReportStatus = Literal["open", "closed"]


def georeport_status(state: CaseState) -> GeoReportStatus:
    return "closed" if state in CLOSED_STATES else "open"


def states_for(status: str) -> list[str]:
    closed = status == "closed"
    return sorted(s.value for s in CaseState if (s in CLOSED_STATES) == closed)


class ServiceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Annotated[str, Field(pattern=r"^\d{2,8}$")]
    keywords: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list, max_length=20)


class Open311File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency: Annotated[str, Field(min_length=1, max_length=64)]
    request_type: RequestType
    division_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    service_notice: Annotated[str, Field(min_length=1, max_length=200)]
    services: list[ServiceEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    group: str
    keywords: str


@dataclass(frozen=True)
class Division:
    code: str
    name: str


@dataclass(frozen=True)
class Open311Map:
    agency: str
    request_type: RequestType
    division_code: str
    service_notice: str
    services: dict[str, Service]  # by service_code (= category code), file order
    divisions: list[Division]  # the counties a request may name (attribute division_code)


def load_open311(mappings_dir: Path, catalogue: Catalogue) -> Open311Map:
    """Raises MappingError (file, line, reason) for a bad file: the hub does not start with one."""
    doc = load_yaml_mapping(mappings_dir / MAPPING_FILE, Open311File, entry_key="category")
    model = doc.model
    errors: list[MappingError] = []
    if model.division_code not in catalogue.divisions:
        errors.append(doc.error(("division_code",), f"{model.division_code!r} is not a code in divisions.yaml"))
    if model.request_type.value not in catalogue.request_types:
        errors.append(doc.error(("request_type",), f"{model.request_type.value!r} is not a code in request_types.yaml"))
    services: dict[str, Service] = {}
    for i, entry in enumerate(model.services):
        category = catalogue.categories.get(entry.category)
        if category is None:
            errors.append(doc.error(("services", i, "category"), f"{entry.category!r} is not a code in categories.yaml"))
            continue
        if entry.category in services:
            errors.append(doc.error(("services", i, "category"), "listed twice"))
            continue
        parent = catalogue.categories.get(category.parent) if category.parent else None
        services[entry.category] = Service(entry.category, category.name_zh, parent.name_zh if parent else category.name_zh, ",".join(entry.keywords))
    if errors:
        raise errors[0] if len(errors) == 1 else MappingErrors(errors)
    counties = [Division(d.code, d.name_zh) for d in catalogue.divisions.values() if d.level == "county"]
    return Open311Map(model.agency, model.request_type, model.division_code, model.service_notice, services, counties)
