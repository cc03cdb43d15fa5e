"""The shape every lesson shares: a config, a run function, and a result of numbers and figures."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from deepnotes.runtime import seed_everything


@dataclass
class LessonResult:
    """What a lesson returns: the numbers, the figures and the claim in words.

    Attributes:
        name: lesson name.
        metrics: scalar results (e.g. ``test_accuracy``); tests assert the claim on these.
        figures: paths of PNG figures written to the run folder.
        history: per-epoch rows of the main training run (written to ``metrics.csv``).
        claim: the notes' claim this lesson reproduces, one sentence.
        tables: extra tabular results (name -> list of row dicts), e.g. per-setting results.
        checkpoint: path of the main model's checkpoint, when the lesson trains one.
    """

    name: str
    metrics: dict[str, float]
    figures: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    claim: str = ""
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checkpoint: str | None = None


@dataclass(frozen=True)
class Lesson:
    name: str
    summary: str
    concepts: tuple[str, ...]
    config_class: type
    run_fn: Callable[..., LessonResult]

    def run(self, config: Any = None, out_dir: str | Path | None = None, **overrides: Any) -> LessonResult:
        """Run with ``config`` (default: the lesson's defaults updated by ``overrides``)."""
        from deepnotes.config import apply_overrides

        cfg = config if config is not None else self.config_class()
        if overrides:
            cfg = apply_overrides(cfg, overrides)
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix=f"deepnotes-{self.name}-")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        # one seed controls everything, the model's initial weights included
        seed_everything(int(getattr(cfg, "seed", 0)))
        return self.run_fn(cfg, out)
