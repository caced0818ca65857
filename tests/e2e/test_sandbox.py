"""`make run` as a newcomer sees it: the hub, its sandbox peers and demo traffic, as real processes.

One `hotline-hub sandbox` process serves every test here (it takes a few seconds to show
everything); each test waits for its own traffic, then checks what the peers received, what
the hub holds and what the console said."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from adapters.county.config import load_counties
from adapters.county.mapping import get_path
from hub.settings import REPO_ROOT
from sandbox.run import KEYS, peers
from tests.support.live import free_port_block

pytestmark = pytest.mark.e2e

COUNTIES = load_counties(REPO_ROOT / "mappings")
WAIT = 60.0  # seconds any one kind of traffic may take to show; it usually shows in under ten


@dataclass
class Sandbox:
    port: int
    proc: subprocess.Popen
    ports: dict[str, int]  # peer name -> port, as the sandbox lays them out
    lines: list[str] = field(default_factory=list)  # the console so far

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def peer(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.ports[name]}", timeout=5)

    def wait_for(self, what: str, look: Callable[[], Any]) -> Any:
        """Call `look` until it returns something truthy (peers still starting count as nothing yet)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output[-3000:]
            try:
                found = look()
            except (httpx.HTTPError, ValueError, KeyError):
                found = None
            if found:
                return found
            time.sleep(0.3)
        pytest.fail(f"the sandbox never showed {what}; console tail:\n{self.output[-3000:]}")

    def said(self, text: str) -> bool:
        return self.wait_for(f"the console line {text!r}", lambda: text in self.output)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    port = free_port_block(max(p.port for p in peers(0)))  # its peers listen at offsets up to this
    data_dir = tmp_path_factory.mktemp("sandbox")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "sandbox", "--port", str(port), "--data-dir", str(data_dir), "--demo-interval", "0.3"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Sandbox(port, proc, {p.name: p.port for p in peers(port)})
    assert proc.stdout is not None

    def read(out: Any = proc.stdout) -> None:
        for line in iter(out.readline, ""):
            running.lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(timeout=5)
    assert (data_dir / "hub.db").exists()


@pytest.fixture(scope="module")
def agent(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{sandbox.port}", headers={"X-API-Key": KEYS["agent"][3]}, timeout=5)


def refs(case: dict) -> list[dict]:
    return [{k: r[k] for k in ("system", "external_id")} for r in case["external_refs"]]


def no_phone_unmasked(output: str) -> None:
    # Request ids are random hex: one that opens with eleven digits like "13912345678e4..."
    # is not a phone (CI once failed on exactly that), so ids are taken out before looking.
    without_ids = re.sub(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", "<id>", output)
    assert re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", without_ids) is None, "a phone number reached the log unmasked"


def test_sandbox_shows_cases_flowing(sandbox: Sandbox, agent: httpx.Client) -> None:
    province = sandbox.peer("province")

    def province_both_ways() -> tuple[dict, dict] | None:
        state = province.get("/sandbox/state").json()
        return (state["reported"], state["acks"]) if state["reported"] and state["acks"] else None

    closed = sandbox.wait_for("a demo case closed", lambda: agent.get("/api/v1/cases", params={"state": "closed"}).json()["items"])
    history = agent.get(f"/api/v1/cases/{closed[0]['number']}/history").json()
    # The lifecycle's first steps; a web citizen's photo ('attach') may sit between them.
    assert [h["action"] for h in history if h["action"] != "attach"][:3] == ["register", "accept", "dispatch"]
    went_up, came_down = sandbox.wait_for("a case up to and one down from the province", province_both_ways)

    # UP: city cases created by the demo agent (on the phone) reached the province through the relay.
    channels = {pid: agent.get(f"/api/v1/cases/{o['CityCaseNo']}").json()["intake"]["channel"] for pid, o in went_up.items()}
    up_id, order = next((pid, o) for pid, o in went_up.items() if channels[pid] == "phone")
    # DOWN: a case the province assigned was pulled into the hub (once) and acknowledged.
    down_id, down_number = next(iter(came_down.items()))
    pulled = agent.get(f"/api/v1/cases/{down_number}").json()
    assert pulled["intake"]["channel"] == "province"
    assert {"system": "province", "external_id": down_id} in refs(pulled)
    assert len(set(came_down.values())) == len(came_down)  # one hub case per assigned case

    assert "12345 hub sandbox" in sandbox.output
    assert sandbox.said(f"city case {order['CityCaseNo']} reported to the sandbox province (its id {up_id})")
    assert sandbox.said(f"case {down_id} assigned by the province, pulled once and acknowledged as hub case {down_number}")
    no_phone_unmasked(sandbox.output)


def test_a_case_dispatched_to_a_county_unit_reaches_that_county_and_its_answers_come_back(sandbox: Sandbox, agent: httpx.Client) -> None:
    def dispatched_to_a_county() -> tuple[str, str, str] | None:
        for name, cfg in COUNTIES.items():
            op_at = next(t for t, spec in cfg.outbound.fields.items() if spec.source == "op")
            number_at = next(t for t, spec in cfg.outbound.fields.items() if spec.source == "case.number")
            for message in sandbox.peer(f"county-{name}").get("/received").json()["messages"]:
                if get_path(message, op_at) == cfg.outbound.events["case.dispatched"]:
                    ticket_at = next(t for t, spec in cfg.outbound.fields.items() if spec.source == "ticket_id")
                    return name, str(get_path(message, number_at)), str(get_path(message, ticket_at))
        return None

    name, number, ticket = sandbox.wait_for("a dispatch reaching a sandbox county", dispatched_to_a_county)
    cfg = COUNTIES[name]
    case = agent.get(f"/api/v1/cases/{number}").json()
    assert case["handling"]["lead_unit"] in cfg.codes.unit.values()  # one of that county's own units
    assert {"system": cfg.system, "external_id": ticket} in refs(case)  # the county's ticket id came back with its answer

    def county_answered() -> list[dict] | None:
        history = agent.get(f"/api/v1/cases/{number}/history").json()
        done = [h for h in history if h["role"] == "county" and h["action"] in ("sign_off", "reply")]
        return history if len(done) == 2 else None

    history = sandbox.wait_for(f"county {name}'s sign-off and reply on {number}", county_answered)
    assert [h["action"] for h in history if h["role"] == "county" and h["action"] != "register"] == ["sign_off", "reply"]
    assert sandbox.said(f"county {name}: DOWN case.dispatched of hub case {number} reached the county as ticket {ticket}")
    assert sandbox.said(f"county {name}: UP   sign_off of ticket {ticket}")


def test_a_signing_county_pushes_a_ticket_up(sandbox: Sandbox, agent: httpx.Client) -> None:
    signing = [name for name, cfg in COUNTIES.items() if cfg.security.hmac_secret_env and cfg.transport.updates == "push"]
    assert signing, "the shipped county files have no signing county that pushes"

    def pushed() -> tuple[str, str, str] | None:
        for name in signing:
            for ticket, number in sandbox.peer(f"county-{name}").get("/received").json()["pushed"].items():
                if number:
                    return name, ticket, number
        return None

    name, ticket, number = sandbox.wait_for("a ticket pushed by a signing county", pushed)
    case = agent.get(f"/api/v1/cases/{number}").json()
    assert case["intake"]["channel"] == "county"
    assert {"system": COUNTIES[name].system, "external_id": ticket} in refs(case)
    assert sandbox.said(f"county {name}: UP   ticket {ticket} registered by the county, pushed (signed): created as hub case {number}")
    # The hub's secret for it is the sandbox's own, set in that process only.
    assert f"{COUNTIES[name].security.hmac_secret_env}=sandbox-only-" in sandbox.output


@pytest.mark.parametrize(("line", "domain"), [("12315", "02"), ("12320", "06")], ids=["rest-12315", "soap-12320"])
def test_a_parallel_line_takes_12345_cases_in_its_domain_and_its_own_calls_come_in(sandbox: Sandbox, agent: httpx.Client, line: str, domain: str) -> None:
    state = sandbox.wait_for(
        f"line {line} receiving a case and acknowledging one",
        lambda: (s := sandbox.peer(f"line{line}").get("/sandbox/state").json())["received"] and s["acks"] and s,
    )

    # OUT: a 12345 case in the line's domain went over; the hub keeps the line's id.
    line_id, number = next(iter(state["received"].items()))
    case = agent.get(f"/api/v1/cases/{number}").json()
    assert case["category_code"].startswith(domain)
    assert {"system": f"legacy.{line}", "external_id": line_id} in refs(case)
    assert sandbox.said(f"legacy {line}: OUT  hub case {number} handed over to the line, its id {line_id}")
    # IN: a call the line took itself was pulled into the hub once and acknowledged.
    taken_id, taken_number = next(iter(state["acks"].items()))
    taken = agent.get(f"/api/v1/cases/{taken_number}").json()
    assert taken["intake"]["channel"] == "legacy"
    assert {"system": f"legacy.{line}", "external_id": taken_id} in refs(taken)
    assert len(set(state["acks"].values())) == len(state["acks"])  # one hub case per call taken
    assert sandbox.said(f"legacy {line}: IN   call {taken_id} taken by the line, pulled once and acknowledged as hub case {taken_number}")
    no_phone_unmasked(sandbox.output)


def test_the_start_says_each_step_in_order_before_the_banner(sandbox: Sandbox) -> None:
    """Issue #19: `make run` is not silent while the sandbox starts: one line per step."""
    sandbox.said("12345 hub sandbox: http://")
    steps = [
        "sandbox: loading the features",
        "sandbox: starting",
        "sandbox: opening the hub",
        "sandbox: sandbox keys and console accounts",
        "sandbox: building the API",
        "sandbox: starting",
        "12345 hub sandbox: http://",
    ]
    at = 0
    for step in steps:
        found = sandbox.output.find(step, at)
        assert found >= 0, f"{step!r} not after position {at}:\n{sandbox.output[:3000]}"
        at = found + len(step)


def test_the_banner_gives_the_console_and_an_account_that_signs_in(sandbox: Sandbox) -> None:
    from sandbox.run import CONSOLE_PASSWORD

    sandbox.said(f"console: http://127.0.0.1:{sandbox.port}/console/")
    with httpx.Client(base_url=f"http://127.0.0.1:{sandbox.port}", timeout=5) as person:
        form = person.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        signed = person.post("/console/login", data={"csrf": token, "username": "demo-agent", "password": CONSOLE_PASSWORD, "next": "/console/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/console/"
        assert "待受理" in person.get("/console/").text


def test_a_wechat_follower_files_by_message_and_hears_back_by_template_message(sandbox: Sandbox, agent: httpx.Client) -> None:
    """The sandbox follower writes to the official account (signed and encrypted as WeChat does);
    the demo walks the case; the hub's template messages reach the sandbox WeChat API."""
    filed = sandbox.wait_for("a WeChat filing", lambda: re.search(r"channel wechat: IN (\d+) filed by oSan\*\*\*\*", sandbox.output))
    case = agent.get(f"/api/v1/cases/{filed.group(1)}").json()
    assert case["intake"]["channel"] == "wechat" and case["external_refs"][0]["system"] == "channel.zy-wechat"
    # Then a photo, fetched from the sandbox WeChat's media/get: the case's attachment.
    number = filed.group(1)
    assert sandbox.said(f"channel wechat: PHOTO for {number}: 图片已作为工单{number}的附件登记。")
    assert [a["media_type"] for a in agent.get(f"/api/v1/cases/{number}/attachments").json()] == ["image/png"]
    with sandbox.peer("wechat") as wechat:
        sent = sandbox.wait_for("a template message at the sandbox WeChat", lambda: wechat.get("/sandbox/state").json()["sent"])
    assert sent[0]["touser"].startswith("oSandbox") and sent[0]["template_id"].startswith("sandbox-")
    assert sandbox.said("channel wechat: LOOKUP")
    # The follower's openid is personal data: the console shows it masked only.
    assert re.search(r"oSandbox[0-9a-f]{20}", sandbox.output) is None
