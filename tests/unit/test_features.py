"""Features are found through the `hotline_hub.features` entry points, in a stated order, and
hand each other typed handles (hub/features.py, hub/handles.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

import hub.features as features_module
from hub.features import Feature, FeatureBase, FeatureError, load_features
from hub.handles import Handles, MissingHandle

# The hub's own features, in the order they install (pyproject.toml names them; each object
# says its order). Written out here, not read from the code under test.
BUILT_IN = ["outbox", "kit", "county", "province", "knowledge", "supervision", "legacy", "records", "channels", "sandbox", "console"]


def test_the_built_in_features_are_all_found_through_the_entry_points_in_install_order() -> None:
    names = [f.name for f in load_features()]
    assert [n for n in names if n in BUILT_IN] == BUILT_IN
    assert names[: len(BUILT_IN)] == BUILT_IN  # an integrator's (order 100 by default) comes after them


def test_every_found_feature_declares_every_hook() -> None:
    for feature in load_features():
        assert isinstance(feature, Feature), feature.name


@dataclass
class _EntryPoint:
    name: str
    value: str
    target: object

    def load(self) -> object:
        return self.target


def _named(name: str, order: int) -> FeatureBase:
    f = FeatureBase()
    f.name, f.order = name, order
    return f


def test_install_order_is_by_order_then_by_name_whatever_order_the_entry_points_come_in(monkeypatch) -> None:
    found = [
        _EntryPoint("b", "x:b", _named("beta", 5)),
        _EntryPoint("a", "x:a", _named("alpha", 5)),
        _EntryPoint("c", "x:c", _named("early", 1)),
        _EntryPoint("d", "x:d", _named("late", 100)),
    ]
    monkeypatch.setattr(features_module, "entry_points", lambda group: found)
    assert [f.name for f in load_features()] == ["early", "alpha", "beta", "late"]
    monkeypatch.setattr(features_module, "entry_points", lambda group: list(reversed(found)))
    assert [f.name for f in load_features()] == ["early", "alpha", "beta", "late"]


def test_an_entry_point_that_is_no_feature_is_named(monkeypatch) -> None:
    monkeypatch.setattr(features_module, "entry_points", lambda group: [_EntryPoint("odd", "pkg.mod:thing", object())])
    with pytest.raises(FeatureError, match=r"'odd' \(pkg.mod:thing\) is not a Feature"):
        load_features()


def test_a_feature_that_offers_nothing_adds_nothing() -> None:
    plain = FeatureBase()
    assert plain.sandbox_peers(8000) == []


class _Thing:
    pass


class _Other:
    pass


def test_handles_are_found_by_their_type() -> None:
    handles = Handles()
    thing = _Thing()
    handles.add(thing)
    assert handles.get(_Thing) is thing
    assert handles.find(_Other) is None
    assert _Thing in handles and _Other not in handles


def test_a_missing_handle_is_named() -> None:
    with pytest.raises(MissingHandle, match="no _Other handle"):
        Handles().get(_Other)


def test_a_second_handle_of_the_same_type_is_refused() -> None:
    handles = Handles()
    handles.add(_Thing())
    with pytest.raises(ValueError, match="_Thing handle is already installed"):
        handles.add(_Thing())
