"""The harness every lesson shares: a config, a run function, a result of numbers and figures.

A lesson module defines ``NAME``, ``SUMMARY``, ``CONCEPTS``, a ``Config`` dataclass (a
:class:`LessonConfig`: ``quick``, ``seed``, ``threads`` plus its own fields, a comment per field)
and ``run(cfg, out_dir) -> LessonResult``. :meth:`Lesson.run` does what every lesson needs
before its own code runs:

- **quick mode**: ``Config.QUICK`` maps field names to the values of the seconds-long version
  the tests run; with ``quick=True`` they replace the fields still at their defaults (a value
  you set yourself is kept), so a lesson's code never reads ``cfg.quick`` to pick a size;
- **seeding**: one ``seed`` seeds every generator before the model is built;
- **threads**: ``threads = 0`` keeps torch's own thread count (all cores); ``threads = N``
  runs the lesson on N torch threads and restores the count afterwards (``--threads 1`` is the
  setting for a shared machine where other jobs hold the cores).

Figures go through :mod:`deepnotes.figures` (``subplots``, ``save_figure``).
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from deepnotes.errors import ConfigError
from deepnotes.runtime import seed_everything, torch_threads

__all__ = ["Lesson", "LessonConfig", "LessonResult", "quick_config"]

# attribute set on a config that Lesson.configure completed (quick values already applied)
_CONFIGURED = "_deepnotes_configured"


@dataclass
class LessonConfig:
    """Fields every lesson config has; subclass it and declare ``QUICK`` (see module docstring)."""

    quick: bool = False  # the seconds-long version the tests run (QUICK values replace defaults)
    seed: int = 0  # seeds initial weights, data order, dropout and sampling
    threads: int = 0  # torch CPU threads (0: torch's default, all cores; 1 on a busy machine)

    #: quick-mode values, ``{field: value}``; applied by :func:`quick_config`
    QUICK: ClassVar[dict[str, Any]] = {}


def _defaults(cfg_cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cfg_cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
    return out


def quick_config(cfg: Any) -> Any:
    """``cfg`` with its class's ``QUICK`` values in every field still at its default.

    Idempotent; a field the user changed from its default keeps the user's value.

    Example:
        >>> @dataclass
        ... class Cfg(LessonConfig):
        ...     epochs: int = 15
        ...     images: int = 60000
        ...     QUICK = {"epochs": 2, "images": 600}
        >>> quick_config(Cfg(quick=True, epochs=4))
        Cfg(quick=True, seed=0, threads=0, epochs=4, images=600)
    """
    quick = getattr(type(cfg), "QUICK", {}) or {}
    defaults = _defaults(type(cfg))
    unknown = [k for k in quick if k not in defaults]
    if unknown:
        raise ConfigError(f"{type(cfg).__qualname__}.QUICK names unknown field(s) {unknown}")
    changes = {k: v for k, v in quick.items() if getattr(cfg, k) == defaults[k]}
    return dataclasses.replace(cfg, **changes) if changes else cfg


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

    def configure(self, config: Any = None, **overrides: Any) -> Any:
        """The config a run uses: ``config`` (default: the lesson's defaults); when it is quick
        (``quick=True`` in ``overrides`` or on ``config``), the ``QUICK`` values in the fields
        still at their defaults; then ``overrides``, which always win (so ``quick=True,
        corpus="austen"`` keeps Austen even though it is the default). ``overrides`` values may
        be strings, parsed by the field's type as ``--set`` does.

        The result is marked as configured, so :meth:`run` does not apply the quick values a
        second time.
        """
        from deepnotes.config import apply_overrides

        cfg = config if config is not None else self.config_class()
        if not isinstance(cfg, self.config_class):
            raise ConfigError(f"lesson {self.name!r} needs a {self.config_class.__qualname__}, "
                              f"got {type(cfg).__name__}")
        quick = overrides.get("quick", getattr(cfg, "quick", False))
        if isinstance(quick, str):
            quick = apply_overrides(cfg, {"quick": quick}).quick
        if quick and not getattr(cfg, _CONFIGURED, False):
            cfg = quick_config(dataclasses.replace(cfg, quick=True))
        if overrides:
            cfg = apply_overrides(cfg, overrides)
        object.__setattr__(cfg, _CONFIGURED, True)
        return cfg

    def run(self, config: Any = None, out_dir: str | Path | None = None, **overrides: Any) -> LessonResult:
        """Run with ``config`` (default: the lesson's defaults) as :meth:`configure` completes it
        (quick values when quick, then ``overrides``); seeds every generator and sets the thread
        count first."""
        cfg = self.configure(config, **overrides)
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix=f"deepnotes-{self.name}-")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with torch_threads(int(getattr(cfg, "threads", 0))):
            # one seed controls everything, the model's initial weights included
            seed_everything(int(getattr(cfg, "seed", 0)))
            return self.run_fn(cfg, out)
