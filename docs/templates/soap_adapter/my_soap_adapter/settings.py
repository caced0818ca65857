"""The adapter's settings: what an operator writes under destinations.<name>.settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr

from hub.integration.contract import AdapterSettings

PACKAGE = Path(__file__).parent
PACKAGED_WSDL = PACKAGE / "wsdl" / "CaseService.wsdl"
PACKAGED_MAPPING = PACKAGE / "mappings" / "my_soap_system.yaml"


class MySoapSettings(AdapterSettings):  # AdapterSettings forbids unknown keys: a typo is an error
    endpoint: AnyHttpUrl = Field(description="Where the SOAP requests go; the WSDL's own address is the vendor's.")
    username: str = Field(description="WS-Security UsernameToken user.")
    password: SecretStr = Field(description="WS-Security UsernameToken password. Secrets are SecretStr.")
    wsdl: Path = Field(default=PACKAGED_WSDL, description="The saved WSDL (its XSDs beside it); read from disk, never fetched.")
    system: str = Field(default="my_soap_system", pattern=r"^[a-z0-9][a-z0-9_.:-]*$", description="External-ref system name the peer's ids are stored under.")
    mapping_file: Path = Field(default=PACKAGED_MAPPING, description="Code table and result codes (YAML).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for an answer.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
