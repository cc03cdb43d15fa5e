r"""Language models and translators trained on your own files (``deepnotes train --data PATH``).

- :func:`train_lm_on_file`: a UTF-8 text file -> a character language model (``rnn-lm``)
  trained with truncated BPTT by :func:`deepnotes.tasks.lm.train_lm`; the first
  :math:`1 - f` of the characters train, the last :math:`f` (``val_fraction``) give the
  validation perplexity :math:`\exp(\text{mean NLL})` (R8). The checkpoint holds the
  vocabulary (:func:`~deepnotes.tasks.lm.save_lm`), so ``deepnotes generate RUN "prefix"``
  continues a text.
- :func:`train_translator_on_file`: a ``source<TAB>target`` file (one pair per line, Tatoeba
  style) -> a translator (``seq2seq-rnn``, ``bahdanau``, ``transformer-mt``) trained on the
  masked cross-entropy by :func:`deepnotes.tasks.translation.train_seq2seq` (S2). The pairs are
  read by :func:`~deepnotes.tasks.translation.load_translation_corpus` (split 90/5/5 by a hash
  of the source sentence, words seen once in the training pairs become ``<unk>``); the test
  pairs give a corpus BLEU (S4), and ``deepnotes translate RUN "sentence"`` translates.

Each writes ``checkpoint.safetensors`` and ``metrics.csv`` into the run folder and returns the
summary ``deepnotes train`` prints.

Notes: R3, R8, S1, S2, S4.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

from deepnotes import models
from deepnotes.data.files import read_text_file
from deepnotes.errors import ConfigError, NonFiniteLossError
from deepnotes.runtime import resolve_device, seed_everything
from deepnotes.tasks.lm import char_corpus, save_lm, train_lm
from deepnotes.tasks.translation import evaluate_bleu, load_translation_corpus, train_seq2seq

__all__ = ["train_lm_on_file", "train_translator_on_file"]


def _auto_sizes(model_name: str, auto: dict[str, Any], model_sets: dict[str, Any]
                ) -> dict[str, Any]:
    """The model's config overrides: sizes from the data (``auto``, only fields the config has)
    and the user's ``model.FIELD`` values, which may not change the sizes."""
    fields = {f.name for f in dataclasses.fields(models.config_class(model_name))}
    for name in model_sets:
        if name in auto:
            raise ConfigError(f"model.{name} is set from the data ({auto[name]} here); leave "
                              f"it out")
    return {**{k: v for k, v in auto.items() if k in fields}, **model_sets}


def _write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def train_lm_on_file(path: str | Path, out_dir: str | Path, *,
                     model_sets: dict[str, Any] | None = None, epochs: int = 10,
                     batch_size: int = 32, num_steps: int = 35, preprocess: str = "none",
                     val_fraction: float = 0.1, limit: int | None = None, optimizer: str = "adam",
                     lr: float = 5e-3, grad_clip: float | None = 1.0, cosine: bool = False,
                     max_steps: int | None = None, seed: int = 0, device: str = "auto",
                     progress: bool | None = None) -> dict[str, Any]:
    """Train a character ``rnn-lm`` on the text file at ``path``; save it into ``out_dir``.

    Args:
        path: a UTF-8 text file.
        out_dir: the run folder (``checkpoint.safetensors``, ``metrics.csv``).
        model_sets: fields of the ``rnn-lm`` config (``cell``, ``hidden``, ``num_layers``, ...);
            ``vocab_size`` comes from the text.
        epochs, batch_size, num_steps: passes over the text, B rows and T characters per batch.
        preprocess: ``"none"`` (the text as it is) or ``"d2l"`` (lower-case letters and spaces).
        val_fraction: the last share of the characters, for the validation perplexity (0: none).
        limit: use only the first ``limit`` characters.
        optimizer, lr, grad_clip, cosine, max_steps, seed, device, progress: as
            :func:`deepnotes.tasks.lm.train_lm` takes them.

    Returns:
        ``{"model", "data", "task", "final", "vocab_size", "train_chars", "val_chars",
        "checkpoint"}``; ``final`` is the last epoch's row (``train_loss``, ``train_ppl``,
        ``val_ppl``).

    Notes: R3, R8.
    """
    path, out_dir = Path(path).expanduser(), Path(out_dir)
    text = read_text_file(path, "text")
    if limit is not None:
        if limit < 2:
            raise ConfigError(f"limit must be at least 2 characters, got {limit}")
        text = text[:limit]
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids, vocab, used = char_corpus(text, kind=preprocess)
    cut = len(ids) - int(len(ids) * val_fraction)  # the last f of the characters validate
    train_ids, val_ids = ids[:cut], (ids[cut:] if len(ids) - cut >= 2 else None)
    sets = _auto_sizes("rnn-lm", {"vocab_size": len(vocab)}, dict(model_sets or {}))
    seed_everything(seed)  # before the model: its initial weights come from the seed
    model = models.create("rnn-lm", **sets).to(resolve_device(device))
    try:
        run = train_lm(model, train_ids, val_ids, epochs=epochs, batch_size=batch_size,
                       num_steps=num_steps, optimizer=optimizer, lr=lr, grad_clip=grad_clip,
                       cosine=cosine, seed=seed, max_steps=max_steps, progress=progress)
    except ConfigError as exc:
        if "gives no batch" not in str(exc):
            raise
        raise ConfigError(f"{path} gives {len(train_ids)} training characters, fewer than one "
                          f"batch of batch_size x num_steps = {batch_size} x {num_steps}; lower "
                          f"batch_size or num_steps, or use a longer text") from None
    if run.diverged:
        raise NonFiniteLossError(f"training diverged (a NaN or infinite loss at step "
                                 f"{run.steps + 1}); lower lr or keep grad_clip")
    model.cpu()
    checkpoint = save_lm(model, vocab, out_dir / "checkpoint", kind=preprocess,
                         extra={"corpus": str(path), "chars": len(used)})
    _write_rows(run.history, out_dir / "metrics.csv")
    final = {k: v for k, v in run.history[-1].items() if k != "model"}
    return {"model": models.model_info(model), "data": str(path), "task": "language model",
            "final": final, "vocab_size": len(vocab), "train_chars": len(train_ids),
            "val_chars": 0 if val_ids is None else len(val_ids), "checkpoint": checkpoint}


def train_translator_on_file(model_name: str, path: str | Path, out_dir: str | Path, *,
                             model_sets: dict[str, Any] | None = None, max_words: int = 15,
                             epochs: int = 10, batch_size: int = 64, optimizer: str = "adam",
                             lr: float = 5e-3, grad_clip: float | None = 1.0, seed: int = 0,
                             device: str = "auto", progress: bool | None = None
                             ) -> dict[str, Any]:
    """Train translator ``model_name`` on the ``source<TAB>target`` file at ``path``.

    Args:
        model_name: ``seq2seq-rnn``, ``bahdanau`` or ``transformer-mt``.
        path: a UTF-8 file of ``source<TAB>target`` lines (later columns are ignored).
        out_dir: the run folder (``checkpoint.safetensors`` with both vocabularies,
            ``metrics.csv``).
        model_sets: fields of the model's config; the vocabulary sizes (and a Transformer's
            special token ids) come from the data.
        max_words: keep pairs with at most this many tokens a side.
        epochs, batch_size, optimizer, lr, grad_clip, seed, device, progress: as
            :func:`deepnotes.tasks.translation.train_seq2seq` takes them.

    Returns:
        ``{"model", "data", "task", "final", "pairs", "test_bleu", "checkpoint"}``; ``pairs``
        counts the train/valid/test pairs, ``test_bleu`` is there when the file has test pairs.

    Notes: S1, S2, S4.
    """
    path, out_dir = Path(path).expanduser(), Path(out_dir)
    read_text_file(path, "'source<TAB>target'")  # missing, empty or not UTF-8: one sentence
    data = load_translation_corpus(str(path), max_words=max_words, batch_size=batch_size,
                                   seed=seed)
    v = data.tgt_vocab
    auto = {"src_vocab_size": len(data.src_vocab), "tgt_vocab_size": len(v), "pad": v.pad,
            "bos": v.bos, "eos": v.eos}
    sets = _auto_sizes(model_name, auto, dict(model_sets or {}))
    seed_everything(seed)  # before the model: its initial weights come from the seed
    model = models.create(model_name, **sets)
    if int(getattr(model.config, "max_len", data.num_steps)) < data.num_steps:
        raise ConfigError(f"model.max_len must be at least the padded length {data.num_steps} "
                          f"(max_words + 1)")
    history = train_seq2seq(model, data, epochs=epochs, lr=lr, clip=grad_clip,
                            device=device, progress=progress, seed=seed, optimizer=optimizer,
                            out_dir=out_dir)
    model.cpu()
    summary: dict[str, Any] = {
        "model": models.model_info(model), "data": str(path), "task": "translation",
        "final": history[-1],
        "pairs": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test)},
        "checkpoint": str(out_dir / "checkpoint.safetensors")}
    if len(data.test):
        result = evaluate_bleu(model, data.test, data.src_vocab, data.tgt_vocab,
                               max_len=data.num_steps)
        summary["test_bleu"] = result["bleu"]
    return summary
