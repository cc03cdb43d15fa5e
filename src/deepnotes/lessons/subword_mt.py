"""A Transformer on BPE subwords translates English into Spanish with no ``<unk>``.

Claim (notes E5, A11, S4; Sennrich et al. 2016): a word-level translator must map every word
seen fewer than twice to ``<unk>`` — names, rare inflections — and so writes ``<unk>`` in its
output. Cutting words into byte-level BPE pieces (one BPE learnt on both languages of the
training pairs) spells every word from known pieces: the vocabulary is small and closed, and
nothing becomes ``<unk>``. With the pieces the translator can also learn from longer verses
(both sides ≤ 30 words: about 6× the pairs of ``transformer-mt``'s ≤ 15), and its test BLEU on
the same test verses as ``transformer-mt`` (the ≤ 15-word ones) is compared with that lesson's
word-level Transformer. The settings (BPE size, model, schedule) were fixed before the run,
none chosen on the test verses.

Data: the English -> Spanish Bible verse pairs (WEB / Reina-Valera 1909) whose sides have at
most 30 words, split by a hash of the verse reference (the split ``transformer-mt`` uses, so
its 166 test verses are among these); quick mode: the made-up ``toy-en-es`` corpus with a
500-token BPE and a tiny model.

Notes: E5, A11, A12, S4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from deepnotes.data.parallel import TranslationSplit, load_translation_data
from deepnotes.figures import loss_curves
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models import create
from deepnotes.tasks.translation import (
    bleu_rows,
    copy_baseline_bleu,
    evaluate_bleu,
    sample_rows,
    save_translator,
    train_seq2seq,
)
from deepnotes.text import tokenize

NAME = "subword-mt"
SUMMARY = "Transformer on byte-level BPE pieces: en->es BLEU with no <unk>, more pairs (E5, A11)"
CONCEPTS = ("E5", "A11", "A12", "S4")
WORD_LEVEL = (14.5, 14.8)  # transformer-mt's test BLEU greedy / beam, docs/results.md


@dataclass
class Config(LessonConfig):
    # quick: the toy corpus, a 500-token BPE, a tiny model (tests)
    QUICK = {"corpus": "toy-en-es", "subwords": 500, "max_words": 15, "compare_words": 0,
             "embed_dim": 32, "ffn_hidden": 64, "num_layers": 1, "dropout": 0.0,
             "batch_size": 48, "lr": 0.005, "warmup_steps": 20, "label_smoothing": 0.0}

    corpus: str = "bible-en-es"  # bible-en-es | toy-en-es | a source<TAB>target file
    max_words: int = 30  # keep pairs with at most this many words a side
    compare_words: int = 15  # also score the test verses with at most this many words (0: off)
    subwords: int = 8000  # size of the joint byte-level BPE vocabulary
    embed_dim: int = 128  # d: width of embeddings and blocks (transformer-mt's)
    num_heads: int = 4  # attention heads
    ffn_hidden: int = 512  # hidden width of the position-wise FFN
    num_layers: int = 2  # encoder blocks = decoder blocks
    dropout: float = 0.1  # on embeddings, attention weights and residual branches
    epochs: int = 10  # passes over the training pairs (~2.9 min each on 2 cores)
    batch_size: int = 64  # pairs per minibatch
    lr: float = 0.001  # peak Adam learning rate (after the warm-up, then cosine to 0)
    warmup_steps: int = 500  # linear warm-up steps (O7)
    label_smoothing: float = 0.1  # ε of the loss
    clip: float = 1.0  # max gradient norm
    beam_size: int = 4  # k of the beam-search rows
    alpha: float = 0.75  # length-penalty exponent
    samples: int = 8  # test translations shown
    device: str = "auto"  # cpu | cuda | auto
    progress: bool | None = None  # progress bar (None: only on a terminal)


def _subset(split: TranslationSplit, max_words: int) -> TranslationSplit:
    """The pairs of ``split`` whose source and reference have at most ``max_words`` words."""
    src_words, tgt_words = tokenize(list(split.src_text)), tokenize(list(split.tgt_text))
    keep = [i for i in range(len(split))
            if len(src_words[i]) <= max_words and len(tgt_words[i]) <= max_words]
    idx = torch.tensor(keep, dtype=torch.long)
    return TranslationSplit(split.src[idx], split.src_valid_len[idx], split.tgt[idx],
                            split.tgt_valid_len[idx], [split.src_text[i] for i in keep],
                            [split.tgt_text[i] for i in keep], [split.keys[i] for i in keep])


def _count_unk(hypotheses: list[str]) -> int:
    return sum(h.count("<unk>") for h in hypotheses)


def run(cfg: Config, out_dir: Path) -> LessonResult:
    fractions: Any = (0.8, 0.1, 0.1) if cfg.corpus == "toy-en-es" else (0.9, 0.05, 0.05)
    path = None if cfg.corpus in ("bible-en-es", "toy-en-es") else cfg.corpus
    t0 = time.perf_counter()
    data = load_translation_data(cfg.corpus if path is None else None, path=path,
                                 max_words=cfg.max_words, batch_size=cfg.batch_size,
                                 seed=cfg.seed, subwords=cfg.subwords, fractions=fractions)
    bpe_seconds = time.perf_counter() - t0
    v = data.tgt_vocab
    torch.manual_seed(cfg.seed)
    model = create("transformer-mt", src_vocab_size=len(data.src_vocab), tgt_vocab_size=len(v),
                   embed_dim=cfg.embed_dim, num_heads=cfg.num_heads, ffn_hidden=cfg.ffn_hidden,
                   num_layers=cfg.num_layers, dropout=cfg.dropout,
                   max_len=max(256, 2 * data.num_steps + 2), pad=v.pad, bos=v.bos, eos=v.eos)
    t0 = time.perf_counter()
    history = train_seq2seq(model, data, epochs=cfg.epochs, lr=cfg.lr, clip=cfg.clip,
                            device=cfg.device, progress=cfg.progress, seed=cfg.seed,
                            label_smoothing=cfg.label_smoothing, warmup_steps=cfg.warmup_steps,
                            cosine=True)
    train_seconds = time.perf_counter() - t0
    model.cpu().eval()

    settings = [("greedy", 1, cfg.alpha), ("beam", cfg.beam_size, cfg.alpha)]
    rows = bleu_rows(model, data, settings)
    greedy = evaluate_bleu(model, data.test, data.src_vocab, v, max_len=data.num_steps,
                           codec=data.codec)
    pieces = [len(data.codec.split(s)) for s in data.test.src_text]
    words = [len(w) for w in tokenize(list(data.test.src_text))]
    metrics: dict[str, float] = {
        "train_pairs": float(len(data.train)), "test_pairs": float(len(data.test)),
        "bpe_vocab": float(len(v)), "num_steps": float(data.num_steps),
        "pieces_per_word": sum(pieces) / max(sum(words), 1),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "bpe_seconds": bpe_seconds, "train_seconds": train_seconds,
        "first_epoch_train_loss": float(history[0]["train_loss"]),
        "final_train_loss": float(history[-1]["train_loss"]),
        "final_val_loss": float(history[-1].get("val_loss", float("nan"))),
        "copy_source_test_bleu": copy_baseline_bleu(data.test),
        "test_bleu_greedy": float(rows[0]["test_bleu"]),
        f"test_bleu_beam{cfg.beam_size}": float(rows[1]["test_bleu"]),
        "unk_in_output": float(_count_unk(greedy["hypotheses"])),
    }
    if cfg.compare_words:
        same = _subset(data.test, cfg.compare_words)
        metrics["same_verses"] = float(len(same))
        for method, k, alpha in settings:
            r = evaluate_bleu(model, same, data.src_vocab, v, method=method, beam_size=k,
                              alpha=alpha, max_len=data.num_steps, codec=data.codec)
            key = "greedy" if method == "greedy" else f"beam{k}"
            metrics[f"same_verses_bleu_{key}"] = float(r["bleu"])
        metrics["word_level_bleu_greedy"], metrics["word_level_bleu_beam"] = WORD_LEVEL
    samples = sample_rows(model, data, cfg.samples)
    checkpoint = save_translator(model, data, out_dir)
    figures = [loss_curves(history, out_dir / "loss.png", "subword-mt: loss")]
    claim = (f"on {len(data.train):,} training pairs cut into {len(v):,} BPE pieces "
             f"({metrics['pieces_per_word']:.2f} per word), the Transformer reaches test BLEU "
             f"{metrics['test_bleu_greedy']:.1f} greedy / "
             f"{metrics[f'test_bleu_beam{cfg.beam_size}']:.1f} beam with "
             f"{int(metrics['unk_in_output'])} <unk> in its output")
    if cfg.compare_words:
        claim += (f"; on the {int(metrics['same_verses'])} test verses of ≤ {cfg.compare_words} "
                  f"words: {metrics['same_verses_bleu_greedy']:.1f} / "
                  f"{metrics[f'same_verses_bleu_beam{cfg.beam_size}']:.1f} vs the word-level "
                  f"{WORD_LEVEL[0]} / {WORD_LEVEL[1]}")
    return LessonResult(NAME, metrics, figures, history, claim=claim,
                        tables={"bleu": rows, "samples": samples}, checkpoint=checkpoint)
