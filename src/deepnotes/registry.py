"""Find things by name: one small registry class used for models, datasets and lessons.

Example:
    >>> from deepnotes.registry import Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("square", summary="four equal sides")
    ... def make_square(side=1):
    ...     return ("square", side)
    >>> shapes.get("square")(2)
    ('square', 2)
    >>> sorted(shapes.names())
    ['square']
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from deepnotes.errors import UnknownNameError


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    summary: str


class Registry:
    """A name -> object table with one-line summaries and "did you mean" errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, summary: str = "") -> Callable[[Any], Any]:
        """Decorator: ``@reg.register("lenet", summary="...")``."""

        def wrap(obj: Any) -> Any:
            self.add(name, obj, summary)
            return obj

        return wrap

    def add(self, name: str, obj: Any, summary: str = "") -> None:
        if name in self._entries and self._entries[name].obj is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if not summary:
            doc = (getattr(obj, "__doc__", None) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
        self._entries[name] = Entry(name, obj, summary)

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._entries)) or "none"
        return f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {known}."

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
