"""One small BERT pre-trained on English and Spanish, fine-tuned in English, tested in Spanish.

Claim (notes P8): a BERT pre-trained with the masked LM on several languages at once, with one
shared subword vocabulary and no translation pairs, can be fine-tuned on a task in one
language and then do the task in another it never saw labelled ("zero-shot cross-lingual
transfer", multilingual BERT's surprise); a model with the same vocabulary that was never
pre-trained cannot, beyond what the shared pieces (names, numbers) give away.

Data (DATA.md, all offline): the 31,015 aligned verses of the World English Bible and the
Reina-Valera 1909 (:func:`deepnotes.data.parallel.load_bible_pairs`). The task
(:mod:`deepnotes.tasks.bible`): which of six parts of the Bible a verse comes from — law,
history, poetry, prophets, gospels, letters — from the verse alone. Splits by chapter
(80/10/10 %, hashed), so no chapter is on both sides.

- **pre-training text** — the training and validation chapters only (test chapters never
  seen), cut in two halves by chapter (hashed): the *English* text of one half and the
  *Spanish* text of the other. So the model never reads a verse in both languages, and the two
  languages are never side by side in one input: each document is one chapter in one
  language, its verses the sentences of MLM + SOP pre-training. (The halves are still the same
  kind of text — a comparable corpus, which makes transfer easier than mBERT's Wikipedias.)
- **vocabulary** — one WordPiece vocabulary trained on that mixed text
  (:meth:`WordPieceTokenizer.train <deepnotes.text.WordPieceTokenizer.train>`, uncased,
  accents stripped, as multilingual BERT uncased).
- **fine-tuning** — English verses of the training chapters with their labels; the learning
  rate chosen on the English validation verses. The same model is tested on the English test
  verses and, zero-shot, on their Spanish translations.
- **upper bound** — the pre-trained model fine-tuned on the Spanish translations of the same
  training verses, chosen on Spanish validation, tested on Spanish.
- **control** — the same network and vocabulary from random weights, fine-tuned on English.
- **chance** — always answering the most frequent part of the training verses.

A probe of the representations before any fine-tuning: each English test verse's mean-pooled
vector retrieves its translation among ``retrieval`` Spanish test verses (top-1 rate; chance
1 / ``retrieval``), pre-trained vs random weights.

Quick mode (the tests): 300 chapters, a 2-layer width-64 BERT, 300 pre-training steps, 1,500
training verses; under a minute. It checks the machinery and that the English classifier
beats chance; transfer needs the full run (docs/results.md).

Notes: P8 (multilingual pre-training, cross-lingual transfer), P1, P3, P4, E6 (a WordPiece
vocabulary trained on two languages), G3 (choices on validation).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from deepnotes.data.parallel import load_bible_pairs, split_of
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertForSequenceClassification,
    BertModel,
    save_pretrained,
    sentence_embeddings,
)
from deepnotes.tasks.bert import (
    wordpiece_pairs,
    choose_finetune,
    classification_batches,
    mlm_floor,
    predict,
    pretrain,
)
from deepnotes.tasks.bible import SECTIONS, chapter_of, verse_task

NAME = "multilingual-bert"
SUMMARY = ("a small BERT pre-trained on English + Spanish Bible text (shared WordPiece), "
           "fine-tuned in English, tested zero-shot in Spanish (P8)")
CONCEPTS = ("P8", "P1", "P3", "P4", "E6", "G3")


@dataclass
class Config(LessonConfig):
    # quick: 300 chapters, a 2-layer width-64 BERT, 300 pre-training steps (tests)
    QUICK = {"chapters": 300, "vocab_size": 2000, "hidden": 64, "layers": 2, "heads": 2,
             "pretrain_steps": 300, "rounds": 3, "pretrain_lr": 2e-3, "train_verses": 1500,
             "val_verses": 400, "lrs": (1e-3,), "epochs": 4, "retrieval": 100}

    chapters: int = 0  # a seeded sample of this many chapters (0: all 1,189)
    split_seed: int = 0  # the chapter split (train/validation/test) and the language halves
    vocab_size: int = 12000  # shared WordPiece vocabulary (both languages)
    hidden: int = 256  # H, the width of every block
    layers: int = 4  # encoder blocks
    heads: int = 4  # attention heads per block
    max_length: int = 128  # positions of a pre-training pair
    verse_length: int = 96  # pieces of a verse when classifying
    objective: str = "sop"  # sop (sentence order) | nsp (next sentence)
    pretrain_steps: int = 2500  # pre-training updates
    rounds: int = 10  # validation points along the pre-training
    batch_size: int = 32  # sequences per update
    pretrain_lr: float = 5e-4  # AdamW peak (warm-up 6 %, then cosine)
    val_documents: float = 0.03  # share of pre-training chapters held out to validate it
    disjoint: bool = True  # English from one half of the chapters, Spanish from the other
    train_verses: int = 8000  # labelled training verses (a seeded sample; 0: all ~25k)
    val_verses: int = 1500  # validation verses (at most)
    lrs: tuple[float, ...] = (1e-4, 3e-4)  # candidate fine-tuning learning rates
    epochs: int = 2  # fine-tuning epochs
    retrieval: int = 500  # test verse pairs in the translation-retrieval probe


def _sample(items: list, k: int, seed: int) -> list:
    if not k or k >= len(items):
        return list(items)
    g = torch.Generator().manual_seed(seed)
    return [items[i] for i in sorted(torch.randperm(len(items), generator=g)[:k].tolist())]


def _retrieval(encoder: BertModel, tokenizer, english: list[str], spanish: list[str],
               max_length: int) -> float:
    """Top-1 rate of finding each English verse's translation among the Spanish ones."""
    e = sentence_embeddings(encoder, tokenizer, english, max_length=max_length)
    s = sentence_embeddings(encoder, tokenizer, spanish, max_length=max_length)
    hits = (e @ s.T).argmax(-1) == torch.arange(len(english))
    return float(hits.float().mean())


def run(cfg: Config, out_dir: Path) -> LessonResult:
    pairs = load_bible_pairs()
    chapters = sorted({chapter_of(ref) for _, _, ref in pairs})
    keep = set(_sample(chapters, cfg.chapters, cfg.seed))
    pairs = [p for p in pairs if chapter_of(p[2]) in keep]
    task = verse_task(pairs, split_seed=cfg.split_seed)

    # ---- pre-training documents: chapters of the training and validation splits, one
    # language each (the halves by a second hash of the chapter)
    by_chapter: dict[str, list[tuple[str, str]]] = {}
    for split in ("train", "valid"):
        t = task[split]
        for en, es, ref in zip(t.english, t.spanish, t.references):
            by_chapter.setdefault(chapter_of(ref), []).append((en, es))
    docs, languages = [], []
    for ch, verses in by_chapter.items():
        english_half = split_of(ch, cfg.split_seed + 1, (0.5, 0.5, 0.0)) == "train"
        if cfg.disjoint:
            docs.append([v[0] if english_half else v[1] for v in verses])
            languages.append("en" if english_half else "es")
        else:
            docs += [[v[0] for v in verses], [v[1] for v in verses]]
            languages += ["en", "es"]
    n_chars = {lang: sum(len(s) for d, la in zip(docs, languages) if la == lang for s in d)
               for lang in ("en", "es")}
    train_docs, val_docs, tokenizer, train_pairs, val_pairs = wordpiece_pairs(docs, cfg)
    bert_cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=cfg.hidden,
                          num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                          intermediate_size=4 * cfg.hidden,
                          max_position_embeddings=max(cfg.max_length, cfg.verse_length))

    # ---- pre-training (P1, P3) on the mixed text
    torch.manual_seed(cfg.seed)
    model = BertForPreTraining(bert_cfg)
    fit = pretrain(model, train_pairs, val_pairs, tokenizer, steps=cfg.pretrain_steps,
                   rounds=cfg.rounds, batch_size=cfg.batch_size, lr=cfg.pretrain_lr,
                   seed=cfg.seed)
    pre_rows = fit.history.rows
    save_pretrained(model, out_dir / "pretrained", tokenizer)
    unigram = mlm_floor(train_pairs, val_pairs, tokenizer, cfg.seed, cfg.batch_size)
    shared = _shared_pieces(tokenizer, docs, languages)

    # ---- the probe: translation retrieval before fine-tuning
    n_ret = min(cfg.retrieval, len(task["test"]))
    probe_en, probe_es = task["test"].english[:n_ret], task["test"].spanish[:n_ret]
    torch.manual_seed(cfg.seed)
    random_encoder = BertModel(bert_cfg)
    retrieval = {"pretrained": _retrieval(model.bert, tokenizer, probe_en, probe_es,
                                          cfg.verse_length),
                 "random": _retrieval(random_encoder, tokenizer, probe_en, probe_es,
                                      cfg.verse_length)}

    # ---- fine-tuning sets: the same verses in each language
    idx = _sample(list(range(len(task["train"]))), cfg.train_verses, cfg.seed)
    val_idx = _sample(list(range(len(task["valid"]))), cfg.val_verses, cfg.seed)

    def batches(split: str, lang: str, rows: list[int] | None = None, train: bool = False):
        t = task[split]
        rows = range(len(t)) if rows is None else rows
        texts = t.english if lang == "en" else t.spanish
        return classification_batches(tokenizer, [texts[i] for i in rows],
                                      [t.labels[i] for i in rows], cfg.batch_size,
                                      cfg.verse_length, shuffle=train, seed=cfg.seed)

    data = {lang: {"train": batches("train", lang, idx, train=True),
                   "val": batches("valid", lang, val_idx),
                   "test": batches("test", lang)} for lang in ("en", "es")}

    def make(pretrained: bool):
        def build():
            net = BertForSequenceClassification(replace(bert_cfg, num_labels=len(SECTIONS)))
            if pretrained:
                net.bert.load_state_dict(model.bert.state_dict(), strict=True)
            return net
        return build

    metrics: dict[str, float] = {}
    tables: dict[str, list] = {}
    curves: dict[str, list] = {}
    confusion = None
    for name, pretrained, lang in (("pretrained_en", True, "en"), ("scratch_en", False, "en"),
                                   ("pretrained_es", True, "es")):
        chosen, rows = choose_finetune(make(pretrained), data[lang]["train"],
                                       data[lang]["val"], [{"lr": lr} for lr in cfg.lrs],
                                       seed=cfg.seed, epochs=cfg.epochs)
        tables[f"finetune_{name}"] = rows
        curves[name] = [r["val_accuracy"] for r in chosen.history.rows]
        metrics[f"{name}_val_accuracy"] = max(r["val_accuracy"] for r in rows if r["chosen"])
        metrics[f"{name}_seconds"] = sum(r["train_seconds"] for r in rows)
        tests = ("en", "es") if lang == "en" else ("es",)
        for test_lang in tests:
            logits, y = predict(chosen.model, data[test_lang]["test"])
            metrics[f"{name}_test_{test_lang}_accuracy"] = float(
                (logits.argmax(-1) == y).float().mean())
            if name == "pretrained_en" and test_lang == "es":
                confusion = _confusion(logits.argmax(-1), y, len(SECTIONS))
    # chance: always answer the most frequent part of the training verses
    majority = Counter(task["train"].labels[i] for i in idx).most_common(1)[0][0]
    chance = sum(y == majority for y in task["test"].labels) / len(task["test"])
    m = metrics
    m.update({
        "chance": chance,
        "zero_shot_transfer_gain": (m["pretrained_en_test_es_accuracy"]
                                    - m["scratch_en_test_es_accuracy"]),
        "retrieval_pretrained": retrieval["pretrained"],
        "retrieval_random": retrieval["random"],
        "retrieval_chance": 1 / n_ret,
        "pretrain_val_mlm_accuracy": float(pre_rows[-1]["val_mlm_accuracy"]),
        "pretrain_val_pair_accuracy": float(pre_rows[-1]["val_pair_accuracy"]),
        "mlm_unigram_baseline": unigram,
        "pretrain_first_val_loss": float(pre_rows[0]["val_loss"]),
        "pretrain_last_val_loss": float(pre_rows[-1]["val_loss"]),
        "pretrain_seconds": fit.seconds,
        "pretrain_characters_en": float(n_chars["en"]),
        "pretrain_characters_es": float(n_chars["es"]),
        "vocab_size": float(tokenizer.vocab_size),
        "vocab_shared_share": shared,
        "train_verses": float(len(idx)),
        "test_verses": float(len(task["test"])),
    })
    if m["pretrained_es_test_es_accuracy"] > chance:  # how much of the way above chance
        m["zero_shot_share_of_upper_bound"] = ((m["pretrained_en_test_es_accuracy"] - chance)
                                               / (m["pretrained_es_test_es_accuracy"] - chance))
    tables["pretraining"] = pre_rows
    tables["zero_shot_confusion"] = [{"gold": g, **{p: confusion[i][j]
                                                   for j, p in enumerate(SECTIONS)}}
                                     for i, g in enumerate(SECTIONS)]
    tables["finetune_curves"] = [{"model": k, "val_accuracy": v} for k, v in curves.items()]
    figures = [_plot(m, pre_rows, out_dir / "multilingual_bert.png")]
    claim = (f"test accuracy on the six parts of the Bible (chance {chance:.3f}): fine-tuned in "
             f"English, the pre-trained model gets English "
             f"{m['pretrained_en_test_en_accuracy']:.3f} and Spanish zero-shot "
             f"{m['pretrained_en_test_es_accuracy']:.3f} (trained in "
             f"Spanish: {m['pretrained_es_test_es_accuracy']:.3f}); from random weights, "
             f"English {m['scratch_en_test_en_accuracy']:.3f} and Spanish "
             f"{m['scratch_en_test_es_accuracy']:.3f}; translation retrieval top-1 "
             f"{retrieval['pretrained']:.3f} pre-trained vs {retrieval['random']:.3f} random "
             f"(chance {1 / n_ret:.3f})")
    return LessonResult(NAME, metrics, figures, history=pre_rows, claim=claim, tables=tables,
                        checkpoint=str(out_dir / "pretrained"))


def _shared_pieces(tokenizer, docs: list[list[str]], languages: list[str]) -> float:
    """Share of the vocabulary's pieces that occur in both languages' pre-training text."""
    seen: dict[str, set[int]] = {"en": set(), "es": set()}
    for d, lang in zip(docs, languages):
        for s in d:
            seen[lang].update(tokenizer.encode(s, add_special_tokens=False))
    return len(seen["en"] & seen["es"]) / tokenizer.vocab_size


def _confusion(pred: torch.Tensor, gold: torch.Tensor, k: int) -> list[list[int]]:
    table = torch.zeros(k, k, dtype=torch.long)
    table.index_put_((gold, pred), torch.ones_like(gold), accumulate=True)
    return table.tolist()


def _plot(m: dict[str, float], pre_rows: list[dict], path: Path) -> str:
    fig, (a, b) = subplots(1, 2, figsize=(12, 4.2))
    bars = [("English\n(fine-tuned EN)", m["pretrained_en_test_en_accuracy"],
             m["scratch_en_test_en_accuracy"]),
            ("Spanish zero-shot\n(fine-tuned EN)", m["pretrained_en_test_es_accuracy"],
             m["scratch_en_test_es_accuracy"]),
            ("Spanish\n(fine-tuned ES)", m["pretrained_es_test_es_accuracy"], None)]
    x = torch.arange(len(bars)).float()
    a.bar(x - 0.2, [v for _, v, _ in bars], 0.4, label="pre-trained (EN + ES)")
    a.bar(x[:2] + 0.2, [v for _, _, v in bars[:2]], 0.4, label="random weights")
    a.axhline(m["chance"], color="gray", ls="--", lw=1, label="most frequent training part")
    a.set_xticks(x.tolist(), [t for t, _, _ in bars])
    a.set(ylabel="test accuracy", ylim=(0, 1), title="Which part of the Bible? (6 parts)")
    a.legend(fontsize=8)
    steps = [r["step"] for r in pre_rows]
    b.plot(steps, [r["val_mlm_accuracy"] for r in pre_rows], "o-", label="MLM (masked pieces)")
    b.plot(steps, [r["val_pair_accuracy"] for r in pre_rows], "s-", label="sentence order")
    b.set(xlabel="pre-training update", ylabel="validation accuracy", ylim=(0, 1),
          title="Pre-training on English + Spanish")
    b.legend(fontsize=8)
    return save_figure(fig, path)
