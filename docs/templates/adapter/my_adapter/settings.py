"""The adapter's settings: what an operator writes under destinations.<name>.settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr

from hub.integration.contract import AdapterSettings

PACKAGED_MAPPING = Path(__file__).parent / "mappings" / "my_system.yaml"


class MySettings(AdapterSettings):  # AdapterSettings forbids unknown keys: a typo is an error
    base_url: AnyHttpUrl = Field(description="The system's API root.")
    api_token: SecretStr = Field(description="Sent as 'Authorization: Bearer <token>'. Secrets are SecretStr.")
    system: str = Field(default="my_system", pattern=r"^[a-z0-9][a-z0-9_.:-]*$", description="External-ref system name the peer's ids are stored under.")
    mapping_file: Path = Field(default=PACKAGED_MAPPING, description="Code table (YAML).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds for one exchange.")
    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open the connection.")
