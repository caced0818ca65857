"""Attachments of a case: photos and documents (issue #17, docs/channels.md "Attachments").

The file goes into the store (hub/attachment_store.py) first, durably; then one transaction
adds its row (table `case_attachments`), the case's history line (`attach`) and the event
`case.attachment_added`, as every change of a case. Who may attach is the engine's rule
(Engine.attach); who may read follows the case: whoever sees the case sees its attachments,
a channel and a citizen (with the retrieval code) only the public ones.

Names are the uploader's words and may name a person (张三身份证.jpg): they are kept in the
row only, never in the history, the events, the outbox or a log line.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import quote

from sqlalchemy import BigInteger, Index, String, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.attachment_store import KINDS, AttachmentStore, StoreUnavailable, TooLarge, open_store, sanitise_name
from hub.db.models import Base, BigId, UTCDateTime
from hub.db.repository import CaseRepository
from hub.domain.access import Actor, can_see_case, registrant
from hub.domain.engine import FINISHED
from hub.domain.errors import AccessDenied, CaseNotFound, DomainError, RuleViolation, StaleCase
from hub.domain.model import Case, Role

if TYPE_CHECKING:
    from hub.db.database import Database
    from hub.domain.clock import Clock
    from hub.service import CaseService
    from hub.settings import Settings

log = logging.getLogger("hub.attachments")

Visibility = Literal["public", "internal"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "internal")


def as_visibility(value: str) -> Visibility:
    """A row's visibility as the type it is (the column is a plain string)."""
    if value == "public":
        return "public"
    if value == "internal":
        return "internal"
    raise ValueError(f"attachment visibility {value!r} is neither public nor internal")


class AttachmentRow(Base):
    """One attachment of a case; the file is in the store under its SHA-256 (several rows may
    name one file: the same photo sent twice)."""

    __tablename__ = "case_attachments"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)  # upload order
    id: Mapped[str] = mapped_column(String(32), unique=True)  # random: says nothing of how many there are
    case_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploader_role: Mapped[str] = mapped_column(String(16))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_case_attachments_case", "case_number", "seq"),
        Index("ix_case_attachments_sha256", "sha256"),
    )


# -- refusals, each naming the field (problem+json in hub/api/problems.py) -------------------
class AttachmentRefused(DomainError):
    status = 422
    slug = "validation"
    title = "The request is not valid"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class AttachmentTooLarge(AttachmentRefused):
    status = 413
    slug = "content-too-large"
    title = "Attachment too large"


class UnsupportedAttachment(AttachmentRefused):
    status = 415
    slug = "unsupported-media-type"
    title = "Attachment type not taken"


class AttachmentNotFound(DomainError):
    def __init__(self, number: str, attachment_id: str) -> None:
        super().__init__(f"no attachment {attachment_id} on case {number}")


class AttachmentFileMissing(DomainError):
    def __init__(self, attachment: Attachment) -> None:
        super().__init__(
            f"the file of attachment {attachment.id} is missing from the attachments directory "
            "(restored without its files, or a directory not shared by every hub process)"
        )


@dataclass(frozen=True)
class Attachment:
    id: str
    case_number: str
    name: str
    media_type: str
    size: int
    sha256: str
    visibility: Visibility
    uploaded_by: str
    uploader_role: str
    uploaded_at: datetime

    @classmethod
    def of(cls, row: AttachmentRow) -> Attachment:
        return cls(
            row.id,
            row.case_number,
            row.name,
            row.media_type,
            row.size,
            row.sha256,
            as_visibility(row.visibility),
            row.uploaded_by,
            row.uploader_role,
            row.uploaded_at,
        )


def sees_internal(actor: Actor) -> bool:
    """Internal attachments are the centre's and the handlers' (whoever reads the full case);
    a channel reads its cases as the citizen does."""
    return actor.role is not Role.CHANNEL


class AttachmentService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, cases: CaseService) -> None:
        self.db = db
        self.config = settings.attachments
        self.clock = clock
        self.cases = cases
        self.store: AttachmentStore = open_store(self.config.store, settings.attachments_directory(), self.config.s3)

    # -- adding -------------------------------------------------------------------------------
    def add(self, number: str, source: BinaryIO, name: str | None, visibility: str, actor: Actor, citizen: bool = False) -> tuple[Attachment, Case]:
        """Store the file and record it on the case. `citizen`: sent by the citizen (through a
        channel or with the retrieval code): the smaller size limit, the count per case, public."""
        if visibility not in VISIBILITIES:
            raise AttachmentRefused("visibility", "must be public or internal")
        citizen = citizen or actor.role is Role.CHANNEL
        if citizen and visibility != "public":
            raise AccessDenied("visibility: what a citizen sends is public, never internal")
        with self.db.read() as s:
            case = CaseRepository(s).get(number)
            self._check_citizen(s, case, citizen)
        # Refused before the file is read, where the rules already refuse (a unit's case it does
        # not handle, an archived case): nothing is stored for a request that cannot succeed.
        probe = {"id": "probe", "media_type": "", "size": 0, "visibility": visibility}
        self.cases.engine().attach(case, probe, actor, self.clock.now())
        party_limit = self.config.citizen_max_bytes if citizen else self.config.max_bytes
        try:
            stored = self.store.put(source, lambda media_type: self.limit_for(media_type, party_limit), frozenset(self.config.allowed_types))
        except TooLarge as exc:
            raise AttachmentTooLarge("file", f"larger than {exc.limit} bytes, the most taken here for this kind of file") from None
        if not stored.kept:
            said = stored.media_type or "not one the hub recognises by its content"
            raise UnsupportedAttachment("file", f"type {said}; taken: {', '.join(self.config.allowed_types)} (read from the content, not the name)")
        if stored.size == 0:
            raise AttachmentRefused("file", "is empty")
        assert stored.media_type is not None
        row_name = sanitise_name(name, stored.media_type)
        for attempt in range(3):
            attachment_id = secrets.token_hex(12)
            meta = {
                "id": attachment_id,
                "media_type": stored.media_type,
                "size": stored.size,
                "visibility": visibility,
                "sha256": stored.sha256,
                "url": f"/api/v1/cases/{quote(number, safe='')}/attachments/{attachment_id}",  # the peers' reference: read with their own key
            }

            def add_row(s: Session, current: Case, attachment_id: str = attachment_id) -> None:
                self._check_citizen(s, current, citizen)
                s.add(
                    AttachmentRow(
                        id=attachment_id,
                        case_number=number,
                        name=row_name,
                        media_type=stored.media_type,
                        size=stored.size,
                        sha256=stored.sha256,
                        visibility=visibility,
                        uploaded_by=actor.party,
                        uploader_role=actor.role.value,
                        uploaded_at=self.clock.now(),
                    )
                )

            try:
                case = self.cases.attach(number, meta, actor, add_row)
            except StaleCase:
                if attempt == 2:
                    raise
                continue  # another change of the case won the version: attaching does not depend on it
            with self.db.read() as s:
                row = self._row(s, attachment_id)
            if row is None:  # written in the case's own transaction just above
                raise AssertionError(f"attachment {attachment_id} not found after attaching it")
            return Attachment.of(row), case
        raise AssertionError("unreachable")

    def limit_for(self, media_type: str | None, party_limit: int) -> int:
        """The most bytes taken: the party's limit, and below it the limit of the content's kind
        (attachments.kind_max_bytes); content of no known kind is refused by type anyway."""
        kind = KINDS.get(media_type or "")
        kind_limit = self.config.kind_max_bytes.get(kind) if kind else None
        return min(party_limit, kind_limit) if kind_limit is not None else party_limit

    def _check_citizen(self, s: Session, case: Case, citizen: bool) -> None:
        if not citizen:
            return
        if case.state in FINISHED:
            raise RuleViolation(f"case {case.number} is {case.state.value}: the citizen adds no more files")
        count = s.execute(
            select(func.count())
            .select_from(AttachmentRow)
            .where(
                AttachmentRow.case_number == case.number, or_(AttachmentRow.uploader_role == Role.CHANNEL.value, AttachmentRow.uploaded_by.like("citizen@%"))
            )
        ).scalar_one()
        if count >= self.config.citizen_max_per_case:
            raise RuleViolation(f"case {case.number} has {count} files from the citizen, the most taken ({self.config.citizen_max_per_case})")

    # -- reading ------------------------------------------------------------------------------
    def list_for(self, case: Case, actor: Actor) -> list[Attachment]:
        """The case's attachments this actor may see: the caller has checked it sees the case."""
        return self._rows(case.number, public_only=not sees_internal(actor))

    def list_public(self, number: str) -> list[Attachment]:
        return self._rows(number, public_only=True)

    def _rows(self, number: str, public_only: bool) -> list[Attachment]:
        query = select(AttachmentRow).where(AttachmentRow.case_number == number)
        if public_only:
            query = query.where(AttachmentRow.visibility == "public")
        with self.db.read() as s:
            return [Attachment.of(r) for r in s.execute(query.order_by(AttachmentRow.seq)).scalars()]

    def one(self, number: str, attachment_id: str, public_only: bool) -> Attachment:
        with self.db.read() as s:
            row = self._row(s, attachment_id)
            if row is None or row.case_number != number or (public_only and row.visibility != "public"):
                raise AttachmentNotFound(number, attachment_id)
            return Attachment.of(row)

    @staticmethod
    def _row(s: Session, attachment_id: str) -> AttachmentRow | None:
        return s.execute(select(AttachmentRow).where(AttachmentRow.id == attachment_id)).scalar_one_or_none()

    def for_actor(self, number: str, attachment_id: str, actor: Actor) -> tuple[Attachment, Case]:
        """One attachment through a party's key: the case's access rules, a channel only its own
        case's public files."""
        case = self.cases.get_any(number)
        if actor.role is Role.CHANNEL:
            if registrant(case) != (actor.party, Role.CHANNEL):
                raise CaseNotFound(number)
        elif not can_see_case(actor, case):
            raise AccessDenied(f"case {case.number} is not visible to party '{actor.party}'")
        return self.one(number, attachment_id, public_only=not sees_internal(actor)), case

    def open(self, attachment: Attachment) -> BinaryIO:
        try:
            return self.store.open(attachment.sha256)
        except FileNotFoundError:
            # The row is there, its file is not: a restore without the backup's files, a
            # directory not shared by every process. Said plainly (id and checksum, no name).
            log.warning("attachment %s of case %s: file %s missing from %s", attachment.id, attachment.case_number, attachment.sha256, self.store.location)
            raise AttachmentFileMissing(attachment) from None

    # -- erasure and cleanup (records/: retention, privacy) -----------------------------------------
    def erase_rows(self, s: Session, number: str) -> list[str]:
        """Delete the case's rows inside the caller's transaction; the SHA-256s they named, whose
        files `delete_unnamed` removes after the commit."""
        shas = list(s.execute(select(AttachmentRow.sha256).where(AttachmentRow.case_number == number)).scalars())
        s.execute(delete(AttachmentRow).where(AttachmentRow.case_number == number))
        return shas

    def delete_unnamed(self, shas: list[str]) -> int:
        """Delete the files no row names any more (another case may hold the same photo). With
        the store unavailable the files stay, named by no row: `hotline-hub attachments orphans
        --delete` removes them later (the erasure of the rows has committed either way)."""
        deleted = 0
        with self.db.read() as s:
            named = set(s.execute(select(AttachmentRow.sha256).where(AttachmentRow.sha256.in_(set(shas)))).scalars()) if shas else set()
        for sha in sorted(set(shas) - named):
            try:
                deleted += self.store.delete(sha)
            except StoreUnavailable as exc:
                log.warning("attachments: file %s not deleted now (%s); `hotline-hub attachments orphans --delete` removes it later", sha, exc)
        return deleted

    def orphans(self, now: datetime | None = None, dry_run: bool = False, unnamed: bool = False) -> list[str]:
        """Leftovers older than `orphan_minutes`, deleted unless `dry_run`: files cut short in
        tmp/ by a crash mid-write (never named by any row: always safe to delete), and with
        `unnamed` also stored files no row of this database names (an upload whose transaction
        failed). Those are harmless where they are (a later upload of the same content reuses
        the file), and deleting them is safe only when no other database shares the directory,
        so only `hotline-hub attachments orphans --delete` asks for them. File ages are the file
        system's (wall clock), so `now` defaults to it, not to the hub's clock."""
        if not unnamed and not self.store.leaves_leftovers:
            return []  # a bucket has no half-written uploads: the daily pass does not list it
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(minutes=self.config.orphan_minutes)
        old = [name for name, at in self.store.files() if at <= cutoff and (unnamed or name.startswith("tmp/"))]
        if not old:
            return []
        with self.db.read() as s:
            named = set(s.execute(select(AttachmentRow.sha256).distinct()).scalars())
        found = [name for name in old if name not in named]
        if not dry_run:
            for name in found:
                self.store.delete_leftover(name)
            if found:
                log.info("attachments: %d orphan files deleted", len(found))
        return found
