"""省转办 poller: fetch the cases the province assigns to the city, register each once,
acknowledge it, and remember where the province's list ended.

- Only one poller is active across processes: each round first takes (or renews) the lease.
- Idempotent: the province's id is the key. A case already held (found by its external
  ref) is not created again, only acknowledged again, so a lost ack or a crash between
  register and ack is harmless.
- The cursor advances only when the whole batch was handled; a TransientError stops the
  round and the next round starts from the same cursor.
- A case that cannot be taken (bad codes, refused by the hub's validation, a permanent
  fault on its ack) is recorded in province_pull_failures and the round moves on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select

from adapters.province.adapter import ProvinceAdapter
from adapters.province.tables import ProvinceCursorRow, ProvincePullFailureRow
from hub.domain.access import Actor, registered_by_other_peer
from hub.domain.errors import DomainError, RuleViolation
from hub.domain.model import Role
from hub.integration.contract import PermanentError, PulledCase, TransientError
from hub.leases import Lease, LeasedWorker
from hub.mappings import UnknownCode

log = logging.getLogger("adapters.province.poller")

PROVINCE_ACTOR = Actor(party="province", role=Role.PROVINCE)


@dataclass
class RoundResult:
    leader: bool
    created: list[str] = field(default_factory=list)  # hub case numbers registered this round
    existing: list[str] = field(default_factory=list)  # already held: acknowledged again only
    failed: list[tuple[str, str]] = field(default_factory=list)  # (province id, reason)
    stopped: str | None = None  # why the round stopped early (a transient error)
    cursor: str | None = None


class ProvincePoller(LeasedWorker):
    def __init__(
        self,
        hub,
        adapter: ProvinceAdapter,
        destination: str = "province",
        *,  # noqa: ANN001 (hub.container.Hub)
        interval: float | None = None,
        lease_seconds: float | None = None,
        holder: str | None = None,
    ) -> None:
        self.hub, self.adapter, self.destination = hub, adapter, destination
        self.name = f"province-poller:{destination}"
        self.interval = interval if interval is not None else adapter.settings.poll_interval
        ttl = timedelta(seconds=lease_seconds if lease_seconds is not None else adapter.settings.lease_seconds)
        self.lease = Lease(hub.db, hub.clock, f"province-poller:{destination}", ttl, holder=holder)
        super().__init__()

    # -- worker ----------------------------------------------------------------------------
    def seconds_between_rounds(self) -> float:
        return self.interval

    def join_timeout(self) -> float:
        return self.adapter.settings.timeout + 5

    def round(self) -> None:
        try:
            result = self.run_once()
            if result.created or result.failed or result.stopped:
                log.info(
                    "province poll: created %d, again %d, failed %d%s",
                    len(result.created),
                    len(result.existing),
                    len(result.failed),
                    f", stopped: {result.stopped}" if result.stopped else "",
                )
        except Exception:  # a bug in one round must not kill the worker; it is logged and retried
            log.exception("province poll round failed")

    # -- one round -------------------------------------------------------------------------
    def run_once(self) -> RoundResult:
        if not self.lease.acquire():
            return RoundResult(leader=False)
        cursor = self.cursor()
        result = RoundResult(leader=True, cursor=cursor)
        try:
            self._poll(result, cursor)
        except Exception as exc:
            self.lease.failed(f"{type(exc).__name__}: {exc}")
            raise
        if result.stopped:  # the province could not be read, or refused the poll: not a pass
            self.lease.failed(result.stopped)
        else:
            self.lease.passed()
        return result

    def _poll(self, result: RoundResult, cursor: str | None) -> RoundResult:
        try:
            items, rejected, next_cursor = self.adapter.pull_with_rejects(cursor)
        except TransientError as exc:
            result.stopped = str(exc)
            return result
        except PermanentError as exc:
            result.stopped = str(exc)
            log.error("province poll refused: %s", exc)
            return result
        for province_id, reason in rejected:
            self._record_failure(result, province_id, reason)
        for item in items:
            try:
                self._take(item, result)
            except TransientError as exc:
                result.stopped = str(exc)
                return result  # cursor stays: the next round sees the rest of the batch again
            except (PermanentError, DomainError, UnknownCode, ValidationError) as exc:
                self._record_failure(result, item.ref.external_id, f"{type(exc).__name__}: {exc}")
        self._save_cursor(next_cursor)
        result.cursor = next_cursor
        return result

    def _take(self, item: PulledCase, result: RoundResult) -> None:
        province_id = item.ref.external_id
        held = self.hub.cases.find_by_ref(item.ref.system, province_id)
        if held is not None:
            if registered_by_other_peer(PROVINCE_ACTOR, held):
                # A county registered a case with this province id: never answer the province
                # with another party's case; the centre resolves it (recorded as a failure).
                raise RuleViolation(
                    f"province id {province_id!r} is held by case {held.number}, registered by another party ({held.history[0].actor}); not merged into it"
                )
            number = held.number
            result.existing.append(number)
        else:
            registered = self.hub.cases.register(item.draft, PROVINCE_ACTOR, idempotency_key=f"province:{province_id}")
            number = registered.case.number
            (result.created if registered.created else result.existing).append(number)
        self.adapter.acknowledge(item, number)

    # -- durable state ---------------------------------------------------------------------
    def cursor(self) -> str | None:
        with self.hub.db.read() as s:
            return s.execute(select(ProvinceCursorRow.cursor).where(ProvinceCursorRow.destination == self.destination)).scalar_one_or_none()

    def reset_cursor(self) -> None:
        """Pull from the start of the province's list again (the sandbox province forgets its list
        when it restarts). Safe: a case already held is only acknowledged again."""
        self._save_cursor(None)

    def _save_cursor(self, cursor: str | None) -> None:
        with self.hub.db.write() as s:
            row = s.get(ProvinceCursorRow, self.destination)
            if row is None:
                s.add(ProvinceCursorRow(destination=self.destination, cursor=cursor, updated_at=self.hub.clock.now()))
            else:
                row.cursor, row.updated_at = cursor, self.hub.clock.now()

    def _record_failure(self, result: RoundResult, province_id: str, reason: str) -> None:
        result.failed.append((province_id, reason))
        log.error("province case %s not taken: %s", province_id, reason)
        with self.hub.db.write() as s:
            s.add(ProvincePullFailureRow(destination=self.destination, province_id=province_id, reason=reason[:2000], at=self.hub.clock.now()))

    def failures(self) -> list[tuple[str, str]]:
        with self.hub.db.read() as s:
            rows = s.execute(
                select(ProvincePullFailureRow).where(ProvincePullFailureRow.destination == self.destination).order_by(ProvincePullFailureRow.id)
            ).scalars()
            return [(r.province_id, r.reason) for r in rows]
