"""The dependency rule of docs/architecture.md, read from the imports of the tree (with `ast`,
every import, at module level or inside a function):

- hub/domain imports no framework: no web, database, wire or metrics library. It does use
  pydantic (the case model validates itself) and chinesecalendar (the official calendar is
  data for the deadlines); those two are allowed by name.
- the core (hub/) imports no feature and no adapter.
- a feature imports the core, and another feature only through the edges listed below, each
  a declared handle or a named shared piece.
- imports sit at the top of their module, so the dependency graph is what a reader sees; the
  few inside a function are listed below, each with its reason in a comment beside it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_ROOTS = ["outbox", "knowledge", "supervision", "records", "sandbox", "integration_kit", "adapters", "channels", "console"]

DOMAIN_MAY_IMPORT = {
    "__future__",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "re",
    "threading",
    "typing",
    "zoneinfo",
    "hub",
    "pydantic",
    "chinese_calendar",
    "abc",
    "functools",
    "itertools",
    "math",
    "decimal",
    "uuid",
    "hashlib",
    "json",
}

# (importing package, imported module or package): why the edge is allowed.
ALLOWED_EDGES = {
    ("knowledge", "outbox.feature"): "OutboxHandle: knowledge sharing enqueues through the outbox's handle",
    ("supervision", "records.retention"): "RetentionWorker handle: the scheduler command runs the retention pass",
    ("sandbox", "adapters.province.handle"): "ProvincePollers handle: the sandbox resets the province cursor",
    ("sandbox", "console.accounts"): "Accounts handle: the sandbox creates its demo operator accounts",
    ("sandbox", "integration_kit.peer_routes"): "kit_routes: the webhook sink mounts the kit's /_kit routes, as the adapters' sandbox peers do",
    ("channels", "outbox.feature"): "OutboxHandle: the retrieval-code SMS are written through the outbox's writer",
    ("channels", "outbox.store"): "OutboxWriter, the type of that handle's writer",
    ("channels", "adapters.sms"): "the SMS adapter's seal (the channel seals what the adapter opens at the gateway) "
    "and its sandbox gateway for `hotline-hub sandbox`",
    ("console", "supervision.service"): "Supervision handle: the board and assessment pages read through it",
    ("console", "supervision.assessment"): "Period, Assessment, RATES and COUNTS: the assessment's vocabulary the pages show",
    ("console", "supervision.export"): "to_xlsx: the assessment page downloads the API's own XLSX, not a second one",
    ("console", "outbox.feature"): "OutboxHandle: whether the outbox is installed, for the workbench tiles",
    ("console", "outbox.admin"): "the operators' outbox operations the API and the CLI use (backlog, dead letters, replay, skip)",
    ("console", "knowledge.handle"): "Knowledge handle: the knowledge pages and the intake's suggestions read through it",
    ("console", "knowledge.search"): "SearchQuery and Hit, the store's search vocabulary",
    ("console", "knowledge.store"): "ArticleNotFound, StaleArticle, InvalidField: the store's refusals the writing and review pages show",
    ("console", "knowledge.review"): "allowed, check_may_edit, may_see_drafts, ReviewAction: the one review table and rules, not a copy",
    ("console", "knowledge.model"): "ArticleInput, ArticleContent, ArticleKind, ArticleVersion: what the writing form validates into",
    ("channels", "adapters.wechat"): "the openid mask the WeChat adapter logs with, its media fetch for a follower's pictures, "
    "and the sandbox WeChat API and follower for `hotline-hub sandbox`",
    ("adapters.wechat", "adapters.sms"): "the SMS seal, which the WeChat template messages are sealed with too",
    ("console", "channels.service"): "ChannelService handle: an agent reissues a retrieval code by SMS from the case page",
    ("records", "outbox.feature"): "OutboxHandle.kept_messages: the subject-access export lists the outbox messages kept about a person",
    ("records", "channels.wechat_dialogue_store"): "DialogueStore handle: retention prunes expired WeChat dialogues, the export lists a follower's",
    # Shared pieces an adapter builds on: the kit's mapping-table vocabulary (the adapter
    # contract's optional extension), the sandbox's helpers for its sandbox peers, and the
    # shared SOAP/HTTP modules of adapters/.
    ("adapters.*", "integration_kit"): "MappingTable and the kit's peer control, the adapter extension's vocabulary",
    ("adapters.*", "sandbox.run"): "run_stamp and the sandbox keys, for the adapters' sandbox peers",
    ("adapters.*", "adapters.soap"): "the shared SOAP client pieces",
    ("adapters.*", "adapters.http"): "the shared HTTP sending and answer sorting of every httpx wire",
    ("adapters.*", "adapters.soap_peer"): "the shared SOAP sandbox peer",
}


# Imports inside a function ("file:module", as _imports names them), each kept there for the
# reason a comment on its line (or the line above) gives: a cycle, an optional dependency or a
# start-up cost. A new one is moved to the top of its module, or listed here with its reason.
FUNCTION_LEVEL_IMPORTS = {
    "outbox/admin.py:outbox.feature.OutboxHandle": "cycle: outbox.feature imports outbox.admin",
    "outbox/worker.py:psycopg": "start-up cost: the PostgreSQL driver, only for a hub on PostgreSQL",
    "knowledge/segment.py:jieba": "start-up cost: jieba, only once a search or an index needs words",
    "adapters/legacy_hotlines/importing/readers.py:openpyxl.load_workbook": "start-up cost: openpyxl, only for XLSX",
    "console/feature.py:console.intake": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "console/feature.py:console.web": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "console/feature.py:console.casework": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "console/feature.py:console.kb": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "console/feature.py:console.oversight": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "console/feature.py:console.outbox_pages": "start-up cost: jinja2 and the templates, only for a hub that serves pages",
    "hub/attachment_store.py:hub.attachment_s3.S3Store": "optional dependency: boto3 (the extra `s3`), only for attachments.store: s3",
}
CODE_ROOTS = ["hub", *FEATURE_ROOTS, "tools"]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "adapters" and len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from adapters import soap` is the module adapters.soap; `from x.y import name`
            # reads as x.y.name, which still starts with x.y
            found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            found.append((node.lineno, "<importlib.import_module>"))
    return found


def _files(root: str) -> list[Path]:
    return sorted(p for p in (ROOT / root).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_domain_imports_no_framework() -> None:
    wrong = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for p in _files("hub/domain")
        for line, module in _imports(p)
        if module.split(".")[0] not in DOMAIN_MAY_IMPORT
    ]
    assert wrong == []


def test_the_core_imports_no_feature_and_no_adapter() -> None:
    wrong = [
        f"{p.relative_to(ROOT)}:{line} imports {module}"
        for p in _files("hub")
        for line, module in _imports(p)
        if module.split(".")[0] in FEATURE_ROOTS or module == "<importlib.import_module>"
    ]
    assert wrong == []


def _allowed(importer: str, module: str) -> bool:
    for who, what in ALLOWED_EDGES:
        who_matches = who == importer or (who == "adapters.*" and importer.startswith("adapters."))
        if who_matches and (module == what or module.startswith(what + ".")):
            return True
    return False


def test_features_import_each_other_only_through_the_listed_edges() -> None:
    wrong = []
    for root in FEATURE_ROOTS:
        for p in _files(root):
            parts = p.relative_to(ROOT).with_suffix("").parts
            importer = _package(".".join(parts))
            for line, module in _imports(p):
                if module == "<importlib.import_module>":
                    wrong.append(f"{p.relative_to(ROOT)}:{line} imports by name (importlib)")
                    continue
                other = _package(module)
                if other == importer or module.split(".")[0] not in FEATURE_ROOTS:
                    continue
                if importer == "adapters.__init__" or not _allowed(importer, module):
                    wrong.append(f"{p.relative_to(ROOT)}:{line}: {importer} imports {module}")
    assert wrong == []


def test_every_listed_edge_is_still_used() -> None:
    """An edge nobody takes any more comes off the list (and out of docs/architecture.md)."""
    used = set()
    for root in FEATURE_ROOTS:
        for p in _files(root):
            importer = _package(".".join(p.relative_to(ROOT).with_suffix("").parts))
            for _, module in _imports(p):
                for who, what in ALLOWED_EDGES:
                    who_matches = who == importer or (who == "adapters.*" and importer.startswith("adapters."))
                    if who_matches and (module == what or module.startswith(what + ".")) and _package(module) != importer:
                        used.add((who, what))
    assert set(ALLOWED_EDGES) - used == set()


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    found = set()
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    found.update((node.lineno, f"{node.module}.{a.name}") for a in node.names)
                elif isinstance(node, ast.Import):
                    found.update((node.lineno, a.name) for a in node.names)
    return sorted(found)


def test_imports_inside_functions_are_only_the_listed_ones_each_with_its_reason() -> None:
    found, silent = set(), []
    for root in CODE_ROOTS:
        for p in _files(root):
            lines = p.read_text(encoding="utf-8").splitlines()
            for line, module in _function_level_imports(p):
                found.add(f"{p.relative_to(ROOT).as_posix()}:{module}")
                if "#" not in lines[line - 1] and not lines[line - 2].strip().startswith("#"):
                    silent.append(f"{p.relative_to(ROOT)}:{line} imports {module} with no comment saying why")
    assert sorted(found - set(FUNCTION_LEVEL_IMPORTS)) == [], "move these to the top of the module, or list them"
    assert sorted(set(FUNCTION_LEVEL_IMPORTS) - found) == [], "listed but no longer inside a function: unlist"
    assert silent == []
