"""Who sees which case: each party sees only what it must (DOMAIN.md, the parties)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.domain.model import Case, Person, Role


@dataclass(frozen=True)
class Actor:
    """The caller, as the API key says: a party, its role, and its scope."""

    party: str
    role: Role
    unit_code: str | None = None  # for role UNIT
    divisions: tuple[str, ...] = field(default_factory=tuple)  # 6-digit codes, for role COUNTY
    channel: str | None = None  # for role CHANNEL: the one intake channel it registers with (web, wechat, ...)


SYSTEM_ACTOR = Actor(party="hub", role=Role.SYSTEM)


def can_see(actor: Actor, division_code: str, units: list[str], external_systems: list[str], registrant: tuple[str, Role] | None = None) -> bool:
    if actor.role in (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM):
        return True
    if actor.role is Role.CHANNEL:
        # A channel never reads the full case (unit staff, internal notes): its own cases
        # only through the citizen view (channels/citizen.py), which checks the registrant.
        return False
    if registrant is not None and registrant == (actor.party, actor.role):
        # A party always reads what it registered itself (the province's own 上报, a
        # channel's own submission), whatever else the rules below say.
        return True
    if actor.role is Role.COUNTY:
        return division_code[:6] in actor.divisions
    if actor.role is Role.UNIT:
        return actor.unit_code is not None and actor.unit_code in units
    if actor.role is Role.PROVINCE:
        # The province sees the cases it exchanges with the city, no others.
        return "province" in external_systems
    return False


def registrant(case: Case) -> tuple[str, Role] | None:
    """(party, role) that registered the case: the first entry of its history."""
    if case.history and case.history[0].action == "register":
        return case.history[0].actor, case.history[0].role
    return None


def can_see_case(actor: Actor, case: Case) -> bool:
    return can_see(actor, case.place.division_code, case.units, [r.system for r in case.external_refs], registrant(case))


# Parties outside the centre that register cases themselves and own a ref namespace.
PEER_ROLES = (Role.PROVINCE, Role.COUNTY)


def registered_by_other_peer(actor: Actor, case: Case) -> bool:
    """True if another peer (a county, the province) registered the case: its ids are that
    peer's claim, and a push of the same id by `actor` is a conflict, never a merge."""
    who = registrant(case)
    return who is not None and who[1] in PEER_ROLES and who != (actor.party, actor.role)


def ref_namespace(actor: Actor) -> str | None:
    """The external-id namespace a party writes in when it registers a case itself: its own
    system's ids and nobody else's. None: the party has no namespace of its own.

    The hub's own adapters (role system, and the county/province intake code that names the
    namespace from its configuration) write the refs of other systems; a party calling the
    public API does not, or it could claim another system's ticket and be answered with it.
    """
    if actor.role is Role.PROVINCE:
        return "province"
    if actor.role is Role.COUNTY:
        return f"county.{actor.party}"
    if actor.role is Role.CHANNEL:
        return f"channel.{actor.party}"
    return None


def may_set_ref(actor: Actor, system: str) -> bool:
    if actor.role is Role.SYSTEM:
        return True
    own = ref_namespace(actor)
    return own is not None and (system == own or system.startswith(own + "."))


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    n = len(phone)
    if n >= 11:  # 138****5678: the shape agents are used to
        return phone[:3] + "*" * (n - 7) + phone[-4:]
    if n >= 5:
        return phone[:2] + "*" * (n - 4) + phone[-2:]
    return "*" * n


def mask_address(address: str | None) -> str | None:
    if not address:
        return address
    keep = min(6, max(1, len(address) // 3))
    return address[:keep] + "*" * (len(address) - keep)


def masked_person(person: Person) -> Person:
    return person.model_copy(update={"name": mask_name(person.name), "phone": mask_phone(person.phone)})


def sees_confidential_person(actor: Actor) -> bool:
    """保密: only the centre knows who called. Whoever does not see a person's phone may not
    find the case by it either (a phone filter would reveal it)."""
    return actor.role in (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM)


def view_for(actor: Actor, case: Case) -> Case:
    """The case as this actor may see it: the centre sees all; others see a confidential
    person masked (保密 means only the centre knows who called)."""
    if sees_confidential_person(actor):
        return case
    if case.person.confidential:
        return case.model_copy(update={"person": masked_person(case.person)})
    return case


def export_view(case: Case) -> Case:
    """Exports and logs never carry readable personal data."""
    place = case.place.model_copy(update={"address": mask_address(case.place.address)})
    return case.model_copy(update={"person": masked_person(case.person), "place": place})
