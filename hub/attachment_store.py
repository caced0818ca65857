"""Where attachment files live: a directory, content-addressed by SHA-256 (`ab/cd/<sha256>`).

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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024
SNIFF_BYTES = 16
# ISO base media brands of HEIF still images (an iPhone's photos).
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf", "image/webp": ".webp",
              "image/heic": ".heic"}


def sniff(head: bytes) -> str | None:
    """The media type the content's first bytes say, among those the hub knows; None otherwise."""
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
    path: Path
    kept: bool = True


class DirectoryStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put(self, source: BinaryIO, limit: int, allowed: frozenset[str]) -> Stored:
        """Copy `source` into the store (TooLarge past `limit` bytes, nothing kept). The file
        is in place, durably, when this returns; the caller names it in a row afterwards.
        Content of a type not in `allowed` is not kept: media_type None, or the sniffed type
        with nothing stored (the caller refuses both)."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        head = b""
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(limit)
                    if len(head) < SNIFF_BYTES:
                        head += chunk[: SNIFF_BYTES - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            media_type = sniff(head)
            if media_type is None or media_type not in allowed:
                tmp.unlink(missing_ok=True)
                return Stored(sha, size, media_type, self.path_of(sha), kept=False)
            final = self.path_of(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.is_file():
                tmp.unlink(missing_ok=True)  # the same content is there already
            else:
                os.replace(tmp, final)
                _fsync_dir(final.parent)
            return Stored(sha, size, media_type, final)
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
                yield path.name, datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
        tmp_dir = self.root / "tmp"
        if tmp_dir.is_dir():
            for path in tmp_dir.iterdir():
                if path.is_file():
                    yield f"tmp/{path.name}", datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)

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
