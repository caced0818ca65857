"""Load one YAML mapping file into a pydantic model, keeping line numbers for errors.

Every mapping file in mappings/ (catalogue, province, county, legacy code tables) goes
through here, so that a bad file stops the hub's start with the file, the line and the
reason rather than a bare pydantic traceback. We compose the YAML node tree first (it
carries start marks), check it for duplicate keys, then construct plain data from the
same tree; a validation error's `loc` is walked back through that tree to a line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
# libyaml's parser when PyYAML was built with it: its nodes carry the same line marks, and it
# composes the mapping files about twenty times faster, which every start (and every hub a test
# builds) pays for the catalogue, the counties and the lines.
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Loc = Sequence[str | int]


class MappingError(Exception):
    """A mapping file is wrong: where (file, line, entry) and why."""

    def __init__(self, file: str, line: int | None, reason: str, entry: str | None = None) -> None:
        self.file, self.line, self.entry, self.reason = file, line, entry, reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"entry {self.entry!r}: {self.reason}" if self.entry else self.reason
        return f"{where}: {what}"


class MappingErrors(MappingError):
    """Several problems at once, so an operator fixes them in one pass, not one per restart.

    It is a MappingError whose file/line/entry/reason are those of the first problem, so
    callers that catch MappingError need not know about it.
    """

    def __init__(self, errors: Sequence[MappingError]) -> None:
        if not errors:
            raise ValueError("MappingErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.file, first.line, first.reason, first.entry)

    def __str__(self) -> str:
        lines = "\n".join(f"  {MappingError.__str__(e)}" for e in self.errors)
        return f"{len(self.errors)} mapping problems:\n{lines}"


def raise_all(errors: Sequence[MappingError]) -> None:
    """Raise nothing, the single error, or all of them together."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise MappingErrors(errors)


@dataclass(frozen=True)
class LoadedMapping(Generic[M]):
    """A validated file plus its node tree, so later cross-file checks can name lines too."""

    file: str
    model: M
    root: yaml.Node

    def line_of(self, loc: Loc) -> int | None:
        return _locate(self.root, loc)[0]

    def error(self, loc: Loc, reason: str, entry: str | None = None, entry_key: str = "code") -> MappingError:
        line, found_entry = _locate(self.root, loc, entry_key)
        return MappingError(self.file, line, reason, entry if entry is not None else found_entry)


def load_yaml_model(path: Path, model: type[M], entry_key: str = "code") -> M:
    """Parse and validate one file; raise MappingError (or MappingErrors) pointing at lines."""
    return load_yaml_mapping(path, model, entry_key).model


def load_yaml_mapping(path: Path, model: type[M], entry_key: str = "code") -> LoadedMapping[M]:
    """As load_yaml_model, but keep the node tree for checks that span several files.

    `entry_key` names the field that identifies a list entry in messages ("entry 'ZY-RSJ'");
    entries without it are named by list and index ("units[3]").
    """
    file = str(path)
    raw = _read(path, file)
    key = (file, hashlib.sha256(raw).digest(), model, entry_key)
    cached = _loaded.get(key)
    if cached is None:
        cached = _loaded[key] = _load(raw, file, model, entry_key)
        while len(_loaded) > _LOADED_MAX:  # oldest first: dicts keep insertion order
            del _loaded[next(iter(_loaded))]
    return cached


# Loaded files by (path, content hash, model, entry key). A process builds its hub once, but
# tools and tests build many, and each build validates the same catalogue, counties and lines;
# the models are frozen, so one validated copy can be shared. Keyed by content, so an edited
# file is loaded again; only a file that loaded cleanly is kept.
_loaded: dict[tuple[str, bytes, type, str], LoadedMapping[Any]] = {}
_LOADED_MAX = 256


def _load(raw: bytes, file: str, model: type[M], entry_key: str) -> LoadedMapping[M]:
    root = _compose(raw, file)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:  # e.g. a bad !!tag or merge key
        raise _syntax_error(file, exc) from None
    finally:
        loader.dispose()
    try:
        return LoadedMapping(file, model.model_validate(data), root)
    except ValidationError as exc:
        details = exc.errors()
    # Raised outside the except block so operators see our message, not pydantic's as context.
    errors = []
    for err in details:
        line, entry = _locate(root, err["loc"], entry_key)
        errors.append(MappingError(file, line, _reason(err, entry_key), entry))
    raise_all(errors)
    raise AssertionError("a ValidationError always carries at least one error")


def _read(path: Path, file: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MappingError(file, None, "file not found") from None


def _compose(raw: bytes, file: str) -> yaml.Node:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Exports from legacy lines are often GBK; say so instead of showing mojibake later.
        line = raw[: exc.start].count(b"\n") + 1
        raise MappingError(file, line, "not UTF-8 (save the file as UTF-8)") from None
    loader = _Parser(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(file, exc) from None
    except yaml.YAMLError as exc:
        raise MappingError(file, None, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if root is None:
        raise MappingError(file, None, "the file is empty")
    _reject_duplicate_keys(root, file)
    return root


def _syntax_error(file: str, exc: yaml.MarkedYAMLError) -> MappingError:
    mark = exc.problem_mark or exc.context_mark
    reason = ": ".join(p for p in (exc.context, exc.problem) if p)
    return MappingError(file, mark.line + 1 if mark else None, f"YAML syntax: {reason}")


def _reject_duplicate_keys(root: yaml.Node, file: str) -> None:
    """PyYAML keeps the last of two equal keys silently; a mapping file must not."""
    seen_nodes: set[int] = set()  # aliases share nodes; visit each once
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first_line: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    ident = (key.tag, key.value)
                    if ident in first_line:
                        raise MappingError(file, _line(key), f"duplicate key {key.value!r} (first at line {first_line[ident]})")
                    first_line[ident] = _line(key)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _locate(root: yaml.Node, loc: Loc, entry_key: str = "code") -> tuple[int | None, str | None]:
    """Walk a pydantic loc through the node tree: (line of the deepest node reached, entry).

    A loc part that does not match (a missing field, a union member's name, a model-level
    error) stops the walk, so the error lands on the nearest parent that exists.
    """
    node, line, entry = root, _line(root), None
    parent_key: str | None = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if pair is None:
                break
            line, node, parent_key = _line(pair[0]), pair[1], str(part)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = _line(node)
            entry = _entry_name(node, entry_key) or f"{parent_key or 'item'}[{part}]"
        else:
            break
    return line, entry


def _entry_name(node: yaml.Node, entry_key: str) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == entry_key and isinstance(value, yaml.ScalarNode):
                return value.value
    return None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1  # marks count from 0, editors from 1


def _reason(err: Mapping[str, Any], entry_key: str) -> str:
    """The field inside the entry plus pydantic's message, minus its 'Value error, ' noise."""
    loc = list(err["loc"])
    # Drop the path up to the entry (list key and index): the entry is named separately.
    last_index = max((i for i, p in enumerate(loc) if isinstance(p, int)), default=-1)
    field = ".".join(str(p) for p in loc[last_index + 1 :])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "string_type" and isinstance(err.get("input"), (int, float, bool)):
        # YAML reads 01 as 1 and 0101 as octal 65: codes must be quoted.
        msg += f" (got {err['input']!r}: quote codes, e.g. '01')"
    return f"{field}: {msg}" if field else msg
