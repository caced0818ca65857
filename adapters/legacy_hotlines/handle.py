"""What the legacy feature hands the API, its CLI and tests: `hub.handles.get(Legacy)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.legacy_hotlines.bridge.poller import LegacyPuller
from adapters.legacy_hotlines.bridge.refusals import Refusals
from adapters.legacy_hotlines.config import LegacyConfig
from adapters.legacy_hotlines.importing.candidates import Candidates
from adapters.legacy_hotlines.sub_centre import SubCentreRouter

if TYPE_CHECKING:
    from hub.container import Hub


@dataclass
class Legacy:
    config: LegacyConfig
    candidates: Candidates
    refusals: Refusals
    pullers: dict[str, LegacyPuller] = field(default_factory=dict)  # by line; retries of refused items go through them
    sub_centre: SubCentreRouter | None = None  # only when a 设分中心 line is configured
    unbridged: dict[str, str] = field(default_factory=dict)  # 双号并行 lines with no bridge destination, and why (config.bridge_gaps)


def close_hub(hub: Hub) -> None:
    """A legacy command's last step: the bridge adapters the pullers hold (their HTTP or SOAP
    clients), then the hub."""
    for puller in hub.handles.get(Legacy).pullers.values():
        puller.adapter.close()
    hub.close()
