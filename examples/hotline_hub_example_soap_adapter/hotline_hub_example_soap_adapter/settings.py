"""What an operator configures under destinations.<name>.settings; every field documents itself."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr

from hub.integration.contract import AdapterSettings

PACKAGE = Path(__file__).parent
PACKAGED_WSDL = PACKAGE / "wsdl" / "CrossRegionExchange.wsdl"
PACKAGED_MAPPING = PACKAGE / "mappings" / "neighbour.yaml"


class NeighbourSettings(AdapterSettings):
    endpoint: AnyHttpUrl = Field(description="The platform's exchange address, e.g. https://exchange.neighbour-12345.example/ws/CrossRegionExchange")
    username: str = Field(description="WS-Security user the platform issued to the city, e.g. city-512000.")
    password: SecretStr = Field(description="WS-Security password the platform issued to the city.")
    wsdl: Path = Field(default=PACKAGED_WSDL, description="The saved WSDL (its XSD beside it); read from disk, never fetched.")
    system: str = Field(
        default="neighbour", pattern=r"^[a-z0-9][a-z0-9_.:-]*$", description="External-ref system name the platform's ticket and transfer ids are stored under."
    )
    mapping_file: Path = Field(default=PACKAGED_MAPPING, description="Code table and result codes (YAML); defaults to the packaged one.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for an answer.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    page_size: int = Field(default=50, ge=1, le=200, description="Transfers per FetchTransfers call.")
