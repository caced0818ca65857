"""The standard scenarios: the kit plays the outbox and drives the adapter against a peer.

Each scenario uses its own case (so a failure in one does not confuse the next) and keys
unique to this run (so a peer that keeps state between runs cannot fake a pass).

Over 400 lines on purpose: the standard scenarios are one list of checks an integrator reads top
to bottom; each is short and uses only the helpers above it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from hub.domain.events import DomainEvent
from hub.domain.model import Case, CaseState, Channel, Handling, Intake, Person, Place, RequestType
from hub.integration.contract import (
    Adapter,
    AdapterError,
    ConfigurationError,
    Delivery,
    HealthReport,
    OutboundMessage,
    PermanentError,
    PullBatch,
    PulledCase,
    TransientError,
)
from hub.mappings import Catalogue, UnknownCode
from hub.mappings.catalogue import Category
from integration_kit.peer import (
    OPTIONAL_MODES,
    REQUIRED_MODES,
    PeerControl,
    PeerControlError,
    UnsupportedFault,
)
from integration_kit.report import CheckResult, KitReport

# A transient failure in a scenario is retried as the relay would retry it (with a short
# backoff instead of the relay's minutes): a staging peer behind a proxy answers 503 now and
# then, and that is not a failure of the adapter. Each retry is reported.
RETRIES = 4
MAX_WAIT = 2.0  # seconds: a peer's Retry-After is honoured up to this

# The life a sample case goes through, as the outbox would deliver it: (action, event type, state after).
SERIES: list[tuple[str, str, CaseState]] = [
    ("register", "case.registered", CaseState.REGISTERED),
    ("accept", "case.accepted", CaseState.ACCEPTED),
    ("dispatch", "case.dispatched", CaseState.AWAITING_SIGN_OFF),
    ("sign_off", "case.signed_off", CaseState.IN_PROGRESS),
    ("report_progress", "case.progress_reported", CaseState.IN_PROGRESS),
    ("reply", "case.replied", CaseState.REPLIED),
]


class OutsideErrorTree(Exception):
    """The adapter raised something that is neither TransientError nor PermanentError."""


# The state a case is in after each event, for sample cases built from another event list
# (one of the lifecycle table's targets for the event's action: tests/unit/test_kit_samples.py).
EVENT_STATE: dict[str, CaseState] = {
    **{event: state for _, event, state in SERIES},
    "case.answered": CaseState.AWAITING_FOLLOW_UP,
    "case.rejected": CaseState.REJECTED,
    "case.transferred": CaseState.TRANSFERRED,
    "case.redispatched": CaseState.AWAITING_SIGN_OFF,
    "case.return_requested": CaseState.RETURN_REQUESTED,
    "case.return_decided": CaseState.RETURNED,
    "case.extension_requested": CaseState.IN_PROGRESS,
    "case.extension_decided": CaseState.IN_PROGRESS,
    "case.reply_reviewed": CaseState.AWAITING_FOLLOW_UP,
    "case.followed_up": CaseState.CLOSED,
    "case.redo": CaseState.ACCEPTED,
    "case.closed": CaseState.CLOSED,
    "case.archived": CaseState.ARCHIVED,
    "case.merged": CaseState.MERGED,
    "case.supervised": CaseState.IN_PROGRESS,
    "case.chased": CaseState.IN_PROGRESS,
    "case.corrected": CaseState.IN_PROGRESS,
    "case.supervision_cleared": CaseState.IN_PROGRESS,
    "case.unreasonable_requested": CaseState.IN_PROGRESS,
    "case.unreasonable_decided": CaseState.IN_PROGRESS,
    "case.assessment_appealed": CaseState.IN_PROGRESS,
    "case.appeal_decided": CaseState.IN_PROGRESS,
    "case.attachment_added": CaseState.IN_PROGRESS,  # a unit's photo while it handles the case
    "case.part_signed_off": CaseState.IN_PROGRESS,
    "case.part_replied": CaseState.IN_PROGRESS,
    "case.part_waived": CaseState.IN_PROGRESS,
    "case.forwarded": CaseState.IN_PROGRESS,
    "case.forward_signed_off": CaseState.IN_PROGRESS,
    "case.forward_replied": CaseState.IN_PROGRESS,
    "case.forward_returned": CaseState.IN_PROGRESS,
    "case.forward_extension_requested": CaseState.IN_PROGRESS,
    "case.forward_extension_decided": CaseState.IN_PROGRESS,
}


class SampleCases:
    """Canonical cases built from the hub's own catalogue, so every code in them is real.

    Adapters route: a county takes only cases in its divisions, held by its units, and only
    some event types. `division`, `unit` and `events` shape the samples to what the adapter
    under test accepts (defaults: the first county, the category's default unit, SERIES).
    """

    def __init__(
        self,
        catalogue: Catalogue,
        now: datetime,
        destination: str,
        *,
        division: str | None = None,
        unit: str | None = None,
        events: list[str] | None = None,
        category: str | None = None,
    ) -> None:
        self.now, self.destination = now, destination
        self.run = uuid.uuid4().hex[:8]
        self.category = _category(catalogue, category)
        self.unit = unit or self.category.default_unit or next(u for u in catalogue.units.values() if u.active).code
        self.division = division or next((d.code for d in catalogue.divisions.values() if d.level == "county"), next(iter(catalogue.divisions)))
        unknown = [e for e in events or [] if e not in EVENT_STATE]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_STATE)}")
        self.events = list(events) if events else [e for _, e, _ in SERIES]
        self._dispatched_from = 0 if events else 2  # with a custom list the case is held by `unit` throughout
        self._serial = int(uuid.uuid4().hex[:4], 16) % 9000

    def new_number(self) -> str:
        self._serial += 1
        return f"512000{self.now:%Y%m%d}{self._serial % 10000:04d}"

    def message(self, number: str, step: int, attempt: int = 1) -> OutboundMessage:
        event_type = self.events[step]
        state = EVENT_STATE[event_type]
        at = self.now + timedelta(minutes=step)
        lead = self.unit if step >= self._dispatched_from else None
        case = Case(
            number=number,
            version=step + 1,
            state=state,
            intake=Intake(channel=Channel.PHONE, received_at=self.now, agent="kit-agent"),
            person=Person(name="测试人", phone="13800138000"),
            request_type=RequestType.COMPLAINT,
            category_code=self.category.code,
            title="conformance kit: 路灯损坏",
            content="conformance kit sample case, not a real request",
            place=Place(address="测试地址1号", division_code=self.division),
            handling=Handling(lead_unit=lead, dispatched_at=at if lead else None),
            created_at=self.now,
            updated_at=at,
        )
        data: dict[str, Any] = {"lead_unit": lead} if event_type in ("case.dispatched", "case.redispatched") else {}
        if event_type == "case.replied":
            data = {"text": "已处理。"}
        event = DomainEvent(type=event_type, case_number=number, case_version=step + 1, occurred_at=at, actor="kit", role="agent", state=state.value, data=data)
        return OutboundMessage(
            idempotency_key=f"kit-{self.run}-{number}-{step + 1}",
            destination=self.destination,
            case_number=number,
            sequence=step + 1,
            event_type=event_type,
            event=event.model_dump(mode="json"),
            case=case.model_dump(mode="json"),
            attempt=attempt,
        )


def _category(catalogue: Catalogue, code: str | None) -> Category:
    """The sample cases' category: `code` if it is an item; the first item under it if it is a
    group ('01'), one with a default unit first; without a code, the first item with one."""
    items = list(catalogue.categories.values())
    if code is not None:
        if code not in catalogue.categories:
            raise ValueError(f"category {code!r} is not in mappings/categories.yaml")
        items = [c for c in items if c.code.startswith(code) and not any(o.parent == c.code for o in items)]
    return next((c for c in items if c.default_unit), None) or next(iter(items))


def call(what: str, fn: Callable[[], Any]) -> Any:
    """Run an adapter call; anything outside the error tree becomes OutsideErrorTree."""
    try:
        return fn()
    except AdapterError:
        raise
    except Exception as exc:  # noqa: BLE001 - this is exactly what the kit must catch and name
        raise OutsideErrorTree(
            f"{what} raised {type(exc).__name__}: {exc} — adapters raise only TransientError or PermanentError (and their subclasses)"
        ) from exc


class Scenarios:
    def __init__(self, adapter: Adapter, peer: PeerControl, samples: SampleCases, catalogue: Catalogue, report: KitReport) -> None:
        self.adapter, self.peer, self.samples, self.catalogue, self.report = adapter, peer, samples, catalogue, report
        self._system: str | None = None
        self._peer_ids: dict[str, tuple[str, int]] = {}  # case number -> (the peer's id, from which sequence on)

    def run_all(self) -> None:
        try:
            self.peer.reset()
        except PeerControlError as exc:
            self.report.check("peer control").fail(str(exc))
            return
        try:
            self._system = call("external_system()", self.adapter.external_system)
        except (OutsideErrorTree, AdapterError) as exc:
            self.report.check("external_system()").fail(str(exc))
            return
        for name, scenario in [
            ("scenario: health", self.health),
            ("scenario: send a new case", self.new_case),
            ("scenario: send an ordered series of changes", self.ordered_series),
            ("scenario: pull", self.pull),
            ("scenario: transient failure", self.transient),
            ("scenario: permanent failure", self.permanent),
            ("scenario: duplicate delivery", self.duplicate),
            ("scenario: batch delivery", self.batch),
        ]:
            result = self.report.check(name)
            try:
                scenario(result)
            except (OutsideErrorTree, PeerControlError) as exc:
                result.fail(str(exc))
            except AdapterError as exc:
                result.fail(f"unexpected {type(exc).__name__}: {exc}" + (f" ({exc.detail})" if exc.detail else ""))

    # -- helpers -------------------------------------------------------------------------
    def _with_peer_id(self, message: OutboundMessage) -> OutboundMessage:
        """As the outbox does: once a delivery of a case returned the peer's id under the
        adapter's external_system(), later messages of the case carry it as external_id."""
        known = self._peer_ids.get(message.case_number)
        # Only later messages: the same message again (a redelivery) means its first answer was
        # never recorded, so in production the case does not hold the id yet.
        if self._system and known and message.sequence > known[1] and message.external_id is None:
            return message.model_copy(update={"external_id": known[0]})
        return message

    def _accepted(self, label: str, message: OutboundMessage, answer: Any, result: CheckResult) -> Delivery | None:
        if not isinstance(answer, Delivery):
            result.fail(f"{label} returned {answer!r}; it must return a Delivery (or raise)")
            return None
        ref = answer.external_ref
        if ref is not None:
            result.note(f"{label}: external ref {ref.system}:{ref.external_id}")
            if self._system and ref.system == self._system:
                self._peer_ids.setdefault(message.case_number, (ref.external_id, message.sequence))  # the first is kept
        if answer.detail:
            (result.warn if answer.detail.startswith("not sent") else result.note)(f"{label}: {answer.detail}")
        return answer

    def _deliver(self, message: OutboundMessage, result: CheckResult) -> Delivery | None:
        message = self._with_peer_id(message)
        for retry in range(RETRIES + 1):
            label = f"deliver({message.event_type}, seq {message.sequence}, attempt {message.attempt})"
            try:
                answer = call(label, partial(self.adapter.deliver, message))
            except TransientError as exc:
                if retry == RETRIES:
                    raise TransientError(f"{label}: {exc} (still failing after {RETRIES + 1} attempts)", detail=exc.detail) from None
                wait = min(exc.retry_after if exc.retry_after is not None else 0.1 * 2**retry, MAX_WAIT)
                result.warn(f"{label}: TransientError({exc}); retried after {wait:.1f}s, as the relay would")
                time.sleep(wait)
                message = message.model_copy(update={"attempt": message.attempt + 1})
                continue
            return self._accepted(label, message, answer, result)
        return None  # not reached: the last retry returns or raises

    def _received_since(self, before: int) -> list:
        return self.peer.received()[before:]

    def _expect_effects(self, result: CheckResult, got: list, messages: list[OutboundMessage], what: str) -> None:
        if len(got) != len(messages):
            result.fail(f"{what}: the peer recorded {len(got)} message(s), expected {len(messages)}")
            return
        for item, message in zip(got, messages):
            if item.key is not None and item.key != message.idempotency_key:
                result.fail(
                    f"{what}: the peer got key {item.key!r} where {message.idempotency_key!r} "
                    f"(seq {message.sequence}) was expected: out of order or key not passed through"
                )
            if item.case_number is not None and item.case_number != message.case_number:
                result.fail(f"{what}: the peer got case {item.case_number!r}, expected {message.case_number!r}")
            if item.event_type is not None and item.event_type != message.event_type:
                result.fail(f"{what}: the peer got {item.event_type!r} where {message.event_type!r} (seq {message.sequence}) was expected")

    # -- scenarios -----------------------------------------------------------------------
    def health(self, result: CheckResult) -> None:
        answer = call("health()", self.adapter.health)
        if not isinstance(answer, HealthReport):
            result.fail(f"health() returned {answer!r}; it must return a HealthReport")
        elif not answer.ok:
            result.fail(f"health() says the peer is not ok: {answer.detail}")

    def new_case(self, result: CheckResult) -> None:
        before = len(self.peer.received())
        message = self.samples.message(self.samples.new_number(), 0)
        self._deliver(message, result)
        self._expect_effects(result, self._received_since(before), [message], "a new case")

    def ordered_series(self, result: CheckResult) -> None:
        number = self.samples.new_number()
        messages = [self.samples.message(number, step) for step in range(len(self.samples.events))]
        before = len(self.peer.received())
        for message in messages:
            self._deliver(message, result)
        self._expect_effects(result, self._received_since(before), messages, "the series " + " -> ".join(m.event_type for m in messages))

    def pull(self, result: CheckResult) -> None:
        if not self.adapter.supports_pull:
            try:
                call("pull(None)", lambda: self.adapter.pull(None))
            except ConfigurationError:
                result.note("supports_pull is False and pull() refuses with ConfigurationError, as it should")
                return
            result.fail("supports_pull is False but pull() did not refuse with ConfigurationError")
            return
        offered = self.peer.offer_case()
        batch = call("pull(None)", lambda: self.adapter.pull(None))
        if not isinstance(batch, PullBatch):
            result.fail(f"pull(None) returned {batch!r}; it must return a PullBatch")
            return
        if offered is None:
            result.note("the peer cannot offer cases (POST /_kit/offer answered 404): pull ran on what the peer had")
        elif not any(item.ref.external_id == offered for item in batch.items):
            result.fail(f"the peer offered case {offered!r} but pull(None) returned {[i.ref.external_id for i in batch.items]}")
        for item in batch.items:
            if not isinstance(item, PulledCase):
                result.fail(f"pull() returned an item that is not a PulledCase: {item!r}")
                continue
            self._codes_known(item, result)
        acknowledged = [i for i in batch.items if offered is None or i.ref.external_id == offered]
        for item in acknowledged:
            call("acknowledge()", partial(self.adapter.acknowledge, item, self.samples.new_number()))
        again = call("pull(next_cursor)", lambda: self.adapter.pull(batch.next_cursor))
        if isinstance(again, PullBatch):
            repeated = {i.ref.external_id for i in again.items} & {i.ref.external_id for i in acknowledged}
            if repeated:
                result.fail(f"after acknowledge() and with next_cursor {batch.next_cursor!r}, pull() returned the same case(s) again: {sorted(repeated)}")
        result.note(f"pulled {len(batch.items)} case(s), acknowledged {len(acknowledged)}")

    def _codes_known(self, item: PulledCase, result: CheckResult) -> None:
        draft = item.draft
        for check, code, field in [
            (self.catalogue.category, draft.category_code, "category_code"),
            (self.catalogue.division, draft.place.division_code, "place.division_code"),
        ]:
            try:
                check(code, field)
            except UnknownCode as exc:
                result.fail(f"pulled case {item.ref.external_id!r}: {exc} (the mapping must translate the peer's code)")

    def transient(self, result: CheckResult) -> None:
        for mode in REQUIRED_MODES[:1] + OPTIONAL_MODES:
            try:
                self.peer.fail_next(mode)
            except UnsupportedFault:
                if mode in REQUIRED_MODES:
                    raise PeerControlError(f"the peer must support fault mode {mode!r}") from None
                result.note(f"fault mode {mode!r} not supported by the peer: not exercised")
                continue
            number = self.samples.new_number()
            message = self.samples.message(number, 0)
            before = len(self.peer.received())
            try:
                call(f"deliver() against fault {mode!r}", partial(self.adapter.deliver, message))
            except TransientError as exc:
                result.note(f"fault {mode!r}: TransientError({exc}), retry_after={exc.retry_after}")
            except PermanentError as exc:
                result.fail(
                    f"fault {mode!r}: raised {type(exc).__name__}({exc}); a peer failure like this is transient: raise TransientError so the outbox retries"
                )
            else:
                result.fail(f"fault {mode!r}: deliver() returned normally; it must raise TransientError")
            self._deliver(message.model_copy(update={"attempt": 2}), result)
            self._expect_effects(result, self._received_since(before), [message], f"after fault {mode!r} and a retry")

    def permanent(self, result: CheckResult) -> None:
        self.peer.fail_next("400")
        message = self.samples.message(self.samples.new_number(), 0)
        before = len(self.peer.received())
        try:
            call("deliver() against fault '400'", lambda: self.adapter.deliver(message))
        except PermanentError as exc:
            result.note(f"fault '400': {type(exc).__name__}({exc})")
        except TransientError as exc:
            result.fail(
                f"fault '400': raised TransientError({exc}); a request the peer refuses as wrong never "
                "succeeds on retry: raise PermanentError so it goes to dead letters"
            )
        else:
            result.fail("fault '400': deliver() returned normally; it must raise PermanentError")
        got = self._received_since(before)
        if got:
            result.fail(f"fault '400': the peer recorded {len(got)} message(s) although it refused the request")

    def duplicate(self, result: CheckResult) -> None:
        message = self.samples.message(self.samples.new_number(), 0)
        before = len(self.peer.received())
        first = self._deliver(message, result)
        second = self._deliver(message.model_copy(update={"attempt": 2}), result)
        self._expect_effects(result, self._received_since(before), [message], f"the same key {message.idempotency_key!r} delivered twice")
        if first and second and first.external_ref != second.external_ref:
            result.fail(
                f"the redelivery returned external ref {second.external_ref!r}, the first {first.external_ref!r}: "
                "the outbox stores the first; a peer that deduped should answer with the same id"
            )

    def batch(self, result: CheckResult) -> None:
        """Only for adapters that take batches: new cases in one deliver_batch call, one of
        them already delivered, each with its own result and effect."""
        limit = call("batch_limit()", self.adapter.batch_limit)
        if not isinstance(limit, int) or limit < 1:
            result.fail(f"batch_limit() returned {limit!r}; it must return an int of at least 1")
            return
        if limit == 1:
            result.note("batch_limit() is 1: messages go one by one (nothing to check)")
            return
        already = self.samples.message(self.samples.new_number(), 0)
        self._deliver(already, result)
        fresh = [self.samples.message(self.samples.new_number(), 0) for _ in range(min(limit, 4) - 1)]
        messages = [self._with_peer_id(m) for m in [*fresh, already.model_copy(update={"attempt": 2})]]
        before = len(self.peer.received())
        answers = call(f"deliver_batch({len(messages)} messages)", lambda: self.adapter.deliver_batch(messages))
        if not isinstance(answers, list) or len(answers) != len(messages):
            result.fail(f"deliver_batch() of {len(messages)} messages returned {answers!r}; it must return one result per message, in order")
            return
        for message, answer in zip(messages, answers):
            if isinstance(answer, TransientError):  # retried alone, as the relay would: its next claim
                result.warn(f"deliver_batch(): {message.case_number} got TransientError({answer}); retried")
                self._deliver(message.model_copy(update={"attempt": message.attempt + 1}), result)
            elif isinstance(answer, AdapterError):
                result.fail(f"deliver_batch(): {message.case_number} got {type(answer).__name__}: {answer}")
            elif not isinstance(answer, Delivery):
                result.fail(f"deliver_batch(): {message.case_number} got {answer!r}; each result is a Delivery or a TransientError/PermanentError")
            else:
                self._accepted(f"deliver_batch(): {message.case_number}", message, answer, result)
        self._expect_effects(result, self._received_since(before), fresh, f"a batch of {len(messages)} with one already delivered")
