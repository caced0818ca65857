"""The province adapter against the sandbox province over real HTTP: SOAP through zeep,
and REST through httpx, with the same scenarios."""

from __future__ import annotations

import logging
import re
import resource
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from adapters.province.adapter import ProvinceAdapter
from adapters.province.sandbox import SOAP_ENV, TNS, ProvinceState, create_app
from hub.domain.clock import ManualClock
from hub.integration.contract import AdapterContext, OutboundMessage, PermanentError, TransientError
from hub.integration.registry import build_adapter, contract_problems, discover
from tests.support.faults import AnswerRewriter
from tests.support.live import LiveServer, free_port

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
NOW = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
CASE = {
    "number": "512000202509260007",
    "version": 1,
    "state": "registered",
    "external_refs": [],
    "intake": {"channel": "phone", "received_at": "2025-09-26T09:58:00+08:00"},
    "person": {"name": "张三", "phone": "13800138000", "kind": "person"},
    "request_type": "complaint",
    "category_code": "0201",
    "title": "小区噪音扰民",
    "content": "夜间施工噪音扰民。",
    "place": {"address": "雁江区建设路12号", "division_code": "512002"},
    "urgency": "normal",
}
TRANSPORTS = ["soap", "rest"]


@pytest.fixture
def province():
    state = ProvinceState(slow_seconds=2.0)
    with LiveServer(create_app(state)) as live:
        yield live, state


def _adapter(live, transport: str, **extra) -> ProvinceAdapter:
    endpoint = f"{live.url}/soap" if transport == "soap" else f"{live.url}/rest"
    context = AdapterContext(destination="province", clock=ManualClock(NOW), mappings_dir=MAPPINGS)
    adapter = build_adapter("province", "province", {"transport": transport, "endpoint": endpoint, "timeout": 1.0, **extra}, context)
    assert isinstance(adapter, ProvinceAdapter)
    return adapter


def _message(event_type: str, seq: int, data: dict | None = None, external_id: str | None = None, key: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key or f"{CASE['number']}:{seq}",
        destination="province",
        case_number=CASE["number"],
        sequence=seq,
        event_type=event_type,
        event={"type": event_type, "occurred_at": "2025-09-26T10:00:00+08:00", "data": data or {}},
        case=CASE,
        external_id=external_id,
    )


def test_discovered_and_conforms() -> None:
    assert discover()["province"] is ProvinceAdapter
    assert contract_problems(ProvinceAdapter) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_city_case_arrives_with_mapped_codes_once(province, transport) -> None:
    live, state = province
    adapter = _adapter(live, transport)
    first = adapter.deliver(_message("case.registered", 1))
    again = adapter.deliver(_message("case.registered", 1))  # a retry after a lost answer
    assert first.external_ref is not None and first.external_ref.system == "province"
    assert again.external_ref == first.external_ref
    assert list(state.reported) == [first.external_ref.external_id]
    order = state.reported[first.external_ref.external_id]
    assert (order["CityCaseNo"], order["AppealType"], order["CategoryCode"], order["AreaCode"], order["Urgency"]) == (
        CASE["number"],
        "03",
        "B01",
        "512002000000",
        "1",
    )
    assert order["AppealerName"] == "张三"
    assert adapter.health().ok


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_status_changes_arrive_in_order_and_deduplicated(province, transport) -> None:
    live, state = province
    adapter = _adapter(live, transport)
    province_id = adapter.deliver(_message("case.registered", 1)).external_ref.external_id  # type: ignore[union-attr]
    steps = [
        ("case.accepted", {}),
        ("case.dispatched", {"lead_unit": "ZY-SCJGJ"}),
        ("case.chased", {}),
        ("case.signed_off", {"unit": "ZY-SCJGJ"}),
        ("case.extension_requested", {"working_days": 5, "reason": "需现场核查"}),
        ("case.replied", {"text": "已处理", "unit": "ZY-SCJGJ"}),
        ("case.followed_up", {"reached": True, "resolved": True, "satisfaction": "satisfied"}),
        ("case.closed", {}),
    ]
    for seq, (event, data) in enumerate(steps, start=2):
        adapter.deliver(_message(event, seq, data, external_id=province_id))
    adapter.deliver(_message("case.replied", 7, {"text": "已处理"}, external_id=province_id))  # redelivery: same key
    pushes = state.pushes(province_id)
    assert [p["StatusCode"] for p in pushes] == ["10", "20", "30", "32", "40", "50", "60"]
    assert [int(p["Seq"]) for p in pushes] == [2, 3, 5, 6, 7, 8, 9]  # the chase (4) is not exchanged
    assert pushes[1]["HandlerUnit"] == "SC512000-SCJG" and int(pushes[3]["ExtensionDays"]) == 5
    assert pushes[5]["Satisfaction"] == "1"
    with pytest.raises(PermanentError, match="STALE_SEQUENCE"):  # an old status under a new key
        adapter.deliver(_message("case.accepted", 2, external_id=province_id, key="other-key"))
    assert adapter.query(province_id)["StatusCode"] == "60"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_added_file_goes_up_as_a_reference_the_province_fetches_with_its_key(province, transport) -> None:
    live, state = province
    adapter = _adapter(live, transport)
    province_id = adapter.deliver(_message("case.registered", 1)).external_ref.external_id  # type: ignore[union-attr]
    sha = "ab" * 32
    url = f"/api/v1/cases/{CASE['number']}/attachments/0123456789abcdef01234567"
    data = {"id": "0123456789abcdef01234567", "media_type": "image/jpeg", "size": 52_341, "visibility": "public", "sha256": sha, "url": url}
    adapter.deliver(_message("case.attachment_added", 2, data, external_id=province_id))
    adapter.deliver(_message("case.accepted", 3, external_id=province_id))
    first, second = state.pushes(province_id)
    assert first["StatusCode"] == "36"  # 附件 (mappings/province/statuses.yaml)
    # One reference (the WSDL's optional Attachment element, the hub's extension): no file name.
    refs = first["Attachment"]
    (ref,) = refs if isinstance(refs, list) else [refs]  # REST's JSON list; the SOAP sandbox reads a lone element as itself
    # Element texts on SOAP, JSON values on REST: compared as text.
    assert {k: str(v) for k, v in ref.items()} == {"Id": "0123456789abcdef01234567", "MediaType": "image/jpeg", "Size": "52341", "Sha256": sha, "Url": url}
    assert "Attachment" not in second  # other pushes are as before the extension


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_return_goes_up_as_request_then_decision(province, transport) -> None:
    live, state = province
    adapter = _adapter(live, transport)
    province_id = adapter.deliver(_message("case.registered", 1)).external_ref.external_id  # type: ignore[union-attr]
    steps = [
        ("case.accepted", {}),
        ("case.dispatched", {"lead_unit": "ZY-SCJGJ"}),
        ("case.return_requested", {"unit": "ZY-SCJGJ", "reason": "不属于本单位职责"}),
        ("case.return_decided", {"approved": True, "unit": "ZY-SCJGJ"}),
        ("case.redispatched", {"lead_unit": "ZY-ZJJ", "co_units": []}),
    ]
    for seq, (event, data) in enumerate(steps, start=2):
        adapter.deliver(_message(event, seq, data, external_id=province_id))
    pushes = state.pushes(province_id)
    assert [(p["StatusCode"], int(p["Seq"])) for p in pushes] == [("10", 2), ("20", 3), ("34", 4), ("35", 5), ("21", 6)]
    asked, decided = pushes[2], pushes[3]
    assert (asked["HandlerUnit"], asked["Opinion"]) == ("SC512000-SCJG", "不属于本单位职责")
    assert str(decided["Approved"]).lower() == "true" and decided["HandlerUnit"] == "SC512000-SCJG"
    assert pushes[4]["HandlerUnit"] == "SC512000-ZJJ"
    assert adapter.query(province_id)["StatusCode"] == "21"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("transient", TransientError, "BUSY"),
        ("permanent", PermanentError, "INVALID_REQUEST"),
        ("unknown", TransientError, "E999"),
        ("http503", TransientError, None),
        ("malformed", TransientError, None),
    ],
)
def test_faults_are_classified(province, transport, fault, error, code) -> None:
    live, state = province
    state.faults = [fault]
    with pytest.raises(error) as raised:
        _adapter(live, transport).deliver(_message("case.registered", 1))
    if code:
        assert getattr(raised.value, "code", None) == code
    assert state.reported == {}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_and_refused_connection_are_transient(province, transport) -> None:
    live, state = province
    state.faults = ["slow"]
    with pytest.raises(TransientError, match="timed out"):
        _adapter(live, transport).deliver(_message("case.registered", 1))

    class Dead:
        url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(TransientError, match="transport"):
        _adapter(Dead, transport).deliver(_message("case.registered", 1))
    assert not _adapter(Dead, transport).health().ok


@pytest.mark.parametrize("fault", ["xxe", "xxe-utf16", "billion"])
def test_hostile_xml_is_refused_without_harm(province, fault) -> None:
    live, state = province
    state.faults = [fault]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PermanentError) as raised:
        _adapter(live, "soap").deliver(_message("case.registered", 1))
    text = f"{raised.value} {raised.value.detail or ''}"
    assert "root:" not in text and "lol" not in text  # no file content, no expansion leaked into the error
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50  # billion laughs expanded would need gigabytes


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_gbk_answers_and_requests(province, transport) -> None:
    live, state = province
    state.encoding = "GBK"  # the province answers everything in GBK
    adapter = _adapter(live, transport, encoding="GBK")  # and expects GBK from us
    province_id = adapter.deliver(_message("case.registered", 1)).external_ref.external_id  # type: ignore[union-attr]
    assert state.reported[province_id]["Title"] == "小区噪音扰民"
    state.assign(Title="路灯损坏求助", AppealerName="王五")
    pulled = adapter.pull(None)
    assert [i.draft.title for i in pulled.items] == ["路灯损坏求助"] and pulled.items[0].draft.person.name == "王五"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_one_gbk_answer_between_utf8_ones(province, transport) -> None:
    """The `gbk` fault mode: one answer in GBK to a client that sends UTF-8 and did not
    configure GBK; it is read by its declared encoding, and the next answer is UTF-8 again."""
    live, state = province
    state.assign(Title="路灯损坏求助", AppealerName="王五", Address="雁江区娇子大道88号")
    path, body, headers = (
        (
            "/soap",
            (
                f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><FetchAssignedRequest xmlns="{TNS}">'
                "<CityCode>512000</CityCode></FetchAssignedRequest></s:Body></s:Envelope>"
            ).encode(),
            {"Content-Type": "text/xml; charset=utf-8"},
        )
        if transport == "soap"
        else ("/rest/fetch-assigned", b'{"CityCode": "512000"}', {"Content-Type": "application/json"})
    )
    state.faults = ["gbk"]
    raw = httpx.post(f"{live.url}{path}", content=body, headers=headers)
    assert raw.status_code == 200 and "charset=gbk" in raw.headers["content-type"].lower()
    assert "路灯损坏求助".encode("gbk") in raw.content and "路灯损坏求助".encode() not in raw.content

    adapter = _adapter(live, transport)
    state.faults = ["gbk", "ok"]
    pulled = adapter.pull(None)
    assert [(i.draft.title, i.draft.person.name, i.draft.place.address) for i in pulled.items] == [("路灯损坏求助", "王五", "雁江区娇子大道88号")]
    assert [i.draft.title for i in adapter.pull(None).items] == ["路灯损坏求助"]  # the "ok" answer, UTF-8
    assert state.faults == []


def test_rest_bodies_are_logged_masked(province, caplog) -> None:
    live, state = province
    caplog.set_level(logging.DEBUG, logger="adapters.province.rest")
    adapter = _adapter(live, "rest")
    adapter.deliver(_message("case.registered", 1))
    state.assign(AppealerName="王五", AppealerPhone="13900139000", Address="雁江区娇子大道88号")
    assert adapter.pull(None).items[0].draft.person.phone == "13900139000"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "adapters.province.rest")
    assert "report_case request" in logged and "fetch_assigned answer" in logged
    for secret in ("张三", "13800138000", "雁江区建设路12号", "王五", "13900139000", "娇子大道88号"):
        assert secret not in logged, secret
    assert '"AppealerName": "***"' in logged and '"Address": "***"' in logged
    assert "小区噪音扰民" in logged  # the rest of the body stays readable


@pytest.fixture
def unaccepting():
    """A port that listens but never accepts, its queue already full: a connection to it
    neither opens nor is refused, as behind a firewall that drops packets."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)

    class Unaccepting:
        url = f"http://127.0.0.1:{port}"

    yield Unaccepting
    for sock in (*fillers, listener):
        sock.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connect_timeout_is_not_the_operation_timeout(province, unaccepting, transport) -> None:
    # Connecting to a peer that never accepts: the connect timeout ends the wait (the error
    # names the phase), not the operation's.
    with pytest.raises(TransientError, match="timed out.*ConnectTimeout"):
        _adapter(unaccepting, transport, connect_timeout=0.4, timeout=60.0).deliver(_message("case.registered", 1))

    # Connected, the answer is slow (2 s): a short connect_timeout (0.2 s) does not cut the
    # operation short, it succeeds within its own timeout; a shorter timeout (1 s) ends it.
    live, state = province
    state.faults = ["slow"]
    assert _adapter(live, transport, connect_timeout=0.2, timeout=60.0).deliver(_message("case.registered", 1)).external_ref
    state.faults = ["slow"]
    with pytest.raises(TransientError, match="timed out.*ReadTimeout"):
        _adapter(live, transport, connect_timeout=0.2, timeout=1.0).deliver(_message("case.registered", 2))


@pytest.mark.parametrize("digest", [False, True], ids=["PasswordText", "PasswordDigest"])
def test_ws_security_password_is_checked(province, caplog, digest) -> None:
    live, state = province
    state.security_user, state.security_password = "ziyang-12345", "s3cret"
    caplog.set_level(logging.DEBUG, logger="adapters.province.soap")
    wrong = _adapter(live, "soap", username="ziyang-12345", password="guessed", password_digest=digest)
    with pytest.raises(PermanentError) as raised:  # AUTH_FAILED is final: retrying cannot fix a password
        wrong.deliver(_message("case.registered", 1))
    assert getattr(raised.value, "code", None) == "AUTH_FAILED" and state.reported == {}
    for nobody in (_adapter(live, "soap"), _adapter(live, "soap", username="someone-else", password="s3cret", password_digest=digest)):
        with pytest.raises(PermanentError, match="AUTH_FAILED"):
            nobody.deliver(_message("case.registered", 1))
    assert state.reported == {}

    right = _adapter(live, "soap", username="ziyang-12345", password="s3cret", password_digest=digest)
    assert right.deliver(_message("case.registered", 1)).external_ref is not None
    assert len(state.reported) == 1 and state.security_users[-1] == "ziyang-12345"
    assert set(state.security_kinds) == {"PasswordDigest" if digest else "PasswordText"}
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "adapters.province.soap")
    assert "ReportCase request" in logged and "s3cret" not in logged and "guessed" not in logged


def test_sandbox_checks_a_digest_against_its_own_nonce_and_created() -> None:
    """The digest check itself, on a hand-written token: a replayed digest with a changed
    Created, or a digest made with another password, is refused."""
    import base64
    import hashlib

    from lxml import etree

    from adapters.province.sandbox import SOAP_ENV, WSSE, WSU, SandboxFault, check_username_token

    def envelope(created: str, digest_created: str, password: str) -> etree._Element:
        nonce = b"0123456789abcdef"
        digest = base64.b64encode(hashlib.sha1(nonce + digest_created.encode() + password.encode()).digest()).decode()
        return etree.fromstring(
            f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:o="{WSSE}" xmlns:u="{WSU}"><s:Header><o:Security><o:UsernameToken>'
            f'<o:Username>u</o:Username><o:Password Type="x#PasswordDigest">{digest}</o:Password>'
            f"<o:Nonce>{base64.b64encode(nonce).decode()}</o:Nonce><u:Created>{created}</u:Created>"
            "</o:UsernameToken></o:Security></s:Header><s:Body/></s:Envelope>"
        )

    at = "2025-09-26T02:00:00Z"
    check_username_token(envelope(at, at, "pw"), "u", "pw")
    check_username_token(envelope(at, at, "anything"), "u", None)  # no password configured: no check
    for bad in (envelope("2025-09-26T02:05:00Z", at, "pw"), envelope(at, at, "other")):
        with pytest.raises(SandboxFault) as raised:
            check_username_token(bad, "u", "pw")
        assert raised.value.code == "AUTH_FAILED" and not raised.value.server


def test_soap_envelopes_are_logged_masked(province, caplog) -> None:
    live, _ = province
    caplog.set_level(logging.DEBUG, logger="adapters.province.soap")
    _adapter(live, "soap").deliver(_message("case.registered", 1))
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "adapters.province.soap")
    assert "ReportCase request" in logged and "ReportCase answer" in logged
    assert "13800138000" not in logged and "张三" not in logged and "建设路12号" not in logged
    assert "138****8000" in logged


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pull_and_acknowledge(province, transport) -> None:
    live, state = province
    adapter = _adapter(live, transport)
    first = state.assign()
    batch = adapter.pull(None)
    assert [i.ref.external_id for i in batch.items] == [first] and batch.next_cursor == "1"
    assert adapter.pull(batch.next_cursor).items == []
    adapter.acknowledge(batch.items[0], "512000202509260099")
    assert state.acks == {first: "512000202509260099"}


def test_wsdl_is_served_with_its_own_address(province) -> None:
    live, _ = province
    response = httpx.get(f"{live.url}/soap?wsdl")
    assert response.status_code == 200 and f'location="{live.url}/soap"' in response.text
    # zeep can build a client from the served WSDL, as a real province's consumers do.
    adapter = _adapter(live, "soap", wsdl=f"{live.url}/soap?wsdl")
    assert adapter.deliver(_message("case.registered", 1)).external_ref is not None


# -- lenient in, strict out: answers as other SOAP stacks give them -----------------------------
def unqualified_detail(body: bytes) -> bytes:
    """The fault's detail elements without their namespace, as some stacks send them."""
    return re.sub(rb"<detail>.*</detail>", lambda m: m.group(0).replace(b"tns:", b""), body, flags=re.S)


def without_result(body: bytes) -> bytes:
    return re.sub(rb"<tns:Result>.*?</tns:Result>", b"", body, flags=re.S)


def with_unexpected_element(body: bytes) -> bytes:
    return re.sub(rb"(</tns:\w+Response>)", rb"<tns:Surprise>1</tns:Surprise>\1", body)


@pytest.fixture
def rewriting_province():
    state = ProvinceState()
    app = AnswerRewriter(create_app(state))
    with LiveServer(app) as live:
        yield live, state, app


@pytest.mark.parametrize(("fault", "error", "code"), [("permanent", PermanentError, "INVALID_REQUEST"), ("transient", TransientError, "BUSY")])
def test_a_fault_detail_without_namespace_is_read_with_its_code(rewriting_province, fault, error, code) -> None:
    live, state, app = rewriting_province
    state.faults = [fault]
    app.rewrites.append(unqualified_detail)
    with pytest.raises(error) as raised:
        _adapter(live, "soap").deliver(_message("case.registered", 1))
    assert raised.value.code == code and f"fault {code}" in str(raised.value)


@pytest.mark.parametrize("rewrite", [without_result, with_unexpected_element])
def test_an_answer_the_hub_cannot_read_is_transient_and_its_retry_applies_once(rewriting_province, rewrite) -> None:
    live, state, app = rewriting_province
    adapter = _adapter(live, "soap")
    app.rewrites.append(rewrite)
    with pytest.raises(TransientError, match="unreadable answer"):
        adapter.deliver(_message("case.registered", 1))
    assert len(state.reported) == 1  # the province applied it: the hub could not read that it did
    again = adapter.deliver(_message("case.registered", 1))  # the retry, with the same key
    assert list(state.reported) == [again.external_ref.external_id]
    app.rewrites.append(rewrite)
    with pytest.raises(TransientError, match="unreadable answer"):
        adapter.deliver(_message("case.accepted", 2, external_id=again.external_ref.external_id))
