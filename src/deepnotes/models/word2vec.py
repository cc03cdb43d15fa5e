r"""word2vec: skip-gram and CBOW, trained with negative sampling or a hierarchical softmax.

Every word :math:`w` has an *input* vector :math:`\mathbf v_w` (the word vector kept at the end)
and an *output* vector :math:`\mathbf u_w` (negative sampling) or, with the hierarchical
softmax, every inner node :math:`n` of a binary tree over the vocabulary has one,
:math:`\boldsymbol\theta_n`. A centre word :math:`c` and the words :math:`o` of its window are
the training pairs.

- **Skip-gram** (E1) predicts each context word from the centre, **CBOW** the centre from the
  mean of its context, :math:`\mathbf h = \frac1{|\mathcal C|}\sum_{o\in\mathcal C}\mathbf v_o`.
- **Negative sampling** (E2) replaces the softmax over |V| words by K logistic regressions
  against noise words :math:`k_1..k_K \sim P(w)^{3/4}`:

  .. math:: \ell = -\log\sigma(\mathbf u_c^\top\mathbf v)
      - \sum_{k=1}^{K}\log\sigma(-\mathbf u_k^\top\mathbf v)

- **Hierarchical softmax** (E2): :math:`P(c \mid \mathbf v) = \prod_{n \in \text{path}(c)}
  \sigma(\pm\boldsymbol\theta_n^\top\mathbf v)`, the sign + for a left turn (code 0) and - for
  a right turn (code 1), along the path of a Huffman tree over the word counts
  (:func:`huffman_tree`), so a word costs :math:`O(\log|V|)` dot products, frequent ones fewer:

  .. math:: \ell = -\sum_{n\in\text{path}(c)} \log\sigma\big((1 - 2\,\text{code}_n)\,
      \boldsymbol\theta_n^\top\mathbf v\big)

As in word2vec.c (and gensim), a pair is read the other way round: the *context* word's input
vector :math:`\mathbf v = \mathbf v_o` predicts the *centre*'s output side (its output vector and
its negatives, or its tree path). The window pairs are symmetric, so this is the same objective;
each centre's output rows are then gathered once for all its context words. A noise word equal
to the centre is skipped (word2vec.c). In CBOW, :math:`\mathbf v = \mathbf h`, and the error of
:math:`\mathbf h` goes to every context vector *undivided* (word2vec.c, gensim, fastText), which
:func:`bag_mean` reproduces under autograd.

Two paths compute the same thing: :meth:`Word2Vec.forward` (the loss per centre word, for
autograd) and :meth:`Word2Vec.sgd_step` (the gradients written out by hand and applied with
``index_add_``, about 5× faster on the CPU: no autograd graph, no sparse-gradient tensors);
tests check that one SGD step of each gives the same tables.

Notes: E1, E2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model

__all__ = ["HuffmanTree", "Word2Vec", "Word2VecConfig", "bag_mean", "huffman_tree",
           "row_scale"]

ARCHITECTURES = ("skipgram", "cbow")
OBJECTIVES = ("negative", "hierarchical")


@dataclass
class HuffmanTree:
    """The codes of a Huffman tree over V words, padded to the longest (L = ``max_len``).

    Attributes:
        codes: (V, L) 0/1 turns from the root to the word's leaf (0 = left), padded with 0.
        points: (V, L) the inner nodes on the way (0..V-2; the root is V-2), padded with 0.
        lengths: (V,) the code length of each word.
    """

    codes: Tensor
    points: Tensor
    lengths: Tensor

    @property
    def max_len(self) -> int:
        return int(self.codes.shape[1])

    def code(self, word: int) -> str:
        """Word ``word``'s code as a string of 0s and 1s."""
        n = int(self.lengths[word])
        return "".join(str(int(b)) for b in self.codes[word, :n])


def huffman_tree(counts: Tensor | list[int]) -> HuffmanTree:
    r"""The Huffman tree of word2vec.c (``CreateBinaryTree``) over word counts.

    Repeatedly merge the two least frequent nodes (the second one becomes the right child,
    code 1) into a new inner node; V words give V-1 inner nodes and the root is the last one.
    The expected code length :math:`\sum_w p_w\,\ell_w` is the smallest of any prefix code, and
    :math:`\sum_w 2^{-\ell_w} = 1` (Kraft equality: the tree is full). word2vec.c walks two
    queues (the leaves in decreasing order of count, and the merged nodes, created in
    increasing order of count), which is O(V) once the counts are sorted.

    Args:
        counts: (V,) word counts, V >= 2.

    Example:
        >>> t = huffman_tree([5, 2, 1, 1])
        >>> [t.code(w) for w in range(4)]
        ['1', '01', '001', '000']

    Notes: E2.
    """
    counts = torch.as_tensor(counts).tolist()
    v = len(counts)
    if v < 2:
        raise ConfigError(f"a Huffman tree needs at least 2 words, got {v}")
    if min(counts) < 0:
        raise ConfigError(f"word counts must be >= 0, got {min(counts)}")
    # word2vec.c's two queues need the counts in decreasing order: sort (stably), map back
    order = sorted(range(v), key=lambda w: -counts[w])
    count = [counts[w] for w in order] + [float("inf")] * (v - 1)
    parent = [0] * (2 * v - 1)
    right = [0] * (2 * v - 1)
    pos1, pos2 = v - 1, v  # the least frequent leaf not merged yet; the oldest inner node
    for a in range(v - 1):
        pair = []
        for _ in range(2):  # the two smallest; on a tie the inner node goes first (word2vec.c)
            if pos1 >= 0 and count[pos1] < count[pos2]:
                pair.append(pos1)
                pos1 -= 1
            else:
                pair.append(pos2)
                pos2 += 1
        count[v + a] = count[pair[0]] + count[pair[1]]
        parent[pair[0]] = parent[pair[1]] = v + a
        right[pair[1]] = 1  # the second one is the right child: code 1
    root = 2 * v - 2
    paths: list[tuple[list[int], list[int]]] = [([], [])] * v
    for leaf, w in enumerate(order):
        code, point, node = [], [], leaf
        while node != root:
            code.append(right[node])
            node = parent[node]
            point.append(node - v)  # inner node index 0..V-2
        paths[w] = (code[::-1], point[::-1])
    max_len = max(len(c) for c, _ in paths)
    codes = torch.zeros(v, max_len, dtype=torch.long)
    points = torch.zeros(v, max_len, dtype=torch.long)
    for w, (c, p) in enumerate(paths):
        codes[w, :len(c)] = torch.tensor(c)
        points[w, :len(p)] = torch.tensor(p)
    lengths = torch.tensor([len(c) for c, _ in paths])
    return HuffmanTree(codes, points, lengths)


class _BagMean(torch.autograd.Function):
    """h = Σ_j m_j x_j / max(Σ_j m_j, 1); backward: ∂L/∂x_j = m_j ∂L/∂h (undivided)."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor) -> Tensor:  # x (B, C, D), mask (B, C)
        m = mask.to(x.dtype).unsqueeze(-1)  # (B, C, 1)
        ctx.save_for_backward(m)
        return (x * m).sum(1) / m.sum(1).clamp_min(1)  # (B, D)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        (m,) = ctx.saved_tensors
        return grad.unsqueeze(1) * m, None  # (B, C, D)


def bag_mean(x: Tensor, mask: Tensor) -> Tensor:
    r"""The mean of the valid rows of each bag, with word2vec.c's update rule.

    :math:`\mathbf h = \frac{1}{n}\sum_{j} m_j\mathbf x_j` (:math:`n = \sum_j m_j`, an empty bag
    gives 0), but the backward pass hands :math:`\partial L/\partial\mathbf h` to every valid
    row *undivided* — a step n times the true gradient's, which is what word2vec.c's CBOW
    and fastText's subword bags apply (and gensim with ``cbow_mean=1``).

    Shape:
        - x ``(B, C, D)``, mask ``(B, C)`` (bool) -> ``(B, D)``.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0], [9.0]]], requires_grad=True)
        >>> h = bag_mean(x, torch.tensor([[True, True, False]]))
        >>> h.backward(torch.ones_like(h)); h.tolist(), x.grad.view(-1).tolist()
        ([[2.0]], [1.0, 1.0, 0.0])

    Notes: E1.
    """
    return _BagMean.apply(x, mask)


def row_scale(rows: Tensor, steps: Tensor, num_rows: int, max_steps: float) -> Tensor:
    r"""Per entry, :math:`\min(1, \text{max\_steps} / n_r)` with :math:`n_r` the steps its row r
    takes in this batch (the sum of ``steps`` over the entries of r).

    A minibatch adds up the n steps of a row that occurs n times before any of them takes
    effect; word2vec.c takes them one after another, each from where the last left the row,
    so a frequent row (the tree's root, "the" as a noise word) moves n× further than
    sequential SGD would once its loss is near a minimum, and with thousands of occurrences
    per batch training diverges. Scaling such a row's summed step down to ``max_steps``
    single steps' worth keeps the batch step stable; rows seen fewer times are untouched.

    Example:
        >>> row_scale(torch.tensor([0, 1, 1, 1]), torch.ones(4), 3, max_steps=2).tolist()
        [1.0, 0.6666666865348816, 0.6666666865348816, 0.6666666865348816]

    Notes: E2.
    """
    n = torch.zeros(num_rows, dtype=steps.dtype).index_add_(0, rows, steps)
    return (max_steps / n[rows].clamp_min(1e-30)).clamp(max=1.0)


@dataclass
class Word2VecConfig:
    vocab_size: int = 10_000  # V: words in the vocabulary, most frequent first
    dim: int = 100  # D: length of each word vector (gensim's vector_size)
    architecture: str = "skipgram"  # "skipgram" (context word -> centre pairs) or "cbow"
    objective: str = "negative"  # "negative" sampling or "hierarchical" softmax
    zero_output: bool = True  # output vectors start at 0 (word2vec.c); False: small random
    sparse: bool = False  # sparse gradients for autograd training (torch.optim.SGD/SparseAdam)


@register_model("word2vec", Word2VecConfig,
                summary="skip-gram / CBOW with negative sampling or hierarchical softmax (E1, E2)",
                inputs="tokens")
class Word2Vec(nn.Module):
    r"""word2vec's two tables and its loss (see the module docstring for the formulas).

    ``input_embedding`` (V, D) holds the word vectors; ``output_embedding`` holds the output
    vectors (V, D) for negative sampling or the V-1 inner-node vectors of the Huffman tree
    (hierarchical softmax). Inputs start uniform in :math:`\pm\frac{1}{2D}` and outputs at 0,
    as in word2vec.c.

    Args:
        config: a :class:`Word2VecConfig`.
        counts: (V,) word counts for the hierarchical softmax's Huffman tree (``None``: all
            equal, a balanced tree). Not used by negative sampling.

    Shape:
        - centre ``(B,)`` word ids; context ``(B, C)`` word ids of each centre's window, padded
          with -1; negatives ``(B, K)`` noise word ids (negative sampling only; K may be 0).
        - Output ``(B,)``: each centre's loss summed over its context words.

    Example:
        >>> m = Word2Vec(Word2VecConfig(vocab_size=6, dim=4, zero_output=False))
        >>> m(torch.tensor([1, 2]), torch.tensor([[0, 3], [4, -1]]),
        ...   torch.tensor([[5, 5], [0, 1]])).shape
        torch.Size([2])

    Notes: E1, E2.
    """

    def __init__(self, config: Word2VecConfig, counts: Tensor | None = None) -> None:
        super().__init__()
        if config.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}, got "
                              f"{config.architecture!r}")
        if config.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {OBJECTIVES}, got {config.objective!r}")
        if config.vocab_size < 2 or config.dim < 1:
            raise ConfigError(f"word2vec needs vocab_size >= 2 and dim >= 1, got "
                              f"{config.vocab_size} and {config.dim}")
        self.config = config
        v, d = config.vocab_size, config.dim
        self.hierarchical = config.objective == "hierarchical"
        self.skipgram = config.architecture == "skipgram"
        self.input_embedding = nn.Embedding(v, d, sparse=config.sparse)
        self.output_embedding = nn.Embedding(v - 1 if self.hierarchical else v, d,
                                             sparse=config.sparse)
        if self.hierarchical:
            if counts is None:
                counts = torch.ones(v, dtype=torch.long)
            if len(counts) != v:
                raise ShapeError(f"counts must have one entry per word ({v}), got {len(counts)}")
            tree = huffman_tree(counts)
            self.register_buffer("codes", tree.codes, persistent=False)
            self.register_buffer("points", tree.points, persistent=False)
            self.register_buffer("code_lengths", tree.lengths, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d = self.config.dim
        # word2vec.c: syn0 ~ U(-0.5/D, 0.5/D), syn1/syn1neg = 0
        nn.init.uniform_(self.input_embedding.weight, -0.5 / d, 0.5 / d)
        if self.config.zero_output:
            nn.init.zeros_(self.output_embedding.weight)
        else:
            nn.init.uniform_(self.output_embedding.weight, -0.5 / d, 0.5 / d)

    def extra_repr(self) -> str:
        c = self.config
        return f"{c.architecture}, {c.objective}, vocab_size={c.vocab_size}, dim={c.dim}"

    # ---------------------------------------------------------------- shared pieces
    def targets(self, centre: Tensor, negatives: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """The output rows each centre is scored against: ``(ids, labels, mask)``, each (B, T).

        Negative sampling: the centre (label 1) then the K noise words (label 0; one equal to
        the centre is masked out). Hierarchical softmax: the inner nodes of the centre's path,
        label 1 - code (σ(θ·v) is the probability of turning left), masked past its length.
        """
        if self.hierarchical:
            length = self.code_lengths[centre]  # (B,)
            pos = torch.arange(self.points.shape[1], device=centre.device)
            mask = pos < length.unsqueeze(1)  # (B, L)
            return self.points[centre], 1 - self.codes[centre], mask
        if negatives is None:
            raise ConfigError("negative sampling needs negatives (B, K) noise word ids")
        if negatives.dim() != 2 or negatives.shape[0] != centre.shape[0]:
            raise ShapeError(f"negatives must be (B, K) with B = {centre.shape[0]}, got "
                             f"{tuple(negatives.shape)}")
        ids = torch.cat([centre.unsqueeze(1), negatives], 1)  # (B, 1+K)
        labels = torch.zeros_like(ids)
        labels[:, 0] = 1
        mask = torch.ones_like(ids, dtype=torch.bool)
        mask[:, 1:] = negatives != centre.unsqueeze(1)  # word2vec.c skips target == word
        return ids, labels, mask

    def _check(self, centre: Tensor, context: Tensor) -> None:
        if centre.dim() != 1 or context.dim() != 2 or context.shape[0] != centre.shape[0]:
            raise ShapeError(f"word2vec expects centre (B,) and context (B, C), got "
                             f"{tuple(centre.shape)} and {tuple(context.shape)}")
        if centre.is_floating_point() or context.is_floating_point():
            raise ShapeError("word2vec expects integer word ids")

    def input_rows(self, context: Tensor) -> Tensor:
        """The input vectors of the context words, (B, C, D) (padding -1 reads row 0)."""
        return self.input_embedding(context.clamp_min(0))

    # ---------------------------------------------------------------- autograd path
    def forward(self, centre: Tensor, context: Tensor, negatives: Tensor | None = None) -> Tensor:
        self._check(centre, context)
        in_mask = context >= 0  # (B, C)
        ids, labels, out_mask = self.targets(centre, negatives)  # (B, T)
        out = self.output_embedding(ids)  # (B, T, D)
        sign = 2 * labels.to(out.dtype) - 1  # +1 for the word / a left turn, -1 otherwise
        vin = self.input_rows(context)  # (B, C, D)
        if self.skipgram:
            # s_jt = u_t · v_j for every context word j and output row t
            s = torch.einsum("bcd,btd->bct", vin, out)  # (B, C, T)
            keep = in_mask.unsqueeze(2) & out_mask.unsqueeze(1)  # (B, C, T)
            # ℓ = -Σ_j Σ_t log σ(±s_jt)
            return -(F.logsigmoid(sign.unsqueeze(1) * s) * keep).sum((1, 2))  # (B,)
        h = bag_mean(vin, in_mask)  # (B, D)
        s = torch.einsum("btd,bd->bt", out, h)  # (B, T)
        keep = out_mask & in_mask.any(1, keepdim=True)  # a centre with no context is skipped
        return -(F.logsigmoid(sign * s) * keep).sum(1)  # (B,)

    # ---------------------------------------------------------------- hand-written SGD step
    @torch.no_grad()
    def sgd_step(self, centre: Tensor, context: Tensor, negatives: Tensor | None = None,
                 lr: float = 0.025, loss: bool = True, max_row_steps: float | None = None
                 ) -> Tensor | None:
        r"""One SGD step on the summed loss of a batch, gradients written out by hand.

        With :math:`g = \mathrm{lr}\,(y - \sigma(s))` for each score :math:`s = \mathbf u^\top
        \mathbf v` (:math:`y` = 1 for the centre / a left turn, 0 otherwise):
        :math:`\mathbf u \mathrel{+}= g\,\mathbf v` and :math:`\mathbf v \mathrel{+}=
        \sum g\,\mathbf u`, summed over the batch with ``index_add_`` (every score read the
        tables before the step, as in a minibatch; word2vec.c steps after every pair). With
        ``max_row_steps``, a row updated more often than that in the batch takes that many
        single steps' worth of its summed step (:func:`row_scale`).

        Returns:
            the batch's summed loss before the step (``loss=False``: ``None``, a little faster).
        """
        self._check(centre, context)
        in_mask = context >= 0  # (B, C)
        ids, labels, out_mask = self.targets(centre, negatives)  # (B, T)
        w_out = self.output_embedding.weight
        B, T = ids.shape
        D = w_out.shape[1]
        out = w_out.index_select(0, ids.reshape(-1)).view(B, T, D)
        y = labels.to(w_out.dtype)
        if self.skipgram:
            vin, handle = self.gather_inputs(context)  # (B, C, D)
            s = torch.bmm(out, vin.transpose(1, 2))  # (B, T, C): s_tj = u_t · v_j
            keep = (out_mask.unsqueeze(2) & in_mask.unsqueeze(1)).to(s.dtype)  # (B, T, C)
            # g = lr·(y - σ(s)) on the kept scores
            g = (y.unsqueeze(2) - torch.sigmoid(s)) * keep * lr  # (B, T, C)
            grad_in = torch.bmm(g.transpose(1, 2), out)  # (B, C, D): Σ_t g_tj u_t
            grad_out = torch.bmm(g, vin)  # (B, T, D): Σ_j g_tj v_j
            value = -(F.logsigmoid((2 * y.unsqueeze(2) - 1) * s) * keep).sum() if loss else None
            if max_row_steps is not None:  # an output row steps once per context word scored
                scale = row_scale(ids.reshape(-1), keep.sum(2).reshape(-1), w_out.shape[0],
                                  max_row_steps)
                grad_out = grad_out * scale.view(B, T, 1)
            w_out.index_add_(0, ids.reshape(-1), grad_out.reshape(B * T, D))
            self.scatter_inputs(handle, grad_in, max_row_steps)
            return value
        # CBOW: only the valid context slots are read and written
        w_in = self.input_embedding.weight
        flat = context.reshape(-1)
        slots = (flat >= 0).nonzero().squeeze(1)  # (P,) valid slots
        rows, owner = flat[slots], slots // context.shape[1]  # their words and centres
        n = in_mask.sum(1)  # (B,)
        # h = Σ_j v_j / n
        h = torch.zeros(B, D, dtype=w_in.dtype).index_add_(0, owner, w_in.index_select(0, rows))
        h = h / n.clamp_min(1).unsqueeze(1).to(h.dtype)  # (B, D)
        s = torch.bmm(out, h.unsqueeze(2)).squeeze(2)  # (B, T)
        keep = (out_mask & (n > 0).unsqueeze(1)).to(s.dtype)  # a centre with no context: skipped
        g = (y - torch.sigmoid(s)) * keep * lr  # (B, T)
        grad_h = torch.bmm(g.unsqueeze(1), out).squeeze(1)  # (B, D): Σ_t g_t u_t
        grad_out = g.unsqueeze(2) * h.unsqueeze(1)  # (B, T, D)
        value = -(F.logsigmoid((2 * y - 1) * s) * keep).sum() if loss else None
        grad_in = grad_h.index_select(0, owner)  # (P, D): the same error to every context word,
        if max_row_steps is not None:  # undivided (word2vec.c)
            scale = row_scale(ids.reshape(-1), keep.reshape(-1), w_out.shape[0], max_row_steps)
            grad_out = grad_out * scale.view(B, T, 1)
            grad_in = grad_in * row_scale(rows, torch.ones(len(rows), dtype=h.dtype),
                                          w_in.shape[0], max_row_steps).unsqueeze(1)
        w_out.index_add_(0, ids.reshape(-1), grad_out.reshape(B * T, D))
        w_in.index_add_(0, rows, grad_in)
        return value

    def gather_inputs(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """The (B, C, D) input vectors the hand-written step reads (padding reads row 0), and
        what :meth:`scatter_inputs` needs to send their steps back (here the context)."""
        w = self.input_embedding.weight
        B, C = context.shape
        return w.index_select(0, context.clamp_min(0).reshape(-1)).view(B, C, w.shape[1]), context

    def scatter_inputs(self, handle: Tensor, step: Tensor,
                       max_row_steps: float | None = None) -> None:
        """Add ``step`` (B, C, D) to the input rows read by :meth:`gather_inputs`
        (padding slots carry a zero step); one step per context slot for ``max_row_steps``."""
        w = self.input_embedding.weight
        ids = handle.clamp_min(0).reshape(-1)
        step = step.reshape(-1, w.shape[1])
        if max_row_steps is not None:
            valid = (handle >= 0).reshape(-1).to(w.dtype)
            step = step * row_scale(ids, valid, w.shape[0], max_row_steps).unsqueeze(1)
        w.index_add_(0, ids, step)

    @torch.no_grad()
    def step_counts(self, centre: Tensor, context: Tensor, negatives: Tensor | None = None
                    ) -> tuple[Tensor, Tensor]:
        """How many single word2vec.c steps each row takes in this batch: ``(input (V_in,),
        output (V_out,))``; what :func:`row_scale` counts inside :meth:`sgd_step`.

        An input row steps once per valid context slot; an output row once per context word
        scored against it (skip-gram) or once per centre with a context (CBOW).
        """
        in_mask = context >= 0
        ids, _, out_mask = self.targets(centre, negatives)
        dtype = self.input_embedding.weight.dtype
        if self.skipgram:
            out_steps = (out_mask.unsqueeze(2) & in_mask.unsqueeze(1)).sum(2)  # (B, T)
        else:
            out_steps = out_mask & in_mask.any(1, keepdim=True)  # (B, T)
        out = torch.zeros(self.output_embedding.weight.shape[0], dtype=dtype)
        out.index_add_(0, ids.reshape(-1), out_steps.reshape(-1).to(dtype))
        return self.input_step_counts(context), out

    def input_step_counts(self, context: Tensor) -> Tensor:
        """(V_in,) steps of each input row: one per valid context slot of its word."""
        w = self.input_embedding.weight
        return torch.zeros(w.shape[0], dtype=w.dtype).index_add_(
            0, context.clamp_min(0).reshape(-1), (context >= 0).reshape(-1).to(w.dtype))

    def word_vectors(self, words: list[str]):
        """The trained input vectors as :class:`~deepnotes.text.vectors.WordVectors`."""
        from deepnotes.text.vectors import WordVectors

        if len(words) != self.config.vocab_size:
            raise ShapeError(f"got {len(words)} words for a vocabulary of "
                             f"{self.config.vocab_size}")
        return WordVectors(words, self.input_embedding.weight.detach().clone())
