"""What the province feature hands `province poll` and the sandbox: `hub.handles.get(ProvincePollers)`."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.province.poller import ProvincePoller


@dataclass
class ProvincePollers:
    pollers: list[ProvincePoller] = field(default_factory=list)  # one per enabled province destination
