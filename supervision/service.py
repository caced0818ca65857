"""The supervision feature's application layer: who may see which assessment, and the
reads behind the API, the exports and the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.domain.access import Actor
from hub.domain.errors import AccessDenied
from hub.domain.model import Role
from hub.mappings import UnknownCode
from supervision.assessment import Assessment, Period, PeriodItems, Ranking, rank_units, scoped, units_in
from supervision.queries import BoardRow, SupervisedCase, board, period_items, supervised_cases

if TYPE_CHECKING:
    from hub.container import Hub

CENTRE = (Role.AGENT, Role.SUPERVISOR, Role.SYSTEM)


class Supervision:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def scope_for(self, actor: Actor, unit: str | None, county: str | None) -> tuple[str | None, str | None]:
        """The (unit, county) this actor may be assessed on: a unit sees itself, a county its own."""
        self.check_unit(unit)
        if county is not None:
            self.hub.catalogue.division(county, field="query.county")
        if actor.role in CENTRE:
            return unit, county
        if actor.role is Role.UNIT:
            if unit not in (None, actor.unit_code):
                raise AccessDenied(f"a unit sees only its own assessment ({actor.unit_code}), not {unit}")
            return actor.unit_code, county
        if actor.role is Role.COUNTY:
            if county is None and len(actor.divisions) == 1:
                county = actor.divisions[0]
            if county is None or county not in actor.divisions:
                raise AccessDenied(f"a county sees only its own divisions ({', '.join(actor.divisions)}); name one as county")
            self.check_county_unit(actor, unit)
            return unit, county
        raise AccessDenied(f"role '{actor.role.value}' has no assessment")

    def check_unit(self, unit: str | None) -> None:
        # Inactive units are kept for history, and history is what is assessed.
        if unit is not None and unit not in self.hub.catalogue.units:
            raise UnknownCode("query.unit", unit, "mappings/units.yaml, or GET /api/v1/codes/units")

    def check_county_unit(self, actor: Actor, unit: str | None) -> None:
        """A county may ask about its own units and the city's (their work in its divisions),
        not about another county's: naming one is refused rather than answered empty."""
        if actor.role is not Role.COUNTY or unit is None:
            return
        self.check_unit(unit)  # inactive units included: history is what is assessed
        division = self.hub.catalogue.division(self.hub.catalogue.units[unit].division, field="query.unit")
        if division.level == "county" and division.code not in actor.divisions:
            raise AccessDenied(f"unit {unit} belongs to division {division.code}, not to this county's divisions ({', '.join(actor.divisions)})")

    def assess(self, period: Period, unit: str | None = None, county: str | None = None) -> Assessment:
        return scoped(self._items(period, county), unit, county)

    def breakdown(self, period: Period, unit: str | None = None, county: str | None = None) -> list[Assessment]:
        """The scope's total, then (unless one unit was asked for) one assessment per unit."""
        items = self._items(period, county)
        total = scoped(items, unit, county)
        if unit is not None:
            return [total]
        return [total, *(scoped(items, u, county) for u in units_in(items, period, items.cutoff, county))]

    def unit_names(self) -> dict[str, str]:
        """Unit code -> name (mappings/units.yaml), for the exports."""
        return {code: u.name_zh for code, u in self.hub.catalogue.units.items()}

    def ranking(self, actor: Actor, period: Period, county: str | None = None) -> Ranking:
        """三率排名 of the city's units, or of a county's cases. It shows every unit's figures,
        so a unit (which sees only its own assessment) may not read it."""
        if actor.role is Role.UNIT:
            raise AccessDenied("the ranking shows every unit's figures; a unit sees only its own assessment")
        _, county = self.scope_for(actor, None, county)
        return rank_units(self._items(period, county), period, self.hub.clock.now(), county, self.unit_names())

    def supervised(self, actor: Actor, open_only: bool, unit: str | None, limit: int) -> list[SupervisedCase]:
        self.check_unit(unit)
        self.check_county_unit(actor, unit)
        return supervised_cases(self.hub.db, actor, open_only, unit, limit)

    def board(self, actor: Actor) -> list[BoardRow]:
        """督办看板: per lead unit, the running cases the actor may see, warned, overdue and supervised.
        The same people as the supervision list: the centre, units (their cases), counties."""
        if actor.role not in CENTRE and actor.role not in (Role.UNIT, Role.COUNTY):
            raise AccessDenied(f"role '{actor.role.value}' has no supervision board")
        return board(self.hub.db, actor)

    def _items(self, period: Period, county: str | None) -> PeriodItems:
        """The period's items, read once for the total, the units and the ranking (supervision.queries.period_items)."""
        return period_items(self.hub.db, period, self.hub.clock.now(), county)
