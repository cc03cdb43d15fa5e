r"""ELMo-style features: a bidirectional LSTM language model whose layers, frozen, feed a task
through a learned weighted sum (P10).

**The biLM.** A forward LM reads :math:`x_1..x_t` and predicts :math:`x_{t+1}`; a backward LM
reads :math:`x_T..x_t` and predicts :math:`x_{t-1}`. They share the token embedding
:math:`E` and the output layer (tied to :math:`E`), each has its own stack of ``layers``
LSTMs (a residual connection around every layer after the first, as in ELMo), and they are
trained together on the sum of the two cross-entropies,

.. math::
    \sum_t \log p(x_t \mid x_1..x_{t-1}) + \log p(x_t \mid x_{t+1}..x_T).

**The features.** For token :math:`t` the biLM gives :math:`L + 1` vectors
:math:`\mathbf h_{t,0} = [E x_t; E x_t]` and
:math:`\mathbf h_{t,j} = [\overrightarrow{\mathbf h}_{t,j}; \overleftarrow{\mathbf h}_{t,j}]`.
A task learns only their mix (the biLM stays frozen),

.. math::
    \mathrm{ELMo}_t = \gamma \sum_{j=0}^{L} \mathrm{softmax}(\mathbf s)_j\, \mathbf h_{t,j},

and its own small model on top. :class:`ELMoClassifier` puts a mean over the sentence and a
linear layer there; ``freeze=False`` fine-tunes the biLM with it instead — the two
strategies the notes contrast (ELMo/CoVe features vs BERT-style fine-tuning).

Notes: P10, R4, R5, R8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.nn import LSTM, Dropout

__all__ = ["BiLM", "BiLMConfig", "ELMoClassifier", "ELMoClassifierConfig", "ScalarMix",
           "reverse_padded"]


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first ``lengths[b]`` steps, leaving the padding after them in place.

    Shape:
        ``x`` (B, T, ...) and ``lengths`` (B,); returns the shape of ``x``.

    Example:
        >>> reverse_padded(torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]), torch.tensor([3, 2]))
        tensor([[3, 2, 1, 0],
                [5, 4, 0, 0]])
    """
    b, t = x.shape[:2]
    pos = torch.arange(t, device=x.device).expand(b, t)
    lengths = lengths.to(x.device).view(b, 1)
    idx = torch.where(pos < lengths, lengths - 1 - pos, pos)  # (B, T)
    idx = idx.view(b, t, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


class ScalarMix(nn.Module):
    r""":math:`\gamma \sum_j \mathrm{softmax}(\mathbf s)_j\,\mathbf h_j` over ``n`` layers of
    one shape; :math:`\mathbf s = 0` and :math:`\gamma = 1` at the start (an average).

    Example:
        >>> mix = ScalarMix(2)
        >>> mix([torch.ones(1, 3), torch.zeros(1, 3)])
        tensor([[0.5000, 0.5000, 0.5000]], grad_fn=<MulBackward0>)

    Notes: P10.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        if n < 1:
            raise ConfigError(f"ScalarMix needs at least one layer, got {n}")
        self.scores = nn.Parameter(torch.zeros(n))
        self.gamma = nn.Parameter(torch.ones(()))

    def weights(self) -> Tensor:
        """The softmax-normalised layer weights ``(n,)``."""
        return torch.softmax(self.scores, 0)

    def forward(self, layers: list[Tensor]) -> Tensor:
        if len(layers) != len(self.scores):
            raise ShapeError(f"ScalarMix was built for {len(self.scores)} layers, got "
                             f"{len(layers)}")
        w = self.weights()
        return self.gamma * sum(w[j] * h for j, h in enumerate(layers))


@dataclass
class BiLMConfig:
    vocab_size: int = 5000  # V: tokens (characters for Chinese)
    hidden: int = 256  # H: embedding width and LSTM units per direction
    layers: int = 2  # LSTM layers per direction
    dropout: float = 0.1  # dropout on the embeddings and between layers
    fused: bool = True  # torch's LSTM kernel (False: our step-by-step cell), same parameters


@register_model("bilm", BiLMConfig,
                summary="ELMo's bidirectional LSTM language model (P10)", inputs="tokens")
class BiLM(nn.Module):
    """Forward and backward LSTM language models with a shared embedding and tied output
    layer (module docstring).

    Shape:
        - :meth:`forward` ``(B, T)`` ids (and optional ``lengths`` (B,)) →
          ``(forward_logits, backward_logits)``, each ``(B, T, V)``: position t of the forward
          one scores :math:`x_{t+1}`, of the backward one :math:`x_{t-1}`.
        - :meth:`layer_outputs` → ``L + 1`` tensors ``(B, T, 2H)``.

    Notes: P10, R4, R5.
    """

    def __init__(self, config: BiLMConfig) -> None:
        super().__init__()
        c = config
        if c.vocab_size < 2 or c.hidden < 1 or c.layers < 1 or not 0 <= c.dropout < 1:
            raise ConfigError(f"bilm needs vocab_size >= 2, hidden and layers >= 1 and dropout "
                              f"in [0, 1), got {c.vocab_size}, {c.hidden}, {c.layers}, {c.dropout}")
        self.config = c
        self.embedding = nn.Embedding(c.vocab_size, c.hidden)
        self.forward_lstms = nn.ModuleList(
            LSTM(c.hidden, c.hidden, batch_first=True, fused=c.fused) for _ in range(c.layers))
        self.backward_lstms = nn.ModuleList(
            LSTM(c.hidden, c.hidden, batch_first=True, fused=c.fused) for _ in range(c.layers))
        self.drop = Dropout(c.dropout, fused=c.fused)
        self.output_bias = nn.Parameter(torch.zeros(c.vocab_size))

    def _check(self, X: Tensor, lengths: Tensor | None) -> Tensor:
        if X.dim() != 2 or X.is_floating_point():
            raise ShapeError(f"bilm expects token ids of shape (B, T), got {X.dtype} with shape "
                             f"{tuple(X.shape)}")
        if lengths is None:
            return torch.full((X.shape[0],), X.shape[1], dtype=torch.long, device=X.device)
        if lengths.shape != (X.shape[0],):
            raise ShapeError(f"lengths must be (B,) = ({X.shape[0]},), got {tuple(lengths.shape)}")
        return lengths

    def _stack(self, lstms: nn.ModuleList, h: Tensor) -> list[Tensor]:
        outs = []
        for j, lstm in enumerate(lstms):
            y, _ = lstm(self.drop(h))
            h = y if j == 0 else y + h  # residual around every layer after the first
            outs.append(h)
        return outs

    def directions(self, X: Tensor, lengths: Tensor | None = None
                   ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """``(embeddings (B, T, H), forward layers, backward layers)``, each layer (B, T, H),
        the backward ones aligned with the input (position t has read x_T..x_t)."""
        lengths = self._check(X, lengths)
        e = self.embedding(X)
        fwd = self._stack(self.forward_lstms, e)
        bwd = self._stack(self.backward_lstms, reverse_padded(e, lengths))
        return e, fwd, [reverse_padded(h, lengths) for h in bwd]

    def layer_outputs(self, X: Tensor, lengths: Tensor | None = None) -> list[Tensor]:
        """The ``L + 1`` ELMo layers ``[E x; E x]``, ``[fwd_j; bwd_j]``, each (B, T, 2H)."""
        e, fwd, bwd = self.directions(X, lengths)
        return [torch.cat([e, e], -1)] + [torch.cat([f, b], -1) for f, b in zip(fwd, bwd)]

    def logits(self, h: Tensor) -> Tensor:
        """Scores over the vocabulary with the output layer tied to the embedding."""
        return self.drop(h) @ self.embedding.weight.T + self.output_bias

    def forward(self, X: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _, fwd, bwd = self.directions(X, lengths)
        return self.logits(fwd[-1]), self.logits(bwd[-1])

    def lm_loss(self, X: Tensor, lengths: Tensor | None = None) -> Tensor:
        r"""Mean of the forward (:math:`x_{t+1}` from :math:`x_{\le t}`) and backward
        (:math:`x_{t-1}` from :math:`x_{\ge t}`) cross-entropies over the valid positions."""
        lengths = self._check(X, lengths)
        f, b = self(X, lengths)
        valid = torch.arange(X.shape[1], device=X.device) < lengths.view(-1, 1)  # (B, T)
        pair = valid[:, 1:] & valid[:, :-1]
        ce = nn.functional.cross_entropy
        forward = ce(f[:, :-1][pair], X[:, 1:][pair])
        backward = ce(b[:, 1:][pair], X[:, :-1][pair])
        return (forward + backward) / 2


@dataclass
class ELMoClassifierConfig:
    vocab_size: int = 5000  # of the biLM
    hidden: int = 256  # of the biLM
    layers: int = 2  # of the biLM
    num_classes: int = 2  # outputs
    dropout: float = 0.1  # of the biLM, and before the linear layer
    freeze: bool = True  # True: ELMo features (only the mix and the head learn); False: fine-tune
    fused: bool = True  # torch's LSTM kernel (False: our step-by-step cell)


@register_model("elmo-classifier", ELMoClassifierConfig,
                summary="frozen biLM layers mixed by learned weights, mean-pooled, linear (P10)",
                inputs="tokens")
class ELMoClassifier(nn.Module):
    r"""Sequence classifier on ELMo features: :math:`W\,\frac1T\sum_t \mathrm{ELMo}_t + b`
    (the mean over the sequence: a max over time of frozen, saturating LSTM states is nearly
    the same vector for every text).

    With ``freeze=True`` the biLM's weights get no gradient and run in eval mode (dropout
    off): only :class:`ScalarMix` (``L + 2`` numbers) and the linear layer learn. Load a
    trained biLM with ``model.bilm.load_state_dict(...)``.

    Shape:
        - ``(B, T)`` ids and ``lengths`` (B,) → logits ``(B, num_classes)``.

    Notes: P10.
    """

    def __init__(self, config: ELMoClassifierConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.bilm = BiLM(BiLMConfig(c.vocab_size, c.hidden, c.layers, c.dropout, c.fused))
        self.mix = ScalarMix(c.layers + 1)
        self.drop = Dropout(c.dropout, fused=c.fused)
        self.head = nn.Linear(2 * c.hidden, c.num_classes)
        if c.freeze:
            self.bilm.requires_grad_(False)

    def train(self, mode: bool = True) -> ELMoClassifier:
        super().train(mode)
        if self.config.freeze:
            self.bilm.eval()  # frozen features: no dropout inside the biLM
        return self

    def forward(self, X: Tensor, lengths: Tensor | None = None) -> Tensor:
        lengths = self.bilm._check(X, lengths)
        if self.config.freeze:
            with torch.no_grad():
                layers = self.bilm.layer_outputs(X, lengths)
        else:
            layers = self.bilm.layer_outputs(X, lengths)
        h = self.mix(layers)  # (B, T, 2H)
        valid = torch.arange(X.shape[1], device=X.device) < lengths.view(-1, 1)
        h = (h * valid.unsqueeze(-1)).sum(1) / lengths.view(-1, 1)  # mean over valid steps
        return self.head(self.drop(h))
