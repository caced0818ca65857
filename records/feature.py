"""The records feature: `backup`, `restore`, `retention run` and the retention worker."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hub.attachment_store import StoreUnavailable
from hub.cli import print_json
from hub.domain.model import normalise_phone
from hub.features import FeatureBase, HubOpener
from hub.read_audit import list_reads
from hub.settings import Settings, default_attachments_directory
from records.backup import BackupError, backup, restore
from records.privacy import OPENID, subject_access, subject_access_wechat
from records.retention import Retention, RetentionWorker

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature(FeatureBase):
    name = "records"
    order = 80

    def install(self, hub: Hub) -> None:
        worker = RetentionWorker(hub)
        hub.workers.append(worker)
        hub.handles.add(worker)  # the scheduler command runs it too (supervision)

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        b = sub.add_parser("backup", help="copy the SQLite database, consistent while the hub runs, into DIR")
        b.add_argument("dir", nargs="?", help="directory for the backup file (created if missing); default: the setting backups_dir (<HUB_DATA_DIR>/backups)")
        b.set_defaults(func=_cmd_backup)
        r = sub.add_parser("restore", help="restore a backup file into the configured database (or --to)")
        r.add_argument("file", help="a file written by `hotline-hub backup`")
        r.add_argument("--to", help="a database file to restore into instead of the configured one")
        r.add_argument("--force", action="store_true", help="overwrite an existing database (stop the hub first)")
        r.set_defaults(func=_cmd_restore)
        ret = sub.add_parser("retention", help="erase personal data of cases archived long enough").add_subparsers(dest="retention_command", required=True)
        run = ret.add_parser("run", help="one retention pass now")
        run.add_argument("--dry-run", action="store_true", help="list the cases that would be erased; change nothing")
        run.add_argument("--json", action="store_true", help="as one JSON object (the cases erased, or due on a dry run)")
        run.set_defaults(func=partial(_cmd_retention_run, hubs=hubs))
        at = sub.add_parser("attachments", help="attachment files (附件) in the attachments directory").add_subparsers(
            dest="attachments_command", required=True
        )
        orph = at.add_parser("orphans", help="list files no attachment row names (an upload whose transaction failed)")
        orph.add_argument("--delete", action="store_true", help="delete them (only where no other database shares the directory)")
        orph.add_argument("--json", action="store_true", help="as a JSON array of SHA-256s")
        orph.set_defaults(func=partial(_cmd_attachment_orphans, hubs=hubs))
        pv = sub.add_parser("privacy", help="personal data on request (个人信息保护法)").add_subparsers(dest="privacy_command", required=True)
        ex = pv.add_parser("export", help="everything the hub holds about one phone number or WeChat follower, as JSON (subject access)")
        who = ex.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone")
        who.add_argument("--wechat-openid", help="a WeChat follower's openid: the cases they filed on the official account")
        ex.add_argument("--out", required=True, help="file to write")
        ex.set_defaults(func=partial(_cmd_privacy_export, hubs=hubs))
        rd = pv.add_parser("reads", help="who read confidential (保密) cases through the API, oldest first")
        rd.add_argument("--case", help="one case number")
        rd.add_argument("--party", help="one party")
        rd.add_argument("--limit", type=int, default=1000)
        rd.add_argument("--json", action="store_true", help="one JSON array instead of lines")
        rd.set_defaults(func=partial(_cmd_privacy_reads, hubs=hubs))


def _cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings()
    in_bucket = settings.attachments.store == "s3"  # the bucket's own versioning or replication keeps its files
    try:
        files = None if in_bucket else settings.attachments_directory()
        result = backup(settings.database_url, Path(args.dir) if args.dir else settings.backups_dir, datetime.now(UTC), files)
    except BackupError as exc:
        print(f"hotline-hub backup: {exc}", file=sys.stderr)
        return 1
    where = (
        "attachment files left in the bucket (back it up with the store's own tools)"
        if in_bucket
        else (f"{result.files} new attachment files in {result.path.name.removesuffix('.db')}.attachments")
    )
    print(f"wrote {result.path} ({result.cases} cases, migration {result.migration}; {where})")
    return 0


def _cmd_restore(args: argparse.Namespace) -> int:
    settings = Settings()
    url = f"sqlite:///{Path(args.to).resolve()}" if args.to else settings.database_url
    try:
        files = settings.attachments.directory or default_attachments_directory(url, settings.data_dir)  # beside the restored file
        result = restore(Path(args.file), url, force=args.force, attachments=files)
    except BackupError as exc:
        print(f"hotline-hub restore: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {result.cases} cases into {result.path} (migration {result.migration}; "
        f"{result.files} attachment files put back in {files}); "
        "start the hub on it: undelivered outbox messages are sent from where the backup left them"
    )
    return 0


def _cmd_retention_run(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        years = hub.settings.retention.archived_years
        if args.dry_run:
            result = Retention(hub).run(dry_run=True)
            if args.json:
                print_json({"dry_run": True, "archived_years": years} | dataclasses.asdict(result))
                return 0
            print(f"{len(result.erased)} archived cases are past {years} years and hold personal data (dry run: nothing changed)")
        else:
            worker = hub.handles.get(RetentionWorker)
            try:
                result = worker.run_once()
            finally:
                worker.lease.release()
            if args.json:
                print_json({"dry_run": False, "archived_years": years} | dataclasses.asdict(result))
                return 0
            if not result.leased:
                print("another retention pass holds the lease; nothing done")
                return 0
            print(
                f"personal data erased from {len(result.erased)} archived cases (retention {years} years)"
                + (f", {len(result.skipped)} changed meanwhile (next pass)" if result.skipped else "")
            )
        for number in result.erased:
            print(f"  {number}")
        return 0


def _cmd_attachment_orphans(args: argparse.Namespace, hubs: HubOpener) -> int:
    try:
        with hubs() as hub:
            found = hub.attachments.orphans(dry_run=not args.delete, unnamed=True)
    except StoreUnavailable as exc:
        print(f"hotline-hub attachments orphans: {exc}; try again once it is back", file=sys.stderr)
        return 1
    # SHA-256s only: a file's name is in its row, and an orphan has none.
    if args.json:
        print_json(found)
        return 0
    print(f"{len(found)} orphan files in {hub.attachments.store.location}" + (" deleted" if args.delete else " (--delete deletes them)"))
    for name in found:
        print(f"  {name}")
    return 0


def _cmd_privacy_export(args: argparse.Namespace, hubs: HubOpener) -> int:
    try:
        if args.phone is not None:
            normalise_phone(args.phone)
        elif not OPENID.fullmatch(args.wechat_openid):
            raise ValueError("not a WeChat openid (8 to 64 letters, digits, - and _)")
    except ValueError as exc:
        print(f"hotline-hub privacy export: --{'phone' if args.phone is not None else 'wechat-openid'}: {exc}", file=sys.stderr)
        return 2
    with hubs() as hub:
        body = subject_access(hub, args.phone) if args.phone is not None else subject_access_wechat(hub, args.wechat_openid)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
    # The number itself is personal data: the console names only the count and the file.
    print(f"wrote {out}: {len(body['cases'])} cases")
    return 0


def _cmd_privacy_reads(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        reads = list_reads(hub.db, args.case, args.party, args.limit)
    if args.json:
        print(json.dumps([r.__dict__ | {"at": r.at.isoformat()} for r in reads], ensure_ascii=False, indent=2))
        return 0
    for r in reads:
        print(f"{r.at:%Y-%m-%dT%H:%M:%SZ}  {r.case_number}  {r.party:<20} {r.role:<10} {r.route}")
    return 0


feature = _Feature()
