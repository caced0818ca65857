"""Request dependencies: the hub from app state, and the caller from the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hub.container import Hub
from hub.domain.access import Actor
from hub.domain.model import Role
from hub.keys import KeyError_

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="A party's key from `hotline-hub keys create`.")
_bearer = HTTPBearer(auto_error=False, description="The same key as a bearer token.")


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


async def get_actor(
    request: Request, api_key: Annotated[str | None, Depends(_api_key)], bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Actor:
    presented = api_key or (bearer.credentials if bearer else None)
    if not presented:
        raise HTTPException(401, "an API key is required (X-API-Key header or Bearer token)", headers={"WWW-Authenticate": "Bearer"})
    try:
        # Usually a cache hit; a miss is one indexed read, short enough for the loop thread.
        actor = request.app.state.hub.keys.authenticate(presented)
    except KeyError_ as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    request.state.actor = actor
    return actor


def require_roles(*roles: Role):
    async def check(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
        if actor.role not in roles:
            raise HTTPException(403, f"role '{actor.role.value}' may not do this; needs one of {', '.join(r.value for r in roles)}")
        return actor

    return check


HubDep = Annotated[Hub, Depends(get_hub)]
ActorDep = Annotated[Actor, Depends(get_actor)]
