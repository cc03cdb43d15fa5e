"""CTC: reading unsegmented digit strings without ever being told where each digit is.

Claim (notes R10, "CTC 方法 / CTC 训练"): a network that emits one symbol per input frame can be
trained from (input, label sequence) pairs alone. CTC adds a blank ("null") output, defines the
labelling's probability as the sum over *all* alignments that collapse to it (merge repeats,
then drop blanks), and the forward algorithm computes that sum, so the model learns the
alignment by itself. A bidirectional LSTM trained this way with our ``ctc_loss`` transcribes
strings of 3-5 handwritten digits with a label error rate far below the 1.0 of the trivial
empty output; prefix beam search, which sums the paths of each labelling, is at least as good
as best-path decoding.

Data: sklearn's 8x8 handwritten digits (``deepnotes.data.load("digits")``; no download). A
sequence glues 3-5 random digit images side by side with 0-2 empty columns between them (and at
the ends); each image column (8 grey values) is one frame, so a string is 24-50 frames long and
the frame-to-digit alignment is never given. Training strings use the digits' training split,
test strings only its test split (images never seen in training). The reader is the registry's
``ctc-reader`` model (:mod:`deepnotes.models.ctc_reader`).

Notes: R10.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as TF
from matplotlib.ticker import MaxNLocator
from torch import Tensor, nn

from deepnotes.data import MiniBatches, load
from deepnotes.decoding import ctc_best_path, ctc_prefix_beam_search
from deepnotes.errors import ConfigError
from deepnotes.figures import save_figure, subplots
from deepnotes.functional import ctc_loss
from deepnotes.lessons.base import LessonConfig, LessonResult
from deepnotes.metrics import label_error_rate
from deepnotes.models import create
from deepnotes.optim import create_optimizer
from deepnotes.tasks.classification import cosine_over
from deepnotes.train import TrainConfig, Trainer
from deepnotes.train.checkpoint import save_model

NAME = "ctc"
SUMMARY = ("BiLSTM + CTC reads unsegmented digit strings: label error rate ≪ 1.0, "
           "prefix beam vs best path (R10)")
CONCEPTS = ("R10",)

BLANK = 0  # class 0 is the blank; digit d is class d + 1


@dataclass
class Config(LessonConfig):
    QUICK = {"train_strings": 1000, "test_strings": 150, "epochs": 3}  # seconds (tests)

    train_strings: int = 8000  # training sequences (built from the digits' training split)
    test_strings: int = 500  # test sequences (built from the test split only)
    min_digits: int = 3  # digits per string, at least
    max_digits: int = 5  # digits per string, at most
    max_gap: int = 2  # empty columns between digits (and at the ends): 0..max_gap
    hidden: int = 64  # LSTM hidden units per direction
    layers: int = 1  # stacked BiLSTM layers
    epochs: int = 10  # passes over the training strings
    batch_size: int = 16  # strings per minibatch
    lr: float = 2e-2  # Adam peak learning rate, cosine-decayed to 0 over the run
    grad_clip: float = 5.0  # global gradient-norm clipping (O11)
    beam_size: int = 8  # prefix beam search: prefixes kept per frame


def make_strings(images: Tensor, labels: Tensor, n: int, min_digits: int, max_digits: int,
                 max_gap: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Glue random digit images into strings read column by column.

    Args:
        images: digit images ``(N, 1, 8, 8)`` in [0, 1].
        labels: their digits ``(N,)``.
        n: strings to make.
        min_digits, max_digits: digits per string (uniform).
        max_gap: empty columns before, between and after the digits: uniform in ``0..max_gap``.
        generator: the random source.

    Returns:
        ``frames (n, T_max, 8)`` zero-padded, ``frame_lengths (n,)``, ``targets (n, max_digits)``
        (classes ``digit + 1``, padded with the blank 0) and ``target_lengths (n,)``.

    Notes: R10.
    """
    if not 1 <= min_digits <= max_digits:
        raise ConfigError(f"need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")
    if max_gap < 0:
        raise ConfigError(f"max_gap must be >= 0, got {max_gap}")
    width = images.shape[-1]
    cols = images[:, 0].transpose(1, 2)  # (N, W, H): one row per image column
    seqs, targets = [], []
    for _ in range(n):
        k = int(torch.randint(min_digits, max_digits + 1, (1,), generator=generator))
        pick = torch.randint(len(images), (k,), generator=generator)
        gaps = torch.randint(0, max_gap + 1, (k + 1,), generator=generator).tolist()
        parts = [torch.zeros(gaps[0], cols.shape[2])]
        for i, j in enumerate(pick.tolist()):
            parts += [cols[j], torch.zeros(gaps[i + 1], cols.shape[2])]
        seqs.append(torch.cat(parts))  # (T_n, H)
        targets.append(labels[pick] + 1)
    lengths = torch.tensor([len(s) for s in seqs])
    t_max = max_digits * width + (max_digits + 1) * max_gap
    frames = torch.zeros(n, t_max, cols.shape[2])
    tg = torch.full((n, max_digits), BLANK, dtype=torch.long)
    for i, (s, t) in enumerate(zip(seqs, targets)):
        frames[i, : len(s)] = s
        tg[i, : len(t)] = t
    return frames, lengths, tg, torch.tensor([len(t) for t in targets])


def _loss_step(model: nn.Module, loss_fn, batch):
    x, x_len, y, y_len = batch
    x = x[:, : int(x_len.max())]  # drop the padding no string of this batch reaches
    # our CTC wants time first
    lp = model(x).transpose(0, 1)  # (T, B, C)
    return loss_fn(lp, y, x_len, y_len), None, None


def _decode(model: nn.Module, frames: Tensor, lengths: Tensor, beam_size: int | None
            ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]] | None, Tensor]:
    """Best-path and (unless ``beam_size`` is None) prefix-beam labellings, and the outputs."""
    model.eval()
    with torch.no_grad():
        lp = model(frames).transpose(0, 1)  # (T, B, C)
    best = ctc_best_path(lp, lengths, blank=BLANK)
    if beam_size is None:
        return best, None, lp
    beam = [r[0][0] if r else () for r in
            ctc_prefix_beam_search(lp, beam_size, lengths, blank=BLANK, top_k=1)]
    return best, beam, lp


def _time_losses(lp: Tensor, y: Tensor, x_len: Tensor, y_len: Tensor, repeats: int = 3
                 ) -> tuple[float, float]:
    """Seconds per forward + backward of our ctc_loss and of torch's on the same batch."""
    out = []
    for fn in (ctc_loss, TF.ctc_loss):
        best = float("inf")
        for _ in range(repeats):
            x = lp.detach().clone().requires_grad_(True)
            t0 = time.perf_counter()
            fn(x, y, x_len, y_len).backward()
            best = min(best, time.perf_counter() - t0)
        out.append(best)
    return out[0], out[1]


def run(cfg: Config, out_dir: Path) -> LessonResult:
    n_train, n_test, epochs = cfg.train_strings, cfg.test_strings, cfg.epochs
    g = torch.Generator().manual_seed(cfg.seed)
    train_img, test_img = load("digits", split="train"), load("digits", split="test")
    make = {"min_digits": cfg.min_digits, "max_digits": cfg.max_digits, "max_gap": cfg.max_gap,
            "generator": g}
    train = make_strings(train_img.x, train_img.y, n_train, **make)
    test = make_strings(test_img.x, test_img.y, n_test, **make)
    num_classes = 11  # blank + 10 digits

    torch.manual_seed(cfg.seed)
    model = create("ctc-reader", in_features=train[0].shape[2], hidden=cfg.hidden,
                   num_classes=num_classes, layers=cfg.layers)
    # μ, σ of the training frames (padding excluded), one per feature
    used = torch.arange(train[0].shape[1]) < train[1].unsqueeze(1)  # (N, T)
    model.mean.copy_(train[0][used].mean(0))
    model.std.copy_(train[0][used].std(0).clamp_min(1e-3))
    opt = create_optimizer("adam", model.parameters(), lr=cfg.lr)
    batches = MiniBatches(train, cfg.batch_size, seed=cfg.seed)
    trainer = Trainer(model, opt, ctc_loss, batches, MiniBatches(test, 256, shuffle=False),
                      scheduler=cosine_over(epochs, len(batches))(opt), loss_step=_loss_step,
                      config=TrainConfig(epochs=epochs, seed=cfg.seed, device="cpu",
                                         grad_clip=cfg.grad_clip, progress=False))
    history = trainer.fit()
    train_seconds = sum(r["seconds"] for r in history.rows)

    frames, lengths, targets, target_lengths = test
    refs = [tuple(t[:n].tolist()) for t, n in zip(targets, target_lengths)]
    t0 = time.perf_counter()
    best, beam, lp = _decode(model, frames, lengths, cfg.beam_size)
    decode_seconds = time.perf_counter() - t0
    tr_frames, tr_lengths, tr_targets, tr_tl = (t[:n_test] for t in train)
    tr_best, _, _ = _decode(model, tr_frames, tr_lengths, None)
    tr_refs = [tuple(t[:n].tolist()) for t, n in zip(tr_targets, tr_tl)]

    ours_s, torch_s = _time_losses(lp[:, :cfg.batch_size], targets[:cfg.batch_size],
                                   lengths[:cfg.batch_size], target_lengths[:cfg.batch_size])
    metrics = {
        "ler_best_path": label_error_rate(best, refs),
        "ler_prefix_beam": label_error_rate(beam, refs),
        "ler_empty_output": label_error_rate([()] * len(refs), refs),
        "train_ler_best_path": label_error_rate(tr_best, tr_refs),
        "string_accuracy_best_path": sum(h == r for h, r in zip(best, refs)) / len(refs),
        "string_accuracy_prefix_beam": sum(h == r for h, r in zip(beam, refs)) / len(refs),
        "beam_differs_fraction": sum(a != b for a, b in zip(best, beam)) / len(refs),
        "train_loss": history.last()["train_loss"],
        "test_loss": history.last()["val_loss"],
        "train_strings": float(n_train),
        "test_strings": float(n_test),
        "epochs": float(epochs),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        "train_seconds": float(train_seconds),
        "decode_seconds": float(decode_seconds),
        "ctc_loss_seconds_ours": ours_s,
        "ctc_loss_seconds_torch": torch_s,
        "ctc_loss_time_ratio": ours_s / torch_s,
    }
    figures = _plot(out_dir, history.rows, frames, lengths, lp, refs, best, beam)
    examples = [{"reference": "".join(str(d - 1) for d in r),
                 "best_path": "".join(str(d - 1) for d in b),
                 "prefix_beam": "".join(str(d - 1) for d in m)}
                for r, b, m in list(zip(refs, best, beam))[:10]]
    claim = (f"trained only on (frames, digit string) pairs, the BiLSTM + CTC reader transcribes "
             f"unseen strings with label error rate {metrics['ler_best_path']:.3f} (best path) and "
             f"{metrics['ler_prefix_beam']:.3f} (prefix beam, k = {cfg.beam_size}) against "
             f"{metrics['ler_empty_output']:.1f} for the empty output")
    return LessonResult(NAME, metrics, figures, history.rows, claim=claim,
                        tables={"examples": examples}, checkpoint=save_model(model, out_dir))


def _plot(out_dir: Path, rows: list[dict], frames: Tensor, lengths: Tensor, lp: Tensor,
          refs: list, best: list, beam: list) -> list[str]:
    fig, axes = subplots(3, 1, figsize=(9, 7.5), gridspec_kw={"height_ratios": [1, 1, 1.2]})
    ax = axes[0]
    ax.plot([r["epoch"] for r in rows], [r["train_loss"] for r in rows], "o-", label="train")
    ax.plot([r["epoch"] for r in rows], [r["val_loss"] for r in rows], "s--", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("CTC loss per label")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    # show a string the two decoders read differently when there is one (beam right first)
    differ = [i for i in range(len(refs)) if best[i] != beam[i]]
    i = next((j for j in differ if beam[j] == refs[j]), differ[0] if differ else 0)
    n = int(lengths[i])
    axes[1].imshow(frames[i, :n].T.numpy(), cmap="gray_r", aspect="auto")
    axes[1].set_yticks([])
    ref = "".join(str(d - 1) for d in refs[i])
    axes[1].set_title(f"test string {ref!r} read column by column ({n} frames)")
    probs = lp[:n, i].exp().numpy()  # (T, C)
    ax = axes[2]
    ax.plot(probs[:, BLANK], color="0.6", lw=1, label="blank")
    for c in range(1, probs.shape[1]):
        if probs[:, c].max() > 0.3:
            ax.plot(probs[:, c], lw=1.5, label=f"digit {c - 1}")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_xlabel("frame")
    ax.set_ylabel("p(symbol | frame)")
    best0 = "".join(str(d - 1) for d in best[i])
    beam0 = "".join(str(d - 1) for d in beam[i])
    ax.set_title(f"per-frame outputs: spikes, blank elsewhere; best path {best0!r}, "
                 f"prefix beam {beam0!r}")
    ax.legend(fontsize=7, ncol=4)
    return [save_figure(fig, out_dir / "ctc.png")]
