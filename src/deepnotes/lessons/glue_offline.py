"""A GLUE-style benchmark from offline English text: four tasks, one averaged score per model.

Claim (notes P9): a pre-trained model is judged on a *suite* of tasks — single sentences,
sentence pairs, questions — each fine-tuned separately with a small head, and summarised by
the unweighted mean of the task scores, as GLUE does. The lesson asks whether a pre-trained
BERT (MiniLM-L6, or one of ours) is ahead of the same network trained from random weights
on each task and on average, and how far both are above the floor of answers that do not
read (docs/results.md has the measured answer).

The tasks (all built from offline text, DATA.md; test sets never used to choose anything):

============== ==================================================== ======== =============
task           input → label                                        metric   like
============== ==================================================== ======== =============
verses         a Bible verse (WEB) → one of six parts (law,         accuracy SST-2 / topic
               history, poetry, prophets, gospels, letters);
               split by chapter (:mod:`deepnotes.tasks.bible`)
fortunes       a fortune-cookie entry → its file of six (computers, accuracy topic
               politics, science, work, men-women, songs-poems);
               texts filed twice dropped; split by a hash of the text
next-sentence  two Austen sentences → is B the one after A?         accuracy QNLI / MRPC
               (:mod:`deepnotes.tasks.reading`; split by novel)
cloze          an Austen context + the next sentence with a name    exact    SQuAD
               masked → the name, a span of the context              match
============== ==================================================== ======== =============

Every score is on 0–100 (accuracy × 100, exact match in %); a model's benchmark score is
their mean. The floor row is what needs no reading, chosen without the test set: the most
frequent training label (verses, fortunes, pairs) and, for cloze, the one of three name rules
(last, most frequent, first name of the context) that is best on validation.

Models (``models``): ``"minilm"`` (the real MiniLM-L6 weights), ``"scratch"`` (MiniLM's
architecture and vocabulary, random weights), the path of any Hugging Face BERT folder —
e.g. the ``pretrained/`` folder that ``bert-pretraining`` writes — or ``"scratch:FOLDER"``
(that folder's architecture and vocabulary, random weights). Fine-tuning: every weight,
AdamW, warm-up 10 % then cosine, ``epochs`` epochs; the learning rate is chosen per task and
model on validation among ``lrs`` (MiniLM), ``scratch_lrs`` (MiniLM's network from random
weights) or ``folder_lrs`` (a folder's BERT, pre-trained or ``scratch:``).

Quick mode (the tests): MiniLM's first 2 blocks only, three of the tasks (not next-sentence,
which 300 pairs do not teach), 300 training examples per task, 3 epochs of batches of 8;
about two minutes. It checks the machinery and that MiniLM beats the
floor on the single-text tasks; the full run compares the models (docs/results.md).

Notes: P9 (GLUE-style evaluation), P4 (fine-tuning: sequence, pair and QA heads), G3.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from deepnotes.data.corpora import load_austen, load_fortunes
from deepnotes.data.parallel import load_bible_pairs, split_of
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import qa_scores
from deepnotes.models.bert import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertModel,
    load_pretrained_bert,
)
from deepnotes.tasks.bert import (
    choose_finetune,
    classification_batches,
    encode_qa,
    predict,
    qa_batches,
    qa_predict,
)
from deepnotes.tasks.bible import SECTIONS, verse_task
from deepnotes.tasks.reading import (
    TEST_BOOK,
    TRAIN_BOOKS,
    VAL_BOOK,
    austen_tasks,
    book_sentences,
    heuristic_answers,
)
from deepnotes.text import load_tokenizer

NAME = "glue-offline"
SUMMARY = ("a GLUE-style suite of four offline English tasks (verses, fortunes, next "
           "sentence, cloze QA): one averaged score per model, MiniLM vs scratch (P9)")
CONCEPTS = ("P9", "P4", "G3")

TASKS = ("verses", "fortunes", "next-sentence", "cloze")
FORTUNE_CATEGORIES = ("computers", "politics", "science", "work", "men-women", "songs-poems")


@dataclass
class Config(LessonConfig):
    # quick: MiniLM's first 2 blocks, 300 examples per task, no scratch model (tests)
    QUICK = {"models": ("minilm",), "tasks": ("verses", "fortunes", "cloze"), "layers": 2,
             "train_examples": 300, "val_examples": 100,
             "test_examples": 200, "epochs": 3, "lrs": (3e-4,), "batch_size": 8,
             "context_words": 40, "max_length": 96}

    models: tuple[str, ...] = ("minilm", "scratch")  # minilm | scratch | FOLDER | scratch:FOLDER
    tasks: tuple[str, ...] = TASKS  # the tasks of the suite (the average is over these)
    layers: int = 0  # keep a model's first this many blocks (0: all)
    train_examples: int = 2000  # training examples per task (cloze: questions, at most)
    val_examples: int = 400  # validation examples per task (at most)
    test_examples: int = 1000  # test examples per task (0: all, 1,000 pairs; cloze: always all)
    epochs: int = 2  # fine-tuning epochs
    lrs: tuple[float, ...] = (5e-5,)  # candidate learning rates of MiniLM (pre-trained)
    scratch_lrs: tuple[float, ...] = (1e-4,)  # candidates for MiniLM's network, random weights
    folder_lrs: tuple[float, ...] = (1e-4, 3e-4)  # a folder's (small) BERT, either start
    batch_size: int = 16  # examples per update
    text_length: int = 128  # pieces of a text or a pair
    max_length: int = 160  # pieces of a cloze question + context
    context_words: int = 60  # words of context before a cloze question, at most
    split_seed: int = 0  # the verse (by chapter) and fortune splits; bert-pretraining's too


def _sample(n: int, k: int, seed: int) -> list[int]:
    if not k or k >= n:
        return list(range(n))
    g = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(n, generator=g)[:k].tolist())


def _classification_data(cfg: Config) -> dict[str, dict[str, tuple[list, list, list | None]]]:
    """``task -> split -> (texts, labels, second texts or None)`` for the three
    classification tasks."""
    out: dict[str, dict] = {}
    verses = verse_task(load_bible_pairs(), split_seed=cfg.split_seed)
    out["verses"] = {}
    for split, name, k in (("train", "train", cfg.train_examples),
                           ("val", "valid", cfg.val_examples),
                           ("test", "test", cfg.test_examples)):
        t = verses[name]
        keep = _sample(len(t), k, cfg.seed)
        out["verses"][split] = ([t.english[i] for i in keep], [t.labels[i] for i in keep], None)
    rows = load_fortunes(list(FORTUNE_CATEGORIES))
    files = Counter(e for e, _ in rows)
    rows = [(e, FORTUNE_CATEGORIES.index(c)) for e, c in rows if files[e] == 1]
    by_split: dict[str, list] = {"train": [], "valid": [], "test": []}
    for e, y in rows:
        by_split[split_of(e, cfg.split_seed, (0.8, 0.1, 0.1))].append((e, y))
    out["fortunes"] = {}
    for split, name, k in (("train", "train", cfg.train_examples),
                           ("val", "valid", cfg.val_examples),
                           ("test", "test", cfg.test_examples)):
        keep = _sample(len(by_split[name]), k, cfg.seed)
        out["fortunes"][split] = ([by_split[name][i][0] for i in keep],
                                  [by_split[name][i][1] for i in keep], None)
    return out


def _folder(name: str) -> str:
    """The weights a model name reads: ``minilm`` or a folder (``scratch``: MiniLM's)."""
    if name == "scratch":
        return "minilm"
    return name.removeprefix("scratch:")


def _encoder(name: str, cfg: Config) -> tuple[BertModel, object, bool]:
    """(encoder, tokenizer, pre-trained?) of one model name; ``scratch`` and
    ``scratch:FOLDER`` keep the architecture and vocabulary, not the weights."""
    path = _folder(name)
    enc, tok = load_pretrained_bert(path), load_tokenizer(path)
    pre = not name.startswith("scratch")
    if cfg.layers and cfg.layers < len(enc.encoder.layer):
        enc.encoder.layer = enc.encoder.layer[:cfg.layers]
        enc.config = replace(enc.config, num_hidden_layers=cfg.layers)
    return enc, tok, pre


def run(cfg: Config, out_dir: Path) -> LessonResult:
    if not cfg.models:
        raise ConfigError("models is empty; name at least one (minilm, scratch or a folder)")
    tasks = tuple(cfg.tasks)
    if not tasks or any(t not in TASKS for t in tasks):
        raise ConfigError(f"tasks must be some of {', '.join(TASKS)}; got {', '.join(tasks)}")
    for name in cfg.models:  # before any data is read
        if _folder(name) != "minilm" and not Path(_folder(name)).is_dir():
            raise ConfigError(f"model {name!r}: not minilm, scratch, a folder or "
                              "scratch:FOLDER; give the path of a Hugging Face BERT folder "
                              "(config.json, model.safetensors, vocab.txt or tokenizer.json)")
        _check_split(name, cfg.split_seed)
    labels = [_label(n) for n in cfg.models]
    if len(set(labels)) < len(labels):
        raise ConfigError(f"two models would share a row name ({', '.join(labels)}); give "
                          "each model once, and folders with different names")
    rows = load_austen()
    books = {b: book_sentences([line for book, line in rows if book == b])
             for b in (*TRAIN_BOOKS, VAL_BOOK, TEST_BOOK)}
    reading = austen_tasks(books, cfg.train_examples, cfg.val_examples, cfg.test_examples or 1000,
                           cfg.train_examples, 0, cfg.context_words, seed=cfg.seed)
    data = _classification_data(cfg)
    data["next-sentence"] = {s: ([a for a, _, _ in p], [y for _, _, y in p],
                                 [b for _, b, _ in p]) for s, p in reading.pairs.items()}
    questions = reading.questions

    # ---- the floor: answers that do not read, chosen without the test set — the most
    # frequent training label; the name rule that is best on validation
    floor = {}
    for task in ("verses", "fortunes", "next-sentence"):
        majority = Counter(data[task]["train"][1]).most_common(1)[0][0]
        y = data[task]["test"][1]
        floor[task] = 100 * sum(v == majority for v in y) / len(y)
    val_gold = [q.answer for q in questions["val"]]
    rule = max(heuristic_answers(questions["val"]).items(),
               key=lambda kv: qa_scores(kv[1], val_gold)["exact_match"])[0]
    floor["cloze"] = qa_scores(heuristic_answers(questions["test"])[rule],
                               [q.answer for q in questions["test"]])["exact_match"]
    metrics_rule = rule

    scores: dict[str, dict[str, float]] = {"floor (no reading)": floor}
    metrics: dict[str, float] = {}
    tables: dict[str, list] = {}
    for name in cfg.models:
        encoder, tok, pre = _encoder(name, cfg)
        label = _label(name)
        # candidates by architecture: MiniLM's (pre-trained / random) or a folder's (both)
        lrs = cfg.lrs if name == "minilm" else cfg.scratch_lrs if name == "scratch" else \
            cfg.folder_lrs
        room = encoder.config.max_position_embeddings  # a small BERT may have fewer positions
        text_length, qa_length = min(cfg.text_length, room), min(cfg.max_length, room)
        scores[label] = {}

        def make(cls, **kw):
            def build():
                net = cls(replace(encoder.config, **kw))
                if pre:
                    state = encoder.state_dict()
                    if net.bert.pooler is None:  # the QA head reads tokens, not [CLS]
                        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
                    net.bert.load_state_dict(state, strict=True)
                return net
            return build

        for task in tasks:
            if task == "cloze":
                enc = {s: [encode_qa(tok, q.question, q.context, q.answer, qa_length)
                           for q in questions[s]] for s in questions}
                batches = {"train": qa_batches([e for e in enc["train"] if e[2] > 0],
                                               cfg.batch_size, seed=cfg.seed),
                           "val": qa_batches(enc["val"], 64, shuffle=False),
                           "test": qa_batches(enc["test"], 64, shuffle=False)}
                chosen, cand = choose_finetune(make(BertForQuestionAnswering), batches["train"],
                                               batches["val"], [{"lr": lr} for lr in lrs],
                                               seed=cfg.seed, epochs=cfg.epochs, qa=True)
                answers = qa_predict(chosen.model, tok, batches["test"])
                order = [i for b in batches["test"].batches(0) for i in b]
                score = qa_scores(answers, [questions["test"][i].answer for i in order])
                scores[label][task] = score["exact_match"]
                metrics[f"{label}_cloze_test_f1"] = score["f1"]
                # questions whose answer is still in the context after the cut to qa_length
                metrics[f"{label}_cloze_test_answer_kept"] = (
                    sum(e[2] > 0 for e in enc["test"]) / len(enc["test"]))
            else:
                n_labels = {"verses": len(SECTIONS), "fortunes": len(FORTUNE_CATEGORIES),
                            "next-sentence": 2}[task]
                batches = {s: classification_batches(tok, x, y, cfg.batch_size, text_length,
                                                     shuffle=s == "train", seed=cfg.seed,
                                                     pairs=p)
                           for s, (x, y, p) in data[task].items()}
                chosen, cand = choose_finetune(make(BertForSequenceClassification,
                                                    num_labels=n_labels),
                                               batches["train"], batches["val"],
                                               [{"lr": lr} for lr in lrs], seed=cfg.seed,
                                               epochs=cfg.epochs)
                logits, y = predict(chosen.model, batches["test"])
                scores[label][task] = 100 * float((logits.argmax(-1) == y).float().mean())
            tables[f"{label}_{task}_candidates"] = cand
            metrics[f"{label}_{task.replace('-', '_')}_seconds"] = sum(r["train_seconds"]
                                                                       for r in cand)
    for label, row in scores.items():
        for t in [t for t in row if t not in tasks]:
            del row[t]  # the floor of a task not run
        row["average"] = sum(row[t] for t in tasks) / len(tasks)
        key = "floor" if label.startswith("floor") else label
        for t, v in row.items():
            metrics[f"{key}_{t.replace('-', '_')}"] = v
    for task in ("verses", "fortunes", "next-sentence"):
        metrics[f"{task.replace('-', '_')}_train_examples"] = float(len(data[task]["train"][0]))
    metrics["cloze_train_examples"] = float(len(questions["train"]))
    tables["floor"] = [{"task": t, "answer": ("the name rule: " + metrics_rule) if t == "cloze"
                        else "the most frequent training label", "score": round(floor[t], 1)}
                       for t in tasks]
    metrics["cloze_test_examples"] = float(len(questions["test"]))
    tables["scores"] = [{"model": label, **{t: round(v, 1) for t, v in row.items()}}
                        for label, row in scores.items()]
    figures = [_plot(scores, tasks, out_dir / "glue_offline.png")]
    claim = "; ".join(f"{label}: average {row['average']:.1f} ("
                      + ", ".join(f"{t} {row[t]:.1f}" for t in tasks) + ")"
                      for label, row in scores.items())
    return LessonResult(NAME, metrics, figures, claim="benchmark scores (0-100) — " + claim,
                        tables=tables)


def _check_split(name: str, split_seed: int) -> None:
    """Refuse a folder pre-trained on Bible chapters that this split tests on."""
    import json

    path = Path(_folder(name)) / "config.json"
    if _folder(name) == "minilm" or not path.is_file():
        return
    seen = json.loads(path.read_text(encoding="utf-8")).get("deepnotes_bible_split_seed")
    if seen is not None and int(seen) != split_seed:
        raise ConfigError(f"{name} was pre-trained on the training chapters of Bible split "
                          f"{seen}, and this run tests on split {split_seed}: their chapters "
                          f"overlap. Run with --set split_seed={seen}.")


def _label(name: str) -> str:
    """A short row name: ``minilm``, ``scratch``, the folder's name (its parent's when it is
    called ``pretrained``), ``scratch:`` + that."""
    if name in ("minilm", "scratch"):
        return name
    folder = Path(_folder(name)).resolve()
    short = folder.parent.name if folder.name == "pretrained" else folder.name
    return ("scratch:" if name.startswith("scratch:") else "") + short


def _plot(scores: dict[str, dict[str, float]], tasks: tuple[str, ...], path: Path) -> str:
    fig, ax = subplots(1, 1, figsize=(10, 4.2))
    columns = [*tasks, "average"]
    width = 0.8 / len(scores)
    for k, (label, row) in enumerate(scores.items()):
        xs = [i + (k - (len(scores) - 1) / 2) * width for i in range(len(columns))]
        ax.bar(xs, [row[c] for c in columns], width, label=label,
               color="lightgray" if label.startswith("floor") else None)
    ax.set_xticks(range(len(columns)), columns)
    ax.set(ylabel="test score (accuracy % / exact match)", ylim=(0, 100),
           title="An offline GLUE: four tasks, one average")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
