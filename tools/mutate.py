"""A small mutation tester for the domain rules (`make mutation`; kept out of `make test`).

Each mutant is one small edit of one module's syntax tree: a comparison flipped (< <=, == !=,
is / is not, in / not in), `and`/`or` swapped, a `not` dropped, a boolean or number changed,
an arithmetic operator swapped, a statement removed, an element removed from a literal
collection (a row of the lifecycle table, a role from a set of roles). The unit tests chosen
for the module run against it; a mutant is *killed* when they fail (or time out), *survived*
when they pass. Survivors are either tests to add or equivalent edits to explain in
tests/MUTATION.md.

Speed on a busy 2-core machine: the repository is copied once to a scratch directory, and a
parent process that has already imported the heavy third-party packages forks one child per
mutant; the child writes the mutant into the copy and runs pytest in-process with -x, so a
killed mutant costs a fraction of a second and a survivor one pass of its selected tests.

    python tools/mutate.py                     # every target, summary + survivors
    python tools/mutate.py hub/domain/access.py --list
    python tools/mutate.py --only hub/domain/lifecycle.py:57   # mutants on one line

Over 400 lines on purpose: a development tool run as one file (`make mutation`), imported by
nothing; the targets, the mutations and the forking runner are read together.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Module -> the unit tests that state its rules, in stages (unit tier only: no I/O). A mutant
# runs the first stage; only if it survives that, the next: the big lifecycle table test
# (about 2,000 cases) runs only for mutants the scenarios did not kill.
RULES = "tests/unit/test_domain_rules.py"
TABLE_TEST = "tests/unit/test_lifecycle_table.py"
TARGETS: dict[str, list[list[str]]] = {
    "hub/domain/access.py": [[RULES, "tests/unit/test_masking.py"]],
    "hub/domain/lifecycle.py": [["tests/unit/test_lifecycle_expected.py", RULES], [TABLE_TEST]],
    "hub/domain/engine.py": [["tests/unit/test_history_record.py", RULES], [TABLE_TEST]],
    "hub/domain/deadlines.py": [["tests/unit/test_deadlines.py", RULES]],
    "hub/domain/calendar.py": [["tests/unit/test_calendar.py", "tests/unit/test_deadlines.py"]],
    "supervision/assessment.py": [
        [
            "tests/unit/test_assessment_formulas.py",
            "tests/unit/test_township_assessment.py",
            "tests/unit/test_assessment_periods_and_ranking.py",
            "tests/unit/test_co_handling.py",
            "tests/unit/test_assessment_facts.py",
            RULES,
        ]
    ],
}

# The project's own packages: never imported by the parent, so each child imports the mutant.
OWN = ("hub", "tests", "adapters", "outbox", "bench", "tools", "hotline_hub_example", "supervision")

FLIP_CMP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
FLIP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult, ast.Mod: ast.FloorDiv}


@dataclass(frozen=True)
class Mutant:
    path: str
    index: int  # the n-th mutation point of the module, in walk order
    line: int
    kind: str
    text: str  # what was changed, readable

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}#{self.index}"


def _docstring_ids(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                ids.add(id(body[0]))
    return ids


def _skipped_ids(tree: ast.AST) -> set[int]:
    """Nodes not worth mutating: annotations, imports, docstrings."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            for n in ast.walk(node):
                skip.add(id(n))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mark(node)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.arg):
            mark(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
    skip |= _docstring_ids(tree)
    return skip


def _points(tree: ast.AST) -> list[tuple[ast.AST, str, str, object]]:
    """(node, kind, readable, detail) for every mutation the tree offers, in a stable order."""
    skip = _skipped_ids(tree)
    out: list[tuple[ast.AST, str, str, object]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in FLIP_CMP:
                    out.append((node, "compare", f"{type(op).__name__} -> {FLIP_CMP[type(op)].__name__}", i))
        elif isinstance(node, ast.BoolOp):
            out.append((node, "boolop", "and -> or" if isinstance(node.op, ast.And) else "or -> and", None))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            out.append((node, "not", "drop not", None))
        elif isinstance(node, ast.BinOp) and type(node.op) in FLIP_BIN:
            out.append((node, "binop", f"{type(node.op).__name__} -> {FLIP_BIN[type(node.op)].__name__}", None))
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            out.append((node, "constant", f"{node.value} -> {not node.value}", None))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            out.append((node, "constant", f"{node.value} -> {node.value + 1}", None))
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)) and not isinstance(getattr(node, "ctx", None), ast.Store) and len(node.elts) >= 2:
            for i, elt in enumerate(node.elts):
                if isinstance(elt, ast.Starred):
                    continue
                out.append((node, "element", f"drop element {i + 1} of {len(node.elts)}: {ast.unparse(elt)[:60]}", i))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr, ast.Raise, ast.Assert)) and id(node) not in skip:
            out.append((node, "statement", f"remove: {ast.unparse(node).splitlines()[0][:70]}", None))
    return out


def _apply(node: ast.AST, kind: str, detail: object) -> None:
    if kind == "compare":
        node.ops[detail] = FLIP_CMP[type(node.ops[detail])]()
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "binop":
        node.op = FLIP_BIN[type(node.op)]()
    elif kind == "constant":
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    elif kind == "element":
        del node.elts[detail]


class _Replace(ast.NodeTransformer):
    """Replaces the target node for mutations that change the node itself (not, statement)."""

    def __init__(self, target: ast.AST, kind: str) -> None:
        self.target, self.kind = target, kind

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            if self.kind == "not":
                return node.operand
            if self.kind == "statement":
                return ast.Pass()
        return self.generic_visit(node)


def mutants_of(path: str) -> list[Mutant]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return [Mutant(path, i, getattr(n, "lineno", 0), kind, text) for i, (n, kind, text, _) in enumerate(_points(tree))]


def mutated_source(mutant: Mutant) -> str:
    tree = ast.parse((ROOT / mutant.path).read_text(encoding="utf-8"))
    node, kind, _, detail = _points(tree)[mutant.index]
    if kind in ("not", "statement"):
        tree = _Replace(node, kind).visit(tree)
    else:
        _apply(node, kind, detail)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree)


# -- running ------------------------------------------------------------------------------


def _scratch_copy() -> Path:
    scratch = Path(tempfile.mkdtemp(prefix="hub-mutation-"))
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", "var", "*.pyc", ".pytest_cache", "bench")
    # supervision: the assessment is a target (it lives in its feature package, outside hub/).
    for name in ("hub", "tests", "mappings", "adapters", "outbox", "supervision", "openapi", "examples", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, scratch / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, scratch / name)
    return scratch


def _pyc_of(scratch: Path, path: str) -> list[Path]:
    source = scratch / path
    return list((source.parent / "__pycache__").glob(source.stem + ".*.pyc"))


def _child(scratch: Path, tests: list[str], source: str | None, path: str | None) -> None:
    """In the forked child: put the mutant in place and run the tests in-process."""
    os.chdir(scratch)
    sys.path.insert(0, str(scratch))
    if source is not None and path is not None:
        (scratch / path).write_text(source, encoding="utf-8")
        for stale in _pyc_of(scratch, path):  # its compiled original must not be used
            stale.unlink()
    # Entry-point plugins and assertion rewriting cost more than the tests: only pass/fail matters.
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # --noconftest: the unit tier needs none of the database fixtures of tests/conftest.py.
    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--noconftest", "--assert=plain", "--no-header", "-o", "addopts=", *tests])
    os._exit(int(code))


def _preload(scratch: Path, tests: list[str]) -> None:
    """Import in this (parent) process every third-party module the tests import, found by
    importing the tests once in a throwaway process: a child then imports only the project."""
    modules = [t.removesuffix(".py").replace("/", ".") for t in tests]
    probe = (
        "import sys, json, importlib; sys.path.insert(0, '.'); import pytest\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(list(sys.modules)))"
    )
    found = subprocess.run([sys.executable, "-c", probe], cwd=scratch, capture_output=True, text=True, check=True)
    for name in json.loads(found.stdout.splitlines()[-1]):
        if name.split(".")[0].startswith(OWN) or name == "__main__":
            continue
        try:
            __import__(name)
        except Exception:  # a module that only imports as part of something else: the child will
            pass
    leaked = [m for m in sys.modules if m.split(".")[0] in ("hub", "tests")]
    for name in leaked:  # a third-party module that imported the project: forget both
        del sys.modules[name]


class Slot:
    """One scratch copy with at most one child running in it."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.pid: int | None = None
        self.mutant: Mutant | None = None
        self.original: str | None = None
        self.deadline = 0.0

    def start(self, tests: list[str], mutant: Mutant | None, timeout: float) -> None:
        source = mutated_source(mutant) if mutant else None
        self.original = (self.scratch / mutant.path).read_text(encoding="utf-8") if mutant else None
        self.mutant, self.deadline = mutant, time.monotonic() + timeout
        pid = os.fork()
        if pid == 0:
            try:
                _child(self.scratch, tests, source, mutant.path if mutant else None)
            finally:
                os._exit(70)
        self.pid = pid

    def poll(self) -> str | None:
        """None while running; then 'killed', 'survived' or 'timeout'."""
        assert self.pid is not None
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done:
            verdict = "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
        elif time.monotonic() > self.deadline:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            verdict = "timeout"
        else:
            return None
        if self.mutant and self.original is not None:
            (self.scratch / self.mutant.path).write_text(self.original, encoding="utf-8")
            for compiled in _pyc_of(self.scratch, self.mutant.path):  # the mutant's, compiled by the child
                compiled.unlink()
        self.pid = None
        return verdict

    def stop(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None


def run_all(slots: list[Slot], jobs: list[tuple[list[str], Mutant | None]], timeout: float, report) -> None:
    """Runs every (tests, mutant) job on the free slots; report(index, verdict) as each ends."""
    pending = list(enumerate(jobs))
    running: dict[int, int] = {}  # slot index -> job index
    try:
        while pending or running:
            for i, slot in enumerate(slots):
                if i not in running and pending:
                    n, (tests, mutant) = pending.pop(0)
                    slot.start(tests, mutant, timeout)
                    running[i] = n
            for i in list(running):
                verdict = slots[i].poll()
                if verdict is not None:
                    report(running.pop(i), verdict)
            time.sleep(0.02)
    finally:
        for slot in slots:
            slot.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="modules to mutate (default: every target)")
    parser.add_argument("--only", action="append", default=[], help="path:line, mutants on that line only")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--rerun", type=Path, help="run only the survivors recorded in this --json file")
    parser.add_argument("--resume", type=Path, help="take the verdicts already in this .partial.jsonl, run the rest")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant (a hang counts as killed)")
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args(argv)

    paths = args.paths or list(TARGETS)
    unknown = [p for p in paths if p not in TARGETS]
    if unknown:
        parser.error(f"no tests are chosen for {unknown}; known: {sorted(TARGETS)}")
    only = {(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in args.only}
    mutants = [m for p in paths for m in mutants_of(p) if not only or (m.path, m.line) in only]
    if args.rerun:
        again = {r["key"] for r in json.loads(args.rerun.read_text(encoding="utf-8")) if r["verdict"] == "survived"}
        mutants = [m for m in mutants if m.key in again]
    if args.list:
        for m in mutants:
            print(f"{m.key:45} {m.kind:9} {m.text}")
        print(f"{len(mutants)} mutants")
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children and remove the copies
    slots = [Slot(_scratch_copy()) for _ in range(max(1, args.jobs))]
    _preload(slots[0].scratch, sorted({t for p in paths for stage in TARGETS[p] for t in stage}))
    results: list[dict] = [{} for _ in mutants]
    log = args.json.with_suffix(".partial.jsonl").open("w", encoding="utf-8") if args.json else None
    try:
        baselines: dict[int, str] = {}
        everything = [[t for stage in TARGETS[p] for t in stage] for p in paths]
        run_all(slots, [(tests, None) for tests in everything], args.timeout * 3, baselines.__setitem__)
        broken = [paths[i] for i, v in baselines.items() if v != "survived"]
        if broken:
            print(f"the tests of {broken} fail without any mutant; fix them first", file=sys.stderr)
            return 2
        started = time.monotonic()
        done = [0]
        todo = list(range(len(mutants)))
        if args.resume and args.resume.exists():
            earlier = {}
            for line in args.resume.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                earlier[record["key"]] = record
            for n, m in enumerate(mutants):
                if m.key in earlier:
                    results[n] = earlier[m.key]
                    if log:
                        log.write(json.dumps(results[n], ensure_ascii=False) + "\n")
            todo = [n for n in todo if not results[n]]
            print(f"resumed: {len(mutants) - len(todo)} verdicts taken from {args.resume}")
        for stage in range(max(len(TARGETS[p]) for p in paths)):
            jobs = [n for n in todo if stage < len(TARGETS[mutants[n].path])]

            def report(k: int, verdict: str, jobs=jobs, stage=stage) -> None:
                n = jobs[k]
                m = mutants[n]
                last = stage == len(TARGETS[m.path]) - 1
                if verdict == "survived" and not last:
                    return  # the next stage decides
                results[n] = {"key": m.key, "kind": m.kind, "text": m.text, "verdict": verdict, "stage": stage + 1}
                if log:
                    log.write(json.dumps(results[n], ensure_ascii=False) + "\n")
                    log.flush()
                done[0] += 1
                print("." if verdict != "survived" else "S", end="" if done[0] % 80 else f" {done[0]}/{len(mutants)}\n", flush=True)

            run_all(slots, [(TARGETS[mutants[n].path][stage], mutants[n]) for n in jobs], args.timeout, report)
            todo = [n for n in jobs if not results[n]]
        print()
        elapsed = time.monotonic() - started
    finally:
        if log:
            log.close()
        for slot in slots:
            shutil.rmtree(slot.scratch, ignore_errors=True)

    killed = sum(r["verdict"] != "survived" for r in results)
    total = len(results)
    print(f"\n{killed}/{total} killed ({100 * killed / total:.1f}%) in {elapsed:.0f}s")
    by_path: dict[str, list[int]] = {}
    for r in results:
        k = by_path.setdefault(r["key"].split(":")[0], [0, 0])
        k[0] += r["verdict"] != "survived"
        k[1] += 1
    for path, (k, t) in by_path.items():
        print(f"  {path:35} {k}/{t}")
    survivors = [r for r in results if r["verdict"] == "survived"]
    if survivors:
        print("\nsurvivors:")
        for r in survivors:
            print(f"  {r['key']:45} {r['kind']:9} {r['text']}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
