r"""Training word embeddings: word2vec (skip-gram, CBOW), fastText and GloVe on a token list.

The corpus (:func:`build_corpus`): words seen fewer than ``min_count`` times are dropped (as
word2vec.c does: they are removed from the text, not replaced by ``<unk>``), the vocabulary is
sorted by decreasing count, and the text becomes one tensor of word ids plus the sentence
number of each token (windows never cross a sentence).

Each word2vec/fastText epoch (:func:`train_word2vec`, :func:`train_fasttext`):

1. **Subsampling** of frequent words (E1): each occurrence of word :math:`w` is kept with
   probability (word2vec.c's formula, also fastText's and gensim's, with :math:`f(w)` the
   word's share of the corpus and :math:`t` the threshold ``sample``)

   .. math:: P_{\text{keep}}(w) = \sqrt{t / f(w)} + t / f(w) \quad(\text{capped at } 1)

   The paper (Mikolov et al. 2013b) writes :math:`P_{\text{discard}}(w) = 1 - \sqrt{t/f(w)}`;
   the code keeps a little more, :math:`+\,t/f(w)`. Windows are taken after subsampling.
2. **Dynamic window**: each centre draws its radius b uniformly from 1..``window`` and its
   context is the b kept words on either side (word2vec.c: ``b = rand() % window``), so near
   words count more.
3. **Noise words** (negative sampling): K per centre from :math:`P(w) \propto
   \text{count}(w)^{3/4}`, by inverse-CDF sampling (``torch.searchsorted`` on the cumulative
   distribution: exact, where word2vec.c reads a 10^8-entry table). A context word of the
   centre is scored against the same K noise words, so each (context, centre) pair still has
   its K negatives, as in word2vec.c; they are shared among the pairs of one centre.
4. **SGD** with the learning rate falling linearly from ``lr`` to ``min_lr`` over all
   epochs (word2vec.c, gensim), ``batch_size`` centre words per step.

Why a loop of our own and not the Trainer: a step touches a few thousand rows of two
(V, D) tables. :meth:`Word2Vec.sgd_step <deepnotes.models.word2vec.Word2Vec.sgd_step>` computes
the few gradients in closed form and adds them with ``index_add_`` — about 5× faster than
autograd with sparse gradients plus an optimizer (which builds the graph, coalesces sparse
tensors and walks the parameters each step); ``fast=False`` runs that autograd path (same
batches, same result in float64, see the tests). GloVe trains on a fixed list of
co-occurrences with AdaGrad, which is what the Trainer does (:func:`train_glove`).

Notes: E1, E2, E3, E4.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from deepnotes.errors import ConfigError, NonFiniteLossError
from deepnotes.train.history import History

__all__ = [
    "AliasSampler",
    "EmbeddingCorpus",
    "EmbeddingRun",
    "build_corpus",
    "cooccurrence",
    "keep_probabilities",
    "load_sentences",
    "noise_distribution",
    "standard_scores",
    "train_fasttext",
    "train_glove",
    "train_word2vec",
    "window_contexts",
    "window_pair_similarity",
]


@dataclass
class EmbeddingCorpus:
    """A text as word ids, its vocabulary sorted by count.

    Attributes:
        words: the vocabulary, most frequent first (ties in order of first appearance).
        counts: (V,) how often each word occurs.
        ids: (N,) the word id of every kept token, in text order.
        sentences: (N,) the sentence number of every kept token (non-decreasing).
        dropped: tokens removed because their word has fewer than ``min_count`` occurrences.
    """

    words: list[str]
    counts: Tensor
    ids: Tensor
    sentences: Tensor
    dropped: int = 0

    def __len__(self) -> int:
        return int(self.ids.numel())


def build_corpus(sentences: Iterable[Sequence[str]], min_count: int = 5,
                 max_vocab: int | None = None) -> EmbeddingCorpus:
    """Word ids of a tokenised text (one list of tokens per sentence or line).

    Args:
        sentences: e.g. ``deepnotes.text.tokenize(text)``.
        min_count: drop words seen fewer times (word2vec's ``min_count``, default 5).
        max_vocab: keep at most this many of the most frequent words (``None``: all).

    Example:
        >>> c = build_corpus([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
        >>> c.words, c.counts.tolist(), c.ids.tolist(), c.sentences.tolist()
        (['a', 'b'], [3, 2], [0, 1, 0, 0, 1], [0, 0, 0, 1, 1])

    Notes: E1.
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ConfigError(f"min_count must be a positive integer, got {min_count!r}")
    sentences = [list(s) for s in sentences]
    counter = Counter(w for s in sentences for w in s)
    vocab = [(w, c) for w, c in counter.most_common(max_vocab) if c >= min_count]
    if len(vocab) < 2:
        raise ConfigError(f"only {len(vocab)} word(s) occur at least min_count={min_count} "
                          f"times; give more text or lower min_count")
    index = {w: i for i, (w, _) in enumerate(vocab)}
    ids, sent = [], []
    for k, s in enumerate(sentences):
        kept = [index[w] for w in s if w in index]
        ids.extend(kept)
        sent.extend([k] * len(kept))
    total = sum(counter.values())
    return EmbeddingCorpus([w for w, _ in vocab], torch.tensor([c for _, c in vocab]),
                           torch.tensor(ids, dtype=torch.long),
                           torch.tensor(sent, dtype=torch.long), dropped=total - len(ids))


def keep_probabilities(counts: Tensor, sample: float) -> Tensor:
    r"""Subsampling: the probability of keeping each occurrence of each word (word2vec.c).

    .. math:: P_{\text{keep}}(w) = \min\Big(1,\ \sqrt{\frac{t}{f(w)}} + \frac{t}{f(w)}\Big),
        \qquad f(w) = \frac{\text{count}(w)}{\sum_u \text{count}(u)}

    ``sample`` = t = 0 keeps everything.

    Example:
        >>> [round(p, 4) for p in keep_probabilities(torch.tensor([990, 10]), 0.01).tolist()]
        [0.1106, 1.0]

    Notes: E1.
    """
    if sample < 0:
        raise ConfigError(f"sample must be >= 0, got {sample}")
    if sample == 0:
        return torch.ones(len(counts), dtype=torch.float64)
    ratio = sample * counts.sum().double() / counts.double()  # t / f(w)
    return (ratio.sqrt() + ratio).clamp(max=1.0)


def noise_distribution(counts: Tensor, power: float = 0.75) -> Tensor:
    r"""The noise distribution of negative sampling, :math:`P(w) \propto \text{count}(w)^{3/4}`.

    Notes: E2.
    """
    p = counts.double() ** power
    return p / p.sum()


class AliasSampler:
    r"""Draw from a discrete distribution in O(1) per sample (Walker's alias method, Vose's
    construction).

    Each of the n columns holds probability mass 1/n, split between its own outcome (share
    ``prob[i]``) and one other, ``alias[i]``. A draw picks a column i uniformly and a uniform
    u: the outcome is i if u < prob[i], else alias[i]. Exact up to float64 rounding, where
    word2vec.c reads a 10^8-entry table (quantised to 1e-8).

    Example:
        >>> s = AliasSampler(torch.tensor([0.5, 0.25, 0.25]))
        >>> x = s.sample((100_000,), torch.Generator().manual_seed(0))
        >>> [round(float((x == k).float().mean()), 2) for k in range(3)]
        [0.5, 0.25, 0.25]

    Notes: E2.
    """

    def __init__(self, probs: Tensor) -> None:
        p = probs.double() / probs.double().sum()
        n = len(p)
        scaled = (p * n).tolist()
        prob, alias = [1.0] * n, list(range(n))
        small = [i for i, q in enumerate(scaled) if q < 1.0]
        large = [i for i, q in enumerate(scaled) if q >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g  # column s: s with scaled[s], the rest is g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        self.prob = torch.tensor(prob, dtype=torch.float64)
        self.alias = torch.tensor(alias, dtype=torch.long)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
        col = torch.randint(len(self.prob), shape, generator=generator)
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        return torch.where(u < self.prob[col], col, self.alias[col])


def window_contexts(ids: Tensor, sentences: Tensor, start: int, end: int, radius: Tensor,
                    window: int) -> Tensor:
    """The context word ids of centres ``start..end-1`` of ``ids``: (M, 2·window), -1 padded.

    Slot j holds offset ``[-window, ..., -1, 1, ..., window][j]``; an offset is used when it is
    within the centre's ``radius`` and stays inside the centre's sentence.

    Example:
        >>> ids, sent = torch.tensor([7, 8, 9, 4]), torch.tensor([0, 0, 0, 1])
        >>> window_contexts(ids, sent, 1, 3, torch.tensor([1, 2]), 2).tolist()
        [[-1, 7, 9, -1], [7, 8, -1, -1]]

    Notes: E1.
    """
    offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)])  # (2W,)
    centre = torch.arange(start, end).unsqueeze(1)  # (M, 1)
    pos = centre + offsets  # (M, 2W)
    ok = (offsets.abs() <= radius.unsqueeze(1)) & (pos >= 0) & (pos < len(ids))
    pos = pos.clamp(0, len(ids) - 1)
    ok &= sentences[pos] == sentences[centre]
    return torch.where(ok, ids[pos], torch.full_like(pos, -1))


@dataclass
class EmbeddingRun:
    """What training returns.

    Attributes:
        vectors: the word vectors (:class:`~deepnotes.text.vectors.WordVectors`, or its fastText
            subclass that builds vectors for unseen words).
        history: one row per epoch: ``train_loss`` (mean loss per pair), ``lr``, ``seconds``,
            ``words_per_sec``.
        model: the trained module.
        curve: ``(words processed, mean loss per pair)`` about 50 times per epoch.
        seconds: training time (after the corpus was built).
        words_per_sec: corpus tokens processed per second (before subsampling, as gensim
            counts raw words).
    """

    vectors: Any
    history: History
    model: nn.Module
    curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    words_per_sec: float = 0.0


def _check_settings(window: int, negative: int, epochs: int, lr: float, min_lr: float,
                    batch_size: int, workers: int, fast: bool, max_row_steps: float | None
                    ) -> None:
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"window must be a positive integer, got {window!r}")
    if not isinstance(negative, int) or negative < 0:
        raise ConfigError(f"negative must be an integer >= 0, got {negative!r}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    if not (lr > 0 and 0 <= min_lr <= lr):
        raise ConfigError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={lr}, min_lr={min_lr}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    if workers > 1 and not fast:
        raise ConfigError(f"fast=False (autograd) trains with one worker, got workers={workers}")
    if max_row_steps is not None and not max_row_steps > 0:
        raise ConfigError(f"max_row_steps must be > 0 or None, got {max_row_steps!r}")


CHUNK = 32  # batches whose contexts and noise words are drawn together


class _Epoch:
    """One epoch's subsampled text, cut into batches that workers take in turn."""

    def __init__(self, corpus: EmbeddingCorpus, keep_p: Tensor, window: int,
                 gen: torch.Generator) -> None:
        keep = torch.rand(len(corpus), generator=gen, dtype=torch.float64) < keep_p
        self.raw_pos = keep.nonzero().squeeze(1)  # where each kept word was (lr schedule)
        self.ids, self.sentences = corpus.ids[keep], corpus.sentences[keep]
        self.radius = torch.randint(1, window + 1, (len(self.ids),), generator=gen)


def _sgd_epochs(model: nn.Module, corpus: EmbeddingCorpus, *, window: int, negative: int,
                sample: float, epochs: int, lr: float, min_lr: float, batch_size: int,
                seed: int, workers: int, progress: bool | None, fast: bool, what: str,
                max_row_steps: float | None) -> tuple[History, list[tuple[int, float]], float]:
    """The word2vec/fastText loop (module docstring, steps 1-4); returns history, curve, time.

    ``workers`` threads take the batches of an epoch in turn (batch k goes to thread k mod
    workers) and update the shared tables without locks ("Hogwild", as word2vec.c's and
    gensim's threads do); each torch op runs on one thread (torch's thread count is 1 while
    training), which on a CPU beats splitting small ops across cores. One worker gives
    reproducible runs.
    """
    import sys
    import threading

    gen = torch.Generator().manual_seed(seed)
    keep_p = keep_probabilities(corpus.counts, sample)[corpus.ids]  # (N,)
    noise = AliasSampler(noise_distribution(corpus.counts))
    use_negatives = not getattr(model, "hierarchical", False)
    skipgram = getattr(model, "skipgram", True)
    n_total = len(corpus)
    history, curve = History(), []
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * n_total, desc=what, unit="word", unit_scale=True,
                   dynamic_ncols=True)
    lock = threading.Lock()
    points_every = max(1, math.ceil(n_total / batch_size / 50))  # ~50 curve points per epoch
    started = time.perf_counter()

    def work(epoch: int, data: _Epoch, worker: int, totals: list[float]) -> None:
        wgen = torch.Generator().manual_seed(seed * 7919 + epoch * 104_729 + worker + 1)
        part_loss, part_pairs, k = 0.0, 0, 0
        n = len(data.ids)
        # contexts and noise words are drawn for a chunk of CHUNK batches at once (fewer,
        # larger ops); worker w takes chunks w, w + workers, ...
        chunk = CHUNK * batch_size
        for c0 in range(worker * chunk, n, workers * chunk):
            c1 = min(c0 + chunk, n)
            contexts = window_contexts(data.ids, data.sentences, c0, c1, data.radius[c0:c1],
                                       window)  # (c1 - c0, 2·window)
            noise_words = noise.sample((c1 - c0, negative), wgen) if use_negatives else None
            # pairs scored: skip-gram one per context word, CBOW one per centre with a context
            valid = contexts >= 0
            pairs = (valid.sum(1) if skipgram else valid.any(1)).cumsum(0).tolist()
            for start in range(c0, c1, batch_size):
                end = min(start + batch_size, c1)
                centre = data.ids[start:end]
                context = contexts[start - c0:end - c0]
                negatives = None if noise_words is None else noise_words[start - c0:end - c0]
                done = epoch * n_total + int(data.raw_pos[end - 1]) + 1
                # the learning rate falls linearly from lr to min_lr over all epochs
                step_lr = lr - (lr - min_lr) * (done - 1) / (epochs * n_total)
                if fast:
                    part_loss += float(model.sgd_step(centre, context, negatives, lr=step_lr,
                                                      max_row_steps=max_row_steps))
                else:
                    part_loss += _autograd_step(model, centre, context, negatives, step_lr,
                                                max_row_steps)
                part_pairs += pairs[end - c0 - 1] - (pairs[start - c0 - 1] if start > c0 else 0)
                k += 1
                if k % points_every:
                    continue
                with lock:
                    totals[0] += part_loss
                    totals[1] += part_pairs
                    totals[2] = step_lr
                    if part_pairs:
                        curve.append((done, part_loss / part_pairs))
                    if bar is not None:
                        bar.n = max(bar.n, done)
                        elapsed = time.perf_counter() - started
                        bar.set_postfix(loss=f"{part_loss / max(part_pairs, 1):.4f}",
                                        lr=f"{step_lr:.4g}",
                                        words_per_s=f"{bar.n / max(elapsed, 1e-9):,.0f}")
                        bar.refresh()
                part_loss, part_pairs = 0.0, 0
        with lock:  # what is left after the last curve point
            totals[0] += part_loss
            totals[1] += part_pairs

    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops: one core each beats splitting them (even at workers=1)
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            data = _Epoch(corpus, keep_p, window, gen)
            totals = [0.0, 0, lr]  # loss, pairs, last lr
            if workers == 1:
                work(epoch, data, 0, totals)
            else:
                errors: list[BaseException] = []

                def run(w: int, data: _Epoch = data, totals: list = totals,
                        epoch: int = epoch) -> None:
                    try:
                        work(epoch, data, w, totals)
                    except BaseException as exc:  # re-raised in the main thread
                        errors.append(exc)

                pool = [threading.Thread(target=run, args=(w,)) for w in range(workers)]
                for t in pool:
                    t.start()
                for t in pool:
                    t.join()
                if errors:
                    raise errors[0]
            seconds = time.perf_counter() - t0
            loss = totals[0] / max(totals[1], 1)
            history.append({"epoch": epoch + 1, "train_loss": loss, "lr": totals[2],
                            "seconds": seconds,
                            "words_per_sec": n_total / seconds if seconds > 0 else math.nan,
                            "kept_words": len(data.ids), "pairs": int(totals[1])})
            if not math.isfinite(loss):
                raise NonFiniteLossError(f"the {what} loss became {loss} in epoch {epoch + 1}; "
                                         f"lower lr (now {lr:g}) or batch_size")
    finally:
        torch.set_num_threads(threads_before)
        if bar is not None:
            bar.close()
    curve.sort()
    return history, curve, time.perf_counter() - started


def _autograd_step(model: nn.Module, centre: Tensor, context: Tensor, negatives: Tensor | None,
                   lr: float, max_row_steps: float | None) -> float:
    """The readable twin of ``sgd_step``: loss = Σ forward(...), backward, p -= lr·grad, each
    row's gradient scaled by min(1, max_row_steps / its step count)."""
    for p in model.parameters():
        p.grad = None
    loss = model(centre, context, negatives).sum()
    loss.backward()
    tables = [model.input_embedding.weight, model.output_embedding.weight]
    counts = model.step_counts(centre, context, negatives) if max_row_steps else (None, None)
    with torch.no_grad():
        for p, n in zip(tables, counts):
            grad = p.grad
            if n is not None:
                scale = (max_row_steps / n.clamp_min(1e-30)).clamp(max=1.0)
                if grad.is_sparse:
                    grad = grad.coalesce()
                    grad = torch.sparse_coo_tensor(grad.indices(), grad.values()
                                                   * scale[grad.indices()[0]].unsqueeze(1),
                                                   grad.shape, check_invariants=True,
                                                   is_coalesced=True)
                else:
                    grad = grad * scale.unsqueeze(1)
            p.add_(grad, alpha=-lr)  # sparse or dense gradient
    return float(loss.detach())


_COMMON_ARGS = """        dim: vector length (gensim's ``vector_size``).
        window: largest window radius; each centre draws its own from 1..window.
        negative: K noise words per centre (negative sampling).
        sample: subsampling threshold t (0: keep every word).
        epochs: passes over the corpus.
        lr, min_lr: the learning rate falls linearly from ``lr`` to ``min_lr`` (gensim's
            ``alpha``/``min_alpha``).
        batch_size: centre words per SGD step and worker. Larger batches sum the steps of a
            frequent word's many occurrences before any of them takes effect, which
            diverges: on 2.8M words, 2048 centres per step did, 512 did not.
        seed: seeds the initial vectors, subsampling, windows and noise words.
        workers: threads updating the tables together (lock-free, as gensim's ``workers``);
            1 is reproducible.
        max_row_steps: a row updated more often than this in one step (the tree's root,
            frequent noise words) takes this many single steps' worth of its summed step
            (:func:`~deepnotes.models.word2vec.row_scale`); ``None``: plain minibatch SGD
            (which diverged on 4M words with the hierarchical softmax).
        progress: a progress bar with loss and words per second (``None``: on a terminal).
        fast: the hand-written step (``False``: autograd on ``forward`` and a plain SGD step,
            with one worker).
        dtype: float32, or float64 for tests.
"""


def _run(model: nn.Module, corpus: EmbeddingCorpus, what: str, **kw: Any) -> EmbeddingRun:
    history, curve, seconds = _sgd_epochs(model, corpus, what=what, **kw)
    return EmbeddingRun(model.word_vectors(corpus.words), history, model, curve, seconds,
                        kw["epochs"] * len(corpus) / seconds if seconds > 0 else math.nan)


def train_word2vec(corpus: EmbeddingCorpus, *, architecture: str = "skipgram",
                   objective: str = "negative", dim: int = 100, window: int = 5,
                   negative: int = 5, sample: float = 1e-3, epochs: int = 5, lr: float = 0.025,
                   min_lr: float = 1e-4, batch_size: int = 512, seed: int = 0,
                   workers: int = 1, max_row_steps: float | None = 32.0,
                   progress: bool | None = None, fast: bool = True,
                   dtype: torch.dtype = torch.float32) -> EmbeddingRun:
    """Train word2vec (module docstring) and return its input vectors.

    The defaults are gensim's (word2vec.c uses lr 0.05 for CBOW).

    Args:
        corpus: from :func:`build_corpus`.
        architecture: ``"skipgram"`` or ``"cbow"`` (E1).
        objective: ``"negative"`` sampling or ``"hierarchical"`` softmax (E2).
{common}
    Example:
        >>> from deepnotes.text import sample_text, tokenize
        >>> run = train_word2vec(build_corpus(tokenize(sample_text()), min_count=3), dim=16,
        ...                      epochs=1, progress=False)
        >>> run.vectors.vector("bennet").shape, run.history.last()["epoch"]
        (torch.Size([16]), 1)

    Notes: E1, E2.
    """
    from deepnotes.models.word2vec import Word2Vec, Word2VecConfig

    _check_settings(window, negative, epochs, lr, min_lr, batch_size, workers, fast,
                    max_row_steps)
    torch.manual_seed(seed)
    cfg = Word2VecConfig(vocab_size=len(corpus.words), dim=dim, architecture=architecture,
                         objective=objective, sparse=not fast)
    model = Word2Vec(cfg, counts=corpus.counts).to(dtype)
    return _run(model, corpus, f"word2vec {architecture}/{objective}", window=window,
                negative=negative, sample=sample, epochs=epochs, lr=lr, min_lr=min_lr,
                batch_size=batch_size, seed=seed, workers=workers, progress=progress, fast=fast,
                max_row_steps=max_row_steps)


def train_fasttext(corpus: EmbeddingCorpus, *, dim: int = 100, window: int = 5,
                   negative: int = 5, sample: float = 1e-3, min_n: int = 3, max_n: int = 6,
                   buckets: int = 2_000_000, epochs: int = 5, lr: float = 0.025,
                   min_lr: float = 1e-4, batch_size: int = 512, seed: int = 0,
                   workers: int = 1, max_row_steps: float | None = 32.0,
                   progress: bool | None = None, fast: bool = True,
                   dtype: torch.dtype = torch.float32) -> EmbeddingRun:
    """Train fastText's skip-gram on character n-gram bags (E4); vectors for any word.

    Same loop as :func:`train_word2vec` with :class:`~deepnotes.models.fasttext.FastText`.
    The defaults follow gensim's ``FastText(sg=1)``; fastText's own are lr 0.05, sample 1e-4.

    Args:
        corpus: from :func:`build_corpus`.
        min_n, max_n: n-gram lengths (3..6).
        buckets: rows for the hashed n-grams (fastText's 2,000,000: 800 MB at D = 100).
{common}
    Returns:
        an :class:`EmbeddingRun` whose ``vectors`` is a
        :class:`~deepnotes.models.fasttext.FastTextVectors` (``vector(word)`` for any word).

    Notes: E4.
    """
    from deepnotes.models.fasttext import FastText, FastTextConfig

    _check_settings(window, negative, epochs, lr, min_lr, batch_size, workers, fast,
                    max_row_steps)
    torch.manual_seed(seed)
    cfg = FastTextConfig(vocab_size=len(corpus.words), dim=dim, buckets=buckets, min_n=min_n,
                         max_n=max_n, sparse=not fast)
    model = FastText(cfg, corpus.words).to(dtype)
    return _run(model, corpus, "fasttext", window=window, negative=negative, sample=sample,
                epochs=epochs, lr=lr, min_lr=min_lr, batch_size=batch_size, seed=seed,
                workers=workers, progress=progress, fast=fast, max_row_steps=max_row_steps)


train_word2vec.__doc__ = train_word2vec.__doc__.format(common=_COMMON_ARGS)
train_fasttext.__doc__ = train_fasttext.__doc__.format(common=_COMMON_ARGS)


def cooccurrence(corpus: EmbeddingCorpus, window: int = 10, symmetric: bool = True
                 ) -> tuple[Tensor, Tensor, Tensor]:
    r"""GloVe's co-occurrence counts: the non-zero :math:`X_{ij}` as (rows, cols, values).

    Word j at distance :math:`d \le` ``window`` after word i in the same sentence adds
    :math:`1/d` to :math:`X_{ij}` (and, with ``symmetric``, to :math:`X_{ji}`), as glove.c's
    ``cooccur`` does. Entries come sorted by (i, j).

    Example:
        >>> c = EmbeddingCorpus(["a", "b"], torch.tensor([2, 1]), torch.tensor([0, 1, 0]),
        ...                     torch.tensor([0, 0, 0]))
        >>> [t.tolist() for t in cooccurrence(c, window=2)]
        [[0, 0, 1], [0, 1, 0], [1.0, 2.0, 2.0]]

    Notes: E3.
    """
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"window must be a positive integer, got {window!r}")
    v = len(corpus.words)
    ids, sent = corpus.ids, corpus.sentences
    keys, values = torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.float64)
    for d in range(1, window + 1):
        if d >= len(ids):
            break
        same = sent[:-d] == sent[d:]
        left, right = ids[:-d][same], ids[d:][same]
        k = torch.cat([left * v + right, right * v + left]) if symmetric else left * v + right
        uniq, n = torch.unique(k, return_counts=True)
        keys = torch.cat([keys, uniq])
        values = torch.cat([values, n.double() / d])  # each co-occurrence at distance d: 1/d
        if d % 3 == 0 or d == window:  # merge now and then to keep the lists short
            keys, inverse = torch.unique(keys, return_inverse=True)
            values = torch.zeros(len(keys), dtype=torch.float64).index_add_(0, inverse, values)
    keys, inverse = torch.unique(keys, return_inverse=True)
    values = torch.zeros(len(keys), dtype=torch.float64).index_add_(0, inverse, values)
    return keys // v, keys % v, values


def train_glove(corpus: EmbeddingCorpus, *, dim: int = 100, window: int = 10,
                x_max: float = 100.0, alpha: float = 0.75, epochs: int = 25, lr: float = 0.05,
                batch_size: int = 4096, seed: int = 0, progress: bool | None = None,
                dtype: torch.dtype = torch.float32) -> EmbeddingRun:
    r"""Train GloVe (E3) on the Trainer: AdaGrad on minibatches of co-occurrence entries.

    The non-zero :math:`X_{ij}` (:func:`cooccurrence`) are shuffled every epoch; each step
    minimises the batch mean of :math:`f(X_{ij})(\mathbf w_i^\top\tilde{\mathbf w}_j + b_i +
    \tilde b_j - \log X_{ij})^2` with AdaGrad (:class:`deepnotes.optim.Adagrad`, fused). Its
    step does not depend on the loss's scale, so the mean trains as the sum would, and it is 0
    where the gradient is 0, so the dense update equals a sparse one (and, at a vocabulary of
    tens of thousands, is faster than torch's sparse path). The vectors are
    :math:`\mathbf w + \tilde{\mathbf w}`. Defaults: the paper's (x_max 100, α 3/4, window 10,
    AdaGrad with lr 0.05); glove.c steps after every entry, we after ``batch_size``.

    Args:
        corpus: from :func:`build_corpus`.
        dim: vector length.
        window: co-occurrence window (each side).
        x_max, alpha: the weighting :math:`f`.
        epochs, lr, batch_size, seed: AdaGrad's passes, rate, entries per step, shuffling seed.
        progress: the Trainer's progress bar (``None``: on a terminal).
        dtype: float32, or float64 for tests.

    Returns:
        an :class:`EmbeddingRun`; ``history`` is the Trainer's (``train_loss`` is the mean
        weighted squared error per entry), ``curve`` its per-epoch losses against words.

    Notes: E3.
    """
    from deepnotes.data import MiniBatches
    from deepnotes.models.glove import GloVe, GloVeConfig
    from deepnotes.optim import Adagrad
    from deepnotes.train.trainer import TrainConfig, Trainer

    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    started = time.perf_counter()
    rows, cols, counts = cooccurrence(corpus, window)
    torch.manual_seed(seed)
    model = GloVe(GloVeConfig(vocab_size=len(corpus.words), dim=dim, x_max=x_max, alpha=alpha)
                  ).to(dtype)
    data = MiniBatches((rows, cols, counts.to(dtype)), batch_size=batch_size, shuffle=True,
                       seed=seed)

    def loss_step(model: nn.Module, loss_fn: Any, batch: Sequence[Tensor]
                  ) -> tuple[Tensor, None, None]:
        return model(*batch).mean(), None, None

    optimizer = Adagrad(model.parameters(), lr=lr, fused=True)
    trainer = Trainer(model, optimizer, None, data, loss_step=loss_step,  # type: ignore[arg-type]
                      config=TrainConfig(epochs=epochs, seed=seed, device="cpu",
                                         progress=progress, checkpoint_every=0))
    history = trainer.fit()
    seconds = time.perf_counter() - started
    curve = [((r["epoch"]) * len(corpus), float(r["train_loss"])) for r in history]
    return EmbeddingRun(model.word_vectors(corpus.words), history, model, curve, seconds,
                        epochs * len(corpus) / seconds if seconds > 0 else math.nan)


# ---- shared by the lessons and the benchmark ---------------------------------------------
def load_sentences(corpus: str = "english", max_sentences: int | None = None,
                   lower: bool = True) -> list[list[str]]:
    """One token list per non-empty line (verse, line of verse, paragraph line) of a corpus.

    Words and punctuation by :func:`deepnotes.text.tokenize`, lower-cased, the one
    tokenisation every embedding lesson and the gensim benchmark train on.

    Args:
        corpus: a :func:`deepnotes.data.load_documents` name (``english``: Austen, both Bibles
            and Shakespeare, ~3.3M words).
        max_sentences: keep the first this many lines (``None`` or 0: all).
    """
    from deepnotes.data import load_documents
    from deepnotes.text import tokenize

    sentences = [s for s in tokenize(load_documents(corpus), lower=lower) if s]
    return sentences[:max_sentences] if max_sentences else sentences


def standard_scores(vectors: Any, methods: Sequence[str] = ("add",)) -> dict[str, float]:
    """The usual word-vector scores (E7), computed as gensim computes them.

    ``analogy_<method>``: accuracy on Google's questions-words.txt (3CosAdd ``add``, 3CosMul
    ``mul``) over the questions whose four words are in the vocabulary
    (``analogy_questions`` of them); ``wordsim353`` and ``simlex999``: Spearman's rho between
    cosine and human similarity (``*_pairs`` pairs evaluated).
    """
    from deepnotes.data.word_vectors import embedding_eval_path
    from deepnotes.metrics.embeddings import evaluate_analogies, evaluate_word_pairs

    out: dict[str, float] = {}
    for method in methods:
        r = evaluate_analogies(vectors, embedding_eval_path("questions-words"), method=method)
        out[f"analogy_{method}"] = r.accuracy
        out["analogy_questions"] = float(r.count)
    for name in ("wordsim353", "simlex999"):
        pairs = evaluate_word_pairs(vectors, embedding_eval_path(name))
        out[name] = pairs.spearman
        out[f"{name}_pairs"] = float(pairs.pairs)
    return out


def window_pair_similarity(vectors: Any, corpus: EmbeddingCorpus, n: int = 20_000,
                           window: int = 2, seed: int = 0) -> tuple[float, float]:
    """Mean cosine of word pairs seen within ``window`` of each other vs random word pairs.

    Pairs are drawn from the corpus (both words of a pair different); the random pairs take
    their words from the same token positions shuffled, so both sets have the same word
    frequencies. A model that learned anything from the windows puts the first mean above
    the second.

    Returns:
        ``(mean cosine of window pairs, mean cosine of random pairs)``.
    """
    gen = torch.Generator().manual_seed(seed)
    ids, sent = corpus.ids, corpus.sentences
    pos = torch.randint(0, len(ids) - window, (n,), generator=gen)
    other = pos + torch.randint(1, window + 1, (n,), generator=gen)
    ok = (sent[pos] == sent[other]) & (ids[pos] != ids[other])
    a, b = ids[pos[ok]], ids[other[ok]]
    shuffled = b[torch.randperm(len(b), generator=gen)]
    unit = vectors.unit_vectors()
    index = torch.tensor([vectors.index[w] for w in corpus.words])  # corpus id -> vector row
    ua, ub, ur = unit[index[a]], unit[index[b]], unit[index[shuffled]]
    keep = a != shuffled
    return float((ua * ub).sum(1).mean()), float((ua[keep] * ur[keep]).sum(1).mean())
