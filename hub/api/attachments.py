"""/api/v1/cases/{number}/attachments: photos and documents of a case (hub/attachments.py).

Uploaded as multipart/form-data (field `file`, and `visibility`); the type is read from the
content. A download is served as an attachment (`Content-Disposition`) with
`X-Content-Type-Options: nosniff`, so a browser never renders it as something else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Path, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from hub.api.cases import _not_a_channel
from hub.api.deps import ActorDep, HubDep
from hub.api.problems import documented
from hub.attachments import Attachment, AttachmentService
from hub.read_audit import record_read

router = APIRouter(prefix="/api/v1/cases", tags=["attachments"])

CaseNumber = Annotated[str, Path(min_length=8, max_length=40, pattern=r"^[0-9A-Za-z-]+$")]
AttachmentId = Annotated[str, Path(min_length=24, max_length=32, pattern=r"^[0-9a-f]+$")]


class AttachmentOut(BaseModel):
    id: str
    case_number: str
    name: str = Field(description="The uploader's file name, made safe, ending in the extension of the sniffed type.")
    media_type: str = Field(
        description="As read from the content (image/jpeg, image/png, application/pdf, image/webp, image/heic, audio/mpeg, audio/wav, audio/amr, audio/mp4)."
    )
    size: int
    sha256: str
    visibility: Literal["public", "internal"] = Field(description="public: the citizen sees it too; internal: the centre and the handlers only.")
    uploaded_by: str = Field(description="The party that uploaded it (citizen@public: a citizen with the retrieval code).")
    uploaded_at: datetime


class PublicAttachment(BaseModel):
    """An attachment as the citizen sees it: no uploader, no checksum."""

    id: str
    name: str
    media_type: str
    size: int
    uploaded_at: datetime


def attachment_out(a: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=a.id,
        case_number=a.case_number,
        name=a.name,
        media_type=a.media_type,
        size=a.size,
        sha256=a.sha256,
        visibility=a.visibility,
        uploaded_by=a.uploaded_by,
        uploaded_at=a.uploaded_at,
    )


def public_out(a: Attachment) -> PublicAttachment:
    return PublicAttachment(id=a.id, name=a.name, media_type=a.media_type, size=a.size, uploaded_at=a.uploaded_at)


def file_response(service: AttachmentService, a: Attachment) -> StreamingResponse:
    """The file as a download: its sniffed type, its safe name (RFC 6266: an ASCII fallback and
    the UTF-8 name), never rendered inline and never re-sniffed by the browser."""
    handle = service.open(a)

    def chunks():
        with handle:
            while chunk := handle.read(64 * 1024):
                yield chunk

    ascii_name = a.name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return StreamingResponse(
        chunks(),
        media_type=a.media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(a.name)}",
            "Content-Length": str(a.size),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file, as a download", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
}
UploadedFile = Annotated[UploadFile, File(description="The photo or document (jpeg, png, pdf, webp, heic; read from the content).")]


@router.post(
    "/{number}/attachments",
    status_code=201,
    response_model=AttachmentOut,
    summary="Attach a photo or document (附件)",
    operation_id="createCaseAttachment",
    responses=documented(
        403,
        404,
        409,
        415,
        d403="The party does not see the case, or does not handle it (a unit: lead or co-unit; a county: for a unit of its own)",
        d409="Not now: the case is archived, or the unit no longer handles it",
        d413="The file is over attachments.max_bytes (errors name `file`)",
        d415="The file's content is not a type taken (errors name `file`)",
    ),
)
def create_attachment(
    hub: HubDep,
    actor: ActorDep,
    number: CaseNumber,
    file: UploadedFile,
    visibility: Annotated[
        Literal["public", "internal"], Form(description="public: the citizen sees it in the lookup; internal (default): the centre and handlers only.")
    ] = "internal",
) -> AttachmentOut:
    _not_a_channel(actor)
    attachment, case = hub.attachments.add(number, file.file, file.filename, visibility, actor)
    record_read(hub.db, actor, case, "POST /api/v1/cases/{number}/attachments", hub.clock.now())  # 保密: audited
    return attachment_out(attachment)


@router.get(
    "/{number}/attachments",
    response_model=list[AttachmentOut],
    summary="A case's attachments",
    operation_id="listCaseAttachments",
    responses=documented(403, 404),
)
def list_attachments(hub: HubDep, actor: ActorDep, number: CaseNumber) -> list[AttachmentOut]:
    _not_a_channel(actor)
    case = hub.cases.get(number, actor)
    record_read(hub.db, actor, case, "GET /api/v1/cases/{number}/attachments", hub.clock.now())  # 保密: audited
    return [attachment_out(a) for a in hub.attachments.list_for(case, actor)]


@router.get(
    "/{number}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="Download an attachment",
    operation_id="getCaseAttachment",
    responses={**FILE_RESPONSE, **documented(403, 404)},
)
def get_attachment(hub: HubDep, actor: ActorDep, number: CaseNumber, attachment_id: AttachmentId) -> StreamingResponse:
    _not_a_channel(actor)
    attachment, case = hub.attachments.for_actor(number, attachment_id, actor)
    record_read(hub.db, actor, case, "GET /api/v1/cases/{number}/attachments/{attachment_id}", hub.clock.now())
    return file_response(hub.attachments, attachment)
