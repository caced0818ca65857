"""Issue #14, "Trust": each party reaches only its own — on a real database (SQLite file and
PostgreSQL). Each test names the hole it closes; each failed before its fix.

The expectations are written from DOMAIN.md and the issue, not read from hub/domain/access.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from adapters.county.intake import CountyIntake
from adapters.county.refusals import TicketRefused
from hub.db.repository import CaseQuery
from hub.domain import commands as c
from hub.domain.access import SYSTEM_ACTOR, Actor
from hub.domain.errors import AccessDenied, RuleViolation
from hub.domain.model import CaseDraft, CaseState, Role
from hub.settings import Settings
from knowledge.handle import Knowledge
from knowledge.model import ArticleContent, ArticleInput, ArticleStatus
from knowledge.review import ReviewAction
from supervision.scheduler import Scheduler
from tests.e2e.test_county_push import ticket
from tests.support.factories import draft

AGENT = Actor("centre-agent", Role.AGENT)
SUPERVISOR = Actor("centre-supervisor", Role.SUPERVISOR)
CITY_UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")  # a city department (division 512000)
OTHER_UNIT = Actor("ZY-RSJ", Role.UNIT, unit_code="ZY-RSJ")
YANJIANG = Actor("yanjiang", Role.COUNTY, divisions=("512002",))
ANYUE = Actor("anyue", Role.COUNTY, divisions=("512021",))
PROVINCE = Actor("province", Role.PROVINCE)


def _draft(**changes) -> CaseDraft:
    return CaseDraft.model_validate(draft(**changes))


def _in_progress(hub, lead: str, co: list[str] | None = None, division: str = "512002") -> str:
    number = hub.cases.register(_draft(**{"place.division_code": division}), AGENT).case.number
    hub.cases.act(number, c.Accept(), AGENT)
    hub.cases.act(number, c.Dispatch(lead_unit=lead, co_units=co or []), AGENT)
    return number


# -- 4. a party reads what it registered --------------------------------------------------------


def test_the_province_reads_the_case_it_registered_and_finds_it_in_its_list(hub) -> None:
    own = hub.cases.register(_draft(), PROVINCE).case  # no province ref: the province's own 上报
    assert hub.cases.get(own.number, PROVINCE).number == own.number
    other = hub.cases.register(_draft(title="别人的工单"), AGENT).case
    with pytest.raises(AccessDenied):
        hub.cases.get(other.number, PROVINCE)
    listed = [x.number for x in hub.cases.list(CaseQuery(), PROVINCE)[0]]
    assert listed == [own.number]


def test_a_county_reads_what_it_registered_and_not_another_countys(hub) -> None:
    own = hub.cases.register(_draft(), YANJIANG).case
    assert hub.cases.get(own.number, YANJIANG).number == own.number
    with pytest.raises(AccessDenied):
        hub.cases.get(own.number, ANYUE)
    assert [x.number for x in hub.cases.list(CaseQuery(), ANYUE)[0]] == []


def test_a_registration_by_another_party_of_the_same_name_is_not_its_own(hub) -> None:
    # Visibility by registration is by party *and* role: a unit key named "province" is not the province.
    number = hub.cases.register(_draft(), Actor("province", Role.AGENT)).case.number
    with pytest.raises(AccessDenied):
        hub.cases.get(number, PROVINCE)


# -- 2. external ids: each party only in its own namespace -----------------------------------------


@pytest.mark.parametrize(
    ("actor", "system"),
    [
        (YANJIANG, "county.anyue"),
        (YANJIANG, "province"),
        (YANJIANG, "legacy.12315"),
        (PROVINCE, "county.yanjiang"),
        (AGENT, "province"),
        (AGENT, "county.yanjiang"),
    ],
)
def test_a_party_may_not_set_another_systems_ref(hub, actor, system) -> None:
    with pytest.raises(AccessDenied, match=r"external_refs\[0\]\.system"):
        hub.cases.register(_draft(external_refs=[{"system": system, "external_id": "X-1"}]), actor)
    assert hub.cases.find_by_ref(system, "X-1") is None


@pytest.mark.parametrize(
    ("actor", "system"),
    [
        (YANJIANG, "county.yanjiang"),
        (PROVINCE, "province"),
        (SYSTEM_ACTOR, "county.anyue"),
        (SYSTEM_ACTOR, "province"),
    ],
)
def test_a_party_sets_refs_in_its_own_namespace_and_the_hub_in_any(hub, actor, system) -> None:
    case = hub.cases.register(_draft(external_refs=[{"system": system, "external_id": "X-1"}]), actor).case
    assert hub.cases.find_by_ref(system, "X-1").number == case.number


def test_a_forged_province_ref_no_longer_opens_the_case_to_the_province(hub) -> None:
    with pytest.raises(AccessDenied):
        hub.cases.register(_draft(external_refs=[{"system": "province", "external_id": "SC-1"}]), YANJIANG)
    assert hub.cases.list(CaseQuery(), PROVINCE)[0] == []


def test_a_county_push_of_an_id_held_by_another_partys_case_is_refused_not_merged(hub) -> None:
    intake = hub.handles.get(CountyIntake)
    yj = intake.counties["yanjiang"]
    # Written before the namespace rule (or by any path that bypassed it): anyue's case holds
    # yanjiang's ticket id.
    held = hub.cases.register(
        _draft(**{"place.division_code": "512021"}, external_refs=[{"system": "county.yanjiang", "external_id": "YJ-9"}]), ANYUE, refs_by_adapter=True
    ).case
    with pytest.raises(TicketRefused) as refused:
        intake.push(yj, YANJIANG, ticket(yj, "YJ-9", hub.clock.now()))
    assert refused.value.status == 409 and refused.value.slug == "external-ref-conflict"
    assert refused.value.errors[0]["field"] == "body.ticketNo"
    assert held.number not in refused.value.detail  # another party's case number is not told
    # Nothing merged: the held case is untouched.
    assert hub.cases.get(held.number, AGENT).version == held.version


def test_a_county_push_again_is_answered_from_its_own_case(hub) -> None:
    intake = hub.handles.get(CountyIntake)
    yj = intake.counties["yanjiang"]
    first = intake.push(yj, YANJIANG, ticket(yj, "YJ-10", hub.clock.now()))
    again = intake.push(yj, YANJIANG, ticket(yj, "YJ-10", hub.clock.now()))
    assert first["status"] == "created" and again["status"] == "existing"
    assert again["case_number"] == first["case_number"]


def test_a_county_push_of_a_province_case_the_hub_sent_it_is_answered_existing(hub) -> None:
    intake = hub.handles.get(CountyIntake)
    yj = intake.counties["yanjiang"]
    number = hub.cases.register(_draft(), PROVINCE).case.number  # the province's case, in 雁江区
    with hub.db.write() as s:  # delivered to yanjiang: the hub's adapter records yanjiang's id
        from hub.db.repository import CaseRepository
        from hub.domain.model import ExternalRef

        CaseRepository(s).attach_ref(number, ExternalRef(system="county.yanjiang", external_id="YJ-12"))
    answer = intake.push(yj, YANJIANG, ticket(yj, "YJ-12", hub.clock.now()))
    assert answer["status"] == "existing" and answer["case_number"] == number


def test_a_county_push_of_a_case_the_centre_sent_it_is_answered_existing(hub) -> None:
    intake = hub.handles.get(CountyIntake)
    yj = intake.counties["yanjiang"]
    # The centre's case, delivered to yanjiang; the hub's adapter recorded yanjiang's id for it.
    number = hub.cases.register(_draft(external_refs=[{"system": "county.yanjiang", "external_id": "YJ-11"}]), SYSTEM_ACTOR).case.number
    answer = intake.push(yj, YANJIANG, ticket(yj, "YJ-11", hub.clock.now()))
    assert answer["status"] == "existing" and answer["case_number"] == number


# -- 3. a county acts as handler only for its own units ------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        c.ReplyCmd(text="已处理"),
        c.ReportProgress(text="正在处理"),
        c.RequestExtension(working_days=3, reason="需现场勘查"),
        c.RequestReturn(reason="不属本单位职责"),
    ],
)
def test_a_county_cannot_act_in_a_city_departments_name(hub, command) -> None:
    number = _in_progress(hub, "ZY-SCJGJ")  # a 雁江区 case led by a city department
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    before = hub.cases.get(number, AGENT)
    with pytest.raises(AccessDenied, match="ZY-SCJGJ"):
        hub.cases.act(number, command, YANJIANG)
    assert hub.cases.get(number, AGENT).version == before.version


def test_a_county_cannot_sign_off_for_a_city_department(hub) -> None:
    number = _in_progress(hub, "ZY-SCJGJ")
    with pytest.raises(AccessDenied):
        hub.cases.act(number, c.SignOff(), YANJIANG)


def test_a_county_acts_for_its_own_government_and_departments(hub) -> None:
    number = _in_progress(hub, "YJ-GOV")
    hub.cases.act(number, c.SignOff(), YANJIANG)
    hub.cases.act(number, c.ReportProgress(text="已派街道核查"), YANJIANG)
    replied = hub.cases.act(number, c.ReplyCmd(text="已处理完毕"), YANJIANG)
    assert replied.state is CaseState.REPLIED and replied.outcome.reply.unit_code == "YJ-GOV"
    dept = _in_progress(hub, "YJ-SCJG")  # 雁江区市场监督管理局, a department of the county
    assert hub.cases.act(dept, c.SignOff(), YANJIANG).state is CaseState.IN_PROGRESS


def test_a_county_as_co_unit_reports_progress_but_does_not_reply(hub) -> None:
    number = _in_progress(hub, "ZY-SCJGJ", co=["YJ-GOV"])
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    hub.cases.act(number, c.ReportProgress(text="协办: 已到现场"), YANJIANG)
    with pytest.raises(AccessDenied):
        hub.cases.act(number, c.ReplyCmd(text="已处理"), YANJIANG)


def test_another_county_cannot_act_for_a_countys_unit(hub) -> None:
    number = _in_progress(hub, "YJ-GOV")
    with pytest.raises(AccessDenied):
        hub.cases.act(number, c.SignOff(), ANYUE)


# -- 1. unpublished knowledge: one rule for every projection --------------------------------------


def _article(store, title: str, body: str):
    return store.create(ArticleInput(owner_unit="ZY-RSJ", kind="faq", title=title, body=body), OTHER_UNIT)


def test_a_draft_version_is_never_listed_to_a_party_refused_that_version(hub) -> None:
    store = hub.handles.get(Knowledge).store
    a = _article(store, "失业金怎么领", "失业保险金可在掌上12333申领。")
    store.act(a.id, ReviewAction.REVIEW, SUPERVISOR)
    store.act(a.id, ReviewAction.PUBLISH, SUPERVISOR)
    store.edit(a.id, ArticleContent(kind="faq", title="草稿标题勿外传", body="尚未发布的草稿正文"), OTHER_UNIT, 1)
    never = _article(store, "从未发布的文章", "从未发布的正文")

    for outsider in (CITY_UNIT, YANJIANG, PROVINCE):
        with pytest.raises(AccessDenied):
            store.version(a.id, 2, outsider)  # the rule refuses this version ...
        listed = store.list(outsider)  # ... so no projection shows it
        assert [x.id for x in listed] == [a.id]
        assert listed[0].latest_version == 1 and listed[0].latest.title == "失业金怎么领"
        assert "草稿" not in listed[0].model_dump_json()
        assert store.get(a.id, outsider).latest.title == "失业金怎么领"
        assert [x.id for x in store.list(outsider, status=ArticleStatus.DRAFT)] == []
        assert [x.id for x in store.list(outsider, status=ArticleStatus.PUBLISHED)] == [a.id]
    for insider in (OTHER_UNIT, AGENT, SUPERVISOR):
        listed = {x.id: x for x in store.list(insider)}
        assert set(listed) == {a.id, never.id} and listed[a.id].latest.title == "草稿标题勿外传"
    assert store.version(a.id, 1, YANJIANG).title == "失业金怎么领"  # published: readable by all


# -- smaller lifecycle defects -----------------------------------------------------------------------


def test_an_approved_extension_keeps_the_days_asked_beside_the_days_granted(hub) -> None:
    number = _in_progress(hub, "ZY-SCJGJ")
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    hub.cases.act(number, c.RequestExtension(working_days=5, reason="需协调多部门"), CITY_UNIT)
    case = hub.cases.act(number, c.DecideExtension(approved=True, working_days=3), SUPERVISOR)
    record = case.handling.extensions[-1]
    assert (record.working_days, record.granted_working_days, record.approved) == (5, 3, True)
    again = hub.cases.get(number, AGENT).handling.extensions[-1]
    assert (again.working_days, again.granted_working_days) == (5, 3)


def test_a_refused_extension_grants_nothing(hub) -> None:
    number = _in_progress(hub, "ZY-SCJGJ")
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    hub.cases.act(number, c.RequestExtension(working_days=5, reason="需协调多部门"), CITY_UNIT)
    record = hub.cases.act(number, c.DecideExtension(approved=False), SUPERVISOR).handling.extensions[-1]
    assert (record.working_days, record.granted_working_days, record.approved) == (5, None, False)


def _to_redo(hub, number: str) -> None:
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    for co in hub.cases.get(number, AGENT).handling.co_units:  # 协办: the lead replies once every part is done
        hub.cases.act(number, c.WaivePart(unit=co, reason="主办单位可独立答复"), SUPERVISOR)
    hub.cases.act(number, c.ReplyCmd(text="已处理"), CITY_UNIT)
    hub.cases.act(number, c.ReviewReply(approved=True), AGENT)
    hub.cases.act(number, c.FollowUpCmd(reached=True, resolved=False, satisfaction="unsatisfied"), AGENT)


def test_after_a_redo_nobody_holds_the_case_and_no_deadline_runs(hub) -> None:
    number = _in_progress(hub, "ZY-SCJGJ", co=["YJ-GOV"])
    _to_redo(hub, number)
    case = hub.cases.act(number, c.Redo(), AGENT)
    assert case.state is CaseState.ACCEPTED
    h = case.handling
    assert (h.lead_unit, h.co_units, h.due_at, h.sign_off_due, h.dispatched_at, h.signed_at) == (None, [], None, None, None, None)
    stored = hub.cases.get(number, AGENT)
    assert stored.handling.lead_unit is None and stored.handling.due_at is None
    assert [x.number for x in hub.cases.list(CaseQuery(unit="ZY-SCJGJ"), AGENT)[0]] == []
    assert stored.history[-1].data["previous_unit"] == "ZY-SCJGJ"  # the history keeps who it was
    # Dispatched again, it runs on a new deadline.
    again = hub.cases.act(number, c.Dispatch(lead_unit="ZY-RSJ"), AGENT)
    assert again.handling.lead_unit == "ZY-RSJ" and again.handling.due_at is not None


def test_an_article_whose_validity_ended_is_not_published(hub) -> None:
    store = hub.handles.get(Knowledge).store
    today = store.today()
    expired = store.create(
        ArticleInput(owner_unit="ZY-RSJ", kind="policy", title="2020年旧政策", body="已到期的政策", valid_to=today - timedelta(days=1)), OTHER_UNIT
    )
    store.act(expired.id, ReviewAction.REVIEW, SUPERVISOR)
    with pytest.raises(RuleViolation, match="valid_to"):
        store.act(expired.id, ReviewAction.PUBLISH, SUPERVISOR)
    assert store.get(expired.id, SUPERVISOR).published_version is None
    # On purpose, as a historical record, it may be.
    assert store.act(expired.id, ReviewAction.PUBLISH, SUPERVISOR, publish_expired=True).published_version == 1
    last_day = store.create(ArticleInput(owner_unit="ZY-RSJ", kind="policy", title="今天到期", body="今天仍有效", valid_to=today), OTHER_UNIT)
    store.act(last_day.id, ReviewAction.REVIEW, SUPERVISOR)
    assert store.act(last_day.id, ReviewAction.PUBLISH, SUPERVISOR).published_version == 1
    assert isinstance(today, date)


@pytest.mark.parametrize("actor", [CITY_UNIT, Actor("YJ-GOV", Role.UNIT, unit_code="YJ-GOV")])
def test_a_role_that_may_not_register_is_refused_as_forbidden(hub, actor) -> None:
    with pytest.raises(AccessDenied, match="may not register"):
        hub.cases.register(_draft(), actor)


# -- the scheduler closes unreached follow-ups -----------------------------------------------------------


def _awaiting_follow_up(hub) -> str:
    number = _in_progress(hub, "ZY-SCJGJ")
    hub.cases.act(number, c.SignOff(), CITY_UNIT)
    hub.cases.act(number, c.ReplyCmd(text="已处理"), CITY_UNIT)
    hub.cases.act(number, c.ReviewReply(approved=True), AGENT)
    return number


def test_the_scheduler_closes_a_case_after_the_configured_unreached_attempts(hub, clock) -> None:
    assert hub.settings.supervision.close_unreached_after_attempts == 3
    scheduler = Scheduler(hub, holder="only")
    number = _awaiting_follow_up(hub)
    reached_then = _awaiting_follow_up(hub)
    for attempt in range(3):
        clock.advance(timedelta(hours=2))
        hub.cases.act(number, c.FollowUpCmd(reached=False), AGENT)
        if attempt < 2:
            assert scheduler.run_once().closed == []
            assert hub.cases.get(number, AGENT).state is CaseState.AWAITING_FOLLOW_UP
    hub.cases.act(reached_then, c.FollowUpCmd(reached=False), AGENT)
    result = scheduler.run_once()
    assert result.closed == [number]
    case = hub.cases.get(number, AGENT)
    assert case.state is CaseState.CLOSED and case.outcome.closed_at == clock.now()
    last = case.history[-1]
    assert (last.action, last.role, last.actor) == ("close", Role.SYSTEM, "hub") and "3" in (last.note or "")
    assert scheduler.run_once().closed == []  # once
    assert hub.cases.get(reached_then, AGENT).state is CaseState.AWAITING_FOLLOW_UP


def test_the_scheduler_closes_after_the_configured_days_since_the_first_unreached_attempt(hub, clock) -> None:
    assert hub.settings.supervision.close_unreached_after_days == 7
    scheduler = Scheduler(hub, holder="only")
    number = _awaiting_follow_up(hub)
    never_tried = _awaiting_follow_up(hub)
    hub.cases.act(number, c.FollowUpCmd(reached=False), AGENT)
    clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert scheduler.run_once().closed == []
    clock.advance(timedelta(seconds=1))
    assert scheduler.run_once().closed == [number]
    assert hub.cases.get(never_tried, AGENT).state is CaseState.AWAITING_FOLLOW_UP  # no attempt yet: a person must try


def test_unreached_closing_by_days_can_be_turned_off(db_url, clock) -> None:
    from hub.runtime import build_hub

    h = build_hub(
        Settings(database_url=db_url, sqlite_synchronous="NORMAL", supervision={"close_unreached_after_days": None, "close_unreached_after_attempts": 2}), clock
    )
    try:
        scheduler = Scheduler(h, holder="only")
        number = _awaiting_follow_up(h)
        h.cases.act(number, c.FollowUpCmd(reached=False), AGENT)
        clock.advance(timedelta(days=60))
        assert scheduler.run_once().closed == []
        h.cases.act(number, c.FollowUpCmd(reached=False), AGENT)
        assert scheduler.run_once().closed == [number]
    finally:
        h.close()


# -- the province's id held by another party's case ---------------------------------------------------------


def test_the_province_poller_never_answers_with_another_partys_case(hub) -> None:
    from adapters.province.sandbox import ProvinceState, create_app
    from tests.integration.test_province_poller import _poller
    from tests.support.live import LiveServer

    state = ProvinceState()
    with LiveServer(create_app(state)) as live:
        province_id = state.assign(AppealType="03", CategoryCode="B01", AreaCode="512002000000")
        # A county's case holding that province id (written before the namespace rule).
        claimed = hub.cases.register(_draft(external_refs=[{"system": "province", "external_id": province_id}]), YANJIANG, refs_by_adapter=True).case
        result = _poller(hub, live, "rest", holder="a").run_once()
    assert result.existing == [] and result.created == []
    assert len(result.failed) == 1 and province_id in str(result.failed[0]) and "another party" in str(result.failed[0])
    assert state.acks == {}  # the province is not told the county's case is its own
    assert hub.cases.get(claimed.number, AGENT).version == claimed.version
