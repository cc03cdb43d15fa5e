"""Lessons: runnable experiments that reproduce what the notes claim, found by name.

Every lesson module has the same shape (STYLE.md 12): a module docstring (title, the claim,
concept IDs), a ``Config`` dataclass with ``quick: bool`` (seconds, used by tests) and
``run(cfg, out_dir) -> LessonResult`` returning numbers and figure paths. Nothing runs at import.

Example:
    >>> from deepnotes import lessons
    >>> "mlp" in lessons.names()
    True
"""

from __future__ import annotations

import importlib
import pkgutil

from deepnotes.lessons.base import Lesson, LessonResult
from deepnotes.registry import Registry

LESSONS = Registry("lesson")

# Every module in this package that defines NAME is a lesson (NAME, SUMMARY, CONCEPTS, Config,
# run); adding a lesson means adding a file. base/common and _private modules are plumbing.
_PLUMBING = {"base", "common", "notebook"}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name in _PLUMBING or _info.name.startswith("_"):
        continue
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    if not hasattr(_mod, "NAME"):
        continue
    LESSONS.add(_mod.NAME, Lesson(_mod.NAME, _mod.SUMMARY, _mod.CONCEPTS, _mod.Config, _mod.run),
                _mod.SUMMARY)


def get(name: str) -> Lesson:
    """The lesson called ``name`` (unknown names list close matches)."""
    return LESSONS.get(name)


def names() -> list[str]:
    return LESSONS.names()


__all__ = ["LESSONS", "Lesson", "LessonResult", "get", "names"]
