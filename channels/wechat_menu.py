"""The custom menu (自定义菜单) of the WeChat official account: data in
`mappings/channels/wechat_menu.yaml`, checked when the hub starts against WeChat's rules (at
most 3 buttons, 5 under each, names of at most 16 and 60 bytes) and against the door: every
`click` button's key is one the guided dialogue answers (MENU_KEYS). `hotline-hub wechat menu`
prints the JSON of WeChat's menu/create; with `--push` it sends it through the WeChat API of
the `wechat` destination (the sandbox's in `make run`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters.wechat.adapter import WeChatAdapter
from channels.wechat_dialogue import Start
from hub.domain.clock import SystemClock
from hub.integration.contract import AdapterContext, ConfigurationError, PermanentError, TransientError
from hub.integration.registry import build_adapter
from hub.mappings.loader import load_yaml_model
from hub.settings import Settings

MENU_FILE = Path("channels") / "wechat_menu.yaml"
MENU_KEYS: dict[str, Start] = {"REPORT": "report", "QUERY": "query", "RATE": "rate", "MINE": "mine"}


class MenuButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    type: Literal["click", "view"] | None = None
    key: str | None = Field(default=None, description="A click button's key: one of MENU_KEYS.")
    url: str | None = Field(default=None, max_length=1024, pattern=r"^https?://", description="A view button's page.")
    sub_button: list[MenuButton] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _one_kind(self) -> MenuButton:
        if self.sub_button:
            if self.type or self.key or self.url:
                raise ValueError(f"button {self.name!r}: a button with sub_button has no type, key or url")
            if any(b.sub_button for b in self.sub_button):
                raise ValueError(f"button {self.name!r}: WeChat menus have two levels only")
            return self
        if self.type == "click" and (self.key not in MENU_KEYS or self.url):
            raise ValueError(f"button {self.name!r}: a click button's key is one of {sorted(MENU_KEYS)} (what the dialogue answers)")
        if self.type == "view" and (not self.url or self.key):
            raise ValueError(f"button {self.name!r}: a view button has a url and no key")
        if self.type is None:
            raise ValueError(f"button {self.name!r}: type click or view, or sub_button")
        return self

    def wire(self) -> dict[str, Any]:
        if self.sub_button:
            return {"name": self.name, "sub_button": [b.wire() for b in self.sub_button]}
        return {"type": self.type, "name": self.name, **({"key": self.key} if self.key else {"url": self.url})}


class WeChatMenu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    button: list[MenuButton] = Field(min_length=1, max_length=3)

    @model_validator(mode="after")
    def _name_lengths(self) -> WeChatMenu:
        for top in self.button:
            if len(top.name.encode()) > 16:
                raise ValueError(f"button {top.name!r}: a top button's name is at most 16 bytes (4 Chinese characters)")
            for sub in top.sub_button:
                if len(sub.name.encode()) > 60:
                    raise ValueError(f"button {sub.name!r}: a sub button's name is at most 60 bytes")
        return self

    def wire(self) -> dict[str, Any]:
        """The body of WeChat's /cgi-bin/menu/create."""
        return {"button": [b.wire() for b in self.button]}


def load_menu(mappings_dir: Path) -> WeChatMenu:
    """Raises MappingError (file, line, reason) for a bad file: the hub does not start with one."""
    return load_yaml_model(mappings_dir / MENU_FILE, WeChatMenu, entry_key="name")


def cmd_wechat_menu(args: argparse.Namespace) -> int:
    settings = Settings()
    body = load_menu(settings.mappings_dir).wire()
    if not args.push:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    name = settings.channels.wechat.destination if settings.channels.wechat is not None else None
    destination = settings.destinations.get(name) if name else None
    if destination is None or destination.adapter != "wechat":
        print("hotline-hub wechat menu --push: no WeChat API to push to (channels.wechat.destination, a destination of adapter 'wechat')", file=sys.stderr)
        return 2
    try:
        adapter = build_adapter(name, "wechat", destination.settings, AdapterContext(name, SystemClock(), settings.mappings_dir))  # type: ignore[arg-type]
    except ConfigurationError as exc:
        print(f"hotline-hub wechat menu --push: {exc}", file=sys.stderr)
        return 2
    try:
        assert isinstance(adapter, WeChatAdapter)
        adapter.create_menu(body)
    except (ConfigurationError, TransientError, PermanentError) as exc:
        print(f"hotline-hub wechat menu --push: {exc}", file=sys.stderr)
        return 1
    finally:
        adapter.close()
    print(f"menu set on the account: {len(body['button'])} buttons")
    return 0
