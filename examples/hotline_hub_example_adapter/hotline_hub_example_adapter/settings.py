"""What an operator configures under destinations.<name>.settings; every field documents itself."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr

from hub.integration.contract import AdapterSettings

PACKAGED_MAPPING = Path(__file__).parent / "mappings" / "waterworks.yaml"


class WaterworksSettings(AdapterSettings):
    base_url: AnyHttpUrl = Field(description="The repair desk's API root, e.g. https://repair.example/api/v2")
    app_key: SecretStr = Field(description="Sent as X-App-Key; issued by the water group.")
    system: str = Field(
        default="waterworks", pattern=r"^[a-z0-9][a-z0-9_.:-]*$", description="External-ref system name the repair desk's ticket ids are stored under."
    )
    mapping_file: Path = Field(default=PACKAGED_MAPPING, description="Code table (YAML); defaults to the packaged one.")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for one exchange.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
    page_size: int = Field(default=50, ge=1, le=500, description="Assignments per pull.")
