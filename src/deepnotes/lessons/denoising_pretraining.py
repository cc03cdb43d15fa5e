"""Denoising pre-training of a translator on monolingual text, then a small parallel set (P6).

Claim (notes P6): an encoder-decoder can be pre-trained without translations, by corrupting
text (masking, deleting, infilling spans, permuting sentences, rotating) and training the
model to restore it (BART, MASS); fine-tuned on few translation pairs, it translates better
than the same network trained on those pairs alone.

Data (Bible verses, English WEB / Spanish Reina-Valera 1909, split by verse as
``transformer-mt``, whose test set this is): the **small parallel set** is ``parallel_pairs``
training pairs of at most 15 words a side. The **monolingual text** is the other training
verses of at most 30 words, each in one language only: the English side of about half of them
(chosen by a hash of the verse), the Spanish side of the rest, so no verse is seen in both
languages and no translation pair is pre-trained on. One word vocabulary for both languages
(words seen twice in the training text), with ``<mask>`` and two target tags: the encoder
reads a text followed by ``<2en>`` or ``<2es>``, the language to write (denoising: the
text's own; translation: Spanish).

Pre-training: ``noise_copies`` corrupted copies of each monolingual verse (``noises`` at rate
``noise_p``: by default BART's best pair, text infilling with Poisson(3) spans over 30 % of
the words and sentence permutation), teacher-forced cross-entropy on the original. Then both
the pre-trained network and the same network from random weights are fine-tuned on the
parallel set for the same epochs, each with its learning rate chosen on validation BLEU; the
test BLEU (greedy) of each chosen model is reported. Quick mode (tests): 2,000 monolingual
verses, 300 pairs, a small model.

Notes: P6, S2, A11.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data.parallel import TranslationData, TranslationSplit, build_array, split_of
from deepnotes.data.parallel import load_bible_pairs
from deepnotes.errors import ConfigError
from deepnotes.figures import loss_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.lessons.transformer_mt import _build
from deepnotes.tasks.denoising import MASK, NOISES, corrupt
from deepnotes.tasks.translation import copy_baseline_bleu, evaluate_bleu, train_seq2seq
from deepnotes.text import Vocab, tokenize
from deepnotes.text.vocab import RESERVED

NAME = "denoising-pretraining"
SUMMARY = ("BART-style denoising pre-training on monolingual English and Spanish verses, then "
           "a small parallel set: test BLEU with vs without pre-training (P6)")
CONCEPTS = ("P6", "S2", "A11")

TAGS = {"en": "<2en>", "es": "<2es>"}


@dataclass
class Config(LessonConfig):
    QUICK = {"mono_sentences": 2000, "parallel_pairs": 300, "embed_dim": 32, "ffn_hidden": 64,
             "num_layers": 1, "dropout": 0.0, "pre_epochs": 3, "ft_epochs": 12,
             "ft_lrs": (3e-3,), "pre_lr": 3e-3}

    max_words: int = 15  # words a side of the parallel pairs (transformer-mt's)
    mono_max_words: int = 30  # words of a monolingual verse, at most
    parallel_pairs: int = 1000  # the small parallel set
    mono_sentences: int = 0  # monolingual verses used (0: all)
    noises: tuple[str, ...] = ("infill", "permute")  # of mask, delete, infill, permute, rotate
    noise_p: float = 0.3  # corruption rate
    noise_copies: int = 2  # corrupted copies of each monolingual verse
    embed_dim: int = 128  # transformer-mt's model
    num_heads: int = 4
    ffn_hidden: int = 256
    num_layers: int = 2
    dropout: float = 0.2
    norm_first: bool = False
    pre_epochs: int = 6  # passes over the corrupted copies
    pre_lr: float = 1e-3
    ft_epochs: int = 30  # fine-tuning passes over the parallel set (both starts)
    ft_lrs: tuple[float, ...] = (1e-3, 3e-4)  # candidates, chosen on validation BLEU
    batch_size: int = 64
    clip: float = 1.0
    device: str = "auto"
    progress: bool | None = None


def _split(cfg: Config, vocab: Vocab, rows: list[tuple[list[str], list[str], str, str]],
           num_steps: int) -> TranslationSplit:
    """rows: (source tokens with their tag, target tokens, source text, target text)."""
    src, src_len = build_array([r[0] for r in rows], vocab, num_steps)
    tgt, tgt_len = build_array([r[1] for r in rows], vocab, num_steps)
    return TranslationSplit(src, src_len, tgt, tgt_len, [r[2] for r in rows],
                            [r[3] for r in rows], [r[2] for r in rows])


def _data(cfg: Config, vocab: Vocab, parts: dict, num_steps: int, name: str) -> TranslationData:
    return TranslationData(name, vocab, vocab, *(_split(cfg, vocab, parts[s], num_steps)
                                                 for s in ("train", "valid", "test")),
                           num_steps=num_steps, batch_size=cfg.batch_size, seed=cfg.seed)


def partition(cfg: Config, keys: list[str], en_len: list[int], es_len: list[int]
              ) -> tuple[list[str], list[int], dict[int, str]]:
    """Which verse does what: ``(split of each verse, the parallel set's indices,
    {monolingual index: its one language})``. Monolingual verses come from the training split
    only, never from the parallel set, each in one language (by a hash of its key)."""
    split = [split_of(k) for k in keys]
    short = [0 < a <= cfg.max_words and 0 < b <= cfg.max_words for a, b in zip(en_len, es_len)]
    rng = random.Random(cfg.seed)
    train_short = [i for i in range(len(keys)) if split[i] == "train" and short[i]]
    rng.shuffle(train_short)
    parallel = sorted(train_short[:cfg.parallel_pairs])
    in_parallel = set(parallel)
    mono_idx = [i for i in range(len(keys)) if split[i] == "train" and i not in in_parallel
                and 0 < en_len[i] <= cfg.mono_max_words and 0 < es_len[i] <= cfg.mono_max_words]
    rng.shuffle(mono_idx)
    mono_idx = sorted(mono_idx[:cfg.mono_sentences or None])
    lang = {i: "en" if split_of(keys[i], 1, (0.5, 0.5, 0.0)) == "train" else "es"
            for i in mono_idx}
    return split, parallel, lang


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if any(n not in NOISES for n in cfg.noises) or not cfg.noises:
        raise ConfigError(f"noises must be some of {', '.join(NOISES)}; got {cfg.noises}")
    if not cfg.ft_lrs:
        raise ConfigError("ft_lrs needs at least one learning rate")
    pairs = load_bible_pairs()
    en_tok = tokenize([p[0] for p in pairs])
    es_tok = tokenize([p[1] for p in pairs])
    split, parallel, lang = partition(cfg, [p[2] for p in pairs], [len(t) for t in en_tok],
                                      [len(t) for t in es_tok])
    mono_idx = sorted(lang)
    short = [0 < len(en_tok[i]) <= cfg.max_words and 0 < len(es_tok[i]) <= cfg.max_words
             for i in range(len(pairs))]
    mono = [(en_tok[i], pairs[i][0]) if lang[i] == "en" else (es_tok[i], pairs[i][1])
            for i in mono_idx]
    vocab = Vocab([t for t, _ in mono] + [en_tok[i] for i in parallel]
                  + [es_tok[i] for i in parallel], min_freq=2,
                  reserved=(*RESERVED, MASK, *TAGS.values()))

    # pre-training pairs: corrupted text + its language's tag -> the text
    noise_rng = random.Random(cfg.seed + 1)
    pre_train = [(corrupt(toks, cfg.noises, cfg.noise_p, noise_rng) + [TAGS[lang[i]]], toks,
                  text, text)
                 for _ in range(cfg.noise_copies) for (toks, text), i in zip(mono, mono_idx)]
    held = [i for i in range(len(pairs)) if split[i] == "valid" and short[i]]
    pre_val = [(corrupt(en_tok[i], cfg.noises, cfg.noise_p, noise_rng) + [TAGS["en"]],
                en_tok[i], pairs[i][0], pairs[i][0]) for i in held]
    # room for every corrupted text (infilling may insert masks), its tag and <eos>
    pre_steps = max(len(r[j]) for r in pre_train + pre_val for j in (0, 1)) + 1
    pre_data = _data(cfg, vocab, {"train": pre_train, "valid": pre_val, "test": pre_val},
                     pre_steps, "bible-denoising")
    # translation pairs: English + <2es> -> Spanish
    ft_steps = cfg.max_words + 2

    def pair(i):
        return (en_tok[i] + [TAGS["es"]], es_tok[i], pairs[i][0], pairs[i][1])

    ft_parts = {"train": [pair(i) for i in parallel]}
    for s in ("valid", "test"):
        ft_parts[s] = [pair(i) for i in range(len(pairs)) if split[i] == s and short[i]]
    ft_data = _data(cfg, vocab, ft_parts, ft_steps, "bible-en-es-small")

    torch.manual_seed(cfg.seed)
    scratch = _build("transformer-mt", cfg, pre_data)
    pretrained = copy.deepcopy(scratch)  # the same initial weights
    t0 = time.perf_counter()
    pre_history = train_seq2seq(pretrained, pre_data, epochs=cfg.pre_epochs, lr=cfg.pre_lr,
                                clip=cfg.clip, device=cfg.device, progress=cfg.progress,
                                seed=cfg.seed)
    pre_seconds = time.perf_counter() - t0
    pretrained.cpu()
    rows, chosen = [], {}
    for start, base in (("pre-trained", pretrained), ("random weights", scratch)):
        for lr in cfg.ft_lrs:
            model = copy.deepcopy(base)
            t0 = time.perf_counter()
            train_seq2seq(model, ft_data, epochs=cfg.ft_epochs, lr=lr, clip=cfg.clip,
                                 device=cfg.device, progress=cfg.progress, seed=cfg.seed)
            seconds = time.perf_counter() - t0
            model.cpu().eval()
            val = evaluate_bleu(model, ft_data.valid, vocab, vocab, max_len=ft_steps)["bleu"]
            rows.append({"start": start, "lr": lr, "val_bleu": val,
                         "seconds": round(seconds, 1)})
            if start not in chosen or val > chosen[start][0]:
                chosen[start] = (val, model, len(rows) - 1)
    metrics = {"pretrain_seconds": pre_seconds, "pretrain_pairs": float(len(pre_train)),
               "mono_english": float(sum(v == "en" for v in lang.values())),
               "mono_spanish": float(sum(v == "es" for v in lang.values())),
               "parallel_pairs": float(len(parallel)), "vocab": float(len(vocab)),
               "test_pairs": float(len(ft_parts["test"])),
               "pretrain_first_val_loss": float(pre_history[0].get("val_loss", float("nan"))),
               "pretrain_last_val_loss": float(pre_history[-1].get("val_loss", float("nan"))),
               "copy_test_bleu": copy_baseline_bleu(ft_data.test)}
    samples = []
    for start, key in (("pre-trained", "pretrained"), ("random weights", "scratch")):
        val, model, i = chosen[start]
        r = evaluate_bleu(model, ft_data.test, vocab, vocab, max_len=ft_steps)
        rows[i]["test_bleu"] = r["bleu"]
        rows[i]["chosen"] = True
        metrics.update({f"{key}_val_bleu": val, f"{key}_test_bleu": r["bleu"],
                        f"{key}_lr": rows[i]["lr"]})
        samples += [{"start": start, "source": s, "reference": ref, "translation": h}
                    for s, ref, h in zip(ft_data.test.src_text[:4], r["references"][:4],
                                         r["hypotheses"][:4])]
    metrics["pretraining_gain"] = metrics["pretrained_test_bleu"] - metrics["scratch_test_bleu"]
    figures = [loss_curves(pre_history, out_dir / "denoising_loss.png",
                           "denoising pre-training: loss")]
    claim = (f"Pre-trained for {pre_seconds / 60:.1f} min on {len(pre_train):,} corrupted "
             f"copies ({'+'.join(cfg.noises)}, p = {cfg.noise_p}) of "
             f"{metrics['mono_english']:.0f} English and {metrics['mono_spanish']:.0f} Spanish "
             f"verses (denoising validation loss after the first epoch "
             f"{metrics['pretrain_first_val_loss']:.2f}, at the end "
             f"{metrics['pretrain_last_val_loss']:.2f}), then fine-tuned on {len(parallel):,} "
             f"pairs, the Transformer reaches test BLEU {metrics['pretrained_test_bleu']:.2f} "
             f"against {metrics['scratch_test_bleu']:.2f} from random weights with the same "
             f"fine-tuning ({metrics['pretraining_gain']:+.2f}); copying the source scores "
             f"{metrics['copy_test_bleu']:.2f}.")
    return LessonResult(name=NAME, metrics=metrics, figures=figures, history=pre_history,
                        claim=claim, tables={"bleu": rows, "samples": samples})
