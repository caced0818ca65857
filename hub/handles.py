"""What features hand each other, keyed by type: `hub.handles.get(OutboxHandle)`.

A feature adds its handle in `install`; a later feature, an API route or a test asks for it by
its class, so a reader (and a type checker) sees who gives what to whom, and a missing one is
named, not a KeyError on a string."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class MissingHandle(LookupError):
    """Asked for a handle no installed feature added (the feature is not installed, or later
    in the install order than the one asking)."""


class Handles:
    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def add(self, handle: object) -> None:
        kind = type(handle)
        if kind in self._by_type:  # two features giving the same thing: the second would hide the first
            raise ValueError(f"a {kind.__name__} handle is already installed")
        self._by_type[kind] = handle

    def get(self, kind: type[T]) -> T:
        found = self.find(kind)
        if found is None:
            raise MissingHandle(f"no {kind.__name__} handle: is the feature that adds it installed?")
        return found

    def find(self, kind: type[T]) -> T | None:
        """The handle, or None where a feature is optional to the one asking."""
        found = self._by_type.get(kind)
        if found is not None and not isinstance(found, kind):  # add() keys by the exact type
            raise TypeError(f"{kind.__name__} handle is a {type(found).__name__}")
        return found

    def __contains__(self, kind: type) -> bool:
        return kind in self._by_type
