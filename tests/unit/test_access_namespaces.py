"""Whose external ids a party may write, and that a party sees what it registered (#14).
Expectations written from DOMAIN.md ("every external system's own id ... each unique per
system") and the issue, one case per line."""

from __future__ import annotations

import pytest

from hub.domain.access import Actor, can_see, may_set_ref
from hub.domain.model import Role

YANJIANG = Actor("yanjiang", Role.COUNTY, divisions=("512002",))
PROVINCE = Actor("province", Role.PROVINCE)
AGENT = Actor("centre-agent", Role.AGENT)
UNIT = Actor("ZY-SCJGJ", Role.UNIT, unit_code="ZY-SCJGJ")
HUB = Actor("hub", Role.SYSTEM)


@pytest.mark.parametrize(
    ("actor", "system", "allowed"),
    [
        (YANJIANG, "county.yanjiang", True),
        (YANJIANG, "county.yanjiang.sub", True),
        (YANJIANG, "county.yanjiangx", False),  # a prefix of another name is not its namespace
        (YANJIANG, "county.anyue", False),
        (YANJIANG, "province", False),
        (YANJIANG, "legacy.12315", False),
        (PROVINCE, "province", True),
        (PROVINCE, "county.yanjiang", False),
        (AGENT, "province", False),
        (AGENT, "county.yanjiang", False),
        (UNIT, "county.yanjiang", False),
        (HUB, "province", True),
        (HUB, "legacy.12315", True),
    ],
)
def test_a_party_writes_only_its_own_namespace(actor: Actor, system: str, allowed: bool) -> None:
    assert may_set_ref(actor, system) is allowed


def test_the_province_sees_what_it_registered_and_what_it_exchanges_only() -> None:
    elsewhere = ("512022", [], [])
    assert can_see(PROVINCE, *elsewhere, registrant=("province", Role.PROVINCE))
    assert not can_see(PROVINCE, *elsewhere, registrant=("centre-agent", Role.AGENT))
    assert not can_see(PROVINCE, *elsewhere, registrant=("province", Role.AGENT))  # same name, another role
    assert can_see(PROVINCE, "512022", [], ["province"], registrant=("centre-agent", Role.AGENT))


def test_a_county_sees_its_divisions_and_its_own_registrations() -> None:
    assert can_see(YANJIANG, "512002001", [], [])
    assert not can_see(YANJIANG, "512021", [], [], registrant=("anyue", Role.COUNTY))
    assert can_see(YANJIANG, "512021", [], [], registrant=("yanjiang", Role.COUNTY))
