"""The knowledge feature: the store and search, the answer check inside the case
transaction, the API, and `hotline-hub knowledge import|reindex|search`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from hub.cli import print_json
from hub.domain.access import SYSTEM_ACTOR
from hub.features import FeatureBase, HubOpener
from hub.mappings import load_yaml_model
from knowledge import tables  # noqa: F401  (registers the tables)
from knowledge.answer import KnowledgeAnswers
from knowledge.api import case_router, router
from knowledge.handle import Knowledge
from knowledge.importer import ImportFormatError, load_file, run_import
from knowledge.search import SearchQuery
from knowledge.segment import segmenter_for
from knowledge.sharing import SHARING_FILE, Sharing, SharingConfig, destinations_for
from knowledge.store import KnowledgeStore
from outbox.feature import OutboxHandle

if TYPE_CHECKING:
    from hub.container import Hub


class _Feature(FeatureBase):
    name = "knowledge"
    order = 50

    def install(self, hub: Hub) -> None:
        directory = hub.settings.mappings_dir / "knowledge"
        segmenter = segmenter_for(directory)  # a bad dictionary or lexicon stops the start here
        config = load_yaml_model(directory / SHARING_FILE, SharingConfig)
        # Through the outbox's handle (installed before: order 10): without the outbox the
        # changes stay in kb_changes only, as before.
        outbox = hub.handles.find(OutboxHandle)
        sharing = Sharing(destinations_for(config, hub.settings.destinations), outbox.enqueue if outbox is not None else None)
        store = KnowledgeStore(hub.db, hub.clock, hub.catalogue, segmenter, sharing)
        answers = KnowledgeAnswers(store, hub.cases)
        hub.cases.sinks.append(answers.sink)
        hub.routers.append(router)
        hub.routers.append(case_router)
        hub.handles.add(Knowledge(store, answers))

    def add_cli(self, sub: argparse._SubParsersAction[argparse.ArgumentParser], hubs: HubOpener) -> None:
        p = sub.add_parser("knowledge", help="knowledge base: import articles, rebuild the index, search")
        ksub = p.add_subparsers(dest="knowledge_cmd", required=True)
        imp = ksub.add_parser("import", help="import articles from JSON, CSV or Markdown files (as the hub itself)")
        imp.add_argument("files", nargs="+", metavar="FILE")
        imp.add_argument("--publish", action="store_true", help="also review and publish what was imported (initial load)")
        imp.set_defaults(func=partial(_cmd_import, hubs=hubs))
        rx = ksub.add_parser("reindex", help="segment the published articles again (after a dictionary change)")
        rx.set_defaults(func=partial(_cmd_reindex, hubs=hubs))
        se = ksub.add_parser("search", help="search the published articles")
        se.add_argument("query")
        se.add_argument("--limit", type=int, default=5)
        se.add_argument("--json", action="store_true", help="as a JSON array, best first")
        se.set_defaults(func=partial(_cmd_search, hubs=hubs))


def _cmd_import(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        items = []
        for name in args.files:
            try:
                items.extend(load_file(Path(name)))
            except (ImportFormatError, OSError) as exc:
                print(f"refused {name}: {exc}", file=sys.stderr)
                return 2  # unusable input (hub.cli exit codes); nothing imported
        report = run_import(hub.handles.get(Knowledge).store, items, SYSTEM_ACTOR, publish=args.publish)
        print(
            f"created {len(report.created)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
            f"published {len(report.published)}, refused {len(report.refused)}"
        )
        for r in report.refused:
            print(f"  refused {r['item']}: {r['field']}: {r['reason']}")
        return 1 if report.refused else 0


def _cmd_reindex(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        print(f"reindexed {hub.handles.get(Knowledge).store.reindex()} published articles")
        return 0


def _cmd_search(args: argparse.Namespace, hubs: HubOpener) -> int:
    with hubs() as hub:
        store = hub.handles.get(Knowledge).store
        hits = store.search(SearchQuery(text=args.query, valid_on=store.today(), limit=args.limit))
        if args.json:
            print_json([{"citation": hit.citation} | dataclasses.asdict(hit) for hit in hits])
            return 0
        for hit in hits:
            print(f"{hit.citation:<24} {hit.score:8.3f}  {hit.title}")
        return 0


feature = _Feature()
