"""The province adapter (省一体化平台): reports city cases up, pushes status changes in order,
pulls the cases the province assigns to the city and acknowledges them.

SOAP or REST is one setting (`transport`); the wire clients only speak their protocol,
mapping.py translates, mappings/province/ holds the codes.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from adapters.province import mapping
from adapters.province.config import (
    CategoriesFile,
    CodesFile,
    DivisionsFile,
    ProvinceCodes,
    StatusesFile,
    UnitsFile,
    load_province_codes,
)
from adapters.province.wire import FaultPolicy, ProvinceWire
from adapters.province.wire_rest import ProvinceRestClient
from adapters.province.wire_soap import ProvinceSoapClient
from hub.domain.events import EVENT_TYPES
from hub.domain.model import ExternalRef
from hub.integration.contract import (
    Adapter,
    AdapterContext,
    AdapterSettings,
    ConfigurationError,
    Delivery,
    HealthReport,
    MappingFailure,
    OutboundMessage,
    PermanentError,
    PullBatch,
    PulledCase,
    TransientError,
)
from hub.mappings import Catalogue, MappingError, load_catalogue, load_yaml_mapping
from integration_kit.tables import MappingTable


class ProvinceSettings(AdapterSettings):
    transport: Literal["soap", "rest"] = Field(default="soap", description="How this province speaks: WebService/SOAP or REST/JSON.")
    endpoint: AnyHttpUrl = Field(description="SOAP: the service address (overrides the WSDL's soap:address). REST: the base URL.")
    wsdl: str | None = Field(default=None, description="WSDL path or URL; default the shipped adapters/province/province_exchange.wsdl.")
    city_code: str = Field(default="512000", pattern=r"^\d{6}$", description="The city's division code, as the province knows it.")
    username: str | None = Field(default=None, description="SOAP: WS-Security UsernameToken user (none: no WS-Security header).")
    password: SecretStr | None = Field(default=None, description="SOAP: WS-Security password.")
    password_digest: bool = Field(default=False, description="SOAP: send PasswordDigest instead of PasswordText.")
    token: SecretStr | None = Field(default=None, description="REST: sent as 'Authorization: Bearer <token>'.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for one operation (and for loading a remote WSDL).")
    encoding: str = Field(default="utf-8", description="Encoding of our requests (e.g. GBK); answers are read by their declared encoding.")
    mappings: str = Field(default="province", description="Folder under mappings/ with this province's code tables.")
    page_size: int = Field(default=50, ge=1, le=500, description="FetchAssigned MaxCount.")
    poll_interval: float = Field(default=30.0, gt=0, description="Seconds between pulls of assigned cases.")
    lease_seconds: float = Field(default=60.0, gt=0, description="The poller's leader lease; another process takes over after it lapses.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class ProvinceAdapter(Adapter[ProvinceSettings]):
    name = "province"
    settings_model = ProvinceSettings
    supports_pull = True

    @classmethod
    def mapping_tables(cls, settings: ProvinceSettings, mappings_dir: Path) -> list[MappingTable]:
        """For the kit: what mappings/<settings.mappings>/ must cover. The adapter loads the same
        files with its own stricter loader (config.load_province_codes: one-to-one, defaults)."""
        folder = mappings_dir / settings.mappings
        codes, statuses = folder / "codes.yaml", folder / "statuses.yaml"
        try:
            skip = set(load_yaml_mapping(statuses, StatusesFile).model.skip)
        except MappingError:
            skip = set()  # the kit loads the table itself and reports the file's problems
        catalogue = load_catalogue(mappings_dir)
        groups = frozenset(c for c, entry in catalogue.categories.items() if entry.parent is None)
        return [
            MappingTable(codes, CodesFile, kind="request_types", entries="request_types"),
            MappingTable(codes, CodesFile, kind="urgencies", entries="urgencies"),
            MappingTable(codes, CodesFile, kind="satisfactions", entries="satisfactions"),
            MappingTable(codes, CodesFile, kind="person_kinds", entries="person_kinds"),
            MappingTable(
                statuses,
                StatusesFile,
                kind="event_types",
                entries="events",
                hub_field="event",
                cover=frozenset(e for e in EVENT_TYPES.values() if e not in skip),
                cover_reason="the events under skip: are not exchanged with the province",
            ),
            MappingTable(
                folder / "categories.yaml",
                CategoriesFile,
                kind="categories",
                entries="categories",
                cover=groups,
                cover_reason="a finer category without a row of its own goes up as its group's code",
            ),
            MappingTable(
                folder / "divisions.yaml",
                DivisionsFile,
                kind="divisions",
                entries="divisions",
                cover=_city_divisions(catalogue, settings.city_code),
                cover_reason="only the city's own divisions are reported to the province",
            ),
            MappingTable(folder / "units.yaml", UnitsFile, kind="units", entries="units"),
        ]

    def __init__(self, settings: ProvinceSettings, context: AdapterContext) -> None:
        super().__init__(settings, context)
        try:
            self.codes = self._load_codes(context.mappings_dir, settings.mappings)
        except MappingError as exc:  # the contract's error for a bad file, still with file and line
            raise ConfigurationError(f"destination {context.destination!r}: {exc}") from None
        faults = FaultPolicy(self.codes.transient_faults, self.codes.permanent_faults)
        self.wire: ProvinceWire = self._wire(settings, faults)

    @staticmethod
    def _load_codes(mappings_dir: Path, folder: str) -> ProvinceCodes:
        # A bad mapping is a MappingError with file and line (`province check` shows it as it is).
        return load_province_codes(mappings_dir / folder, load_catalogue(mappings_dir))

    @staticmethod
    def _wire(s: ProvinceSettings, faults: FaultPolicy) -> ProvinceWire:
        if s.transport == "soap":
            return ProvinceSoapClient(
                endpoint=str(s.endpoint),
                faults=faults,
                wsdl=s.wsdl,
                connect_timeout=s.connect_timeout,
                timeout=s.timeout,
                encoding=s.encoding,
                username=s.username,
                password=s.password,
                password_digest=s.password_digest,
            )
        return ProvinceRestClient(
            endpoint=str(s.endpoint), faults=faults, connect_timeout=s.connect_timeout, timeout=s.timeout, encoding=s.encoding, token=s.token
        )

    # -- push ------------------------------------------------------------------------------
    def deliver(self, message: OutboundMessage) -> Delivery:
        if message.event_type == "case.registered":
            if mapping.came_from_province(message):
                return Delivery(detail="assigned by the province: not reported back")
            answer = self.wire.report_case(mapping.report_case_request(message, self.codes, self.settings.city_code))
            province_id = answer.get("ProvinceCaseId")
            if not province_id:
                raise TransientError("province accepted ReportCase but returned no ProvinceCaseId")
            return Delivery(external_ref=ExternalRef(system=mapping.SYSTEM, external_id=str(province_id)))
        request = mapping.push_status_request(message, self.codes)
        if request is None:
            return Delivery(detail=f"{message.event_type} is not exchanged with the province")
        answer = self.wire.push_status(request)
        return Delivery(detail=f"province holds seq {answer.get('LastSeq', message.sequence)}")

    # -- pull ------------------------------------------------------------------------------
    def pull(self, cursor: str | None) -> PullBatch:
        items, _rejected, next_cursor = self.pull_with_rejects(cursor)
        return PullBatch(items=items, next_cursor=next_cursor)

    def pull_with_rejects(self, cursor: str | None) -> tuple[list[PulledCase], list[tuple[str, str]], str | None]:
        """As pull(), plus the assigned cases that could not be mapped: (province id, reason),
        so the poller records them instead of losing them silently."""
        answer = self.wire.fetch_assigned({"CityCode": self.settings.city_code, "Cursor": cursor or None, "MaxCount": self.settings.page_size})
        items: list[PulledCase] = []
        rejected: list[tuple[str, str]] = []
        for order in answer.get("WorkOrder") or []:
            try:
                items.append(mapping.pulled_case(order, self.codes))
            except MappingFailure as exc:
                rejected.append((str(order.get("ProvinceCaseId") or "?"), str(exc)))
        return items, rejected, answer.get("NextCursor") or cursor

    def acknowledge(self, item: PulledCase, case_number: str) -> None:
        province_id = item.ack_token or item.ref.external_id
        self.wire.ack_assigned({"RequestId": f"ack:{province_id}:{case_number}", "ProvinceCaseId": province_id, "CityCaseNo": case_number})

    def query(self, province_id: str) -> dict:
        return self.wire.query_case({"ProvinceCaseId": province_id})

    # -- health ----------------------------------------------------------------------------
    def external_system(self) -> str | None:
        return mapping.SYSTEM

    def health(self) -> HealthReport:
        try:
            self.wire.fetch_assigned({"CityCode": self.settings.city_code, "Cursor": None, "MaxCount": 1})
        except (TransientError, PermanentError) as exc:
            return HealthReport(ok=False, detail=str(exc))
        return HealthReport(ok=True, detail=f"{self.settings.transport} exchange answers")

    def close(self) -> None:
        self.wire.close()


def _city_divisions(catalogue: Catalogue, city: str) -> frozenset[str]:
    """The city and every division below it in mappings/divisions.yaml."""

    def under(code: str | None) -> bool:
        while code is not None:
            if code == city:
                return True
            code = catalogue.divisions[code].parent if code in catalogue.divisions else None
        return False

    return frozenset(c for c in catalogue.divisions if under(c))


def check_mappings(mappings_dir: Path, folder: str = "province") -> ProvinceCodes:
    """For `hotline-hub province check`: load and validate without building a client."""
    try:
        return ProvinceAdapter._load_codes(mappings_dir, folder)
    except MappingError:
        raise
    except OSError as exc:
        raise ConfigurationError(f"mappings/{folder}: {exc}") from exc
