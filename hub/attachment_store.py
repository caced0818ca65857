"""Where attachment files live: behind the `AttachmentStore` interface, chosen by the setting
`attachments.store` (`open_store`): `directory`, a directory content-addressed by SHA-256
(`ab/cd/<sha256>`), the default; or `s3`, a bucket of S3-compatible object storage
(hub/attachment_s3.py, the optional extra `s3`), keyed `<prefix><sha256>`.

A file is written to a temporary name in the same directory tree, flushed and fsynced, then
renamed into place (and the directory fsynced), all before the database row that names it
commits: a crash leaves either no file, or a file no row names. Such an orphan is harmless
(nothing serves a file without its row) and the retention pass deletes it (`orphans`).

The same content uploaded twice is one file; a file is deleted only when no row names it.
The type is sniffed from the first bytes: the name and the client's Content-Type are not
trusted (a `.jpg` that is an HTML page is refused).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal, Protocol

from hub.domain.errors import DomainError

if TYPE_CHECKING:
    from hub.settings import S3StoreSettings

CHUNK = 64 * 1024
SNIFF_BYTES = 16
# ISO base media brands of HEIF still images (an iPhone's photos).
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# ISO base media brands of audio-only MPEG-4 (.m4a, what phones and call recorders write).
_M4A_BRANDS = {b"M4A ", b"M4B "}
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "application/pdf": ".pdf",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/amr": ".amr",
    "audio/mp4": ".m4a",
}
Kind = Literal["image", "document", "audio"]
KINDS: dict[str, Kind] = {
    "image/jpeg": "image",
    "image/png": "image",
    "image/webp": "image",
    "image/heic": "image",
    "application/pdf": "document",
    "audio/mpeg": "audio",
    "audio/wav": "audio",
    "audio/amr": "audio",
    "audio/mp4": "audio",
}


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header (an MP3 without an ID3 tag): 11 sync bits, a version that is
    not the reserved one, layer III, a bitrate index that is not the forbidden 1111."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    return head[1] & 0x18 != 0x08 and head[1] & 0x06 == 0x02 and head[2] & 0xF0 != 0xF0


def sniff(head: bytes) -> str | None:
    """The media type the content's first bytes say, among those the hub knows; None otherwise."""
    if head.startswith(b"ID3") or _mpeg_audio_frame(head):
        return "audio/mpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"#!AMR"):  # AMR-NB "#!AMR\n", AMR-WB "#!AMR-WB\n" (RFC 4867)
        return "audio/amr"
    if head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS:
        return "audio/mp4"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return "image/heic"
    return None


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def sanitise_name(name: str | None, media_type: str) -> str:
    """A file name safe to store and to send back in Content-Disposition: the last path
    part only, no control or path characters, no leading dots, at most 120 characters,
    ending in the extension of the sniffed type (so a download opens as what it is)."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE.sub("_", base).strip().lstrip(".").strip()
    ext = EXTENSIONS[media_type]
    stem = base[: -len(Path(base).suffix)] if Path(base).suffix else base
    stem = stem.strip()[:100] or "附件"
    return stem + ext


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    media_type: str | None  # as sniffed; None: not a type the hub knows
    location: str  # where the file is (or would be): a path, or s3://bucket/key
    kept: bool = True


class StoreUnavailable(DomainError):
    """The store cannot be reached or refuses the hub (object storage down, its bucket missing,
    the hub's credentials refused): not the caller's fault, and worth a retry later (503)."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(f"the attachment store is unavailable: {reason}")
        self.retry_after = retry_after


StoreName = Literal["directory", "s3"]
LimitFor = Callable[[str | None], int]  # the most bytes taken for content of this sniffed type


class AttachmentStore(Protocol):
    """Where the files are kept, by SHA-256. `put` is durable when it returns (before the row
    that names the file commits); `open` raises FileNotFoundError for a file that is not there."""

    @property
    def location(self) -> str: ...  # named in log lines: the directory, or s3://bucket/prefix

    @property
    def leaves_leftovers(self) -> bool: ...  # whether a crash mid-upload can leave a partial file (tmp/)

    def put(self, source: BinaryIO, limit: int | LimitFor, allowed: frozenset[str]) -> Stored: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> bool: ...

    def files(self) -> Iterator[tuple[str, datetime]]: ...

    def delete_leftover(self, name: str) -> None: ...


def open_store(kind: StoreName, directory: Path, s3: S3StoreSettings | None = None) -> AttachmentStore:
    """The store the setting `attachments.store` names."""
    if kind == "directory":
        return DirectoryStore(directory)
    if kind == "s3":
        if s3 is None:
            raise ValueError("attachments.store: 's3' needs attachments.s3 (the bucket, and where it is)")
        # boto3 is the optional extra `s3`: only a hub that keeps its files in a bucket needs it
        from hub.attachment_s3 import S3Store

        return S3Store(s3)
    raise ValueError(f"attachments.store: {kind!r} is not built (only 'directory' and 's3')")


def copy_within(source: BinaryIO, out: BinaryIO, limit: int | LimitFor) -> tuple[str, int, bytes]:
    """Copy `source` to `out` (TooLarge past the limit): the SHA-256 (hex), the size and the first
    bytes. `limit`: bytes, or a function of the sniffed type, asked once the first bytes are in."""
    limit_for = limit if callable(limit) else None
    bound = limit if isinstance(limit, int) else None
    digest = hashlib.sha256()
    size = 0
    head = b""
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        if bound is None and limit_for is not None and len(head) >= SNIFF_BYTES:
            bound = limit_for(sniff(head))
        if bound is not None and size > bound:
            raise TooLarge(bound)
        digest.update(chunk)
        out.write(chunk)
    if bound is None and limit_for is not None and size > limit_for(sniff(head)):  # under SNIFF_BYTES in all
        raise TooLarge(limit_for(sniff(head)))
    return digest.hexdigest(), size, head


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    @property
    def leaves_leftovers(self) -> bool:
        return True  # tmp/upload-* cut short by a crash

    def path_of(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put(self, source: BinaryIO, limit: int | LimitFor, allowed: frozenset[str]) -> Stored:
        """Copy `source` into the store (TooLarge past the limit, nothing kept). The file
        is in place, durably, when this returns; the caller names it in a row afterwards.
        `limit`: bytes, or a function of the sniffed type (a limit per kind), asked once the
        first bytes are in. Content of a type not in `allowed` is not kept: media_type None, or
        the sniffed type with nothing stored (the caller refuses both)."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha, size, head = copy_within(source, out, limit)
                out.flush()
                os.fsync(out.fileno())
            media_type = sniff(head)
            if media_type is None or media_type not in allowed:
                tmp.unlink(missing_ok=True)
                return Stored(sha, size, media_type, str(self.path_of(sha)), kept=False)
            final = self.path_of(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.is_file():
                tmp.unlink(missing_ok=True)  # the same content is there already
            else:
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return Stored(sha, size, media_type, str(final))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> BinaryIO:
        return self.path_of(sha256).open("rb")

    def delete(self, sha256: str) -> bool:
        path = self.path_of(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def files(self) -> Iterator[tuple[str, datetime]]:
        """(sha256, modified at) of every stored file, and of upload leftovers in tmp/ as ("tmp/<name>", at)."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*/*"):
            if path.is_file() and re.fullmatch(r"[0-9a-f]{64}", path.name):
                yield path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC)
        tmp_dir = self.root / "tmp"
        if tmp_dir.is_dir():
            for path in tmp_dir.iterdir():
                if path.is_file():
                    yield f"tmp/{path.name}", datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def delete_leftover(self, name: str) -> None:
        if name.startswith("tmp/"):
            (self.root / "tmp" / name[4:]).unlink(missing_ok=True)
        else:
            self.delete(name)


def _fsync_dir(directory: Path) -> None:
    """The rename itself survives power loss only once the directory is synced (POSIX)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows): the rename is what it is
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
