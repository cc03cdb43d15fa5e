r"""Corrupting text for sequence-to-sequence pre-training (P6, BART).

A denoising auto-encoder reads a corrupted text and writes the original; an encoder-decoder
pre-trained this way on monolingual text learns to read (the encoder) and to write (the
decoder) before it sees a translation. Each corruption takes a list of tokens:

- **token masking**: each token becomes ``<mask>`` with probability p;
- **token deletion**: each token is dropped with probability p (the model must find *where*
  text is missing);
- **text infilling**: spans with lengths :math:`\ell \sim \mathrm{Poisson}(\lambda = 3)` are each
  replaced by one ``<mask>`` until about a share p of the tokens is covered (a span of length 0
  inserts a ``<mask>``): the model must also say *how many* tokens are missing;
- **sentence permutation**: the sentences (cut after ``.``, ``!``, ``?``, ``;``) are shuffled;
- **document rotation**: the text is rotated to start at a random token.

All draws come from a ``random.Random`` so a corruption is reproducible.

Notes: P6.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from deepnotes.errors import ConfigError

__all__ = ["MASK", "NOISES", "corrupt", "delete_tokens", "infill_spans", "mask_tokens",
           "permute_sentences", "rotate"]

MASK = "<mask>"
SENTENCE_END = frozenset({".", "!", "?", ";"})


def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"the corruption rate must be in [0, 1], got {p}")


def mask_tokens(tokens: Sequence[str], p: float, rng: random.Random) -> list[str]:
    """Each token replaced by ``<mask>`` with probability ``p``.

    Example:
        >>> mask_tokens("a b c d".split(), 1.0, random.Random(0))
        ['<mask>', '<mask>', '<mask>', '<mask>']
    """
    _check_p(p)
    return [MASK if rng.random() < p else t for t in tokens]


def delete_tokens(tokens: Sequence[str], p: float, rng: random.Random) -> list[str]:
    """Each token dropped with probability ``p`` (at least one token is kept).

    Example:
        >>> delete_tokens("a b c d".split(), 0.0, random.Random(0))
        ['a', 'b', 'c', 'd']
    """
    _check_p(p)
    kept = [t for t in tokens if rng.random() >= p]
    return kept or list(tokens[:1])


def _poisson(lam: float, rng: random.Random) -> int:
    # Knuth: count uniform draws until their product falls below e^-λ
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def infill_spans(tokens: Sequence[str], p: float, rng: random.Random, lam: float = 3.0
                 ) -> list[str]:
    """Spans of Poisson(``lam``) length, each replaced by one ``<mask>``, until about
    ``p × len(tokens)`` tokens are covered (BART's text infilling).

    Example:
        >>> out = infill_spans("the cat sat on the mat".split(), 0.5, random.Random(1))
        >>> out.count("<mask>") >= 1 and len(out) < 6
        True
    """
    _check_p(p)
    out = list(tokens)
    budget = round(p * len(out))
    covered = 0
    tries = 0
    while covered < budget and tries < 10 * max(1, budget):
        tries += 1
        length = min(_poisson(lam, rng), budget - covered)
        start = rng.randrange(len(out) + 1)
        span = out[start:start + length]
        if MASK in span or (length and len(span) < length):
            continue  # no span overlaps an earlier one or runs past the end (two may touch)
        out[start:start + length] = [MASK]
        covered += length
        if length == 0:
            tries += 5  # insertions are rarer than real spans
    return out


def permute_sentences(tokens: Sequence[str], rng: random.Random) -> list[str]:
    """The sentences (each ending in ``.``, ``!``, ``?`` or ``;``) in a random order.

    Example:
        >>> permute_sentences("a . b . c .".split(), random.Random(3))
        ['b', '.', 'c', '.', 'a', '.']
    """
    sentences, current = [], []
    for t in tokens:
        current.append(t)
        if t in SENTENCE_END:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    rng.shuffle(sentences)
    return [t for s in sentences for t in s]


def rotate(tokens: Sequence[str], rng: random.Random) -> list[str]:
    """The text rotated to start at a uniformly drawn token.

    Example:
        >>> rotate("a b c d".split(), random.Random(0))
        ['d', 'a', 'b', 'c']
    """
    if not tokens:
        return []
    k = rng.randrange(len(tokens))
    return list(tokens[k:]) + list(tokens[:k])


NOISES: dict[str, Callable[..., list[str]]] = {
    "mask": mask_tokens, "delete": delete_tokens, "infill": infill_spans,
    "permute": lambda t, p, rng: permute_sentences(t, rng),
    "rotate": lambda t, p, rng: rotate(t, rng),
}


def corrupt(tokens: Sequence[str], noises: Sequence[str], p: float, rng: random.Random
            ) -> list[str]:
    """Apply the named corruptions in order (``"permute"`` and ``"rotate"`` ignore ``p``).

    Example:
        >>> corrupt("a . b .".split(), ("permute", "mask"), 0.0, random.Random(3))
        ['b', '.', 'a', '.']
    """
    unknown = [n for n in noises if n not in NOISES]
    if unknown:
        raise ConfigError(f"unknown corruption {unknown[0]!r}; choose from {', '.join(NOISES)}")
    out = list(tokens)
    for name in noises:
        out = NOISES[name](out, p, rng)
    return out
