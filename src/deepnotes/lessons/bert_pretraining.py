"""A small English BERT pre-trained from scratch on Austen, the Bible and Shakespeare.

Claim (notes P1–P3): pre-training needs no labels — the text supervises itself. Hide 15 % of
the pieces (80 % become ``[MASK]``, 10 % a random piece, 10 % stay) and ask for them back
(MLM); give two sentences and ask whether the second really followed the first or was drawn
from another document (NSP, BERT's original pair task; ``bert-chinese`` uses ALBERT's SOP).
Both accuracies climb from chance while the loss falls, on a laptop CPU, and the result is an
ordinary Hugging Face BERT folder that other lessons fine-tune (``glue-offline``) and
``transformers`` loads.

Data (DATA.md, offline): Jane Austen's four *training* novels (Northanger Abbey and
Persuasion, which ``bert-english`` and ``glue-offline`` validate and test on, are left out),
the World English Bible's chapters of the *training* split of :mod:`deepnotes.tasks.bible`
(``split_seed``, 0 as in ``glue-offline``: the verses task's validation and test chapters are
left out; the folder records the seed and ``glue-offline`` refuses another), and
Shakespeare's 42 works. Documents: runs of 8 consecutive sentences of a book or play
(:func:`~deepnotes.tasks.bert.english_documents`; sentences under 3 words, such as speaker
labels, dropped) and Bible chapters (verses as sentences). 2 % of the documents are held out
to validate. The vocabulary: a WordPiece vocabulary of ``vocab_size`` pieces trained on the
training documents (:meth:`WordPieceTokenizer.train
<deepnotes.text.WordPieceTokenizer.train>`, uncased).

P5 on the way: the cosine gap between "bank" of the river and "bank" of money in the
``contextual-embeddings`` sentences, at the input and at the last layer.

Quick mode (the tests): 300 documents, a 2-layer width-64 BERT, 600 updates; about 40 s. It
checks the machinery: the loss falls and masked pieces are guessed better than by always
answering the most frequent one.

Notes: P1 (self-supervised), P2, P3 (MLM 80/10/10, NSP), E6 (a trained WordPiece vocabulary),
P5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data.corpora import load_austen, load_bible
from deepnotes.data.parallel import split_of
from deepnotes.data.shakespeare import load_shakespeare
from deepnotes.errors import ConfigError, UnknownNameError
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import sense_gap
from deepnotes.models.bert import (
    BertConfig,
    BertForPreTraining,
    save_pretrained,
    word_vectors_by_layer,
)
from deepnotes.tasks.bert import (
    wordpiece_pairs,
    english_documents,
    mlm_floor,
    plot_pretraining,
    pretrain,
)
from deepnotes.tasks.bible import chapter_of, section_of
from deepnotes.tasks.reading import TRAIN_BOOKS

NAME = "bert-pretraining"
SUMMARY = ("a small English BERT pre-trained from scratch (MLM + NSP) on Austen, the Bible "
           "and Shakespeare: accuracy curves and a Hugging Face folder (P1-P3)")
CONCEPTS = ("P1", "P2", "P3", "E6", "P5")


@dataclass
class Config(LessonConfig):
    # quick: 300 documents, a 2-layer width-64 BERT, 600 updates (tests)
    QUICK = {"documents": 300, "vocab_size": 3000, "hidden": 64, "layers": 2, "heads": 2,
             "steps": 600, "rounds": 3, "lr": 3e-3, "max_length": 64}

    parts: tuple[str, ...] = ("austen", "bible-web", "shakespeare")  # the corpora read
    documents: int = 0  # a seeded sample of this many documents (0: all)
    vocab_size: int = 16000  # WordPiece pieces
    hidden: int = 256  # H, the width of every block
    layers: int = 4  # encoder blocks
    heads: int = 4  # attention heads per block
    max_length: int = 128  # positions of a pair
    objective: str = "nsp"  # nsp (next sentence, BERT) | sop (sentence order, ALBERT)
    steps: int = 2500  # pre-training updates
    rounds: int = 10  # validation points along the way
    batch_size: int = 32  # pairs per update
    lr: float = 5e-4  # AdamW peak (warm-up 6 %, then cosine)
    val_documents: float = 0.02  # share of documents held out to validate
    split_seed: int = 0  # the Bible chapter split whose training chapters are read (as glue's)


def _documents(parts: tuple[str, ...], split_seed: int = 0
               ) -> tuple[list[list[str]], dict[str, int]]:
    docs: list[list[str]] = []
    sizes: dict[str, int] = {}
    for part in parts:
        if part == "austen":
            rows = load_austen()
            new = english_documents([[line for b, line in rows if b == book]
                                     for book in TRAIN_BOOKS])
        elif part.startswith("bible-"):
            chapters: dict[str, list[str]] = {}
            for ref, verse in load_bible(part):
                try:
                    section_of(ref)
                except ConfigError:  # the deuterocanon: no part, no split; left out
                    continue
                if split_of(chapter_of(ref), split_seed, (0.8, 0.1, 0.1)) == "train":
                    chapters.setdefault(chapter_of(ref), []).append(verse)
            new = list(chapters.values())
        elif part == "shakespeare":
            works: dict[str, list[str]] = {}
            for work, line in load_shakespeare():
                works.setdefault(work, []).append(line)
            new = english_documents(works.values())
        else:
            raise UnknownNameError(f"unknown part {part!r}; choose from austen, bible-web, "
                                   "bible-kjv, shakespeare")
        new = [d for d in new if len(d) >= 2]
        sizes[part] = sum(len(s) for d in new for s in d)
        docs += new
    return docs, sizes


def run(cfg: Config, out_dir: Path) -> LessonResult:
    docs, sizes = _documents(tuple(cfg.parts), cfg.split_seed)
    g = torch.Generator().manual_seed(cfg.seed)
    if cfg.documents and cfg.documents < len(docs):
        docs = [docs[i] for i in sorted(torch.randperm(len(docs), generator=g)
                                        [:cfg.documents].tolist())]
    n_chars = sum(len(s) for d in docs for s in d)
    train_docs, val_docs, tokenizer, train_pairs, val_pairs = wordpiece_pairs(docs, cfg)
    bert_cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=cfg.hidden,
                          num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                          intermediate_size=4 * cfg.hidden, max_position_embeddings=cfg.max_length)
    torch.manual_seed(cfg.seed)
    model = BertForPreTraining(bert_cfg)
    fit = pretrain(model, train_pairs, val_pairs, tokenizer, steps=cfg.steps, rounds=cfg.rounds,
                   batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)
    rows = fit.history.rows
    # the folder remembers which Bible chapters it read, so glue-offline can refuse to test
    # on them
    save_pretrained(model, out_dir / "pretrained", tokenizer,
                    deepnotes_bible_split_seed=cfg.split_seed)

    # the MLM floor: always the most frequent piece of the training text
    unigram = mlm_floor(train_pairs, val_pairs, tokenizer, cfg.seed, cfg.batch_size)

    # P5: "bank" by the river and at the bank
    from deepnotes.lessons.contextual_embeddings import SENTENCES

    (_, river), (_, money) = SENTENCES["bank"]
    layers = word_vectors_by_layer(model.bert, tokenizer, list(river) + list(money), "bank")
    _, w_last, a_last = sense_gap(layers[-1], len(river))
    _, w_in, a_in = sense_gap(layers[0], len(river))

    tokens = sum(len(p.ids) for p in train_pairs)
    last = rows[-1]
    metrics = {
        "val_mlm_accuracy": float(last["val_mlm_accuracy"]),
        "val_pair_accuracy": float(last["val_pair_accuracy"]),
        "first_val_mlm_accuracy": float(rows[0]["val_mlm_accuracy"]),
        "first_val_loss": float(rows[0]["val_loss"]),
        "last_val_loss": float(last["val_loss"]),
        "mlm_unigram_baseline": unigram,
        "pretrain_seconds": fit.seconds,
        "tokens_per_second": cfg.steps * cfg.batch_size * tokens / len(train_pairs)
        / fit.seconds,
        "characters": float(n_chars),
        "documents": float(len(docs)),
        "train_pairs": float(len(train_pairs)),
        "vocab_size": float(tokenizer.vocab_size),
        "bank_sense_gap_last_layer": w_last - a_last,
        "bank_sense_gap_input": w_in - a_in,
        **{f"corpus_characters_{k.replace('-', '_')}": float(v) for k, v in sizes.items()},
    }
    figures = [plot_pretraining(rows, cfg.objective, unigram,
                                out_dir / "bert_pretraining_english.png",
                                title="What pre-training learns (English)")]
    claim = (f"pre-trained on {n_chars / 1e6:.1f}M characters ({cfg.steps} updates, "
             f"{fit.seconds / 60:.1f} min): masked pieces right {last['val_mlm_accuracy']:.3f} "
             f"(most frequent piece {unigram:.3f}), {cfg.objective.upper()} "
             f"{last['val_pair_accuracy']:.3f} (chance 0.5); validation loss "
             f"{rows[0]['val_loss']:.2f} → {last['val_loss']:.2f}; 'bank' river/money gap "
             f"{w_last - a_last:+.3f} at the last layer ({w_in - a_in:+.3f} at the input)")
    return LessonResult(NAME, metrics, figures, history=rows, claim=claim,
                        tables={"pretraining": rows}, checkpoint=str(out_dir / "pretrained"))
