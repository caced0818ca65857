"""The county's people in `hotline-hub sandbox`: its staff at their desk (`CountyDesk`), who
answer what the hub dispatched and now and then register a ticket of their own, and
`sandbox_peer`, which puts the sandbox county (adapters/county/sandbox.py), its destination
and its desk together for the sandbox. The county's system and its staff are two roles: the
system is what the kit and the tests run against; the desk only plays the demo."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import Any

import httpx

from adapters.county.config import CountyConfig, OutboundField
from adapters.county.mapping import format_date, get_path, set_path
from adapters.county.sandbox import CountySandboxState, create_app, path_of
from hub.features import Peer, PeerUnit
from sandbox.run import KEYS

log = logging.getLogger("hub.sandbox.county")


class CountyDesk:
    """The county's own staff in `hotline-hub sandbox`. Each `act()` is one round: they read
    what the hub sent (a dispatched case: sign it off this round, reply the next), and every
    `push_every` rounds they register a ticket of their own and push it up (or, for a county
    that cannot push, put it in the feed the hub polls). What crosses is logged as
    'county <id>: DOWN ...' and 'county <id>: UP ...'; the act returns the hub cases its tickets
    became, with the county's unit to dispatch them to."""

    TICKETS = [
        ("小区路灯损坏", "小区门口路灯坏了一周，晚上出行不安全。"),
        ("占道经营堵塞道路", "农贸市场外占道经营，道路拥堵，请处理。"),
        ("垃圾清运不及时", "小区垃圾桶满了三天无人清运，气味很大。"),
    ]

    def __init__(self, state: CountySandboxState, push_every: int = 15, first_push: int = 1) -> None:
        self.state, self.cfg = state, state.cfg
        self.push_every, self.first_push = push_every, first_push
        self.rounds = self.seen = self.made = 0
        self.todo: list[tuple[str, str, str]] = []  # (ticket id, hub case number, update kind), in order
        self.in_feed: list[str] = []  # tickets put in the poll feed whose hub case is not known yet
        self.event_of = {op: event for event, op in self.cfg.outbound.events.items()}
        # Every spec is an OutboundField once the config is loaded (Outbound._normalise).
        self.field_of = {spec.source: target for target, spec in self.cfg.outbound.fields.items() if isinstance(spec, OutboundField)}
        self.kind_code: dict[str, str] = {}
        for code, kind in self.cfg.codes.update_kind.items():
            self.kind_code.setdefault(kind, code)
        self.unit = next(iter(self.cfg.codes.unit.values()))  # the county's first unit takes its own tickets
        self.pushes = self.cfg.transport.updates == "push"

    def act(self) -> list[tuple[str, str | None]]:
        self.rounds += 1
        self._read_what_came()
        self._answer_one()
        brought = self._look_up_fed()
        if self.rounds >= self.first_push and (self.rounds - self.first_push) % self.push_every == 0:
            brought.extend(self._register_one())
        return brought

    def _read_what_came(self) -> None:
        with self.state.lock:
            new = [(self.state.received[k], self.state.answers[k]) for k in self.state.order[self.seen :]]
            self.seen = len(self.state.order)
        for message, ticket_id in new:
            op = str(get_path(message, self.field_of.get("op", "")))
            event = self.event_of.get(op, op)
            number = str(get_path(message, self.field_of.get("case.number", "")))
            log.info(
                "county %s: DOWN %s of hub case %s reached the county as ticket %s (op %s, in its own shape)", self.cfg.county, event, number, ticket_id, op
            )
            if event in ("case.dispatched", "case.redispatched"):
                self.todo += [(ticket_id, number, "sign_off"), (ticket_id, number, "reply")]

    def _update(self, ticket_id: str, kind: str) -> dict[str, Any]:
        f = self.cfg.update
        self.made += 1
        update: dict[str, Any] = {}
        text = "已现场核实并处理完毕，已电话告知市民。" if kind == "reply" else None
        for path, value in [
            (f.kind, self.kind_code[kind]),
            (f.at, format_date(self.cfg, datetime.now(UTC))),
            (f.ticket_id, ticket_id),
            (f.update_id, f"{self.state.run}U{self.made}"),
            (f.text, text),
        ]:
            if path and value is not None:
                set_path(update, path, value)
        return update

    def _answer_one(self) -> None:
        if not self.todo:
            return
        ticket_id, number, kind = self.todo.pop(0)
        update = self._update(ticket_id, kind)
        if not self.pushes:
            with self.state.lock:
                self.state.feed.append(("updates", update))
            log.info("county %s: UP   %s of ticket %s (hub case %s) put in the county's feed for the hub's poller", self.cfg.county, kind, ticket_id, number)
            return
        resp = self.state.push_update(ticket_id, update)
        answer = resp.json()
        if resp.status_code == 200:
            log.info(
                "county %s: UP   %s of ticket %s pushed%s: %s, hub case %s now %s",
                self.cfg.county,
                kind,
                ticket_id,
                " (signed)" if self.state.secret else "",
                answer.get("status"),
                number,
                answer.get("state"),
            )
        else:
            log.warning("county %s: %s of ticket %s refused (%s): %s", self.cfg.county, kind, ticket_id, resp.status_code, answer.get("detail"))

    def _ticket(self, ticket_id: str) -> dict[str, Any]:
        cfg, f = self.cfg, self.cfg.ticket
        title, content = self.TICKETS[self.made % len(self.TICKETS)]
        self.made += 1
        categories = cfg.reverse("category")
        ticket: dict[str, Any] = {}
        for path, value in [
            (f.ticket_id, ticket_id),
            (f.received_at, format_date(cfg, datetime.now(UTC))),
            (f.request_type, cfg.reverse("request_type").get("help")),
            (f.category, categories.get("0101") or next(iter(categories.values()))),
            (f.title, title),
            (f.content, content),
            (f.division, cfg.divisions[0]),
            (f.address, f"{cfg.name_zh}幸福路{self.made}号"),
            (f.person_name, "赵六"),
            (f.person_phone, f"139{(self.made * 7919 + 1234567) % 10**8:08d}"),
        ]:
            if path and value is not None:
                set_path(ticket, path, value)
        return ticket

    def _register_one(self) -> list[tuple[str, str | None]]:
        ticket_id = f"{self.cfg.county.upper()}-UP{self.state.run}{self.rounds:05d}"
        ticket = self._ticket(ticket_id)
        with self.state.lock:
            self.state.pushed[ticket_id] = None
        if not self.pushes:
            with self.state.lock:
                self.state.feed.append(("tickets", ticket))
            self.in_feed.append(ticket_id)
            log.info("county %s: UP   ticket %s registered by the county, put in its feed for the hub's poller", self.cfg.county, ticket_id)
            return []
        resp = self.state.push_tickets(ticket)
        answer = resp.json()
        if resp.status_code not in (200, 201):
            log.warning("county %s: ticket %s refused (%s): %s", self.cfg.county, ticket_id, resp.status_code, answer.get("detail"))
            return []
        with self.state.lock:
            self.state.pushed[ticket_id] = answer["case_number"]
        log.info(
            "county %s: UP   ticket %s registered by the county, pushed%s: %s as hub case %s",
            self.cfg.county,
            ticket_id,
            " (signed)" if self.state.secret else "",
            answer.get("status"),
            answer["case_number"],
        )
        return [(answer["case_number"], self.unit)]

    def _look_up_fed(self) -> list[tuple[str, str | None]]:
        """Tickets put in the feed: once the hub's poller has taken one, the hub knows its case."""
        brought: list[tuple[str, str | None]] = []
        for ticket_id in list(self.in_feed):
            resp = httpx.get(
                f"{self.state.hub_url}/api/v1/counties/{self.cfg.county}/tickets/{ticket_id}", headers={"X-API-Key": self.state.api_key or ""}, timeout=10
            )
            if resp.status_code != 200:
                continue
            number = resp.json()["case_number"]
            self.in_feed.remove(ticket_id)
            with self.state.lock:
                self.state.pushed[ticket_id] = number
            log.info("county %s: UP   ticket %s polled from the county's feed by the hub: hub case %s", self.cfg.county, ticket_id, number)
            brought.append((number, self.unit))
        return brought


# A signing county's secret when the environment has none: `hotline-hub sandbox` puts it in its
# own process only, so the sandbox county and the hub agree. Production has no such default:
# a signing county is refused (503) until its operator sets the variable.
def sandbox_secret(cfg: CountyConfig) -> str:
    return f"sandbox-only-{cfg.county}-not-a-real-secret"


def sandbox_peer(cfg: CountyConfig, port: int, hub_port: int, first_push: int = 1, run: str = "") -> Any:
    """The peer `hotline-hub sandbox` starts for a county, the destination pointing the hub at
    it, and its desk (which acts only if the sandbox has a key for the county)."""
    base = f"http://127.0.0.1:{port}"
    env_name = cfg.security.hmac_secret_env
    secret = (os.environ.get(env_name) or sandbox_secret(cfg)) if env_name else None
    # The sandbox hub creates fixed keys; a county that has one pushes with it.
    key = next((k for party, role, _, k in KEYS.values() if party == cfg.key_party and role.value == "county"), None)
    state = CountySandboxState(cfg, hub_url=f"http://127.0.0.1:{hub_port}", api_key=key, secret=secret, run=run)
    settings: dict[str, Any] = {"county": cfg.county, "url": base + path_of(cfg.outbound.url)}
    if cfg.transport.poll_url:
        settings["poll_url"] = base + path_of(cfg.transport.poll_url)
    desk = CountyDesk(state, first_push=first_push) if key else None
    units = tuple(PeerUnit(unit, cfg.divisions[0], cfg.name_zh) for unit in dict.fromkeys(cfg.codes.unit.values()))
    return Peer(
        f"county-{cfg.county}",
        port,
        lambda: create_app(state),
        # personal_data: its units call the citizen back (docs/county.md)
        {"adapter": "county", "settings": settings, "events": ["case.*"], "personal_data": True},
        f"{cfg.name_zh} ticket system ({'pushes' if cfg.transport.updates == 'push' else 'polled'}"
        f"{', signs' if env_name else ''}): GET /received, POST /control/tickets",
        act=desk.act if desk else None,
        units=units,
        env={env_name: secret} if env_name and secret else {},
    )
