"""Fine-tuning a real pre-trained BERT (MiniLM-L6) on two reading tasks made from Austen's
novels — sentence pairs and cloze questions — against the same network from scratch.

Claim (notes P4): one pre-trained BERT, with a small head each, does pair classification
(``[CLS] A [SEP] B [SEP]`` → the pooled ``[CLS]`` vector → is B the sentence after A?) and
extractive QA (start and end vectors dotted with every context token's output, a softmax
each, the best span with start ≤ end < start + L), and pre-training is what makes it work
from a few thousand examples: the same network from random weights, fine-tuned identically,
stays near the rules that do not read.

Data (:mod:`deepnotes.tasks.reading`, how the sets are made): Jane Austen's six novels,
split by novel so that the test characters are never seen in training — *Sense & Sensibility*,
*Pride & Prejudice*, *Mansfield Park* and *Emma* train, *Northanger Abbey* validates,
*Persuasion* tests.

- consecutive sentences: B right after A in a paragraph (1) or a sentence of the same novel
  at least 50 sentences away (0), half and half;
- cloze questions: the sentence after a context of at most 80 words, one character's name
  that the context mentions replaced by ``[MASK]``; only contexts that name at least two
  different people or places are kept (2,237 training, 185 validation, 259 test questions);
  the answer is the name, a span of the context; exact match and F1 with SQuAD's
  normalisation. Next to a name of the context drawn at random and three rules that do not
  read the question: the name mentioned last, the most frequent, the first.

Settings are fixed, not tuned (lr 5e-5 for MiniLM and 1e-4 from scratch, BERT's usual range;
``epochs`` epochs, warm-up 10 %): validation scores are reported, not used to choose.

Quick mode (the tests): MiniLM's first 2 blocks only, 300 pairs and 400 questions (contexts
of at most 40 words) to train, 3 epochs at 3e-4, no scratch model; about 70 s. It checks the
machinery: exact match 46.6 / 46.6 / 44.3 at seeds 0 / 1 / 2 against 40.7 for a random name of
the context, 0.875 / 0.852 of the answers names of the context at seeds 1 / 2; the pair
classifier is still at chance (0.5) after so few pairs.

Notes: P4 (pair classification, extractive QA), P2, P1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from deepnotes.data.corpora import load_austen
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import qa_scores
from deepnotes.models.bert import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    load_pretrained_bert,
)
from deepnotes.tasks.bert import (
    classification_batches,
    encode_qa,
    finetune,
    predict,
    qa_batches,
    qa_predict,
)
from deepnotes.tasks.reading import (
    TEST_BOOK,
    TRAIN_BOOKS,
    VAL_BOOK,
    austen_tasks,
    book_sentences,
    heuristic_answers,
)
from deepnotes.text import load_tokenizer

NAME = "bert-english"
SUMMARY = ("MiniLM fine-tuned on Austen sentence pairs and cloze QA (EM/F1) vs the same "
           "network from scratch and rules that do not read (P4)")
CONCEPTS = ("P4", "P2", "P1")

@dataclass
class Config(LessonConfig):
    # quick: a few hundred examples, MiniLM only, one epoch (tests)
    QUICK = {"pairs": 300, "questions": 400, "val_examples": 100, "test_examples": 150,
             "epochs": 3, "scratch": False, "layers": 2, "context_words": 40, "max_length": 96,
             "lr": 3e-4}

    pairs: int = 2000  # training sentence pairs
    questions: int = 0  # training cloze questions (0: all 2,237)
    val_examples: int = 500  # validation pairs and questions (at most)
    test_examples: int = 0  # test pairs and questions (0: 1,000 pairs, all 259 questions)
    epochs: int = 2  # fine-tuning epochs
    lr: float = 5e-5  # MiniLM's fine-tuning learning rate
    scratch_lr: float = 1e-4  # the random-weights network's
    batch_size: int = 16  # examples per update
    max_length: int = 192  # pieces of a question + context
    scratch: bool = True  # also fine-tune the same network from random weights
    layers: int = 0  # keep MiniLM's first this many blocks (0: all 6)
    context_words: int = 80  # words of context before a cloze question, at most


def _books():
    rows = load_austen()
    return {b: book_sentences([line for book, line in rows if book == b])
            for b in (*TRAIN_BOOKS, VAL_BOOK, TEST_BOOK)}


def run(cfg: Config, out_dir: Path) -> LessonResult:
    books = _books()
    tok = load_tokenizer("minilm")
    encoder = load_pretrained_bert("minilm")
    if cfg.layers:
        encoder.encoder.layer = encoder.encoder.layer[:cfg.layers]
        encoder.config = replace(encoder.config, num_hidden_layers=cfg.layers)
    n_test = cfg.test_examples or 1000

    # ---- data: pairs and questions per split
    tasks = austen_tasks(books, cfg.pairs, cfg.val_examples, n_test, cfg.questions,
                         cfg.test_examples, cfg.context_words, seed=cfg.seed)
    pairs, questions = tasks.pairs, tasks.questions

    pair_data = {s: classification_batches(tok, [a for a, _, _ in pairs[s]],
                                           [y for _, _, y in pairs[s]], cfg.batch_size, 128,
                                           shuffle=s == "train", seed=cfg.seed,
                                           pairs=[b for _, b, _ in pairs[s]])
                 for s in pairs}
    qa_enc = {s: [encode_qa(tok, q.question, q.context, q.answer, cfg.max_length)
                  for q in questions[s]] for s in questions}
    # training keeps the questions whose answer survived the cut; evaluation keeps all
    train_qa = [e for e in qa_enc["train"] if e[2] > 0]
    qa_data = {"train": qa_batches(train_qa, cfg.batch_size, seed=cfg.seed),
               "val": qa_batches(qa_enc["val"], 64, shuffle=False),
               "test": qa_batches(qa_enc["test"], 64, shuffle=False)}

    def order(split: str) -> list[int]:  # the examples in the order the batches serve them
        return [i for b in qa_data[split].batches(0) for i in b]

    metrics: dict[str, float] = {}
    tables: dict[str, list] = {}
    curves: dict[str, list] = {}
    starts = ["minilm"] + (["scratch"] if cfg.scratch else [])
    for start in starts:
        lr = cfg.lr if start == "minilm" else cfg.scratch_lr

        def make(cls, **kw):
            torch.manual_seed(cfg.seed)
            net = cls(replace(encoder.config, **kw))
            if start == "minilm":
                state = encoder.state_dict()
                if net.bert.pooler is None:
                    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
                net.bert.load_state_dict(state, strict=True)
            return net

        fit = finetune(make(BertForSequenceClassification, num_labels=2), pair_data["train"],
                       pair_data["val"], epochs=cfg.epochs, lr=lr, seed=cfg.seed)
        logits, y = predict(fit.model, pair_data["test"])
        metrics[f"pairs_{start}_test_accuracy"] = float((logits.argmax(-1) == y).float().mean())
        metrics[f"pairs_{start}_val_accuracy"] = float(fit.history.last()["val_accuracy"])
        metrics[f"pairs_{start}_seconds"] = fit.seconds
        curves[f"pairs {start}"] = [r["val_accuracy"] for r in fit.history.rows]

        qfit = finetune(make(BertForQuestionAnswering), qa_data["train"], qa_data["val"],
                        epochs=cfg.epochs, lr=lr, seed=cfg.seed, qa=True)
        for split in ("val", "test"):
            answers = qa_predict(qfit.model, tok, qa_data[split])
            gold = [questions[split][i].answer for i in order(split)]
            scores = qa_scores(answers, gold)
            metrics[f"qa_{start}_{split}_exact_match"] = scores["exact_match"]
            metrics[f"qa_{start}_{split}_f1"] = scores["f1"]
            if split == "test":
                names = [{c.lower() for c in questions[split][i].candidates} for i in order(split)]
                metrics[f"qa_{start}_test_answer_is_a_name"] = sum(
                    a.strip().lower() in n for a, n in zip(answers, names)) / len(answers)
                tables[f"qa_{start}_samples"] = [
                    {"question": questions[split][i].question, "answer": a,
                     "gold": questions[split][i].answer}
                    for i, a in list(zip(order(split), answers))[:20]]
        metrics[f"qa_{start}_seconds"] = qfit.seconds
        curves[f"qa {start}"] = [r["val_accuracy"] for r in qfit.history.rows]
    for name, answers in heuristic_answers(questions["test"]).items():
        scores = qa_scores(answers, [q.answer for q in questions["test"]])
        metrics[f"qa_rule_{name.replace(' ', '_')}_test_exact_match"] = scores["exact_match"]
    best_rule = max(v for k, v in metrics.items() if k.startswith("qa_rule_"))
    # a name of the context drawn at random (expected exact match)
    metrics["qa_random_name_test_exact_match"] = 100 * sum(
        1 / len(q.candidates) for q in questions["test"]) / len(questions["test"])
    metrics["qa_best_rule_test_exact_match"] = best_rule
    metrics.update({"pairs_train": float(len(pairs["train"])),
                    "qa_train": float(len(train_qa)), "qa_test": float(len(questions["test"])),
                    "qa_test_answer_in_context": sum(e[2] > 0 for e in qa_enc["test"])
                    / len(qa_enc["test"])})
    figures = [_plot(curves, out_dir / "bert_english.png")]
    m = metrics
    claim = (f"MiniLM fine-tuned: consecutive sentences {m['pairs_minilm_test_accuracy']:.3f} "
             f"test accuracy, cloze QA EM {m['qa_minilm_test_exact_match']:.1f} / F1 "
             f"{m['qa_minilm_test_f1']:.1f} on Persuasion (best rule that does not read: EM "
             f"{best_rule:.1f})")
    if cfg.scratch:
        claim += (f"; the same network from scratch: {m['pairs_scratch_test_accuracy']:.3f} and "
                  f"EM {m['qa_scratch_test_exact_match']:.1f}")
    return LessonResult(NAME, metrics, figures, claim=claim, tables=tables)


def _plot(curves: dict[str, list], path: Path) -> str:
    fig, axes = subplots(1, 2, figsize=(11, 4))
    for ax, task, title in zip(axes, ("pairs", "qa"),
                               ("Is B the next sentence?", "Cloze QA (exact span)")):
        for key, ys in curves.items():
            if key.startswith(task):
                ax.plot(range(1, len(ys) + 1), ys, "o-" if "minilm" in key else "s--",
                        label=key.split()[1])
        ax.set(xlabel="fine-tuning epoch", ylabel="validation accuracy", title=title)
        ax.legend()
    return save_figure(fig, path)
