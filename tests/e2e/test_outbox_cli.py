"""`hotline-hub outbox ...` as an operator runs it, against a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select

from hub.container import Hub
from hub.domain.access import Actor
from hub.domain.model import CaseDraft, Role
from hub.runtime import build_hub
from hub.settings import Settings
from outbox.tables import DEAD, DELIVERED, PENDING, OutboxMessageRow
from tests.support.factories import draft

HUB_CLI = str(Path(sys.executable).with_name("hotline-hub"))
DEST = {"peer": {"adapter": "webhook", "settings": {"url": "http://127.0.0.1:9/events"}, "events": ["case.*"]}}


def _operator(url: str, tmp_path: Path, clock, destinations: dict) -> tuple[Hub, Callable[..., subprocess.CompletedProcess]]:  # noqa: ANN001
    """A hub on the database at `url` with these destinations, and `hotline-hub outbox ...` run
    as an operator would, against the same database and a configuration file naming them."""
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"destinations": destinations}), encoding="utf-8")
    env = {**os.environ, "HUB_DATABASE_URL": url, "HUB_CONFIG_FILE": str(config), "HUB_LOG_LEVEL": "WARNING"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([HUB_CLI, "outbox", *args], env=env, capture_output=True, text=True, timeout=60)

    return build_hub(Settings(database_url=url, destinations=destinations), clock), cli


def test_status_dead_replay_pause_resume(sqlite_template, tmp_path: Path, clock) -> None:
    hub, cli = _operator(sqlite_template.fresh(tmp_path), tmp_path, clock, DEST)
    try:
        number = hub.cases.register(CaseDraft.model_validate(draft()), Actor("agent", Role.AGENT)).case.number
        with hub.db.write() as s:
            row = s.execute(select(OutboxMessageRow)).scalar_one()
            row.status, row.attempts, row.last_error = DEAD, 3, "PermanentError: peer refused with 400"
            dead_id = row.id

        out = cli("status")
        assert out.returncode == 0 and "peer" in out.stdout and "flowing" in out.stdout, out.stderr
        dead = cli("dead")
        assert str(dead_id) in dead.stdout and number in dead.stdout and "refused with 400" in dead.stdout
        assert cli("replay").returncode == 2  # nothing named: refuses rather than replaying everything
        assert "replayed 1" in cli("replay", str(dead_id)).stdout
        with hub.db.read() as s:
            assert s.execute(select(OutboxMessageRow.status, OutboxMessageRow.attempts)).one() == (PENDING, 0)

        assert cli("pause", "peer", "--reason", "maintenance").returncode == 0
        assert "paused by operator: maintenance" in cli("status").stdout
        assert "resumed" in cli("resume", "peer").stdout
        assert "flowing" in cli("status").stdout

        with hub.db.write() as s:  # finished two days ago (the CLI's clock is the real one)
            row = s.execute(select(OutboxMessageRow)).scalar_one()
            row.status, row.delivered_at = DELIVERED, datetime.now(UTC) - timedelta(days=2)
        assert cli("prune", "--hours", "-1").returncode == 2
        assert "pruned 0" in cli("prune", "--hours", "72").stdout
        assert "pruned 1" in cli("prune", "--hours", "24").stdout
        with hub.db.read() as s:
            assert s.execute(select(OutboxMessageRow)).first() is None
    finally:
        hub.close()


def test_replay_several_ids_a_destination_or_everything(sqlite_template, tmp_path: Path, clock) -> None:
    dests = {**DEST, "other": {**DEST["peer"], "settings": {"url": "http://127.0.0.1:9/other"}}}
    hub, cli = _operator(sqlite_template.fresh(tmp_path), tmp_path, clock, dests)

    def replay(*args: str) -> str:
        out = cli("replay", *args)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def kill_all() -> None:
        with hub.db.write() as s:
            for row in s.execute(select(OutboxMessageRow)).scalars():
                row.status, row.attempts, row.last_error = DEAD, 4, "PermanentError: peer refused with 400"

    def statuses() -> dict[int, tuple[str, int]]:
        with hub.db.read() as s:
            return {r.id: (r.status, r.attempts) for r in s.execute(select(OutboxMessageRow)).scalars()}

    try:
        for _ in range(3):
            hub.cases.register(CaseDraft.model_validate(draft()), Actor("agent", Role.AGENT))
        with hub.db.read() as s:
            ids = {
                d: list(s.execute(select(OutboxMessageRow.id).where(OutboxMessageRow.destination == d).order_by(OutboxMessageRow.id)).scalars()) for d in dests
            }
        assert [len(v) for v in ids.values()] == [3, 3]
        kill_all()

        assert replay(str(ids["peer"][0]), str(ids["peer"][2])) == "replayed 2"
        after = statuses()
        assert [after[i] for i in ids["peer"]] == [(PENDING, 0), (DEAD, 4), (PENDING, 0)]
        assert all(after[i] == (DEAD, 4) for i in ids["other"])
        assert replay(str(ids["peer"][0])) == "replayed 0"  # no longer dead: left alone

        assert replay("--destination", "other") == "replayed 3"
        after = statuses()
        assert all(after[i] == (PENDING, 0) for i in ids["other"]) and after[ids["peer"][1]] == (DEAD, 4)
        # ids and a destination together: only those ids of that destination
        assert replay(str(ids["peer"][1]), "--destination", "other") == "replayed 0"
        nowhere = cli("replay", "--destination", "nowhere")
        assert nowhere.returncode == 2 and "nowhere" in nowhere.stderr  # a typo is not "replayed 0"

        kill_all()
        assert replay("--all") == "replayed 6"
        assert set(statuses().values()) == {(PENDING, 0)}
    finally:
        hub.close()


def test_status_shows_a_case_held_behind_a_dead_letter_and_skip_releases_it_on_record(sqlite_template, tmp_path: Path, clock) -> None:
    from hub.domain import commands as c

    hub, cli = _operator(sqlite_template.fresh(tmp_path), tmp_path, clock, DEST)
    try:
        agent = Actor("agent", Role.AGENT)
        number = hub.cases.register(CaseDraft.model_validate(draft()), agent).case.number
        hub.cases.act(number, c.Accept(), agent)
        with hub.db.write() as s:
            first, second = s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.sequence)).scalars().all()
            first.status, first.attempts, first.last_error = DEAD, 1, "PermanentError: unknown case"
            dead_id, held_id = first.id, second.id

        status = cli("status")
        assert status.returncode == 0 and "1 cases (1 messages) held behind dead letters" in status.stdout, status.stdout
        assert "holds 1" in cli("dead").stdout

        assert cli("skip", str(dead_id)).returncode == 2  # no reason given: argparse refuses
        refused = cli("skip", str(dead_id), str(held_id), "--reason", "sent by phone")
        assert refused.returncode == 1 and str(held_id) in refused.stderr and "nothing skipped" in refused.stderr
        done = cli("skip", str(dead_id), "--reason", "sent by phone", "--party", "班长王")
        assert done.returncode == 0 and f"case {number} history" in done.stdout, done.stderr
        with hub.db.read() as s:
            assert [r.status for r in s.execute(select(OutboxMessageRow).order_by(OutboxMessageRow.sequence)).scalars()] == ["skipped", PENDING]
        line = hub.cases.history(number, Actor("centre-supervisor", Role.SUPERVISOR))[-1]
        assert (line.action, line.actor, line.role, line.note) == ("outbox_skip", "班长王", Role.SUPERVISOR, "sent by phone")
        assert line.data["message_id"] == dead_id
        assert "held behind" not in cli("status").stdout
    finally:
        hub.close()
