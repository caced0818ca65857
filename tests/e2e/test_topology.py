"""The scaled-out topology, proven (issue #19): on PostgreSQL, from the installed wheel, the
processes deploy/ runs — two API processes (`serve --port N`), two relays (`relay
--metrics-port N`), the scheduler and the pollers (`work --skip outbox-relay --skip scheduler
--skip retention`) — take cases over HTTP while one process of each kind is killed (SIGKILL)
once and started again; at the end the peer has applied every message once, in order per
case, and the killed scheduler's and poller's leads are back with their new processes.

The relay's kill is proven to catch deliveries in flight: the peer applies what it is sent
and holds the answers (tests/support/peers.py), and the relay killed is one that holds the
claim of a message the peer has applied, so it dies having sent and not recorded it; the
message goes out again after the kill and the peer keeps it once (by its Idempotency-Key)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from hub.db.models import LeaseRow
from outbox.tables import DELIVERED, IN_FLIGHT, OutboxMessageRow
from sandbox.webhook_sink import SinkState, create_sink
from tests.support.databases import PG_ADMIN_URL, skip_or_fail_without_pg
from tests.support.factories import draft
from tests.support.live import LiveServer, free_port
from tests.support.peers import DelayedAck
from tests.support.wheel import WheelVenv, installed_wheel  # noqa: F401 - the session fixture

pytestmark = pytest.mark.postgres

# The commands of deploy/systemd (and compose.yaml), less the install path.
WORK = ["work", "--skip", "outbox-relay", "--skip", "scheduler", "--skip", "retention"]


class Topology:
    """The processes, each by name, started from the installed wheel in a directory of their own."""

    def __init__(self, venv: WheelVenv, home: Path, config: Path) -> None:
        self.venv, self.home, self.config = venv, home, config
        self.procs: dict[str, subprocess.Popen] = {}
        self.commands: dict[str, list[str]] = {}
        self.starts: dict[str, int] = defaultdict(int)

    def start(self, name: str, *args: str) -> subprocess.Popen:
        self.commands.setdefault(name, list(args))
        self.starts[name] += 1
        log = open(self.home / f"{name}.{self.starts[name]}.log", "wb")
        proc = subprocess.Popen(
            [str(self.venv.cli), *self.commands[name]],
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.venv.env(HUB_CONFIG_FILE=str(self.config), HUB_LOG_LEVEL="WARNING"),
        )
        log.close()
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> int:
        proc = self.procs[name]
        assert proc.poll() is None, f"{name} ended by itself:\n{self.logs()}"
        pid = proc.pid
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        return pid

    def stop_all(self) -> dict[str, int | None]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, proc in self.procs.items():
            try:
                codes[name] = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = None
        return codes

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.home.glob("*.log")))


def _wait(predicate, timeout: float, what: str, topology: Topology) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{topology.logs()}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def database():
    skip_or_fail_without_pg()
    name = f"hub_topology_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Reader:
    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def undelivered(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(OutboxMessageRow).where(OutboxMessageRow.status != DELIVERED)).scalar_one()

    def claims(self, keys: set[str]) -> dict[str, tuple[str, str | None]]:
        """(status, leased_by) of the messages with these idempotency keys."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(OutboxMessageRow.idempotency_key, OutboxMessageRow.status, OutboxMessageRow.leased_by).where(OutboxMessageRow.idempotency_key.in_(keys))
            ).all()
        return {key: (status, holder) for key, status, holder in rows}

    def holder(self, lease: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(LeaseRow.holder).where(LeaseRow.name == lease)).scalar()


def test_the_topology_loses_and_doubles_nothing_with_one_of_each_process_killed(installed_wheel: WheelVenv, database: str, tmp_path: Path) -> None:  # noqa: F811
    venv = installed_wheel
    state = SinkState()
    peer = DelayedAck(create_sink(state))
    with LiveServer(peer) as sink:
        done = subprocess.run([str(venv.cli), "init", str(tmp_path / "hub")], cwd=tmp_path, env=venv.env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        home = tmp_path / "hub"
        config = home / "hub.yaml"
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        settings.update(
            {
                "database_url": database,
                "phone_index_key": uuid.uuid4().hex,  # one key for every process (docs/operations.md)
                "destinations": {
                    # The timeout outlasts the peer's hold below: the held sends stay unanswered, not failed.
                    "peer": {"adapter": "webhook", "events": ["case.*"], "settings": {"url": f"{sink.url}/events", "timeout": 120}},
                    # A province nobody answers: its poller is what `work` leads here.
                    "province": {
                        "adapter": "province",
                        "settings": {
                            "transport": "rest",
                            "endpoint": f"http://127.0.0.1:{free_port()}/rest",
                            "timeout": 1.0,
                            "connect_timeout": 0.5,
                            "poll_interval": 1.0,
                            "lease_seconds": 3.0,
                        },
                    },
                },
                "outbox": {
                    # A claim's lease outlasts the hold too: only the kill ends a claim (the
                    # dead holder's claims are taken over by its heartbeat, in seconds).
                    "lease_seconds": 300.0,
                    "heartbeat_seconds": 0.5,
                    "takeover_seconds": 2.0,
                    "idle_poll_seconds": 0.3,
                    "backoff_base_seconds": 0.05,
                    "backoff_max_seconds": 0.5,
                    "batch": 10,
                    "concurrency": 4,
                },
                "supervision": {"scheduler_interval_seconds": 1.0, "lease_ttl_seconds": 5.0},
            }
        )
        config.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
        env = venv.env(HUB_CONFIG_FILE=str(config))
        for cmd in (["db", "upgrade"], ["keys", "create", "--party", "centre-agent", "--role", "agent"]):
            done = subprocess.run([str(venv.cli), *cmd], cwd=home, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        key = done.stdout.strip()

        topology = Topology(venv, home, config)
        ports = {"api-1": free_port(), "api-2": free_port()}
        apis = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        reader = Reader(database)
        try:
            for name, port in ports.items():
                topology.start(name, "serve", "--port", str(port))
            topology.start("relay-1", "relay", "--metrics-port", str(free_port()))
            topology.start("relay-2", "relay", "--metrics-port", str(free_port()))
            topology.start("scheduler", "scheduler")
            topology.start("work", *WORK)
            _wait(lambda: all(_answers(u) for u in apis.values()), 120, "both API processes", topology)
            _wait(lambda: reader.holder("scheduler") and reader.holder("province-poller:province"), 120, "the scheduler and the poller to lead", topology)

            numbers: list[str] = []

            def register(count: int) -> None:
                """Cases round-robin over the API processes; a request to a dead one goes to
                the other with the same Idempotency-Key, as a client behind the proxy would."""
                for i in range(count):
                    order = list(apis.values()) if i % 2 == 0 else list(reversed(apis.values()))
                    idem = uuid.uuid4().hex
                    for url in order:
                        try:
                            made = httpx.post(
                                f"{url}/api/v1/cases",
                                json=draft(title=f"案件{len(numbers) + 1}"),
                                headers={"X-API-Key": key, "Idempotency-Key": idem},
                                timeout=10,
                            )
                        except httpx.TransportError:
                            continue
                        assert made.status_code in (200, 201), made.text
                        number = made.json()["number"]
                        numbers.append(number)
                        # The accept fails over too: `serve` runs two API processes, which end a
                        # moment after their parent is killed, so the one that answered the
                        # registration may be gone by the next request.
                        for other in [url, *(u for u in order if u != url)]:
                            try:
                                accepted = httpx.post(
                                    f"{other}/api/v1/cases/{number}/actions", json={"action": "accept"}, headers={"X-API-Key": key}, timeout=10
                                )
                            except httpx.TransportError:
                                continue
                            assert accepted.status_code == 200, accepted.text
                            break
                        else:
                            raise AssertionError(f"no API process answered the accept\n{topology.logs()}")
                        break
                    else:
                        raise AssertionError(f"no API process answered\n{topology.logs()}")

            register(6)
            topology.kill("api-1")
            register(6)  # half of them tried on the dead process first
            topology.start("api-1")
            _wait(lambda: _answers(apis["api-1"]), 120, "api-1 again", topology)

            # The peer applies what it is sent and holds every answer: the relays' sends stay
            # unrecorded. A message the peer holds, claimed by a live relay: that relay is killed.
            peer.hold()
            register(6)
            caught: dict[str, set[str]] = {}

            def a_relay_caught_in_flight() -> bool:
                held = peer.holding()
                claims = reader.claims(held) if held else {}
                for relay in ("relay-1", "relay-2"):
                    pid = f":{topology.procs[relay].pid}:"
                    keys = {k for k, (status, holder) in claims.items() if status == IN_FLIGHT and pid in (holder or "")}
                    if keys:
                        caught[relay] = keys
                        return True
                return False

            _wait(a_relay_caught_in_flight, 180, "a relay's delivery applied by the peer and held", topology)
            [(relay, in_flight)] = caught.items()
            # Counted before the kill: while the relay lives no other one sends what it claimed.
            sent_before = {k: peer.sends[k] for k in in_flight}
            topology.kill(relay)
            # Killed with the answers still held: none of its sends was recorded delivered.
            assert all(status != DELIVERED for status, _ in reader.claims(in_flight).values())
            assert in_flight <= peer.holding()
            peer.release()
            register(4)
            topology.start(relay)

            for name, lease in (("scheduler", "scheduler"), ("work", "province-poller:province")):
                pid = topology.kill(name)
                assert f":{pid}:" in (reader.holder(lease) or "")
                new = topology.start(name)
                _wait(
                    lambda: f":{new.pid}:" in (reader.holder(lease) or ""),  # noqa: B023 - waited on here
                    120,
                    f"the restarted {name} to lead again",
                    topology,
                )

            register(4)  # both API processes, after every kill
            expected = 2 * len(numbers)  # case.registered and case.accepted of each case
            _wait(
                lambda: reader.undelivered() == 0 and len(state.received) >= expected,
                180,
                f"every message delivered ({len(state.received)}/{expected} at the peer)",
                topology,
            )
        finally:
            codes = topology.stop_all()
            reader.engine.dispose()
    assert all(code is not None for code in codes.values()), codes
    assert len(set(numbers)) == len(numbers) == 26
    with state.lock:
        applied = [state.received[k] for k in state.order]
    # Each message applied once (a repeat after the relay's kill came with its key: not applied again) ...
    assert len(applied) == expected and len({m["idempotency_key"] for m in applied}) == expected
    per_case: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for m in applied:
        per_case[m["case_number"]].append((m["sequence"], m["event_type"]))
    # ... none lost, and in order per case.
    assert sorted(per_case) == sorted(numbers)
    assert all(events == [(1, "case.registered"), (2, "case.accepted")] for events in per_case.values()), per_case
    # The caught messages went out again after the kill (they were never recorded) and were applied once.
    assert all(peer.sends[k] > sent_before[k] for k in in_flight), (sent_before, {k: peer.sends[k] for k in in_flight})
    assert state.duplicates >= len(in_flight)
