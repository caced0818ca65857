"""The channel routes (a channel key: intake, its own cases as citizens see them, the citizen's
rating) and the public routes (no key: lookup and rating with the retrieval code)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from channels.citizen import CitizenView
from channels.codes import Locked
from channels.rates import RateLimited
from channels.service import ChannelService
from hub.api.attachments import FILE_RESPONSE, AttachmentId, PublicAttachment, UploadedFile, file_response, public_out
from hub.api.cases import DRAFT_EXAMPLES
from hub.api.client_address import client_address
from hub.api.deps import HubDep, require_roles
from hub.api.problems import documented
from hub.domain.access import Actor
from hub.domain.model import Case, CaseDraft, Role, Satisfaction
from hub.read_audit import record_read

CaseNumber = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]
ChannelKey = Annotated[Actor, Depends(require_roles(Role.CHANNEL))]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=16, pattern=r"^[0-9A-Za-z ]+$")]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]

channel = APIRouter(prefix="/api/v1/channel/cases", tags=["channels"])
public = APIRouter(prefix="/api/v1/public/cases", tags=["channels"])
centre = APIRouter(prefix="/api/v1/cases", tags=["channels"])
CentreKey = Annotated[Actor, Depends(require_roles(Role.AGENT, Role.SUPERVISOR))]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[0-9+() -]+$")]


def _service(request: Request) -> ChannelService:
    return request.app.state.hub.handles.get(ChannelService)


class ChannelIntake(BaseModel):
    case: CitizenView
    retrieval_code: str | None = Field(
        description="The case's retrieval code (提取码), given once: on a replay of the same Idempotency-Key it is null (the citizen also has it by SMS)."
    )


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    satisfaction: Satisfaction = Field(description="满意 satisfied, 基本满意 basically_satisfied, 不满意 unsatisfied.")
    resolved: bool | None = Field(default=None, description="Was the matter resolved? Not given: resolved unless unsatisfied.")
    comment: Comment | None = Field(default=None, description="The citizen's words (kept as the follow-up's note).")


class CodeOnly(BaseModel):
    """The code travels in the body: a URL ends up in access logs."""

    model_config = ConfigDict(extra="forbid")

    code: Code


class PublicRating(Rating):
    code: Code


class PhoneOnly(BaseModel):
    """The phone travels in the body, as the code does: a URL ends up in access logs."""

    model_config = ConfigDict(extra="forbid")

    phone: Phone = Field(description="The phone the case was registered with.")


REISSUE_ANSWER = "如该号码与工单登记的手机号一致，新的提取码将以短信发送，原提取码随即失效。"


class Reissue(BaseModel):
    detail: str = Field(description="The same words whatever the number and phone: the answer tells nothing.")


class CentreReissue(BaseModel):
    sent_to: str = Field(description="The mobile the new code goes to, masked (138****8000).")


def _limited(exc: RateLimited | Locked, request: Request) -> HTTPException:
    if isinstance(exc, Locked):
        seconds = exc.retry_after(request.app.state.hub.clock.now())
        return HTTPException(429, f"too many wrong retrieval codes; try again in {seconds} s", headers={"Retry-After": str(seconds)})
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


def _client(request: Request) -> str:
    return client_address(request)  # behind a trusted proxy: the address it forwards for


def _opened(request: Request, number: str, code: str) -> Case:
    """The case the citizen's number and retrieval code open (404 alike for either wrong), or the
    429 with Retry-After once this number or this address is locked out."""
    try:
        return _service(request).check_code(number, code, _client(request))
    except Locked as exc:
        raise _limited(exc, request) from None


@channel.post(
    "",
    status_code=201,
    response_model=ChannelIntake,
    summary="A channel registers a citizen's case (登记)",
    operation_id="registerChannelCase",
    responses={
        200: {"description": "Replay of an earlier request with the same Idempotency-Key", "model": ChannelIntake},
        **documented(403, 409, 429, d403="Not a channel key, or the draft's intake.channel is not the key's"),
    },
)
def register(
    request: Request,
    hub: HubDep,
    actor: ChannelKey,
    draft: Annotated[CaseDraft, Body(openapi_examples={"web": DRAFT_EXAMPLES["confidential"]})],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> JSONResponse:
    try:
        result = _service(request).register(draft, actor, idempotency_key)
    except RateLimited as exc:
        raise _limited(exc, request) from None
    body = ChannelIntake(case=result.view, retrieval_code=result.code)
    return JSONResponse(
        body.model_dump(mode="json"), status_code=201 if result.created else 200, headers={"Location": f"/api/v1/channel/cases/{result.view.number}"}
    )


@channel.get(
    "/{number}",
    response_model=CitizenView,
    summary="A channel's own case, as the citizen sees it",
    operation_id="getChannelCase",
    responses=documented(403, 404, d404="No such case among this channel's own"),
)
def get_own(request: Request, hub: HubDep, actor: ChannelKey, number: CaseNumber) -> CitizenView:
    service = _service(request)
    case = service.own_case(number, actor)
    # 保密: a party's read is audited even through the citizen view (the public route is the
    # citizen reading their own case with its code, not a party's read).
    record_read(hub.db, actor, case, "GET /api/v1/channel/cases/{number}", hub.clock.now())
    return service.view_of(case)


@channel.post(
    "/{number}/evaluation",
    response_model=CitizenView,
    summary="The citizen rates the reply (评价), through the channel",
    operation_id="rateChannelCase",
    responses=documented(403, 404, 409, d409="Not waiting for a follow-up, or the time to rate has ended"),
)
def rate_own(request: Request, actor: ChannelKey, number: CaseNumber, rating: Rating) -> CitizenView:
    service = _service(request)
    case = service.evaluate(service.own_case(number, actor), rating.satisfaction, rating.resolved, rating.comment, actor.party)
    return service.view_of(case)


@public.post(
    "/{number}/lookup",
    response_model=CitizenView,
    summary="A citizen looks a case up with its retrieval code (查询)",
    operation_id="getPublicCase",
    responses=documented(
        404,
        429,
        d404="No case with this number and code (the same answer for either)",
        d429="Too many wrong codes for this number or from this address: see Retry-After",
    ),
)
def lookup(request: Request, number: CaseNumber, body: CodeOnly) -> CitizenView:
    case = _opened(request, number, body.code)
    return _service(request).view_of(case)


@public.post(
    "/{number}/evaluation",
    response_model=CitizenView,
    summary="A citizen rates the reply with the retrieval code (评价)",
    operation_id="ratePublicCase",
    responses=documented(
        404,
        409,
        429,
        d404="No case with this number and code (the same answer for either)",
        d409="Not waiting for a follow-up, or the time to rate has ended",
        d429="Too many wrong codes for this number or from this address: see Retry-After",
    ),
)
def rate_public(request: Request, number: CaseNumber, body: PublicRating) -> CitizenView:
    case = _opened(request, number, body.code)
    service = _service(request)
    return service.view_of(service.evaluate(case, body.satisfaction, body.resolved, body.comment, "public"))


@public.post(
    "/{number}/code",
    status_code=202,
    response_model=Reissue,
    summary="A citizen asks for a new retrieval code (补发提取码)",
    operation_id="reissuePublicCaseCode",
    responses=documented(429, d429="Too many requests for this number or from this address: see Retry-After"),
)
def reissue_public(request: Request, number: CaseNumber, body: PhoneOnly) -> Reissue:
    """202 with the same answer whether or not the number exists and the phone is the case's;
    if it is, the new code goes by SMS (never in the answer) and the old one stops working.
    Every request counts toward a lockout, as wrong codes do for the lookup."""
    try:
        _service(request).reissue_for_citizen(number, body.phone, _client(request))
    except Locked as exc:
        raise _limited(exc, request) from None
    return Reissue(detail=REISSUE_ANSWER)


@centre.post(
    "/{number}/retrieval-code",
    status_code=202,
    response_model=CentreReissue,
    summary="The centre reissues a case's retrieval code by SMS (补发提取码)",
    operation_id="reissueCaseCode",
    responses=documented(
        403, 404, 409, d409="No SMS can carry it (no mobile, anonymous, another system's citizen, no SMS destination): the old code stays valid"
    ),
)
def reissue_centre(request: Request, actor: CentreKey, number: CaseNumber) -> CentreReissue:
    return CentreReissue(sent_to=_service(request).reissue_for_centre(number, actor))


# -- attachments: the citizen's photo ------------------------------------------------------------
_ATTACH_409 = "The case is finished (closed, archived, ...), or it has the most files a citizen may send"
_ATTACH_413 = "The file is over attachments.citizen_max_bytes (errors name `file`)"
_ATTACH_415 = "The file's content is not a type taken (errors name `file`)"


@channel.post(
    "/{number}/attachments",
    status_code=201,
    response_model=PublicAttachment,
    summary="The citizen's photo or document, through the channel (附件)",
    operation_id="createChannelCaseAttachment",
    responses=documented(403, 404, 409, 415, d404="No such case among this channel's own", d409=_ATTACH_409, d413=_ATTACH_413, d415=_ATTACH_415),
)
def attach_own(request: Request, hub: HubDep, actor: ChannelKey, number: CaseNumber, file: UploadedFile) -> PublicAttachment:
    case = _service(request).own_case(number, actor)
    attachment, _ = hub.attachments.add(case.number, file.file, file.filename, "public", actor, citizen=True)
    return public_out(attachment)


@channel.get(
    "/{number}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="Download a public attachment of a channel's own case",
    operation_id="getChannelCaseAttachment",
    responses={**FILE_RESPONSE, **documented(403, 404, d404="No such case among this channel's own, or no such public attachment")},
)
def download_own(request: Request, hub: HubDep, actor: ChannelKey, number: CaseNumber, attachment_id: AttachmentId) -> StreamingResponse:
    case = _service(request).own_case(number, actor)
    return file_response(hub.attachments, hub.attachments.one(case.number, attachment_id, public_only=True))


@public.post(
    "/{number}/attachments",
    status_code=201,
    response_model=PublicAttachment,
    summary="A citizen sends a photo or document with the retrieval code (附件)",
    operation_id="createPublicCaseAttachment",
    responses=documented(
        404,
        409,
        415,
        429,
        d404="No case with this number and code (the same answer for either)",
        d409=_ATTACH_409,
        d413=_ATTACH_413,
        d415=_ATTACH_415,
        d429="Too many wrong codes for this number or from this address: see Retry-After",
    ),
)
def attach_public(
    request: Request,
    hub: HubDep,
    number: CaseNumber,
    file: UploadedFile,
    code: Annotated[
        str, Form(min_length=4, max_length=16, pattern=r"^[0-9A-Za-z ]+$", description="The retrieval code (提取码), in the body, never in the URL.")
    ],
) -> PublicAttachment:
    case = _opened(request, number, code.strip())
    citizen = Actor(party="citizen@public", role=Role.SYSTEM)
    attachment, _ = hub.attachments.add(case.number, file.file, file.filename, "public", citizen, citizen=True)
    return public_out(attachment)


@public.post(
    "/{number}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="A citizen downloads a public attachment with the retrieval code",
    operation_id="getPublicCaseAttachment",
    responses={
        **FILE_RESPONSE,
        **documented(
            404,
            429,
            d404="No case with this number and code, or no such public attachment",
            d429="Too many wrong codes for this number or from this address: see Retry-After",
        ),
    },
)
def download_public(request: Request, hub: HubDep, number: CaseNumber, attachment_id: AttachmentId, body: CodeOnly) -> StreamingResponse:
    case = _opened(request, number, body.code)
    return file_response(hub.attachments, hub.attachments.one(case.number, attachment_id, public_only=True))
