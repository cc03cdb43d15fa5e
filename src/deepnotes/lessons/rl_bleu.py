"""Training a translator on BLEU itself: self-critical REINFORCE after cross-entropy (S6).

Claim (notes S6): BLEU cannot be differentiated, so cross-entropy trains the decoder on
something else (the reference's next word after the reference's prefix); reinforcement
learning can optimise the metric directly, the decoder as the agent and sentence BLEU as the
reward. Here the ``transformer-mt`` Transformer is first trained with cross-entropy, then
with self-critical REINFORCE (:mod:`deepnotes.tasks.rl`: reward of a drawn translation minus
that of the model's own greedy one). We measure test BLEU (greedy decoding) and output length
before and after, next to a control that spends the same epochs on more cross-entropy, so that
"more training" is not mistaken for "RL helps". The learning rate of each continuation is
chosen on the validation BLEU; test BLEU is computed once per chosen model. If RL does not
help, the numbers say so. The control trains as cross-entropy models train here (dropout on);
self-critical training runs with dropout off (the model that draws is the model scored), so
the two continuations differ in that too.

Data and base model: ``transformer-mt``'s (English -> Spanish Bible verses of at most 15 words,
d = 128, 2 + 2 blocks, 20 epochs of cross-entropy); ``from_run`` starts from a saved
``transformer-mt`` run folder instead (same corpus and seed). Quick mode (tests): the made-up
toy corpus and small sizes.

Notes: S6, S4, S3.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.errors import ConfigError
from deepnotes.figures import plot_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.lessons.transformer_mt import Config as MTConfig
from deepnotes.lessons.transformer_mt import _build
from deepnotes.runtime import resolve_device
from deepnotes.tasks.rl import self_critical
from deepnotes.tasks.translation import (
    evaluate_bleu,
    load_seq2seq,
    load_translation_corpus,
    sample_rows,
    save_translator,
    train_seq2seq,
)

NAME = "rl-bleu"
SUMMARY = ("self-critical REINFORCE on sentence BLEU after cross-entropy, Transformer en->es: "
           "test BLEU and length vs more cross-entropy (S6)")
CONCEPTS = ("S6", "S4", "S3")


@dataclass
class Config(LessonConfig):
    # quick: transformer-mt's quick sizes on the toy corpus (tests)
    QUICK = {"corpus": "toy-en-es", "embed_dim": 32, "ffn_hidden": 64, "num_layers": 1,
             "dropout": 0.0, "epochs": 8, "lr": 0.005, "batch_size": 48, "rl_epochs": 2,
             "rl_lrs": (1e-3, 3e-4), "samples": 4}

    # the cross-entropy model: transformer-mt's defaults
    corpus: str = MTConfig.corpus  # bible-en-es | toy-en-es | a source<TAB>target file
    max_words: int = MTConfig.max_words
    embed_dim: int = MTConfig.embed_dim
    num_heads: int = MTConfig.num_heads
    ffn_hidden: int = MTConfig.ffn_hidden
    num_layers: int = MTConfig.num_layers
    dropout: float = MTConfig.dropout
    norm_first: bool = MTConfig.norm_first
    epochs: int = MTConfig.epochs  # cross-entropy epochs of the starting model
    batch_size: int = MTConfig.batch_size
    lr: float = MTConfig.lr
    clip: float = MTConfig.clip
    label_smoothing: float = MTConfig.label_smoothing
    samples: int = 8  # test translations shown
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)
    # the continuations
    rl_epochs: int = 4  # epochs of each continuation (self-critical, and more cross-entropy)
    rl_lrs: tuple[float, ...] = (1e-4, 3e-5)  # candidates, chosen on validation BLEU
    ce_weight: float = 0.0  # λ: cross-entropy on the references mixed into the RL loss
    from_run: str = ""  # a transformer-mt run folder to start from (skips the first training)


def _scores(model, data, split) -> dict[str, float]:
    s = getattr(data, split)
    r = evaluate_bleu(model, s, data.src_vocab, data.tgt_vocab, max_len=data.num_steps,
                      codec=getattr(data, "codec", None))
    words = [len(h.split()) for h in r["hypotheses"]]
    return {"bleu": r["bleu"], "words": sum(words) / max(len(words), 1)}


def _base(cfg: Config, data, out_dir: Path):
    if cfg.from_run:
        path = Path(cfg.from_run)
        model, src_vocab, tgt_vocab, _ = load_seq2seq(path / "checkpoint" if path.is_dir()
                                                      else path)
        if src_vocab != data.src_vocab or tgt_vocab != data.tgt_vocab:
            raise ConfigError(f"{cfg.from_run} was trained on other vocabularies "
                              f"({len(src_vocab)}/{len(tgt_vocab)} words, this corpus "
                              f"{len(data.src_vocab)}/{len(data.tgt_vocab)}); give a "
                              f"transformer-mt run on corpus={cfg.corpus} with seed={cfg.seed}")
        return model, 0.0
    torch.manual_seed(cfg.seed)
    model = _build("transformer-mt", cfg, data)
    t0 = time.perf_counter()
    train_seq2seq(model, data, epochs=cfg.epochs, lr=cfg.lr, clip=cfg.clip, device=cfg.device,
                  progress=cfg.progress, seed=cfg.seed, label_smoothing=cfg.label_smoothing)
    seconds = time.perf_counter() - t0
    model.cpu().eval()
    save_translator(model, data, out_dir / "cross-entropy")
    return model, seconds


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if not cfg.rl_lrs or cfg.rl_epochs < 1:
        raise ConfigError("rl_lrs needs at least one learning rate and rl_epochs >= 1")
    data = load_translation_corpus(cfg.corpus, cfg.max_words, cfg.batch_size, cfg.seed)
    base, base_seconds = _base(cfg, data, out_dir)
    device = resolve_device(cfg.device)
    rows = [{"model": "cross-entropy (start)", "lr": None, **_prefixed(_scores(base, data,
                                                                              "valid"), "val"),
             **_prefixed(_scores(base, data, "test"), "test")}]
    ref_words = sum(len(t.split()) for t in data.test.tgt_text) / len(data.test)
    best: dict[str, tuple] = {}
    curves: dict[str, tuple[list, list]] = {}
    history = []
    for kind in ("self-critical", "more cross-entropy"):
        for lr in cfg.rl_lrs:
            model = copy.deepcopy(base).to(device)
            t0 = time.perf_counter()
            if kind == "self-critical":
                r = self_critical(model, data, cfg.rl_epochs, lr, cfg.batch_size, cfg.clip,
                                  cfg.ce_weight, cfg.seed, progress=cfg.progress)
                history += [{"run": f"{kind} lr {lr:g}", **h} for h in r.history]
                curves[f"lr {lr:g}: drawn"] = ([h["epoch"] for h in r.history],
                                               [h["sample_reward"] for h in r.history])
                curves[f"lr {lr:g}: greedy"] = ([h["epoch"] for h in r.history],
                                                [h["greedy_reward"] for h in r.history])
            else:
                train_seq2seq(model, data, epochs=cfg.rl_epochs, lr=lr, clip=cfg.clip,
                              device=cfg.device, progress=cfg.progress, seed=cfg.seed + 1,
                              label_smoothing=cfg.label_smoothing, validate=False)
            seconds = time.perf_counter() - t0
            model.cpu()
            val = _scores(model.eval(), data, "valid")
            rows.append({"model": kind, "lr": lr, **_prefixed(val, "val"),
                         "seconds": round(seconds, 1)})
            if kind not in best or val["bleu"] > best[kind][0]:
                best[kind] = (val["bleu"], lr, model, len(rows) - 1)
    metrics = {"start_val_bleu": rows[0]["val_bleu"], "start_test_bleu": rows[0]["test_bleu"],
               "start_test_words": rows[0]["test_words"], "reference_test_words": ref_words,
               "base_train_seconds": base_seconds}
    for kind, key in (("self-critical", "rl"), ("more cross-entropy", "ce")):
        _, lr, model, i = best[kind]
        test = _scores(model, data, "test")
        rows[i].update(_prefixed(test, "test"))
        rows[i]["chosen"] = True
        metrics.update({f"{key}_lr": lr, f"{key}_val_bleu": rows[i]["val_bleu"],
                        f"{key}_test_bleu": test["bleu"], f"{key}_test_words": test["words"]})
    metrics["rl_gain"] = metrics["rl_test_bleu"] - metrics["start_test_bleu"]
    metrics["rl_gain_over_ce"] = metrics["rl_test_bleu"] - metrics["ce_test_bleu"]
    rl_model = best["self-critical"][2]
    save_translator(rl_model, data, out_dir)
    figures = [plot_curves(curves, out_dir / "rl_rewards.png", "epoch of self-critical training",
                           "mean sentence BLEU (0-1) on the training batches",
                           "Reward of drawn vs greedy translations")] if curves else []
    verdict = ("helps" if metrics["rl_gain_over_ce"] > 0.5 else
               "does not help" if metrics["rl_gain_over_ce"] < -0.5 else
               "makes no clear difference")
    claim = (f"After cross-entropy training (test BLEU {metrics['start_test_bleu']:.2f}, "
             f"{metrics['start_test_words']:.1f} words per translation; references "
             f"{ref_words:.1f}), {cfg.rl_epochs} epochs of self-critical REINFORCE on sentence "
             f"BLEU (lr {metrics['rl_lr']:g}, chosen on validation) give test BLEU "
             f"{metrics['rl_test_bleu']:.2f} ({metrics['rl_test_words']:.1f} words); the same "
             f"epochs of more cross-entropy give {metrics['ce_test_bleu']:.2f} "
             f"({metrics['ce_test_words']:.1f} words): RL {verdict} here "
             f"({metrics['rl_gain_over_ce']:+.2f} BLEU over the control).")
    samples = sample_rows(rl_model, data, cfg.samples)
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=history,
                        claim=claim, tables={"bleu": rows, "samples": samples},
                        checkpoint=str(out_dir / "checkpoint"))


def _prefixed(scores: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in scores.items()}
