"""On PostgreSQL an import does not block the hub's API writes: there is no single writer, and
the one row both could want, the case-number counter of a day, is taken by the import in a
transaction of its own. An export of today's cases numbers them on today's counter, as an API
write does: the API write goes through while the import's batch is still open."""

from __future__ import annotations

import threading

import pytest

from adapters.legacy_hotlines.handle import Legacy
from adapters.legacy_hotlines.importing.importer import LegacyImporter
from hub.domain.access import Actor
from hub.domain.clock import LOCAL_TZ
from hub.domain.model import CaseDraft, Role
from tests.fixtures.legacy.samples import CSV_12315
from tests.support.factories import draft

pytestmark = pytest.mark.postgres

AGENT = Actor(party="centre-agent", role=Role.AGENT)


@pytest.fixture
def db_url(pg_database) -> str:  # on SQLite one writer is the design: an API write waits for the batch in hand
    pg_database.clean()
    return pg_database.url


def test_an_api_write_of_the_same_day_goes_through_while_an_import_batch_is_open(hub, tmp_path, monkeypatch) -> None:
    today = hub.clock.now().astimezone(LOCAL_TZ).strftime("%Y年%m月%d日")
    export = tmp_path / "12315_today.csv"
    header = CSV_12315.read_bytes().splitlines(keepends=True)[0]
    export.write_bytes(header + f"SC2025092601,{today} 09:00,新某,13100001111,投诉,01,今天的问题,今天的投诉内容,,雁江区,已办结,市局,,\r\n".encode("gbk"))
    registered: list[str] = []
    seen_during_batch: list[bool] = []
    threads: list[threading.Thread] = []
    write = LegacyImporter._write

    def write_then_let_the_api_in(self, *a):  # noqa: ANN001, ANN202
        write(self, *a)  # the batch's cases are written, its transaction still open
        api = threading.Thread(target=lambda: registered.append(hub.cases.register(CaseDraft.model_validate(draft()), AGENT).case.number))
        api.start()
        api.join(timeout=30)
        seen_during_batch.append(not api.is_alive())
        threads.append(api)  # joined after the batch commits: a waiting write waits for that

    monkeypatch.setattr(LegacyImporter, "_write", write_then_let_the_api_in)
    summary = LegacyImporter(hub, hub.handles.get(Legacy).config, progress=None).run("12315", export, dedupe=False)
    for t in threads:
        t.join(timeout=60)
    assert summary.accepted == 1
    assert seen_during_batch == [True]  # the API write did not wait for the batch to commit
    imported = hub.cases.find_by_ref("legacy.12315", "SC2025092601").number
    day = hub.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d")
    region = hub.settings.region_code
    assert imported.startswith(region + day) and registered[0].startswith(region + day) and imported != registered[0]
