r"""fastText: skip-gram over bags of character n-grams, so unseen words get vectors too.

A word is written with boundary marks, ``<where>``, and cut into its character n-grams of
lengths ``min_n``..``max_n`` (3..6): ``<wh, whe, her, ere, re>, <whe, ..., here>`` (E4). Each
n-gram is hashed (32-bit FNV-1a, exactly as fastText's ``Dictionary::hash``) into one of
``buckets`` rows, so the table has a fixed size however many n-grams exist. A word's input
vector is the mean of its own row and its n-gram rows,

.. math:: \mathbf v_w = \frac{1}{1 + |\mathcal G_w|}\Big(\mathbf z_w +
    \sum_{g \in \mathcal G_w} \mathbf z_g\Big)

and training is word2vec's skip-gram with negative sampling on these vectors
(:class:`~deepnotes.models.word2vec.Word2Vec`), the error of :math:`\mathbf v_w` going to
every row of the bag undivided (fastText's and gensim's update). A word never seen in training
has no row of its own: its vector is the mean of its n-gram rows
(:class:`FastTextVectors`), so inflections such as "walking" land near "walked".

Notes: E4 (also E1, E2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from deepnotes.errors import ConfigError, ShapeError
from deepnotes.models import register_model
from deepnotes.models.word2vec import Word2Vec, Word2VecConfig, bag_mean, row_scale
from deepnotes.text.vectors import WordVectors

__all__ = ["FastText", "FastTextConfig", "FastTextVectors", "char_ngrams", "fnv1a_32",
           "ngram_buckets"]


def char_ngrams(word: str, min_n: int = 3, max_n: int = 6) -> list[str]:
    """The character n-grams of ``<word>``, shortest first, then left to right.

    Example:
        >>> char_ngrams("where", 3, 3)
        ['<wh', 'whe', 'her', 'ere', 're>']
        >>> len(char_ngrams("where"))  # 5 + 4 + 3 + 2 n-grams of lengths 3, 4, 5, 6
        14

    Notes: E4.
    """
    if not 1 <= min_n <= max_n:
        raise ConfigError(f"need 1 <= min_n <= max_n, got min_n={min_n}, max_n={max_n}")
    w = f"<{word}>"
    return [w[i:i + n] for n in range(min_n, max_n + 1) for i in range(len(w) - n + 1)]


def fnv1a_32(text: str | bytes) -> int:
    r"""32-bit FNV-1a hash of the UTF-8 bytes of ``text``, as fastText computes it.

    :math:`h_0 = 2166136261`, then for each byte :math:`h \leftarrow (h \oplus b)\cdot
    16777619 \bmod 2^{32}`. fastText reads each byte as a *signed* char, so a byte >= 128
    (any non-ASCII character) is XORed as :math:`b + \texttt{0xFFFFFF00}`: for non-ASCII text
    the value differs from textbook FNV-1a, and we follow fastText so its bucket numbers match.

    Example:
        >>> hex(fnv1a_32("a")), fnv1a_32("")
        ('0xe40c292c', 2166136261)

    Notes: E4.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    h = 2166136261
    for b in data:
        h ^= b if b < 128 else b | 0xFFFFFF00  # uint32_t(int8_t(byte))
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def ngram_buckets(word: str, buckets: int, min_n: int = 3, max_n: int = 6) -> list[int]:
    """The bucket of each n-gram of ``word``: ``fnv1a_32(ngram) % buckets``.

    Example:
        >>> ngram_buckets("where", 2_000_000)[:3]  # <wh, whe, her
        [167652, 420941, 1473420]
    """
    if buckets < 1:
        raise ConfigError(f"buckets must be >= 1, got {buckets}")
    return [fnv1a_32(g) % buckets for g in char_ngrams(word, min_n, max_n)]


@dataclass
class FastTextConfig:
    vocab_size: int = 10_000  # V: words with a row (and an output vector) of their own
    dim: int = 100  # D: vector length
    buckets: int = 2_000_000  # rows shared by the hashed n-grams (fastText's -bucket)
    min_n: int = 3  # shortest n-gram (fastText's -minn)
    max_n: int = 6  # longest n-gram (fastText's -maxn)
    zero_output: bool = True  # output vectors start at 0 (fastText); False: small random
    sparse: bool = False  # sparse gradients for autograd training


@register_model("fasttext", FastTextConfig,
                summary="skip-gram on bags of hashed character n-grams (E4)", inputs="tokens")
class FastText(Word2Vec):
    r"""fastText's skip-gram with negative sampling (module docstring).

    ``input_embedding`` has V + ``buckets`` rows: the words, then the n-gram buckets;
    ``subwords`` (V, S) lists each word's rows (itself first, padded with -1), built from the
    words by :meth:`set_words` (until then every word is a bag of itself only).

    Args:
        config: a :class:`FastTextConfig`.
        words: the vocabulary (V strings) whose n-grams make the bags.

    Shape:
        as :class:`~deepnotes.models.word2vec.Word2Vec`: centre ``(B,)``, context ``(B, C)``
        (-1 padded), negatives ``(B, K)`` -> loss per centre ``(B,)``.

    Example:
        >>> m = FastText(FastTextConfig(vocab_size=3, dim=4, buckets=50), ["cat", "cats", "dog"])
        >>> (m.subwords[1] >= 0).sum().item()  # "cats": itself + 4 + 3 + 2 + 1 n-grams of <cats>
        11

    Notes: E4.
    """

    def __init__(self, config: FastTextConfig, words: Sequence[str] | None = None) -> None:
        if config.buckets < 1 or not 1 <= config.min_n <= config.max_n:
            raise ConfigError(f"fasttext needs buckets >= 1 and 1 <= min_n <= max_n, got "
                              f"buckets={config.buckets}, min_n={config.min_n}, "
                              f"max_n={config.max_n}")
        base = Word2VecConfig(vocab_size=config.vocab_size, dim=config.dim,
                              zero_output=config.zero_output, sparse=config.sparse)
        super().__init__(base)
        self.config = config
        v, d = config.vocab_size, config.dim
        self.input_embedding = torch.nn.Embedding(v + config.buckets, d, sparse=config.sparse)
        self.register_buffer("subwords", torch.arange(v).unsqueeze(1), persistent=False)
        self.reset_parameters()
        if words is not None:
            self.set_words(words)

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab_size={c.vocab_size}, dim={c.dim}, buckets={c.buckets}, "
                f"n-grams {c.min_n}..{c.max_n}")

    def set_words(self, words: Sequence[str]) -> None:
        """Build each word's bag of rows: itself, then ``V + bucket`` of each n-gram."""
        c = self.config
        if len(words) != c.vocab_size:
            raise ShapeError(f"got {len(words)} words for a vocabulary of {c.vocab_size}")
        bags = [[w] + [c.vocab_size + b for b in ngram_buckets(word, c.buckets, c.min_n,
                                                                c.max_n)]
                for w, word in enumerate(words)]
        table = torch.full((len(bags), max(len(b) for b in bags)), -1, dtype=torch.long)
        for w, bag in enumerate(bags):
            table[w, :len(bag)] = torch.tensor(bag)
        self.subwords = table.to(self.input_embedding.weight.device)

    # autograd path: every context word's vector is the mean of its bag
    def input_rows(self, context: Tensor) -> Tensor:
        bags = self.subwords[context.clamp_min(0)]  # (B, C, S)
        B, C, S = bags.shape
        rows = self.input_embedding(bags.clamp_min(0))  # (B, C, S, D)
        return bag_mean(rows.view(B * C, S, -1), (bags >= 0).view(B * C, S)).view(B, C, -1)

    # hand-written path: the bags of the distinct words of the batch, built once each
    def gather_inputs(self, context: Tensor
                      ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        w = self.input_embedding.weight
        words, where = torch.unique(context.clamp_min(0), return_inverse=True)  # (U,), (B, C)
        bags = self.subwords[words]  # (U, S)
        U, S = bags.shape
        rows = w.index_select(0, bags.clamp_min(0).reshape(-1)).view(U, S, -1)  # (U, S, D)
        mask = (bags >= 0).to(w.dtype)  # (U, S)
        # v_w = Σ_s m_s z_s / Σ_s m_s
        vec = torch.bmm(mask.unsqueeze(1), rows).squeeze(1) / mask.sum(1, keepdim=True)  # (U, D)
        return vec[where], (context, where, bags, mask)  # (B, C, D)

    def scatter_inputs(self, handle: tuple[Tensor, Tensor, Tensor, Tensor], step: Tensor,
                       max_row_steps: float | None = None) -> None:
        context, where, bags, mask = handle
        w = self.input_embedding.weight
        D = w.shape[1]
        per_word = torch.zeros(len(bags), D, dtype=w.dtype)
        per_word.index_add_(0, where.reshape(-1), step.reshape(-1, D))  # (U, D)
        rows = bags.clamp_min(0).reshape(-1)  # (U·S,)
        if max_row_steps is not None:
            # a row steps once per valid context slot of every word whose bag holds it
            slots = torch.zeros(len(bags), dtype=w.dtype).index_add_(
                0, where.reshape(-1), (context >= 0).reshape(-1).to(w.dtype))  # (U,)
            distinct, inverse = torch.unique(rows, return_inverse=True)
            steps = (slots.unsqueeze(1) * mask).reshape(-1)  # (U·S,)
            mask = mask * row_scale(inverse, steps, len(distinct), max_row_steps).view_as(mask)
        # every row of a bag gets its word's whole step (fastText)
        w.index_add_(0, rows, (per_word.unsqueeze(1) * mask.unsqueeze(2)).reshape(-1, D))

    def input_step_counts(self, context: Tensor) -> Tensor:
        """(V + buckets,) steps of each input row: one per valid context slot of every word
        whose bag holds it."""
        w = self.input_embedding.weight
        bags = self.subwords[context[context >= 0]]  # (P, S)
        rows = bags[bags >= 0]
        return torch.zeros(w.shape[0], dtype=w.dtype).index_add_(
            0, rows, torch.ones(len(rows), dtype=w.dtype))

    @torch.no_grad()
    def word_vectors(self, words: Sequence[str]) -> FastTextVectors:
        """In-vocabulary vectors (mean of each bag) plus the n-gram rows for unseen words."""
        c = self.config
        if len(words) != c.vocab_size:
            raise ShapeError(f"got {len(words)} words for a vocabulary of {c.vocab_size}")
        w = self.input_embedding.weight
        out = torch.empty(c.vocab_size, c.dim, dtype=w.dtype)
        for s in range(0, c.vocab_size, 4096):
            bags = self.subwords[s:s + 4096]
            mask = (bags >= 0).to(w.dtype).unsqueeze(2)  # (n, S, 1)
            out[s:s + 4096] = (w[bags.clamp_min(0)] * mask).sum(1) / mask.sum(1)
        return FastTextVectors(list(words), out, w[c.vocab_size:], c.min_n, c.max_n)


class FastTextVectors(WordVectors):
    """Word vectors that also answer for words outside the vocabulary.

    ``vector(word)`` of a vocabulary word is its trained vector (the mean of its bag); of any
    other word, the mean of the rows of its n-grams' buckets (as fastText's
    ``getWordVector`` and gensim's ``FastTextKeyedVectors``). ``word in vectors`` still tests the
    vocabulary only; :meth:`save_word2vec` writes the vocabulary's vectors.

    Args:
        words, vectors: the vocabulary and its (V, D) vectors.
        ngram_vectors: (buckets, D) rows of the hashed n-grams.
        min_n, max_n: n-gram lengths.

    Notes: E4.
    """

    def __init__(self, words: Sequence[str], vectors: Tensor, ngram_vectors: Tensor,
                 min_n: int = 3, max_n: int = 6) -> None:
        super().__init__(words, vectors)
        if ngram_vectors.dim() != 2 or ngram_vectors.shape[1] != self.dim:
            raise ShapeError(f"ngram_vectors must be (buckets, {self.dim}), got "
                             f"{tuple(ngram_vectors.shape)}")
        self.ngram_vectors = ngram_vectors.detach()
        self.min_n, self.max_n = min_n, max_n

    def vector(self, word: str) -> Tensor:
        row = self.index.get(word)
        if row is not None:
            return self.vectors[row]
        if not word:
            raise self.unknown_word(word)
        rows = ngram_buckets(word, len(self.ngram_vectors), self.min_n, self.max_n)
        if not rows:
            raise self.unknown_word(word)
        return self.ngram_vectors[rows].mean(0).to(self.vectors.dtype)
