"""ELMo-style features vs fine-tuning: a bidirectional LSTM language model trained on unlabelled
Chinese text, then used for review sentiment either frozen (a learned weighted sum of its layers
feeds a small head) or fine-tuned end to end.

Claim (notes P10, "from task-specific to task-agnostic"): the layers of a language model
trained on raw text are useful features for a task it never saw — a head on the *frozen*
pre-trained biLM beats the same head on a frozen *random* biLM by a wide margin; fine-tuning
the whole pre-trained network (the BERT recipe) does better still or as well; the task's
learned layer weights show which depth it uses.

Set-up: a character biLM (:class:`~deepnotes.models.elmo.BiLM`: shared embedding, 2 LSTM
layers per direction with a residual connection, output tied to the embedding) trained on the
sum of the forward and backward LM losses over the same text as ``bert-chinese`` pre-trains
on (reviews of the training and validation splits, the People's Daily sentences, fortunes-zh,
Tang poems; windows of ``window`` characters). Then four review classifiers with one head
(:class:`~deepnotes.models.elmo.ELMoClassifier`: ScalarMix → mean over the review → linear),
{pre-trained, random} biLM × {frozen, fine-tuned}, each with its learning rate chosen on the
validation split; test accuracy read once. Reviews and splits are those of ``many-to-one``
(BiLSTM from scratch 0.829) and ``bert-chinese``.

Measured (full mode, seed 0, docs/results.md): the claim does **not** hold at this budget.
The biLM learns its text (validation perplexity 135 against the unigram's 709), but its
frozen layers give the head 0.700 test accuracy against 0.702 from a frozen random biLM, the
task puts 0.73 of its mix on the embedding layer, and fine-tuning the pre-trained biLM gives
0.781 against 0.809 from random weights. A character LM of width 128 trained for 2,000
updates (4.1M characters seen) has not learnt the word- and phrase-level features sentiment
needs; ELMo's biLM was a word-level model trained for days.

Quick mode (the tests): 4,000 reviews, a width-64 biLM trained for 300 steps on their
training text only; about 50 s. It checks the machinery: at seeds 0 / 1 / 2 the biLM's
validation perplexity is 232 / 221 / 246 (unigram 463 / 447 / 470), every classifier beats the
majority, and the frozen mix leans on the embedding layer (weight 0.62 / 0.61 / 0.55) — so
short a pre-training gives the upper layers little to offer; the full run is the claim.

Notes: P10 (frozen features vs fine-tuning), P1 (self-supervised), R4 (bidirectional), R8
(language model), G3 (choose on validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from deepnotes.data.chinese import load_pos_corpus, load_reviews
from deepnotes.figures import save_figure, subplots
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.models.elmo import BiLM, BiLMConfig, ELMoClassifier, ELMoClassifierConfig
from deepnotes.tasks.bert import chinese_documents
from deepnotes.tasks.text_classification import (
    choose_on_validation,
    predict_proba,
    split_indices,
    text_batches,
)
from deepnotes.text import Vocab

NAME = "elmo-features"
SUMMARY = ("a character biLM's frozen layers (learned weighted sum) vs fine-tuning it, vs a "
           "random biLM, on Chinese review sentiment (P10)")
CONCEPTS = ("P10", "P1", "R4", "R8", "G3")


@dataclass
class Config(LessonConfig):
    # quick: 4,000 reviews, a width-48 biLM, 200 LM steps on the reviews' text only (tests)
    QUICK = {"reviews": 4000, "extra_text": False, "hidden": 64, "lm_steps": 300,
             "window": 32, "lm_lr": 5e-3, "max_len": 60, "frozen_lrs": (3e-2,),
             "finetune_lrs": (3e-3,), "epochs": 2}

    reviews: int = 0  # a seeded sample of this many reviews (0: all 17,363)
    extra_text: bool = True  # pre-train also on People's Daily, fortunes-zh and Tang poems
    min_freq: int = 2  # characters seen fewer times in the LM text become <unk>
    hidden: int = 128  # H: embedding width and LSTM units per direction (features: 2H)
    layers: int = 2  # LSTM layers per direction
    dropout: float = 0.1  # biLM and head dropout
    window: int = 64  # characters per LM training sequence
    lm_batch: int = 32  # sequences per LM update
    lm_steps: int = 2000  # LM updates (Adam, cosine from lm_lr)
    lm_lr: float = 2e-3  # LM peak learning rate
    max_len: int = 200  # characters of a review read by the classifier
    batch_size: int = 64  # reviews per classifier update
    epochs: int = 3  # classifier epochs when fine-tuning
    frozen_epochs: int = 8  # classifier epochs on frozen features (a cheap pass: no backward
    # through the biLM; only L + 2 mixing numbers and the linear layer learn)
    frozen_lrs: tuple[float, ...] = (1e-2, 3e-2)  # candidate lrs with a frozen biLM
    finetune_lrs: tuple[float, ...] = (2e-3,)  # candidate lrs when fine-tuning


def _windows(ids: torch.Tensor, window: int, batch: int, steps: int, seed: int):
    """``steps`` batches of random ``window``-long slices of the id stream."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        start = torch.randint(0, len(ids) - window, (batch,), generator=g)
        yield ids[start.view(-1, 1) + torch.arange(window)]


def train_bilm(model: BiLM, train_ids: torch.Tensor, val_ids: torch.Tensor, *, steps: int,
               window: int, batch: int, lr: float, seed: int = 0, points: int = 10):
    """Adam with cosine decay on the biLM loss over random windows; returns rows
    ``{step, train_loss, val_loss, val_perplexity}`` at ``points`` checkpoints."""
    import sys

    from tqdm.auto import tqdm

    from deepnotes.optim import create_optimizer

    opt = create_optimizer("adam", model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    val = val_ids[:(len(val_ids) // window) * window].view(-1, window)
    rows, running, every = [], [], max(1, steps // points)
    bar = tqdm(total=steps, desc="biLM", unit="step", dynamic_ncols=True,
               disable=not sys.stderr.isatty())
    for step, x in enumerate(_windows(train_ids, window, batch, steps, seed), 1):
        model.train()
        loss = model.lm_loss(x)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        bar.update(1)
        if step % every == 0 or step == steps:
            model.eval()
            with torch.no_grad():
                v = sum(float(model.lm_loss(val[i:i + 64])) * len(val[i:i + 64])
                        for i in range(0, len(val), 64)) / len(val)
            rows.append({"step": step, "train_loss": sum(running) / len(running),
                         "val_loss": v, "val_perplexity": float(torch.exp(torch.tensor(v)))})
            bar.set_postfix(val_ppl=f"{rows[-1]['val_perplexity']:.1f}")
            running = []
    bar.close()
    return rows


def run(cfg: Config, out_dir: Path) -> LessonResult:
    import time

    texts, labels = load_reviews()
    if cfg.reviews and cfg.reviews < len(texts):
        pick = torch.randperm(len(texts), generator=torch.Generator().manual_seed(cfg.seed))
        pick = sorted(pick[:cfg.reviews].tolist())
        texts, labels = [texts[i] for i in pick], [labels[i] for i in pick]
    rest, test_idx = split_indices(len(texts), 0.2, cfg.seed)
    fit_pos, val_pos = split_indices(len(rest), 0.1, cfg.seed + 1)
    train_idx, val_idx = [rest[i] for i in fit_pos], [rest[i] for i in val_pos]

    # ---- the biLM's text: no test review
    sentences = ["".join(w) for w, _ in load_pos_corpus()] if cfg.extra_text else []
    docs = chinese_documents([texts[i] for i in sorted(rest)], sentences,
                             extra_text=cfg.extra_text)
    perm = torch.randperm(len(docs), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    n_val = max(2, len(docs) // 50)
    lm_val = "\n".join("".join(docs[i]) for i in perm[:n_val])
    lm_train = "\n".join("".join(docs[i]) for i in perm[n_val:])
    vocab = Vocab([list(lm_train)], min_freq=cfg.min_freq)
    train_ids = torch.tensor(vocab.to_indices(list(lm_train)))
    val_ids = torch.tensor(vocab.to_indices(list(lm_val)))

    torch.manual_seed(cfg.seed)
    bilm = BiLM(BiLMConfig(len(vocab), cfg.hidden, cfg.layers, cfg.dropout))
    t0 = time.perf_counter()
    lm_rows = train_bilm(bilm, train_ids, val_ids, steps=cfg.lm_steps, window=cfg.window,
                         batch=cfg.lm_batch, lr=cfg.lm_lr, seed=cfg.seed)
    lm_seconds = time.perf_counter() - t0
    unigram = torch.bincount(train_ids, minlength=len(vocab)).float() + 1
    unigram_ppl = float(torch.exp(-(unigram / unigram.sum()).log()[val_ids].mean()))

    # ---- four classifiers, one head: {pre-trained, random} x {frozen, fine-tuned}
    ids = [vocab.to_indices(list(t)) or [vocab.unk] for t in texts]
    data = {name: text_batches([ids[i] for i in idx], [labels[i] for i in idx], vocab.pad,
                               cfg.max_len, cfg.batch_size, shuffle=name == "train",
                               seed=cfg.seed)
            for name, idx in (("train", train_idx), ("val", val_idx))}
    torch.manual_seed(cfg.seed + 7)
    random_state = BiLM(BiLMConfig(len(vocab), cfg.hidden, cfg.layers, cfg.dropout)).state_dict()
    y_test = torch.tensor([labels[i] for i in test_idx])
    metrics: dict[str, float] = {}
    tables: dict[str, list] = {}
    curves: dict[str, list] = {}
    weights: dict[str, list[float]] = {}
    for start, state in (("pretrained", bilm.state_dict()), ("random", random_state)):
        for mode, lrs, epochs in (("frozen", cfg.frozen_lrs, cfg.frozen_epochs),
                                  ("finetuned", cfg.finetune_lrs, cfg.epochs)):
            def make(state=state, mode=mode):
                m = ELMoClassifier(ELMoClassifierConfig(len(vocab), cfg.hidden, cfg.layers, 2,
                                                        cfg.dropout, freeze=mode == "frozen"))
                m.bilm.load_state_dict(state)
                return m
            chosen, rows = choose_on_validation(make, data["train"], data["val"],
                                                [{"lr": lr, "epochs": epochs} for lr in lrs],
                                                seed=cfg.seed, grad_clip=1.0)
            p = predict_proba(chosen.model, [ids[i] for i in test_idx], vocab.pad, cfg.max_len)
            key = f"{start}_{mode}"
            metrics[f"{key}_test_accuracy"] = float((p.argmax(-1) == y_test).float().mean())
            metrics[f"{key}_val_accuracy"] = next(r["val_accuracy"] for r in rows if r["chosen"])
            tables[key] = rows
            curves[key] = [r["val_accuracy"] for r in chosen.history.rows]
            weights[key] = chosen.model.mix.weights().tolist()
    for j, w in enumerate(weights["pretrained_frozen"]):
        metrics[f"pretrained_frozen_layer{j}_weight"] = w
    metrics.update({
        "bilm_val_perplexity": lm_rows[-1]["val_perplexity"],
        "bilm_first_val_perplexity": lm_rows[0]["val_perplexity"],
        "unigram_val_perplexity": unigram_ppl,
        "bilm_seconds": lm_seconds,
        "bilm_characters": float(len(lm_train)),
        "majority": float(max(y_test.float().mean(), 1 - y_test.float().mean())),
        "features_gain": metrics["pretrained_frozen_test_accuracy"]
        - metrics["random_frozen_test_accuracy"],
        "finetune_minus_features": metrics["pretrained_finetuned_test_accuracy"]
        - metrics["pretrained_frozen_test_accuracy"],
    })
    figures = [_plot(lm_rows, unigram_ppl, curves, weights, out_dir / "elmo_features.png")]
    m = metrics
    claim = (f"biLM on {len(lm_train) / 1e6:.1f}M characters: validation perplexity "
             f"{m['bilm_val_perplexity']:.1f} (unigram {unigram_ppl:.0f}); review test accuracy "
             f"frozen features pre-trained {m['pretrained_frozen_test_accuracy']:.3f} vs random "
             f"{m['random_frozen_test_accuracy']:.3f}; fine-tuned pre-trained "
             f"{m['pretrained_finetuned_test_accuracy']:.3f} vs from scratch "
             f"{m['random_finetuned_test_accuracy']:.3f}; layer weights "
             + "/".join(f"{w:.2f}" for w in weights["pretrained_frozen"]))
    tables["bilm"] = lm_rows
    tables["layer_weights"] = [{"model": k, **{f"layer{j}": w for j, w in enumerate(v)}}
                               for k, v in weights.items()]
    return LessonResult(NAME, metrics, figures, history=lm_rows, claim=claim, tables=tables)


def _plot(lm_rows, unigram_ppl, curves, weights, path: Path) -> str:
    fig, (a, b, c) = subplots(1, 3, figsize=(15, 4))
    a.plot([r["step"] for r in lm_rows], [r["val_perplexity"] for r in lm_rows], "o-",
           label="biLM (mean of both directions)")
    a.axhline(unigram_ppl, color="gray", ls="--", lw=1, label="unigram")
    a.set(xlabel="update", ylabel="validation perplexity", yscale="log",
          title="Pre-training the biLM")
    a.legend()
    for key, ys in curves.items():
        b.plot(range(1, len(ys) + 1), ys, "o-" if "pretrained" in key else "s--",
               label=key.replace("_", ", "))
    b.set(xlabel="epoch", ylabel="validation accuracy", title="Review sentiment")
    b.legend(fontsize=8)
    n = len(next(iter(weights.values())))
    width = 0.8 / len(weights)
    for k, (key, w) in enumerate(weights.items()):
        c.bar([j + k * width for j in range(n)], w, width, label=key.replace("_", ", "))
    c.set(xticks=[j + 0.4 - width / 2 for j in range(n)],
          xticklabels=["embedding"] + [f"LSTM {j}" for j in range(1, n)],
          ylabel="softmax(s) weight", title="Which layers the task mixes")
    c.legend(fontsize=8)
    return save_figure(fig, path)
