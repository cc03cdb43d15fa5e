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

from deepnotes.lessons.base import Lesson, LessonResult
from deepnotes.registry import Registry

LESSONS = Registry("lesson")

# name -> module; each module defines NAME, SUMMARY, CONCEPTS, Config and run().
_MODULES = {
    "linear-regression": "deepnotes.lessons.linear_regression",
    "softmax-regression": "deepnotes.lessons.softmax_regression",
    "mlp": "deepnotes.lessons.mlp",
    "weight-decay": "deepnotes.lessons.weight_decay",
    "dropout": "deepnotes.lessons.dropout",
    "k-fold": "deepnotes.lessons.kfold",
    "optimizers": "deepnotes.lessons.optimizers",
}

for _name, _path in _MODULES.items():
    _mod = importlib.import_module(_path)
    LESSONS.add(_name, Lesson(_name, _mod.SUMMARY, _mod.CONCEPTS, _mod.Config, _mod.run), _mod.SUMMARY)


def get(name: str) -> Lesson:
    """The lesson called ``name`` (unknown names list close matches)."""
    return LESSONS.get(name)


def names() -> list[str]:
    return LESSONS.names()


__all__ = ["LESSONS", "Lesson", "LessonResult", "get", "names"]
