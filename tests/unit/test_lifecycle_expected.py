"""The lifecycle table read against the expected file (tests/unit/expected_lifecycle.yaml),
row by row: a row added, dropped, or given other roles or another target shows here by name.
tests/unit/test_lifecycle_table.py checks the engine's behaviour against the same file for
every state x action x role; this is the fast half (the mutation run's first stage)."""

from __future__ import annotations

from hub.domain.lifecycle import PREVIOUS, TABLE
from tests.unit.test_lifecycle_table import EXPECTED


def test_the_table_says_what_the_file_says() -> None:
    in_table = {(t.source, t.action, t.outcome): (str(t.target), t.roles) for t in TABLE}
    assert set(in_table) == set(EXPECTED)
    for key, (target, roles) in in_table.items():
        expected = EXPECTED[key]
        assert (target if target != PREVIOUS else "where_asked", roles) == (expected.target, expected.roles), key


def test_a_row_of_the_table_cannot_be_changed_at_run_time() -> None:
    from dataclasses import FrozenInstanceError

    import pytest

    with pytest.raises(FrozenInstanceError):
        TABLE[0].roles = frozenset()  # type: ignore[misc]
