"""Chinese word segmentation for the knowledge base: jieba with the hotline dictionary.

Articles are indexed as space-joined `cut_for_search` tokens, which also emit the shorter
dictionary words inside longer ones (社保卡 -> 社保 社保卡), so a two-character query
such as 社保 or 噪音 finds its articles. Queries go through the same cut, minus
stopwords, plus synonyms (mappings/knowledge/lexicon.yaml).

jieba's dictionary takes about half a second to load: it is loaded once per process, on
the first use (never at import), and shared by every hub in the process that uses the
same files.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.mappings.loader import MappingError, load_yaml_model, raise_all

DICT_FILE = "hotline_dict.txt"
LEXICON_FILE = "lexicon.yaml"

Word = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^\S+$")]
_TOKEN = re.compile(r"\w", re.UNICODE)  # a token worth indexing holds a letter or digit
_DICT_LINE = re.compile(r"^(?P<word>\S+)(?: (?P<freq>\d+))?(?: (?P<tag>[a-z]+))?$")


class Lexicon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stopwords: list[Word] = Field(default_factory=list)
    synonyms: list[Annotated[list[Word], Field(min_length=2)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_group_per_word(self) -> Lexicon:
        seen: dict[str, int] = {}
        for i, group in enumerate(self.synonyms):
            for word in group:
                if word in seen and seen[word] != i:
                    raise ValueError(f"synonym {word!r} is in groups {seen[word]} and {i}; a word belongs to one group")
                seen[word] = i
        return self


@dataclass(frozen=True)
class DictEntry:
    word: str
    freq: int | None
    tag: str | None


def load_dictionary(path: Path) -> list[DictEntry]:
    """jieba's user-dictionary format, checked line by line so a typo stops the start."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(str(path), None, "file not found") from None
    except UnicodeDecodeError:
        raise MappingError(str(path), None, "not UTF-8 (save the file as UTF-8)") from None
    entries, errors = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _DICT_LINE.match(line)
        if m is None:
            errors.append(MappingError(str(path), n, f"{line!r} is not 'word [frequency] [tag]'"))
            continue
        entries.append(DictEntry(m["word"], int(m["freq"]) if m["freq"] else None, m["tag"]))
    raise_all(errors)
    return entries


class Segmenter:
    """Index and query segmentation. Cheap to build; jieba loads on first use."""

    def __init__(self, entries: list[DictEntry], lexicon: Lexicon) -> None:
        self._entries = entries
        self.lexicon = lexicon
        self._stop = set(lexicon.stopwords)
        self._synonyms: dict[str, list[str]] = {w: g for g in lexicon.synonyms for w in g}
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _jieba(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    import jieba  # start-up cost: jieba (~0.8 s), loaded once a search or an index needs words

                    jieba.setLogLevel(logging.WARNING)
                    tokenizer = jieba.Tokenizer()
                    tokenizer.initialize()
                    for e in self._entries:
                        tokenizer.add_word(e.word, e.freq, e.tag)
                    for group in self.lexicon.synonyms:
                        for word in group:
                            tokenizer.add_word(word)
                    self._tokenizer = tokenizer
        return self._tokenizer

    def index_text(self, text: str) -> str:
        """Space-joined search tokens of `text`, lower-cased: what the full-text index holds."""
        return " ".join(self.index_tokens(text))

    def index_tokens(self, text: str) -> list[str]:
        return [t.lower() for t in self._jieba().cut_for_search(text) if _TOKEN.search(t)]

    def words(self, text: str) -> list[str]:
        """Precise-mode words (for highlighting and suggestions)."""
        return [t.lower() for t in self._jieba().cut(text) if _TOKEN.search(t)]

    def query_terms(self, text: str, limit: int = 40) -> list[str]:
        """Distinct terms of a query: search tokens without stopwords, with synonyms, in order."""
        return [t for group in self.query_groups(text, limit) for t in group]

    def query_groups(self, text: str, limit: int = 40) -> list[list[str]]:
        """The query's words, each with its synonyms: an article answers a word when it holds
        any term of its group. Stopwords are left out; a term is in one group only; at most
        `limit` terms in all, in the order of the query."""
        groups: list[list[str]] = []
        seen: set[str] = set()
        for token in self.index_tokens(text):
            if token in self._stop or token in seen:
                continue
            # A synonym is a dictionary word, so the index holds it whole where it occurs.
            group = [t for t in dict.fromkeys([token, *(s.lower() for s in self._synonyms.get(token, ()))]) if t not in seen]
            group = group[: limit - len(seen)]
            seen.update(group)
            groups.append(group)
            if len(seen) >= limit:
                break
        return groups


_shared: dict[Path, Segmenter] = {}
_shared_lock = threading.Lock()


def segmenter_for(directory: Path) -> Segmenter:
    """The process's segmenter for mappings/knowledge in `directory`, validated on first call."""
    key = directory.resolve()
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            errors: list[MappingError] = []
            entries: list[DictEntry] = []
            lexicon = Lexicon()
            try:
                entries = load_dictionary(key / DICT_FILE)
            except MappingError as exc:
                errors.extend(getattr(exc, "errors", [exc]))
            try:
                lexicon = load_yaml_model(key / LEXICON_FILE, Lexicon)
            except MappingError as exc:
                errors.extend(getattr(exc, "errors", [exc]))
            raise_all(errors)
            found = _shared[key] = Segmenter(entries, lexicon)
        return found
