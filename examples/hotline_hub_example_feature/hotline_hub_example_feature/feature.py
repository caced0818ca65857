"""The service hours of the hotline: `GET /api/v1/example/service-hours` and
`hotline-hub example-hours`. Everything the hub offers a feature, nothing it must change."""

from __future__ import annotations

import argparse
from functools import partial

from fastapi import APIRouter
from pydantic import BaseModel

from hub.api.deps import ActorDep, HubDep
from hub.api.problems import documented
from hub.container import Hub
from hub.domain.clock import LOCAL_TZ
from hub.features import FeatureBase, HubOpener

HOURS = "全天24小时"  # 12345 answers day and night


class ServiceHours(BaseModel):
    number: str
    hours: str
    today: str  # the hub's local date, from its clock


router = APIRouter(prefix="/api/v1/example", tags=["example"])


def _hours(hub: Hub) -> ServiceHours:
    return ServiceHours(number="12345", hours=HOURS, today=hub.clock.now().astimezone(LOCAL_TZ).date().isoformat())


@router.get(
    "/service-hours",
    summary="When the hotline answers (an integrator's example feature)",
    operation_id="getServiceHours",
    response_model=ServiceHours,
    responses=documented(401),
)
def service_hours(hub: HubDep, actor: ActorDep) -> ServiceHours:
    return _hours(hub)


def _cmd_hours(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        shown = _hours(hub)
        print(f"{shown.number} 服务时间：{shown.hours}（{shown.today}）")
        return 0


class ExampleHoursFeature(FeatureBase):
    name = "example_hours"  # order: the default, after the hub's own features

    def install(self, hub: Hub) -> None:
        hub.routers.append(router)

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("example-hours", help="when the hotline answers (example feature)")
        p.set_defaults(func=partial(_cmd_hours, hubs=hubs))


feature = ExampleHoursFeature()
