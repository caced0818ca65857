"""The channels feature: the code-and-SMS sink in every case transaction, the channel and
public routes, Open311 GeoReport v2, and its tables (docs/channels.md)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from channels import tables  # noqa: F401  (registers the tables)
from channels.api import centre, channel, public
from channels.codes import Codes, Limits, derive_key
from channels.open311 import router as open311
from channels.open311_map import load_open311
from channels.sandbox import sandbox_peers
from channels.service import ChannelService
from channels.sms import CodesAndSms, load_templates
from channels.wechat import WeChatDoor
from channels.wechat_api import wechat
from channels.wechat_dialogue_store import DialogueStore
from channels.wechat_menu import cmd_wechat_menu, load_menu
from channels.wechat_push import WeChatPush, load_push_templates
from hub.features import FeatureBase, HubOpener, Peer
from outbox.feature import OutboxHandle

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature(FeatureBase):
    name = "channels"
    order = 85  # after the outbox (10): its SMS are written through the outbox's writer

    def install(self, hub: Hub) -> None:
        config = hub.settings.channels
        codes = Codes(
            derive_key(hub.settings.phone_index_key_bytes()),
            Limits(config.lookup_failures_per_case, config.lookup_failures_per_client, timedelta(minutes=config.lookup_lockout_minutes)),
        )
        templates = load_templates(hub.settings.mappings_dir)  # a bad template stops the start here
        writer = hub.handles.get(OutboxHandle).writer
        sms = CodesAndSms(codes, templates, hub.settings, hub.clock, writer)
        hub.cases.sinks.append(sms)
        service = ChannelService(hub, codes, sms)
        hub.handles.add(service)
        open311_map = load_open311(hub.settings.mappings_dir, hub.catalogue)  # a bad mapping stops the start here
        hub.handles.add(open311_map)
        pushes = load_push_templates(hub.settings.mappings_dir)  # checked even with no account set
        load_menu(hub.settings.mappings_dir)  # a bad menu stops the start here too
        # Kept with no account set too: retention still prunes, and the export still lists, what an
        # account configured before left in the table.
        minutes = config.wechat.dialogue_minutes if config.wechat is not None else 30
        dialogues = DialogueStore(hub.db, timedelta(minutes=minutes), hub.settings.phone_index_key_bytes())
        hub.handles.add(dialogues)
        if config.wechat is not None:
            # The dialogue offers the categories a citizen reports about a place: Open311's services.
            categories = tuple((offered.code, offered.name) for offered in open311_map.services.values())
            hub.handles.add(WeChatDoor(hub, service, config.wechat, dialogues, categories))
            hub.cases.sinks.append(WeChatPush(pushes, hub.settings, hub.clock, writer))
        hub.routers.extend([channel, public, centre, open311, wechat])

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        wx = sub.add_parser("wechat", help="the WeChat official account").add_subparsers(dest="wechat_command", required=True)
        menu = wx.add_parser("menu", help="print the custom menu (自定义菜单) as WeChat's menu/create JSON; --push sends it")
        menu.add_argument("--push", action="store_true", help="set it on the account through the WeChat API of channels.wechat.destination")
        menu.set_defaults(func=cmd_wechat_menu)

    def sandbox_peers(self, base_port: int) -> list[Peer]:
        """For `hotline-hub sandbox`: the SMS gateway on base_port + 70 and a web citizen at work;
        the WeChat API on base_port + 71 and a WeChat follower at work."""
        return sandbox_peers(base_port)


feature = _Feature()
