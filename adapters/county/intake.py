"""Inbound county work, shared by the push API and the poller: tickets become cases,
updates become commands on the case. Everything goes through hub.cases; nothing here
writes case tables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from adapters.county.config import CountyConfig
from adapters.county.mapping import hub_field_names, ticket_to_draft, update_to_command
from adapters.county.refusals import TicketRefused, forbidden, translate
from adapters.county.signing import verify
from adapters.county.store import CountyStore, StaleUpdate, UpdateMark, applying, is_stale
from hub.db.repository import DuplicateExternalRef
from hub.domain.access import Actor, can_see_case, registrant
from hub.domain.errors import DomainError
from hub.domain.model import Case, CaseState, Role
from hub.mappings import UnknownCode
from hub.service import ContentTooLarge, Registered

# A county may no longer change a case in these states; the refusal says which and why.
FINISHED = {
    CaseState.CLOSED: "closed (办结)",
    CaseState.ARCHIVED: "archived (归档)",
    CaseState.MERGED: "merged into another case (并单)",
    CaseState.REJECTED: "rejected (不予受理)",
    CaseState.TRANSFERRED: "transferred to an emergency line",
}

_REFUSALS = (DomainError, UnknownCode, ContentTooLarge, TicketRefused)


class CountyIntake:
    def __init__(self, hub: Any, counties: Mapping[str, CountyConfig], store: CountyStore, environ: Mapping[str, str] | None = None) -> None:
        self.hub = hub
        self.counties = counties
        self.store = store
        self.environ = environ if environ is not None else os.environ

    # -- who may call -------------------------------------------------------------------------
    def county(self, county: str) -> CountyConfig:
        cfg = self.counties.get(county)
        if cfg is None:
            raise TicketRefused(
                404,
                "unknown-county",
                "No such county",
                f"path.county: no county {county!r}; configured: {', '.join(sorted(self.counties))}",
                [{"field": "path.county", "reason": f"unknown county {county!r}"}],
            )
        return cfg

    def authorize(self, county: str, actor: Actor) -> CountyConfig:
        cfg = self.county(county)
        if actor.role is not Role.COUNTY or actor.party != cfg.key_party:
            raise forbidden(
                f"this endpoint takes only county {cfg.county}'s own key; the key presented is party {actor.party!r} (role {actor.role.value})", "path.county"
            )
        return cfg

    def check_signature(self, cfg: CountyConfig, timestamp: str | None, signature: str | None, body: bytes) -> None:
        env = cfg.security.hmac_secret_env
        if env is None:
            return
        secret = self.environ.get(env)
        if not secret:
            # Fail closed: a county configured to sign is never accepted unsigned.
            raise TicketRefused(
                503, "county-secret-missing", "The hub has no signing secret for this county", f"the hub's operator must set {env} (see docs/county.md)"
            )
        window = cfg.security.replay_window_seconds
        digest = verify(secret, timestamp, signature, body, self.hub.clock.now(), window)
        if not self.store.remember_signature(cfg.county, digest, self.hub.clock.now(), timedelta(seconds=window)):
            raise TicketRefused(
                409,
                "replayed-request",
                "Request replayed",
                "this signed request was already received; sign a new request with the current time",
                [{"field": "header.X-County-Signature", "reason": "already used"}],
            )

    # -- tickets --------------------------------------------------------------------------------
    def push(self, cfg: CountyConfig, actor: Actor, ticket: Any, where: str = "body.", idempotency_key: str | None = None) -> dict[str, Any]:
        """{ticket_id, case_number, status: created|existing}; TicketRefused otherwise."""
        ticket_id, draft = ticket_to_draft(cfg, ticket, where)
        # No lookup first: the ticket id is unique per county in the refs table, so a ticket
        # pushed again fails its insert and is answered from the case that holds it.
        try:
            # The ref's namespace is this county's, named here from the configuration.
            result: Registered | Exception = self.hub.cases.register(draft, actor, idempotency_key, refs_by_adapter=True)
        except (DuplicateExternalRef, *_REFUSALS) as exc:
            result = exc
        return self._outcome(cfg, actor, ticket_id, where, result)

    def push_many(self, cfg: CountyConfig, actor: Actor, tickets: list[Any], key: str | None = None) -> list[dict[str, Any]]:
        """A batch: per ticket {index, status: created|existing, ...} or {index, status:
        refused, problem}. The tickets are registered together (hub.cases.register_many: one unit
        of work, and on a SQLite file a commit shared with other requests; a failure inside it
        registers each ticket again as its own unit), so one bad ticket never undoes its
        neighbours. With `key`, item i is keyed `key:i` (a retried batch replays each item alone)."""
        results: list[dict[str, Any] | None] = [None] * len(tickets)
        mapped: list[tuple[int, str, str]] = []
        drafts = []
        for i, ticket in enumerate(tickets):
            where = f"body[{i}]."
            try:
                ticket_id, draft = ticket_to_draft(cfg, ticket, where)
            except TicketRefused as exc:
                results[i] = {"index": i, "status": "refused", "problem": exc.body()}
                continue
            mapped.append((i, ticket_id, where))
            drafts.append((draft, f"{key}:{i}" if key is not None else None))
        registered = self.hub.cases.register_many(drafts, actor, refs_by_adapter=True)
        for (i, ticket_id, where), result in zip(mapped, registered, strict=True):
            try:
                if isinstance(result, IntegrityError) and key is not None:
                    # Two pushes of one keyed item raced (PostgreSQL): the single path retries.
                    answer = self.push(cfg, actor, tickets[i], where, f"{key}:{i}")
                else:
                    answer = self._outcome(cfg, actor, ticket_id, where, result)
                results[i] = {"index": i, **answer}
            except TicketRefused as exc:
                results[i] = {"index": i, "status": "refused", "problem": exc.body()}
        return [r for r in results if r is not None]

    def _outcome(self, cfg: CountyConfig, actor: Actor, ticket_id: str, where: str, result: Registered | Exception) -> dict[str, Any]:
        """The answer for one ticket from its registration's result or error; TicketRefused
        for a refusal; any other error is raised as it came."""
        if isinstance(result, DuplicateExternalRef):
            # Pushed before (or concurrently): the ticket id is the dedupe key.
            held = self.hub.cases.find_by_ref(cfg.system, ticket_id)
            if held is None:
                raise result
            if not self._held_for(actor, held):
                raise TicketRefused(
                    409,
                    "external-ref-conflict",
                    "The ticket id is held by another party's case",
                    f"{cfg.county} ticket {ticket_id!r} ({cfg.system}) is already held by a case this "
                    "county did not register and cannot see; it is not merged into it — the city "
                    "centre resolves the conflict",
                    [{"field": where + cfg.ticket.ticket_id, "reason": f"{cfg.system} id {ticket_id!r} is held by another party's case"}],
                    system=cfg.system,
                    external_id=ticket_id,
                ) from None
            return self._answer(cfg, ticket_id, held, "existing")
        if isinstance(result, _REFUSALS):
            # The county's field names only for a refusal: a batch's accepted tickets skip them.
            raise translate(result, hub_field_names(cfg, where)) from None
        if isinstance(result, Exception):
            raise result
        return self._answer(cfg, ticket_id, result.case, "created" if result.created else "existing")

    def read(self, cfg: CountyConfig, actor: Actor, ticket_id: str) -> dict[str, Any]:
        case = self._case(cfg, actor, ticket_id)
        return self._answer(cfg, ticket_id, case, None)

    # -- updates --------------------------------------------------------------------------------
    def update(self, cfg: CountyConfig, actor: Actor, ticket_id: str, body: Any, where: str = "body.") -> dict[str, Any]:
        upd = update_to_command(cfg, body, where)
        case = self._case(cfg, actor, ticket_id)
        if case.state in FINISHED:
            raise TicketRefused(
                409,
                "case-closed",
                "The case is closed",
                f"case {case.number} is {FINISHED[case.state]}; updates to it are refused",
                state=case.state.value,
                case_number=case.number,
            )
        stale = is_stale(self.store.ticket(cfg.county, ticket_id), upd.at, upd.update_id)
        if stale is not None:
            return self._ignored(cfg, ticket_id, case, stale)
        mark = UpdateMark(cfg.county, ticket_id, case.number, upd.at, upd.update_id)
        try:
            with applying(mark):
                new = self.hub.cases.act(case.number, upd.command, actor)
        except StaleUpdate as exc:  # a newer update won the race inside the transaction
            return self._ignored(cfg, ticket_id, case, exc)
        except _REFUSALS as exc:
            raise translate(exc, {"reason": where + (cfg.update.reason or cfg.update.text or "reason"), "text": where + (cfg.update.text or "text")}) from None
        answer = self._answer(cfg, ticket_id, new, "applied")
        answer["action"] = upd.command.action
        return answer

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _held_for(actor: Actor, held: Case) -> bool:
        """A pushed ticket id already in the refs table is this county's own earlier push, or
        a case the hub sent it (in its divisions, its id recorded by the hub's adapter). A case
        it may not see, or one another county registered, is never answered as `existing`:
        that id was claimed by another party."""
        who = registrant(held)
        by_other_county = who is not None and who[1] is Role.COUNTY and who != (actor.party, actor.role)
        return not by_other_county and can_see_case(actor, held)

    def _case(self, cfg: CountyConfig, actor: Actor, ticket_id: str) -> Case:
        case = self.hub.cases.find_by_ref(cfg.system, ticket_id)
        if case is None:
            raise TicketRefused(
                404,
                "ticket-not-found",
                "No such ticket",
                f"path.ticket_id: the hub holds no case for {cfg.county} ticket {ticket_id!r}",
                [{"field": "path.ticket_id", "reason": "unknown ticket"}],
            )
        if not can_see_case(actor, case):
            raise forbidden(f"case {case.number} is not visible to party {actor.party!r}", "path.ticket_id")
        return case

    def _ignored(self, cfg: CountyConfig, ticket_id: str, case: Case, stale: StaleUpdate) -> dict[str, Any]:
        answer = self._answer(cfg, ticket_id, case, "ignored: duplicate" if stale.duplicate else "ignored: stale")
        answer["held_update_at"] = stale.held_at.isoformat() if stale.held_at else None
        return answer

    @staticmethod
    def _answer(cfg: CountyConfig, ticket_id: str, case: Case, status: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket_id": ticket_id,
            "case_number": case.number,
            "state": case.state.value,
            "county_status": cfg.codes.status.get(case.state),
            "version": case.version,
            "lead_unit": case.handling.lead_unit,
            "due_at": case.handling.due_at.isoformat() if case.handling.due_at else None,
        }
        if status is not None:
            out = {"status": status, **out}
        return out
