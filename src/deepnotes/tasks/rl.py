r"""Reinforcement learning for a translator whose metric (BLEU) has no gradient (S6).

The decoder is the agent: its action at step t is the next word, drawn from
:math:`P_\theta(y_t \mid y_{<t}, x)`; when the sentence ends the environment pays a reward,
the sentence BLEU of the translation against the reference. REINFORCE follows the gradient of
the expected reward,

.. math::
    \nabla_\theta\, \mathbb E_{y \sim P_\theta}[r(y)]
    = \mathbb E_{y \sim P_\theta}\big[(r(y) - b)\,\nabla_\theta \log P_\theta(y \mid x)\big],

true for any baseline :math:`b` that does not depend on the drawn :math:`y`; a good one lowers
the variance. **Self-critical** training (Rennie et al., 2017) takes as baseline the reward of
the model's own greedy translation, :math:`b = r(\hat y)`: a sample better than what the model
would say now is made more probable, a worse one less. One update on a batch of sources:

.. math::
    \mathcal L = -\frac1B \sum_b \big(r(y^s_b) - r(\hat y_b)\big)
    \sum_t \log P_\theta(y^s_{b,t} \mid y^s_{b,<t}, x_b)
    \;+\; \lambda\, \mathrm{CE}(\text{references})

with :math:`y^s_b` drawn from the model and :math:`\hat y_b` its greedy output (both without
gradient), :math:`\log P` recomputed with gradient by one teacher-forced pass over the drawn
words, and an optional cross-entropy term on the references (:math:`\lambda` = ``ce_weight``).

Notes: S6, S3, S4.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as TF

from deepnotes.errors import ConfigError, NonFiniteLossError
from deepnotes.functional.sequence import fused_masked_cross_entropy
from deepnotes.metrics import sentence_bleu
from deepnotes.tasks.translation import _to_text, teacher_forcing_inputs

__all__ = ["SCSTRun", "bleu_rewards", "pad_tokens", "sample_translations", "self_critical",
           "self_critical_loss", "sequence_log_prob"]


@torch.no_grad()
def sample_translations(model: nn.Module, src: Tensor, src_valid_len: Tensor, bos: int,
                        eos: int, max_len: int, greedy: bool = False,
                        generator: torch.Generator | None = None):
    """One translation per source, drawn from the model (or greedy): a
    :class:`~deepnotes.decoding.SearchResult` (tokens end in ``<eos>`` unless cut)."""
    from deepnotes.decoding import greedy_search, sample

    state = model.init_state(src, src_valid_len)
    if greedy:
        return greedy_search(model.step, bos, eos, max_len, state=state,
                             batch_size=src.shape[0], device=src.device)
    return sample(model.step, bos, eos, max_len, temperature=1.0, generator=generator,
                  state=state, batch_size=src.shape[0], device=src.device)


def pad_tokens(seqs: Sequence[Sequence[int]], pad: int, device: Any = "cpu"
               ) -> tuple[Tensor, Tensor]:
    """``(tokens (B, L), lengths (B,))``: the sequences padded with ``pad`` to the longest.

    Example:
        >>> pad_tokens([[5, 3], [7]], pad=0)
        (tensor([[5, 3],
                [7, 0]]), tensor([2, 1]))
    """
    width = max(1, max((len(s) for s in seqs), default=1))
    out = torch.full((len(seqs), width), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out.to(device), torch.tensor([len(s) for s in seqs], device=device)


def sequence_log_prob(model: nn.Module, src: Tensor, src_valid_len: Tensor, tokens: Tensor,
                      lengths: Tensor, bos: int) -> Tensor:
    r""":math:`\sum_{t < \text{len}} \log P(y_t \mid y_{<t}, x)` of each row of ``tokens``,
    with gradient, from one teacher-forced pass; ``(B,)``."""
    logits = model(src, src_valid_len, teacher_forcing_inputs(tokens, bos))  # (B, L, V)
    logp = TF.log_softmax(logits.float(), dim=-1).gather(2, tokens[..., None]).squeeze(2)
    keep = torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None]
    return (logp * keep).sum(dim=1)


def bleu_rewards(hypotheses: Sequence[Sequence[int]], references: Sequence[str], tgt_vocab: Any,
                 codec: Any = None) -> Tensor:
    """Sentence BLEU (0-1, sacrebleu's smoothed sentence BLEU, lower-cased) of each token
    sequence against its reference text; ``(B,)`` float64."""
    return torch.tensor([sentence_bleu(_to_text(list(h), tgt_vocab, codec), [r],
                                       lowercase=True).score / 100.0
                         for h, r in zip(hypotheses, references)], dtype=torch.float64)


def self_critical_loss(model: nn.Module, src: Tensor, src_valid_len: Tensor,
                       drawn: Sequence[Sequence[int]], advantage: Tensor, pad: int, bos: int
                       ) -> tuple[Tensor, Tensor]:
    r"""REINFORCE's loss :math:`-\frac1B\sum_b A_b \log P_\theta(y^s_b \mid x_b)` for drawn
    sequences with advantages :math:`A_b = r(y^s_b) - r(\hat y_b)` (no gradient through A);
    returns ``(loss, A)``. Descending it makes a sequence with :math:`A_b > 0` more probable
    and one with :math:`A_b < 0` less."""
    device = src.device
    adv = torch.as_tensor(advantage).to(device=device, dtype=torch.float32).detach()
    tokens, lengths = pad_tokens(drawn, pad, device)
    logp = sequence_log_prob(model, src, src_valid_len, tokens, lengths, bos)
    return -(adv * logp).mean(), adv


@dataclass
class SCSTRun:
    """One self-critical training run: a row per epoch (mean rewards, advantage, loss)."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    updates: int = 0


def self_critical(model: nn.Module, data: Any, epochs: int, lr: float, batch_size: int = 64,
                  clip: float | None = 1.0, ce_weight: float = 0.0, seed: int = 0,
                  max_len: int | None = None, progress: bool | None = None) -> SCSTRun:
    """Self-critical REINFORCE on ``data.train`` (a
    :class:`~deepnotes.data.parallel.TranslationData`): the module docstring's loss, Adam at
    ``lr``, gradient norm clipped to ``clip``. Dropout is off throughout (the model that draws
    is the model that is scored), so the update follows exactly the drawn sequences.
    """
    from deepnotes.optim import create_optimizer

    if epochs < 1 or not lr > 0:
        raise ConfigError(f"epochs must be >= 1 and lr > 0, got epochs={epochs}, lr={lr}")
    v = data.tgt_vocab
    codec = getattr(data, "codec", None)
    max_len = max_len or data.num_steps
    device = next(model.parameters()).device
    opt = create_optimizer("adam", [p for p in model.parameters() if p.requires_grad], lr=lr)
    g = torch.Generator().manual_seed(seed)
    order_gen = torch.Generator().manual_seed(seed + 1)
    train = data.train
    run = SCSTRun()
    was = model.training
    model.eval()  # no dropout: see the docstring
    bar = None
    n_batches = math.ceil(len(train) / batch_size)
    if (sys.stderr.isatty() if progress is None else progress):
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * n_batches, desc="self-critical", unit="batch")
    t0 = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            sums = {"sample_reward": 0.0, "greedy_reward": 0.0, "advantage": 0.0, "loss": 0.0,
                    "sample_tokens": 0.0, "greedy_tokens": 0.0}
            seen = 0
            order = torch.randperm(len(train), generator=order_gen)
            for i in range(0, len(train), batch_size):
                idx = order[i:i + batch_size]
                src = train.src[idx].to(device)
                src_len = train.src_valid_len[idx].to(device)
                refs = [train.tgt_text[j] for j in idx.tolist()]
                drawn = sample_translations(model, src, src_len, v.bos, v.eos, max_len,
                                            generator=g).tokens
                greedy = sample_translations(model, src, src_len, v.bos, v.eos, max_len,
                                             greedy=True).tokens
                r_s = bleu_rewards(drawn, refs, v, codec)
                r_g = bleu_rewards(greedy, refs, v, codec)
                loss, adv = self_critical_loss(model, src, src_len, drawn, r_s - r_g, v.pad,
                                               v.bos)
                if ce_weight > 0:
                    tgt, tgt_len = train.tgt[idx].to(device), train.tgt_valid_len[idx].to(device)
                    scores = model(src, src_len, teacher_forcing_inputs(tgt, v.bos))
                    loss = loss + ce_weight * fused_masked_cross_entropy(scores, tgt, tgt_len)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(f"the self-critical loss is {float(loss)} in epoch "
                                             f"{epoch}; lower lr (now {lr:g})")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                run.updates += 1
                b = len(idx)
                seen += b
                sums["sample_reward"] += float(r_s.sum())
                sums["greedy_reward"] += float(r_g.sum())
                sums["advantage"] += float(adv.sum())
                sums["loss"] += float(loss.detach()) * b
                sums["sample_tokens"] += sum(len(t) for t in drawn)
                sums["greedy_tokens"] += sum(len(t) for t in greedy)
                if bar is not None:
                    bar.update(1)
            row = {"epoch": epoch, **{k: s / seen for k, s in sums.items()},
                   "seconds": time.perf_counter() - t0}
            run.history.append(row)
    finally:
        if bar is not None:
            bar.close()
        run.seconds = time.perf_counter() - t0
        model.train(was)
    return run
