"""The channels feature: the code-and-SMS sink in every case transaction, the channel and
public routes, and its tables (docs/channels.md)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature:
    name = "channels"

    def install(self, hub: "Hub") -> None:
        from channels import tables  # noqa: F401  (registers the tables)
        from channels.api import channel, public
        from channels.codes import Codes, Limits, derive_key
        from channels.service import ChannelService
        from channels.sms import CodesAndSms, load_templates

        config = hub.settings.channels
        codes = Codes(derive_key(hub.settings.phone_index_key_bytes()),
                      Limits(config.lookup_failures_per_case, config.lookup_failures_per_client,
                             timedelta(minutes=config.lookup_lockout_minutes)))
        templates = load_templates(hub.settings.mappings_dir)  # a bad template stops the start here
        writer = hub.extras["outbox"].writer  # type: ignore[attr-defined]  # the outbox feature is installed first
        hub.cases.sinks.append(CodesAndSms(codes, templates, hub.settings, hub.clock, writer))
        hub.extras["channels"] = ChannelService(hub, codes)
        hub.routers.extend([channel, public])

    def sandbox_peers(self, base_port: int) -> list[object]:
        """For `hotline-hub sandbox`: the SMS gateway on base_port + 70 and a web citizen at work."""
        from channels.sandbox import sandbox_peers

        return sandbox_peers(base_port)

    def add_cli(self, sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
        return None


feature = _Feature()
