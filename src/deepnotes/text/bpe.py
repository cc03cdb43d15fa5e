"""Byte-pair encoding (BPE): learn merges from word counts, encode by merge rank, decode.

**Learning** (Sennrich et al. 2016). Spell every word as a sequence of symbols: its characters
(with an end-of-word marker ``</w>`` glued to the last one, as in the notes), or, as GPT-2 does,
its UTF-8 bytes written as the printable characters of
:func:`~deepnotes.text.pretokenizers.bytes_to_unicode`. With ``f(w)`` the count of word ``w``,
the count of an adjacent pair is

    count(a, b) = Σ_w f(w) · #{positions where a is followed by b in w}

Repeat until the vocabulary has ``vocab_size`` entries: take the most frequent pair, add the
symbol ``ab`` to the vocabulary, record the merge ``(a, b)`` (its rank is its position in the
list) and replace ``a b`` by ``ab`` in every word, left to right. Counts are updated only for
the words that contained the pair, and a heap keeps the pairs by count (stale entries are
refreshed when they surface). **Ties**: among pairs of equal count the one with the smaller
``(id(a), id(b))`` goes first - symbols learned earlier win, and the initial alphabet is in
code-point order - which is Hugging Face's rule too, so results do not depend on dictionary
order. A pair that returns after being merged (because another merge rebuilt ``a``) is merged
again in those words but not recorded twice.

**Encoding** a word: start from its symbols, then repeatedly merge the adjacent pair of lowest
rank (leftmost first on ties) until no adjacent pair is a merge. :meth:`BPE.tokenize_word` does
this with a heap of candidate pairs over a linked list of symbols (O(n log n) per word, as HF),
and remembers each word's pieces; :meth:`BPE.tokenize_word_naive` is the readable
rescan-everything loop (O(n²)); a test checks that they agree. **Decoding** joins the pieces
(byte-level: bytes back to UTF-8, so ``decode(encode(s)) == s`` for every string).

Notes: E5.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from deepnotes.errors import ConfigError
from deepnotes.text.pretokenizers import ByteLevel, ByteLevelDecoder, Whitespace, bytes_to_unicode
from deepnotes.text.tokenizer import AddedToken, Tokenizer, check_vocab

__all__ = ["BPE", "BPEDecoder", "BPETokenizer", "train_bpe"]

_CACHE_SIZE = 100_000  # words whose pieces are remembered


class BPE:
    """The BPE model: a vocabulary and ranked merges; one word -> the ids of its pieces.

    Args:
        vocab: token -> id (or the list of tokens).
        merges: the merges in rank order, as ``(a, b)`` pairs (or HF's ``"a b"`` strings).
        unk_token: the token of a symbol not in the vocabulary (None: such symbols are dropped,
            as in HF; a byte-level vocabulary never needs one).
        continuing_subword_prefix: written before every symbol but a word's first (e.g. ``##``).
        end_of_word_suffix: glued to a word's last symbol (e.g. ``</w>``).
        fuse_unk: consecutive unknown symbols give one ``unk_token``.
        ignore_merges: a word that is in the vocabulary as a whole is one piece.

    Example:
        >>> bpe = BPE(["l", "o", "w", "e", "r", "lo", "low"], [("l", "o"), ("lo", "w")])
        >>> [bpe.id_to_token[i] for i in bpe.tokenize_word("lower")]
        ['low', 'e', 'r']

    Notes: E5.
    """

    def __init__(self, vocab: dict[str, int] | list[str],
                 merges: Iterable[tuple[str, str] | list[str] | str],
                 unk_token: str | None = None, continuing_subword_prefix: str | None = None,
                 end_of_word_suffix: str | None = None, fuse_unk: bool = False,
                 ignore_merges: bool = False) -> None:
        self.vocab = check_vocab(vocab, "BPE vocabulary")
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        if unk_token is not None and unk_token not in self.vocab:
            raise ConfigError(f"the BPE vocabulary has no unknown token {unk_token!r}")
        self.unk_token = unk_token
        self.continuing_subword_prefix = continuing_subword_prefix
        self.end_of_word_suffix = end_of_word_suffix
        self.fuse_unk = fuse_unk
        self.ignore_merges = ignore_merges
        self.merges: list[tuple[str, str]] = []
        # (id(a), id(b)) -> (rank, id(ab))
        self.ranks: dict[tuple[int, int], tuple[int, int]] = {}
        prefix_len = len(continuing_subword_prefix or "")
        for rank, merge in enumerate(merges):
            parts = merge.split(" ") if isinstance(merge, str) else merge
            if len(parts) != 2:
                raise ConfigError(f"merge {rank} is {merge!r}; a merge is two tokens, 'a b' or "
                                  "[a, b]")
            a, b = parts
            # the merged token drops b's continuation prefix: "un" + "##able" -> "unable"
            new = a + (b[prefix_len:] if prefix_len and b.startswith(continuing_subword_prefix)
                       else b)
            for token in (a, b, new):
                if token not in self.vocab:
                    raise ConfigError(f"merge {rank} ({a!r}, {b!r}) uses {token!r}, which is "
                                      "not in the vocabulary")
            self.merges.append((a, b))
            self.ranks[self.vocab[a], self.vocab[b]] = (rank, self.vocab[new])
        self._cache: dict[str, list[int]] = {}

    # ---- a word's initial symbols -----------------------------------------------------------
    def _symbols(self, word: str) -> list[int]:
        """The ids of ``word``'s characters (with prefix/suffix); unknown ones -> unk or gone."""
        vocab, prefix, suffix = self.vocab, self.continuing_subword_prefix, self.end_of_word_suffix
        unk = self.vocab[self.unk_token] if self.unk_token is not None else None
        ids: list[int] = []
        last = len(word) - 1
        prev_unknown = False
        for i, char in enumerate(word):
            s = char if (i == 0 or prefix is None) else prefix + char
            if i == last and suffix is not None:
                s += suffix
            token_id = vocab.get(s)
            if token_id is not None:
                ids.append(token_id)
                prev_unknown = False
            elif unk is not None:
                if not (self.fuse_unk and prev_unknown):
                    ids.append(unk)
                prev_unknown = True
        return ids

    # ---- encoding one word ------------------------------------------------------------------
    def tokenize_word(self, word: str) -> list[int]:
        """The ids of ``word``'s pieces: merges applied lowest rank first (cached, heap)."""
        ids = self._cache.get(word)
        if ids is None:
            if self.ignore_merges and word in self.vocab:
                ids = [self.vocab[word]]
            else:
                ids = self._merge_with_heap(self._symbols(word))
            if len(self._cache) < _CACHE_SIZE:
                self._cache[word] = ids
        return ids

    def _merge_with_heap(self, sym: list[int]) -> list[int]:
        n = len(sym)
        if n < 2:
            return sym
        ranks = self.ranks
        nxt = list(range(1, n)) + [-1]  # a linked list over the symbols
        prv = list(range(-1, n - 1))
        alive = [True] * n
        # candidates (rank, position, id of the merged symbol), lowest rank then leftmost first
        heap = [(m[0], i, m[1]) for i in range(n - 1)
                if (m := ranks.get((sym[i], sym[i + 1]))) is not None]
        heapq.heapify(heap)
        while heap:
            _, i, new_id = heapq.heappop(heap)
            j = nxt[i]
            if not alive[i] or j == -1:
                continue
            m = ranks.get((sym[i], sym[j]))
            if m is None or m[1] != new_id:
                continue  # stale: this position was merged otherwise since
            # merge symbol j into symbol i
            sym[i] = new_id
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] != -1:
                prv[nxt[j]] = i
            # the two new pairs (left neighbour, new) and (new, right neighbour)
            p, q = prv[i], nxt[i]
            if p != -1 and (m := ranks.get((sym[p], new_id))) is not None:
                heapq.heappush(heap, (m[0], p, m[1]))
            if q != -1 and (m := ranks.get((new_id, sym[q]))) is not None:
                heapq.heappush(heap, (m[0], i, m[1]))
        return [s for s, a in zip(sym, alive) if a]

    def tokenize_word_naive(self, word: str) -> list[int]:
        """The readable version: rescan all pairs, merge the lowest-rank leftmost one, repeat."""
        sym = self._symbols(word)
        while len(sym) > 1:
            best = min(((self.ranks[p][0], i) for i, p in enumerate(zip(sym, sym[1:]))
                        if p in self.ranks), default=None)
            if best is None:
                break
            i = best[1]
            sym[i:i + 2] = [self.ranks[sym[i], sym[i + 1]][1]]
        return sym

    def to_json(self) -> dict[str, Any]:
        # merges as "a b" strings, which every tokenizers version reads; as [a, b] pairs (read
        # since tokenizers 0.20) only when some token holds a space
        spaced = any(" " in a or " " in b for a, b in self.merges)
        merges = [list(m) for m in self.merges] if spaced else [f"{a} {b}" for a, b in self.merges]
        return {"type": "BPE", "dropout": None, "unk_token": self.unk_token,
                "continuing_subword_prefix": self.continuing_subword_prefix,
                "end_of_word_suffix": self.end_of_word_suffix, "fuse_unk": self.fuse_unk,
                "byte_fallback": False, "ignore_merges": self.ignore_merges,
                "vocab": dict(sorted(self.vocab.items(), key=lambda kv: kv[1])),
                "merges": merges}


class BPEDecoder:
    """Join pieces, turning the end-of-word marker into a space (HF ``BPEDecoder``).

    Example:
        >>> BPEDecoder().decode(["lo", "w</w>", "er</w>"])
        'low er'
    """

    def __init__(self, suffix: str = "</w>") -> None:
        self.suffix = suffix

    def decode(self, tokens: list[str]) -> str:
        last = len(tokens) - 1
        return "".join(t.replace(self.suffix, "" if i == last else " ")
                       for i, t in enumerate(tokens))

    def to_json(self) -> dict[str, Any]:
        return {"type": "BPEDecoder", "suffix": self.suffix}


def train_bpe(word_counts: Mapping[str, int], vocab_size: int, min_frequency: int = 0,
              special_tokens: Iterable[str] = (), initial_alphabet: Iterable[str] = (),
              limit_alphabet: int | None = None, continuing_subword_prefix: str | None = None,
              end_of_word_suffix: str | None = None,
              ) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Learn BPE merges from word counts (the algorithm of the module docstring).

    Args:
        word_counts: word -> count (words as the pre-tokenizer gives them).
        vocab_size: stop when the vocabulary has this many tokens.
        min_frequency: stop when the best pair is rarer than this.
        special_tokens: first in the vocabulary (ids 0, 1, ...).
        initial_alphabet: symbols kept even when unseen (the 256 byte symbols for byte level).
        limit_alphabet: keep only the most frequent characters (initial ones always first).
        continuing_subword_prefix, end_of_word_suffix: see :class:`BPE`.

    Returns:
        ``(vocab, merges)``: token -> id, and the merges in rank order.

    Example:
        >>> vocab, merges = train_bpe({"low": 5, "lower": 2, "newest": 6, "widest": 3}, 18,
        ...                           end_of_word_suffix="</w>")
        >>> merges  # "e s" and "s t</w>" both occur 9 times: e < s breaks the tie
        [('e', 's'), ('es', 't</w>'), ('l', 'o'), ('e', 'w'), ('n', 'ew')]

    Notes: E5.
    """
    if vocab_size < 1:
        raise ConfigError(f"vocab_size must be >= 1, got {vocab_size}")
    vocab: dict[str, int] = {}

    def add(token: str) -> int:
        return vocab.setdefault(token, len(vocab))

    for token in special_tokens:
        add(token)
    # the alphabet: every character seen (weighted by the word counts) plus the initial ones
    chars: Counter[str] = Counter()
    for word, count in word_counts.items():
        for c in word:
            chars[c] += count
    initial = set(initial_alphabet)
    for c in initial:
        chars[c] = max(chars[c], 1)
    kept = sorted(chars, key=lambda c: (c not in initial, -chars[c], ord(c)))
    if limit_alphabet is not None:
        kept = kept[:limit_alphabet]
    for c in sorted(kept, key=ord):
        add(c)
    alphabet = set(kept)
    # the words as lists of symbol ids; prefixed/suffixed forms in code-point order
    words: list[list[int]] = []
    counts: list[int] = []
    for word, count in sorted(word_counts.items()):
        letters = [c for c in word if c in alphabet]
        if not letters:
            continue
        symbols = [c if (i == 0 or continuing_subword_prefix is None)
                   else continuing_subword_prefix + c for i, c in enumerate(letters)]
        if end_of_word_suffix is not None:
            symbols[-1] += end_of_word_suffix
        words.append(symbols)  # type: ignore[arg-type]
        counts.append(count)
    for token in sorted({s for w in words for s in w if s not in vocab}):
        add(token)
    words = [[vocab[s] for s in w] for w in words]  # type: ignore[misc]
    id_to_token = {i: t for t, i in vocab.items()}

    # pair counts, the words holding each pair, and a max-heap by (count, then smallest ids)
    pair_counts: Counter[tuple[int, int]] = Counter()
    where: dict[tuple[int, int], set[int]] = {}
    for k, w in enumerate(words):
        for pair in zip(w, w[1:]):
            # count(a, b) = Σ_w f(w) · #{i: w_i = a, w_{i+1} = b}
            pair_counts[pair] += counts[k]
            where.setdefault(pair, set()).add(k)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    merged: set[tuple[int, int]] = set()
    strip = len(continuing_subword_prefix or "")
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if -neg != count:  # stale entry: push the pair back with its current count
            if count > 0:
                heapq.heappush(heap, (-count, pair))
            continue
        if count < max(min_frequency, 1):
            break
        a, b = id_to_token[pair[0]], id_to_token[pair[1]]
        if strip and b.startswith(continuing_subword_prefix):
            b = b[strip:]
        new_id = add(a + b)
        id_to_token[new_id] = a + b
        if pair not in merged:
            merges.append((id_to_token[pair[0]], id_to_token[pair[1]]))
            merged.add(pair)
        # replace a b -> ab in every word that holds the pair, updating the pair counts
        delta: Counter[tuple[int, int]] = Counter()
        for k in where.pop(pair):
            w, c = words[k], counts[k]
            if len(w) < 2:
                continue
            new_w, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == pair[0] and w[i + 1] == pair[1]:
                    new_w.append(new_id)
                    i += 2
                else:
                    new_w.append(w[i])
                    i += 1
            if len(new_w) == len(w):
                continue
            # Δcount(p) = f(w) · (#p in the new word - #p in the old word)
            for p in zip(w, w[1:]):
                delta[p] -= c
            for p in zip(new_w, new_w[1:]):
                delta[p] += c
                where.setdefault(p, set()).add(k)
            words[k] = new_w
        for p, d in delta.items():
            if d:
                pair_counts[p] += d
                if d > 0:
                    heapq.heappush(heap, (-pair_counts[p], p))
    return vocab, merges


class BPETokenizer(Tokenizer):
    """A BPE tokenizer: byte-level (GPT-2) or characters with an end-of-word marker.

    :meth:`train` learns one from text; :func:`deepnotes.text.load_tokenizer` loads a
    ``tokenizer.json`` (one that HF's ``BpeTrainer`` wrote, for instance). The interface is
    :class:`Tokenizer`'s.

    Example:
        >>> tok = BPETokenizer.train(["low lower lowest", "new newer newest"], vocab_size=270)
        >>> tok.tokenize("lowest newer")  # Ġ is the space byte: "newer" after a space
        ['lo', 'west', 'Ġnewer']
        >>> tok.decode(tok.encode("Naïve 😀 text\\n"))
        'Naïve 😀 text\\n'

    Notes: E5.
    """

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, byte_level: bool = True,
              min_frequency: int = 0, special_tokens: Iterable[str] = (),
              limit_alphabet: int | None = None) -> BPETokenizer:
        """Learn a BPE tokenizer from ``texts``.

        Args:
            texts: the training text, e.g. the lines of a corpus.
            vocab_size: the vocabulary size to reach (default 8,000).
            byte_level: GPT-2's byte-level BPE (default): ByteLevel pre-tokenizer, all 256 byte
                symbols in the vocabulary, every string round-trips. False: the notes' BPE on
                characters with an end-of-word marker ``</w>`` and the ``Whitespace``
                pre-tokenizer; an unseen character becomes ``<unk>``.
            min_frequency: stop when the best pair occurs fewer times.
            special_tokens: tokens kept whole and placed first in the vocabulary.
            limit_alphabet: keep only this many of the most frequent characters.
        """
        if isinstance(texts, str):
            texts = [texts]
        specials = list(dict.fromkeys(special_tokens))
        if byte_level:
            pre = ByteLevel(add_prefix_space=False)
            alphabet = list(bytes_to_unicode().values())
            unk, suffix, decoder = None, None, ByteLevelDecoder()
        else:
            pre = Whitespace()
            alphabet = []
            unk, suffix, decoder = "<unk>", "</w>", BPEDecoder("</w>")
            if unk not in specials:
                specials.insert(0, unk)
        split = (_alternation_splitter(specials))
        counts: Counter[str] = Counter()
        for text in texts:
            for segment in split(text):
                counts.update(pre.split(segment))
        vocab, merges = train_bpe(counts, vocab_size, min_frequency, specials, alphabet,
                                  limit_alphabet, end_of_word_suffix=suffix)
        model = BPE(vocab, merges, unk_token=unk, end_of_word_suffix=suffix)
        return cls(model, pre_tokenizer=pre, decoder=decoder,
                   added_tokens=[AddedToken(t, vocab[t]) for t in specials])

    @classmethod
    def from_files(cls, vocab_json: str | os.PathLike, merges_txt: str | os.PathLike,
                   byte_level: bool = True) -> BPETokenizer:
        """GPT-2's two-file format: ``vocab.json`` (token -> id) and ``merges.txt``."""
        import json
        from pathlib import Path

        from deepnotes.errors import DataMissingError

        for p in (vocab_json, merges_txt):
            if not Path(p).is_file():
                raise DataMissingError(f"no file at {p}; pass GPT-2's vocab.json and merges.txt")
        vocab = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
        lines = Path(merges_txt).read_text(encoding="utf-8").split("\n")
        merges = [line for line in lines if line and not line.startswith("#version")]
        model = BPE(vocab, merges)
        if byte_level:
            return cls(model, pre_tokenizer=ByteLevel(), decoder=ByteLevelDecoder())
        return cls(model, pre_tokenizer=Whitespace())


def _alternation_splitter(tokens: list[str]):
    """A function giving the pieces of a text between occurrences of ``tokens``."""
    import re

    if not tokens:
        return lambda text: [text]
    pattern = re.compile("|".join(map(re.escape, sorted(tokens, key=len, reverse=True))))
    return pattern.split
