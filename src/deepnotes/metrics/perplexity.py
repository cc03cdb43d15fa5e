r"""Perplexity of a language model: :math:`\exp` of the mean negative log-likelihood.

.. math::
    \mathrm{PPL} = \exp\Big(-\frac1N\sum_{t=1}^{N} \log P(x_{t+1} \mid x_{\le t})\Big)

1 is a perfect model, :math:`|V|` a uniform guess over the vocabulary, :math:`\infty` a model
that gives some true token probability 0 (R8).

The model interface is the LM one of :mod:`deepnotes.tasks.lm`:
``model(X (B, T), state) -> (logits (B, T, V), state)``.

Notes: R8.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError

__all__ = ["causal_perplexity", "perplexity", "perplexity_from_nll"]


def perplexity_from_nll(total_nll: float, count: int) -> float:
    r"""``exp(total_nll / count)``: perplexity from a summed negative log-likelihood (nats).

    Example:
        >>> round(perplexity_from_nll(4 * math.log(28), 4), 6)   # a uniform guess over 28
        28.0
    """
    if count <= 0:
        raise ConfigError(f"perplexity needs at least one scored token, got count={count}")
    return math.exp(total_nll / count)


def _nll_sum(model: nn.Module, X: Tensor, Y: Tensor, state=None) -> tuple[float, object]:
    logits, state = model(X, state)  # (B, T, V)
    # -Σ log softmax(o_{b,t})[y_{b,t}]
    nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1),
                                      reduction="sum")  # (B*T, V), (B*T,)
    return float(nll), state


@torch.no_grad()
def perplexity(model: nn.Module, ids: Tensor, num_steps: int = 35, carry_state: bool = True,
               rows: int = 16) -> float:
    r"""Perplexity :math:`\exp(-\frac1N\sum_t \log P(x_{t+1} \mid \text{context}))` of ``ids``.

    ``carry_state=True``: the text is laid out as ``rows`` contiguous rows read in chunks of
    ``num_steps`` with the hidden state carried over, so each prediction sees everything
    before it in its row (the usual evaluation). ``carry_state=False``: non-overlapping
    windows of ``num_steps`` tokens, each from a zero state (d2l's validation), so early
    positions of a window have little context.

    Example:
        >>> from deepnotes.models import create
        >>> m = create("rnn-lm", vocab_size=5, hidden=4)
        >>> p = perplexity(m, torch.arange(40) % 5, num_steps=7)
        >>> 1 < p < 10
        True

    Notes: R8.
    """
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        ids = ids.to(device)
        if carry_state:
            rows = max(1, min(rows, (len(ids) - 1) // num_steps))
            n = (len(ids) - 1) // rows * rows
            X, Y = ids[:n].reshape(rows, -1), ids[1:n + 1].reshape(rows, -1)  # (R, N/R)
            chunks = [(X[:, i:i + num_steps], Y[:, i:i + num_steps])
                      for i in range(0, X.shape[1], num_steps)]
        else:
            w = (len(ids) - 1) // num_steps
            X = ids[:w * num_steps].reshape(w, num_steps)  # (W, T)
            Y = ids[1:w * num_steps + 1].reshape(w, num_steps)  # (W, T)
            chunks = [(X[i:i + 256], Y[i:i + 256]) for i in range(0, w, 256)]
        if not chunks or chunks[0][0].numel() == 0:
            raise ConfigError(f"{len(ids)} tokens are too few for windows of {num_steps}; "
                              "use a longer text or smaller num_steps")
        nll, count, state = 0.0, 0, None
        for Xc, Yc in chunks:
            loss, state = _nll_sum(model, Xc, Yc, state if carry_state else None)
            nll += loss
            count += Yc.numel()
        return perplexity_from_nll(nll, count)
    finally:
        model.train(was)


@torch.no_grad()
def causal_perplexity(model: nn.Module, ids: Tensor, num_steps: int = 35) -> float:
    """Perplexity where token t+1 is scored from ``x_1..x_t`` ONLY, in windows of ``num_steps``.

    Each prefix is fed separately (the model never sees a later token), exactly what it can do
    when generating; for a unidirectional model this equals
    ``perplexity(..., carry_state=False)``, for a bidirectional one it is the honest score.

    Notes: R4, R8.
    """
    was = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        w = (len(ids) - 1) // num_steps
        if w < 1:
            raise ConfigError(f"{len(ids)} tokens are too few for windows of {num_steps}")
        X = ids[:w * num_steps].reshape(w, num_steps).to(device)  # (W, T)
        Y = ids[1:w * num_steps + 1].reshape(w, num_steps).to(device)  # (W, T)
        nll = 0.0
        for t in range(1, num_steps + 1):
            logits, _ = model(X[:, :t])  # (W, t, V): only the prefix x_1..x_t
            # -log P(x_{t+1} | x_{≤t}) from the last position
            nll += float(nn.functional.cross_entropy(logits[:, -1], Y[:, t - 1], reduction="sum"))
        return perplexity_from_nll(nll, Y.numel())
    finally:
        model.train(was)
