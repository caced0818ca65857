"""Which workers `hotline-hub work --only/--skip` runs: name prefixes."""

from __future__ import annotations

import pytest

from hub.runtime import NoSuchWorker, pick_workers

NAMES = ["outbox-relay", "county-poller-yanjiang", "county-poller-anyue", "province-poller:province", "scheduler", "legacy-puller-12315", "retention"]


def test_nothing_named_runs_them_all() -> None:
    assert pick_workers(NAMES, [], []) == NAMES


def test_only_takes_every_worker_a_prefix_names_and_skip_leaves_some_out() -> None:
    assert pick_workers(NAMES, ["county-poller"], []) == ["county-poller-yanjiang", "county-poller-anyue"]
    assert pick_workers(NAMES, ["county-poller", "scheduler"], ["county-poller-anyue"]) == ["county-poller-yanjiang", "scheduler"]
    assert pick_workers(NAMES, [], ["outbox-relay", "scheduler", "retention"]) == [
        "county-poller-yanjiang",
        "county-poller-anyue",
        "province-poller:province",
        "legacy-puller-12315",
    ]


def test_an_only_that_names_no_worker_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(NoSuchWorker, match=r"--only relay: .*outbox-relay"):
        pick_workers(NAMES, ["relay"], [])
