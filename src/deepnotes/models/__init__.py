"""Models found by name: ``deepnotes.models.create("mlp", hidden=(256, 256))``.

Each model is an ``nn.Module`` whose constructor takes one config dataclass; ``create`` fills the
config from keyword overrides (strings are parsed by the field's type, as ``--set`` does) and tags
the module with ``deepnotes_name`` and ``config`` so a checkpoint can rebuild it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from deepnotes.config import apply_overrides
from deepnotes.registry import Registry

MODELS = Registry("model")


#: what a model reads (its forward's input), so the CLI can tell which data suits it (B1)
INPUTS = {
    "features": "feature vectors (N, F), any array flattened",
    "images": "images (N, C, H, W)",
    "tokens": "token ids (N, T)",
    "token-pairs": "source and target token ids (translation)",
    "frames": "sequences of feature vectors (N, T, F)",
    "graph": "node features and an adjacency mask",
    "points": "query points with key-value pairs (kernel regression)",
    "noise": "noise vectors z (N, Z), and class labels (N,) for a conditional generator",
}


#: the kinds of task of the notes (B1), and which registered model does which
TASKS = {
    "regression": "a number per input (y = f(x) ∈ R)",
    "classification": "one class of a fixed set per input",
    "structured output": "an output with parts: a sequence, tags per token, a span, a translation",
    "representation": "vectors to reuse, learnt without labels (embeddings, pre-training)",
    "generation": "new samples from a learnt distribution (GANs, VAEs)",
}
TASK_OF = {
    "linear-regression": "regression", "nw-kernel-regression": "regression",
    "rnn-regressor": "regression",
    "softmax-regression": "classification", "bag-of-tokens": "classification",
    "mlp": "classification", "lenet": "classification", "lenet-modern": "classification",
    "resnet": "classification", "small-cnn": "classification", "small-vit": "classification",
    "lstm-classifier": "classification", "bert-classifier": "classification",
    "elmo-classifier": "classification", "node-classifier": "classification",
    "rnn-lm": "structured output", "seq2seq-rnn": "structured output",
    "bahdanau": "structured output", "transformer-mt": "structured output",
    "transformer-nat": "structured output", "bilstm-tagger": "structured output",
    "ctc-reader": "structured output", "bert-tagger": "structured output",
    "bert-qa": "structured output", "gpt": "structured output",
    "word2vec": "representation", "glove": "representation", "fasttext": "representation",
    "bert": "representation", "bert-pretraining": "representation", "bilm": "representation",
    "mlp-generator": "generation", "mlp-discriminator": "generation",
    "dcgan-generator": "generation", "dcgan-discriminator": "generation",
    "autoencoder": "representation", "conv-autoencoder": "representation",
    "vae": "generation",
    "ddpm-unet": "generation",
    "cyclegan-generator": "generation",
}


def model_task(name: str) -> str:
    """The kind of task model ``name`` does: a key of :data:`TASKS` (B1), or ``"other"`` for
    a model registered outside deepnotes.

    Example:
        >>> model_task("lenet"), model_task("transformer-mt")
        ('classification', 'structured output')

    Notes: B1.
    """
    MODELS.get(name)  # an unknown name: the registry's "did you mean" error
    return TASK_OF.get(name, "other")


def register_model(name: str, config_cls: type, summary: str = "", inputs: str = "features"):
    """Class decorator: register ``cls(config)`` under ``name`` with its config dataclass and
    what it reads (a key of :data:`INPUTS`)."""
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {sorted(INPUTS)}, got {inputs!r}")

    def wrap(cls: type) -> type:
        cls.config_class = config_cls
        cls.deepnotes_inputs = inputs
        MODELS.add(name, cls, summary)
        return cls

    return wrap


def model_inputs(name: str) -> str:
    """What model ``name`` reads: a key of :data:`INPUTS` (e.g. ``"images"``)."""
    return MODELS.get(name).deepnotes_inputs


def config_class(name: str) -> type:
    return MODELS.get(name).config_class


def create(name: str, config: Any = None, **overrides: Any) -> nn.Module:
    """Build the model ``name`` from its config (default config updated by ``overrides``).

    Example:
        >>> m = create("mlp", in_features=4, hidden=(8,), num_classes=3)
        >>> m.deepnotes_name, m.config.hidden
        ('mlp', (8,))
    """
    cls = MODELS.get(name)
    cfg = config if config is not None else cls.config_class()
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    model = cls(cfg)
    model.deepnotes_name = name
    model.config = cfg
    return model


def model_info(model: nn.Module) -> dict[str, Any] | None:
    """``{"name": ..., "config": {...}}`` for a model built by :func:`create`, else None."""
    name = getattr(model, "deepnotes_name", None)
    cfg = getattr(model, "config", None)
    if name is None or cfg is None or not dataclasses.is_dataclass(cfg):
        return None
    return {"name": name, "config": {k: (list(v) if isinstance(v, tuple) else v)
                                     for k, v in dataclasses.asdict(cfg).items()}}


def from_info(info: dict[str, Any]) -> nn.Module:
    """Rebuild an (untrained) model from :func:`model_info`'s dict."""
    cls = MODELS.get(info["name"])
    fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
    kwargs = {}
    for k, v in info.get("config", {}).items():
        if k in fields:
            default = getattr(cls.config_class(), k)
            kwargs[k] = tuple(v) if isinstance(default, tuple) and isinstance(v, list) else v
    return create(info["name"], **kwargs)


# Register the built-in models: every module of this package registers its own with
# @register_model when imported, so adding a model means adding a file.
import importlib as _importlib  # noqa: E402
import pkgutil as _pkgutil  # noqa: E402

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        _importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["INPUTS", "MODELS", "TASKS", "TASK_OF", "create", "config_class", "from_info",
           "model_info", "model_inputs", "model_task", "register_model"]
