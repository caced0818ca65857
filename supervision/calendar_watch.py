"""Warnings while next year's calendar is missing: a log line, a metric, and (through
GET /api/v1/calendar/status and /api/v1/ready) something a console banner can show.

From November on (hub.domain.calendar.WARN_FROM_MONTH) deadlines start reaching into next
year; until its schedule is imported they are provisional. Nothing is refused for it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily

from hub.domain.calendar import calendar_status

if TYPE_CHECKING:
    from hub.container import Hub

log = logging.getLogger("hub.calendar")


class CalendarCollector:
    """hub_calendar_year_known and hub_calendar_next_year_known (0/1), read at scrape time."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Any:
        try:
            status = calendar_status(self.hub.calendars.calendar(), self.hub.clock.now())
        except Exception:  # noqa: BLE001 - a scrape during a database outage reports nothing rather than failing
            return
        this = GaugeMetricFamily("hub_calendar_year_known", "1 when this year's working-day calendar is known", labels=["year"])
        this.add_metric([str(status.today.year)], 1.0 if status.year_known else 0.0)
        nxt = GaugeMetricFamily("hub_calendar_next_year_known", "1 when next year's working-day calendar is known (imported or published)", labels=["year"])
        nxt.add_metric([str(status.next_year)], 1.0 if status.next_year_known else 0.0)
        warning = GaugeMetricFamily("hub_calendar_warning", "1 while deadlines are or soon will be provisional")
        warning.add_metric([], 1.0 if status.warning else 0.0)
        yield from (this, nxt, warning)

    def describe(self) -> list[Any]:
        return []


class CalendarWatch:
    """Logs the warning at most once per local day per process (the scheduler calls it every run)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._warned_on: date | None = None

    def check(self) -> str | None:
        status = calendar_status(self.hub.calendars.calendar(), self.hub.clock.now())
        if status.warning and self._warned_on != status.today:
            log.warning("calendar: %s", status.warning)
            self._warned_on = status.today
        return status.warning
