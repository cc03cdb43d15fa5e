"""BLEU: how many n-grams of a predicted sentence also appear in its reference(s).

Two definitions live here:

- :func:`bleu` is the notes' (and d2l's) per-sentence formula, with weights :math:`1/2^n`;
- :func:`corpus_bleu` / :func:`sentence_bleu` are standard BLEU (Papineni et al., 2002) as
  sacrebleu computes it: corpus-level clipped counts, uniform weights over n = 1..4, brevity
  penalty with the closest reference length, sacrebleu's ``13a`` tokenizer and ``exp`` smoothing
  by default. Scores are on sacrebleu's 0–100 scale.

Notes: S4.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from deepnotes.errors import ConfigError

__all__ = [
    "BLEUScore",
    "bleu",
    "corpus_bleu",
    "ngram_matches",
    "sentence_bleu",
    "tokenize_13a",
]

Tokens = Sequence[str]


def _as_tokens(seq: str | Tokens) -> list[str]:
    """A string is split on single spaces (as d2l does); a token sequence is used as it is."""
    return seq.split(" ") if isinstance(seq, str) else list(seq)


def ngram_matches(pred: str | Tokens, label: str | Tokens, n: int) -> tuple[int, int]:
    r"""Clipped n-gram matches of ``pred`` against ``label`` and the number of n-grams in ``pred``.

    Each n-gram of the label can be matched at most as often as it occurs in the label, so
    :math:`p_n = \text{matches} / \text{total}` is the clipped precision of the notes.

    Args:
        pred: predicted sentence (space-separated string or list of tokens).
        label: reference sentence (same forms).
        n: n-gram order, ``>= 1``.

    Example:
        >>> ngram_matches("A B B C D", "A B C D E F", 2)
        (3, 4)

    Notes: S4.
    """
    if n < 1:
        raise ConfigError(f"n-gram order must be >= 1, got n={n}")
    p, lab = _as_tokens(pred), _as_tokens(label)
    # count(g) in the label: the most times g can be matched
    label_counts = Counter(tuple(lab[i : i + n]) for i in range(len(lab) - n + 1))
    pred_counts = Counter(tuple(p[i : i + n]) for i in range(len(p) - n + 1))
    # Σ_g min(count_pred(g), count_label(g))
    matches = sum(min(c, label_counts[g]) for g, c in pred_counts.items())
    return matches, max(len(p) - n + 1, 0)


def bleu(pred_seq: str | Tokens, label_seq: str | Tokens, k: int = 4) -> float:
    r"""The notes' BLEU of one predicted sentence against one label sentence.

    .. math::
        \mathrm{BLEU} = \exp\Big(\min\Big(0,\ 1 - \frac{len_{label}}{len_{pred}}\Big)\Big)
                        \prod_{n=1}^{k} p_n^{1/2^n}

    :math:`p_n` is the clipped n-gram precision (:func:`ngram_matches`). Longer n-grams get
    larger weights (:math:`1/2^n` shrinks, so a :math:`p_n < 1` is penalised less), and the
    first factor penalises predictions shorter than the label. As in d2l, orders longer than
    the prediction are left out of the product (n runs to ``min(k, len_pred)``); an empty
    prediction scores 0.

    Args:
        pred_seq: predicted sentence (space-separated string or list of tokens).
        label_seq: label sentence (same forms).
        k: longest n-gram order to match. Default ``4``.

    Returns:
        float in ``[0, 1]``; ``1`` only when the prediction equals the label.

    Example:
        >>> round(bleu("A B B C D", "A B C D E F", k=3), 4)  # p1=4/5, p2=3/4, p3=1/3
        0.594

    Notes: S4.
    """
    if k < 1:
        raise ConfigError(f"bleu needs k >= 1 (the longest n-gram order), got k={k}")
    pred, label = _as_tokens(pred_seq), _as_tokens(label_seq)
    if not pred:
        return 0.0
    # brevity penalty: exp(min(0, 1 - len_label / len_pred))
    score = math.exp(min(0.0, 1.0 - len(label) / len(pred)))
    for n in range(1, min(k, len(pred)) + 1):
        matches, total = ngram_matches(pred, label, n)
        # × p_n^{1/2^n}
        score *= (matches / total) ** (0.5**n)
    return score


# --- sacrebleu-compatible corpus BLEU ----------------------------------------------------------

# mteval-v13a's language-dependent rules, applied in this order to " line ":
_13A_RULES = [
    # every symbol in { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ / stands alone
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    # a period or comma splits off unless a digit is before it ...
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    # ... or unless a digit is after it (so "3.5" and "1,000" stay whole)
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    # a dash right after a digit splits off ("5-6" -> "5 - 6")
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tokenize_13a(line: str) -> list[str]:
    """Split a detokenised sentence into tokens the way mteval-v13a (sacrebleu's default) does.

    Steps: drop ``<skipped>``, join words hyphenated across a line break, turn newlines into
    spaces, unescape ``&quot; &amp; &lt; &gt;``; then the four rules of ``_13A_RULES``
    (punctuation and symbols become tokens, except periods/commas inside numbers and dashes
    not after a digit); finally split on whitespace.

    Example:
        >>> tokenize_13a("It costs $3.50, (about) 5-6 euros.")
        ['It', 'costs', '$', '3.50', ',', '(', 'about', ')', '5', '-', '6', 'euros', '.']

    Notes: S4.
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return line.split()


_TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"13a": tokenize_13a, "none": str.split}
_SMOOTH_DEFAULTS = {"exp": None, "none": None, "floor": 0.1, "add-k": 1}
# sacrebleu's stand-in for log(0): any zero precision drives the score to exactly 0
_LOG_ZERO = -9999999999.0


@dataclass
class BLEUScore:
    """Standard BLEU with its sufficient statistics (sacrebleu's ``BLEUScore`` fields)."""

    score: float  # BLEU on the 0–100 scale
    counts: list[int]  # clipped matches per order n = 1..max_order
    totals: list[int]  # hypothesis n-grams per order
    precisions: list[float] = field(default_factory=list)  # 100·p_n after smoothing
    bp: float = 1.0  # brevity penalty
    sys_len: int = 0  # c: hypothesis tokens in the corpus
    ref_len: int = 0  # r: closest-reference tokens summed over the corpus


def _ngram_counts(tokens: list[str], max_order: int) -> Counter:
    """All n-grams of orders 1..max_order as tuples, with counts."""
    grams: Counter = Counter()
    for n in range(1, max_order + 1):
        grams.update(zip(*[tokens[i:] for i in range(n)]))
    return grams


def _closest_ref_len(hyp_len: int, ref_lens: list[int]) -> int:
    """Reference length nearest the hypothesis length; ties go to the shorter reference."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _prepare(
    seg: str | Tokens, tokenize: str | Callable[[str], list[str]], lowercase: bool
) -> list[str]:
    if not isinstance(seg, str):  # already tokenised
        return [t.lower() for t in seg] if lowercase else list(seg)
    seg = seg.rstrip()
    if lowercase:
        seg = seg.lower()
    fn = _TOKENIZERS.get(tokenize) if isinstance(tokenize, str) else tokenize
    if fn is None:
        raise ConfigError(
            f"unknown BLEU tokenize={tokenize!r}; use one of {sorted(_TOKENIZERS)} or a callable"
        )
    return fn(seg)


def _score_from_stats(
    correct: list[float],
    total: list[float],
    sys_len: int,
    ref_len: int,
    smooth_method: str,
    smooth_value: float | None,
    effective_order: bool,
) -> BLEUScore:
    """BLEU from corpus counts: BP · exp((1/N) Σ_n log p_n), with sacrebleu's smoothing."""
    if smooth_method not in _SMOOTH_DEFAULTS:
        raise ConfigError(
            f"unknown smooth_method={smooth_method!r}; use one of {sorted(_SMOOTH_DEFAULTS)}"
        )
    if smooth_value is None:
        smooth_value = _SMOOTH_DEFAULTS[smooth_method]
    max_order = len(correct)
    # BP = 1 if c ≥ r else exp(1 - r/c)   (0 for an empty system output)
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_order
    counts, totals = [int(c) for c in correct], [int(t) for t in total]
    if not any(correct):  # nothing matched at any order
        return BLEUScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    correct, total = list(correct), list(total)
    exp_denom, order = 1.0, max_order
    for n in range(1, max_order + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:
            break
        if effective_order:  # only the orders the hypothesis has n-grams for
            order = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":
                # exp smoothing: the i-th zero precision becomes 1 / (2^i · total_n)
                exp_denom *= 2
                precisions[n - 1] = 100.0 / (exp_denom * total[n - 1])
            elif smooth_method == "floor":
                precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            # p_n = clipped matches / hypothesis n-grams
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(p) if p != 0.0 else _LOG_ZERO for p in precisions[:order]]
    # BLEU = BP · exp((1/N) Σ_n log p_n)
    score = bp * math.exp(sum(logs) / order)
    return BLEUScore(score, counts, totals, precisions, bp, sys_len, ref_len)


def corpus_bleu(
    hypotheses: Sequence[str | Tokens],
    references: Sequence[Sequence[str | Tokens | None]],
    *,
    tokenize: str | Callable[[str], list[str]] = "13a",
    lowercase: bool = False,
    smooth_method: str = "exp",
    smooth_value: float | None = None,
    max_order: int = 4,
    effective_order: bool = False,
) -> BLEUScore:
    r"""Standard corpus BLEU (Papineni et al.), matching ``sacrebleu.corpus_bleu(...).score``.

    .. math::
        \mathrm{BLEU} = 100 \cdot \mathrm{BP} \cdot
            \exp\Big(\frac1N \sum_{n=1}^{N} \log p_n\Big), \qquad
        p_n = \frac{\sum_i \sum_g \min(c_i(g), \max_r c_{i,r}(g))}{\sum_i \sum_g c_i(g)}, \qquad
        \mathrm{BP} = \begin{cases} 1 & c > r \\ e^{1 - r/c} & c \le r \end{cases}

    Counts are summed over the corpus before dividing (not averaged per sentence). A hypothesis
    n-gram is clipped by the most times it appears in any single reference of its sentence;
    :math:`c` is the total hypothesis length and :math:`r` sums, per sentence, the reference
    length closest to the hypothesis length (the shorter one on a tie). Smoothing (for
    orders with no match): ``"exp"`` (default; the k-th zero precision becomes
    :math:`1/(2^k\,\text{total}_n)`), ``"floor"``, ``"add-k"`` or ``"none"``.

    Args:
        hypotheses: one system output per sentence (string, or a list of tokens).
        references: reference *streams*, sacrebleu's layout: ``references[j][i]`` is the j-th
            reference of sentence ``i``; ``None`` marks a missing reference.
        tokenize: ``"13a"`` (default, :func:`tokenize_13a`), ``"none"`` (split on whitespace)
            or a callable ``str -> list[str]``. Token lists skip tokenisation.
        lowercase: compare case-insensitively. Default ``False``.
        smooth_method: ``"exp"`` | ``"floor"`` | ``"add-k"`` | ``"none"``. Default ``"exp"``.
        smooth_value: value for ``floor`` (0.1) / ``add-k`` (1); ``None`` takes the default.
        max_order: N, the longest n-gram. Default ``4``.
        effective_order: average only over orders the hypotheses have n-grams for (for
            sentence BLEU). Default ``False``.

    Returns:
        :class:`BLEUScore` (``.score`` on the 0–100 scale, counts, totals, bp, lengths).

    Example:
        >>> hyps = ["The cat sat on the mat.", "A dog barked."]
        >>> refs = [["The cat sat on a mat.", "The dog barked loudly."]]
        >>> round(corpus_bleu(hyps, refs).score, 4)
        36.6567

    Notes: S4.
    """
    if max_order < 1:
        raise ConfigError(f"max_order must be >= 1, got {max_order}")
    if isinstance(hypotheses, str) or (references and isinstance(references[0], str)):
        raise ConfigError(
            "corpus_bleu takes a list of hypotheses and a list of reference streams "
            "(references[j][i] = j-th reference of sentence i); wrap single strings in lists"
        )
    for j, stream in enumerate(references):
        if len(stream) != len(hypotheses):
            raise ConfigError(
                f"reference stream {j} has {len(stream)} sentences but there are "
                f"{len(hypotheses)} hypotheses; give every stream one entry per hypothesis"
            )
    correct = [0] * max_order
    total = [0] * max_order
    sys_len = ref_len = 0
    for i, hyp in enumerate(hypotheses):
        refs = [_prepare(s[i], tokenize, lowercase) for s in references if s[i] is not None]
        if not refs:
            raise ConfigError(f"sentence {i} has no reference (all streams give None)")
        # max_r count_r(g): the clip for each n-gram over this sentence's references
        ref_max: Counter = Counter()
        for ref in refs:
            ref_max |= _ngram_counts(ref, max_order)
        hyp_tokens = _prepare(hyp, tokenize, lowercase)
        sys_len += len(hyp_tokens)
        ref_len += _closest_ref_len(len(hyp_tokens), [len(r) for r in refs])
        for gram, count in _ngram_counts(hyp_tokens, max_order).items():
            n = len(gram) - 1
            total[n] += count
            clip = ref_max.get(gram)
            if clip:
                correct[n] += min(count, clip)
    return _score_from_stats(
        correct, total, sys_len, ref_len, smooth_method, smooth_value, effective_order
    )


def sentence_bleu(
    hypothesis: str | Tokens,
    references: Sequence[str | Tokens],
    *,
    effective_order: bool = True,
    **kwargs,
) -> BLEUScore:
    """BLEU of one hypothesis against its references (``sacrebleu.sentence_bleu``).

    Same as :func:`corpus_bleu` on a one-sentence corpus, with ``effective_order=True``
    by default. ``references`` is a flat list of references for this one sentence.

    Example:
        >>> round(sentence_bleu("The cat sat on the mat.", ["The cat sat on a mat."]).score, 4)
        48.8923

    Notes: S4.
    """
    if isinstance(references, str):
        raise ConfigError("sentence_bleu takes a list of references; wrap the string in a list")
    return corpus_bleu(
        [hypothesis], [[r] for r in references], effective_order=effective_order, **kwargs
    )
