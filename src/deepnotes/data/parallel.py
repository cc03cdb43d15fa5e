"""Parallel corpora for translation: English-Spanish Bible verses and the user's TSV files (S1).

1. **Pairs.** ``"bible-en-es"`` aligns the World English Bible (SWORD ``engWEB2015eb``) with the
   Reina-Valera 1909 (``spaRV1909eb``) by verse reference. ``mod2imp`` prints OSIS markup under
   ``$$$Book C:V`` headers; :func:`clean_osis` turns it into plain text. Pairs with an empty side
   or a character-length ratio outside 0.5-2 are dropped, and the rest is cached once as
   ``en<TAB>es<TAB>reference`` in ``$DEEPNOTES_DATA/bible-en-es/`` (the folder of
   :func:`~deepnotes.data.fashion_mnist.data_home`). Any Tatoeba-style ``source<TAB>target``
   file works too (:func:`read_parallel_tsv`).
2. **Tokens.** :func:`deepnotes.text.tokenize`: lower-case words, each punctuation mark a token
   (Spanish ``¿ ¡`` and accents kept); pairs with more than ``max_words`` tokens on a side go.
3. **Split.** A hash of the pair's key (verse reference, or the TSV's source sentence) and
   ``split_seed`` picks train / valid / test, so the test set never moves.
4. **Indices.** Separate source and target :class:`~deepnotes.text.Vocab` from the training
   split (rarer than ``min_freq`` -> ``<unk>``), ``<eos>`` appended, truncated/padded to
   ``num_steps``, valid lengths.

Example:
    >>> data = load_translation_data(max_words=10, batch_size=64)      # doctest: +SKIP
    >>> src, src_len, tgt, tgt_len = next(iter(data.batches("train")))  # doctest: +SKIP
    >>> src.shape, tgt_len.shape                                       # doctest: +SKIP
    (torch.Size([64, 11]), torch.Size([64]))

Notes: S1.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from deepnotes.data.fashion_mnist import data_home
from deepnotes.data.loader import MiniBatches
from deepnotes.data.toy_mt import TOY_NAME, TOY_PAIRS, toy_pairs
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError
from deepnotes.text import Vocab, tokenize
from deepnotes.text.codec import SubwordCodec, WordCodec

__all__ = [
    "BIBLE_MODULES", "BIBLE_NAME", "HOW_TO_GET", "TranslationData", "TranslationSplit",
    "align_verses", "bible_cache_path", "build_array", "clean_osis", "export_bible_pairs",
    "load_bible_pairs", "load_translation_data", "locate", "parse_imp", "read_parallel_tsv",
    "split_of", "status_row", "truncate_pad",
]

BIBLE_NAME = "bible-en-es"
BIBLE_MODULES = ("engWEB2015eb", "spaRV1909eb")  # (English source, Spanish target)
SUMMARY = ("English-Spanish Bible verse pairs (WEB / Reina-Valera 1909), ~31k aligned, for "
           "translation: load_translation_data()")
APT_COMMAND = ("sudo apt-get install -y --no-install-recommends "
               "sword-text-web sword-text-kjv sword-text-sparv libsword-utils")
HOW_TO_GET = f"`{APT_COMMAND}`"
# SWORD finds a module by its description file mods.d/<name>.conf in $SWORD_PATH or these
SWORD_DIRS = ("~/.sword", "/usr/share/sword", "/usr/local/share/sword")
CACHE_FILE = "bible-en-es.v1.tsv"  # bump the version when the cleaning rules change
SPLITS = ("train", "valid", "test")

# "$$$Genesis 1:1", "$$$Revelation of John 22:21"; other "$$$[ ... ]" headers are not verses
_HEADER = re.compile(r"^\$\$\$(.+) (\d+):(\d+)\s*$")
# WEB's glossary, glued onto Revelation 22:21
_GLOSSARY = re.compile(r"<div\b[^>]*\btype=\"glossary\".*", re.DOTALL)
_DROPPED = re.compile(r"<(note|speaker)\b[^>]*>.*?</\1\s*>", re.DOTALL)  # the element and its text
_EMPTY_ELEMENT = re.compile(r"<[^<>]*/>")  # milestones (<div sID/>, <l/>, <lb/>): a word break
_TAG = re.compile(r"<[^<>]*>")  # <w ...>, </w>, <transChange>: inline, may sit inside a word
_GAP = "\x00"  # where a dropped element stood: a space only between two word characters
_GAP_IN_WORD = re.compile(r"(?<=\w)\x00+(?=\w)")
_SPACE_BEFORE_MARK = re.compile(r"\s+([,.;:!?])")
# a double quote glued to a word: 'Omega,”says' -> 'Omega,” says'
_GLUED_QUOTE = re.compile(r"(?<=”)(?=\w)|(?<=[\w,;:])(?=“)")
_SPACE_BEFORE_CLOSE = re.compile(r"\s+(?=”)")  # 'penny. ”' (a note stood there) -> 'penny.”'
# RV1909 words its translators added (<transChange>) touch the next word ('fué<tc>le</tc>Dios')
# and, unless they are an enclitic pronoun of the verb before ('díjo' + 'le'), the previous one
_ADDED = re.compile(r"(\w*)(?:</w>)?<transChange\b[^>]*>([^<]*)</transChange>")
_ADDED_WORDS = re.compile(r"(?<=</w>)(?=<transChange\b[^>]*><w\b)|(?<=</transChange>)(?=<w\b)")
_ENCLITICS = {"lo", "la", "le", "los", "las", "les", "me", "te", "se", "nos", "os"}
_NOT_VERBS = {"no", "como", "que", "y", "os", "ellos", "gentes", "cuánto", "dios", "jehová",
              "josué"}  # words before an added pronoun in RV1909 that it does not attach to


# ---- 1. pairs ---------------------------------------------------------------------------------
def parse_imp(text: str) -> dict[str, str]:
    """Split ``mod2imp`` output into ``{"Book C:V": markup}``, verses only, in module order.

    Headers that are not ``Book C:V`` (module and testament headings) and verse 0 (book and
    chapter introductions) are skipped; a verse's lines are joined with newlines.

    Example:
        >>> parse_imp("$$$[ Module Heading ]\\n$$$John 11:0\\nx\\n$$$John 11:35\\nJesus wept.")
        {'John 11:35': 'Jesus wept.'}

    Notes: S1.
    """
    verses: dict[str, str] = {}
    ref: str | None = None
    body: list[str] = []
    for line in text.splitlines() + ["$$$[ end ]"]:
        if not line.startswith("$$$"):
            body.append(line)
            continue
        if ref is not None:
            verses[ref] = "\n".join(body)
        m = _HEADER.match(line)
        ref = f"{m.group(1)} {int(m.group(2))}:{int(m.group(3))}" if m and int(m.group(3)) else None
        body = []
    return verses


def clean_osis(markup: str) -> str:
    """Plain text of one verse's OSIS markup.

    Drops WEB's glossary (everything from ``<div type="glossary">`` on), ``<note>`` and
    ``<speaker>`` elements with their text (leaving a space only between two letters), every
    other tag (its text kept) and ``¶``; an empty element such as ``<div .../>`` or ``<l .../>``
    is a word break. RV1909's added words (``<transChange>``) are spaced off from their
    neighbours, except an enclitic pronoun after its verb (``díjo`` + ``le`` -> ``díjole``).
    Runs of white space become one space; no space is left before ``, . ; : ! ?``, and a
    double quote glued to a word (``Omega,”says``) gets one.

    Example:
        >>> clean_osis('<w>God</w><note n="a">Elohim</note><w>created</w>, <l/>¶ light.')
        'God created, light.'
        >>> clean_osis('<w>díjo</w><transChange>le</transChange><w>Dios</w>')
        'díjole Dios'

    Notes: S1.
    """
    text = _GLOSSARY.sub("", markup)
    text = _DROPPED.sub(_GAP, text)
    text = _ADDED_WORDS.sub(" ", _ADDED.sub(_space_added_words, text))
    text = _EMPTY_ELEMENT.sub(" ", text)
    text = _TAG.sub("", text).replace("¶", " ")
    text = _GAP_IN_WORD.sub(" ", text).replace(_GAP, "")
    text = " ".join(text.split())
    text = _SPACE_BEFORE_CLOSE.sub("", _SPACE_BEFORE_MARK.sub(r"\1", text))
    return _GLUED_QUOTE.sub(" ", text)


def _space_added_words(m: re.Match) -> str:
    before, added = m.group(1), m.group(2)
    enclitic = added.strip().lower() in _ENCLITICS and before.lower() not in _NOT_VERBS
    left = "" if not before or enclitic else " "
    return f"{before}{left}{added} "


def align_verses(
    source: dict[str, str], target: dict[str, str], min_ratio: float = 0.5, max_ratio: float = 2.0
) -> list[tuple[str, str, str]]:
    """Pair cleaned verses that share a reference: ``[(source, target, reference), ...]``.

    Kept when both sides are non-empty and the character-length ratio
    :math:`r = |target| / |source|` lies in ``[min_ratio, max_ratio]``; in ``source`` order.
    The inputs are raw markup (as :func:`parse_imp` returns) and are cleaned here.

    Example:
        >>> align_verses({"A 1:1": "In the beginning.", "A 1:2": "x"},
        ...              {"A 1:1": "En el principio.", "A 1:2": "una frase larga"})
        [('In the beginning.', 'En el principio.', 'A 1:1')]

    Notes: S1.
    """
    pairs = []
    for ref in (r for r in source if r in target):
        src, tgt = clean_osis(source[ref]), clean_osis(target[ref])
        # r = |target| / |source| in characters
        if src and tgt and min_ratio <= len(tgt) / len(src) <= max_ratio:
            pairs.append((src, tgt, ref))
    return pairs


def bible_cache_path() -> Path:
    """The cache of aligned Bible pairs: ``$DEEPNOTES_DATA/bible-en-es/bible-en-es.v1.tsv``."""
    return data_home() / BIBLE_NAME / CACHE_FILE


def _run_mod2imp(module: str) -> str:
    exe = shutil.which("mod2imp")
    if exe is None:
        raise DataMissingError(f"mod2imp (SWORD utilities) is not installed, so the Bible module "
                               f"{module} cannot be read; get it with {HOW_TO_GET}.")
    proc = subprocess.run([exe, module], capture_output=True, text=True, encoding="utf-8",
                          errors="replace", check=False)
    if proc.returncode != 0 or "$$$" not in proc.stdout:
        raise DataMissingError(f"the SWORD Bible module {module} is not installed (mod2imp exited "
                               f"with {proc.returncode}); get it with {HOW_TO_GET}.")
    return proc.stdout


def export_bible_pairs(refresh: bool = False) -> Path:
    """Build the aligned English-Spanish verse pairs once and cache them as a TSV; return its path.

    Runs ``mod2imp`` on both modules only when the cache is missing (or ``refresh=True``);
    the file is written atomically, one ``en<TAB>es<TAB>reference`` line per pair.

    Raises:
        DataMissingError: ``mod2imp`` or a module is missing (names the apt command).

    Notes: S1.
    """
    path = bible_cache_path()
    if path.is_file() and not refresh:
        return path
    en, es = (parse_imp(_run_mod2imp(module)) for module in BIBLE_MODULES)
    pairs = align_verses(en, es)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text("".join(f"{s}\t{t}\t{r}\n" for s, t, r in pairs), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash never leaves half a cache
    return path


def locate() -> str | None:
    """The cached pairs' path, else ``"mod2imp ..."`` when tool and modules are there, else None."""
    if bible_cache_path().is_file():
        return str(bible_cache_path())
    roots = [os.environ.get("SWORD_PATH", ""), *SWORD_DIRS]
    confs = {p.name.lower() for r in roots if r for p in Path(r).expanduser().glob("mods.d/*.conf")}
    if shutil.which("mod2imp") and all(f"{m.lower()}.conf" in confs for m in BIBLE_MODULES):
        return "mod2imp " + " + ".join(BIBLE_MODULES)
    return None


def status_row() -> dict[str, object]:
    """The ``deepnotes data status`` row of ``bible-en-es`` (``data.status([BIBLE_NAME])[0]``)."""
    from deepnotes.data import status

    return status([BIBLE_NAME])[0]


def load_bible_pairs(refresh: bool = False) -> list[tuple[str, str, str]]:
    """The cleaned, aligned ``(english, spanish, reference)`` verse pairs (exported once)."""
    return _read_tsv(export_bible_pairs(refresh), key_column=2)


def read_parallel_tsv(path: str | os.PathLike) -> list[tuple[str, str, str]]:
    """Read the user's ``source<TAB>target`` file as ``[(source, target, key), ...]``.

    Tatoeba style: columns after the second are ignored, blank lines are skipped, a pair with an
    empty side is dropped; the key (used to split) is the source sentence, so repeated sources
    all land in one split.

    Raises:
        DataMissingError: no file at ``path``.
        ConfigError: a non-blank line has no tab (names the line number).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
        >>> _ = p.write_text("Go.\\tVe.\\tCC-BY #1\\n\\nHi.\\tHola.\\n", encoding="utf-8")
        >>> read_parallel_tsv(p)
        [('Go.', 'Ve.', 'Go.'), ('Hi.', 'Hola.', 'Hi.')]

    Notes: S1.
    """
    return _read_tsv(path, key_column=None)


def _read_tsv(path: str | os.PathLike, key_column: int | None) -> list[tuple[str, str, str]]:
    if not (path := Path(path).expanduser()).is_file():
        raise DataMissingError(f"no parallel corpus file at {path}; pass path= a UTF-8 text file "
                               "with one 'source<TAB>target' pair per line.")
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                raise ConfigError(f"{path}, line {number} has no tab between source and target "
                                  f"({line[:40]!r}); write each pair as 'source<TAB>target'.")
            cols = line.split("\t")
            src, tgt = cols[0].strip(), cols[1].strip()
            if src and tgt:
                key = cols[key_column] if key_column is not None and len(cols) > key_column else src
                pairs.append((src, tgt, key))
    return pairs


# ---- 2-4. tokens, split, indices ----------------------------------------------------------------
def split_of(key: str, split_seed: int = 0, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for one pair, from a hash of ``(split_seed, key)``.

    :math:`u = \\text{blake2b}(\\text{seed}, \\text{key}) / 2^{64} \\in [0, 1)`; train if
    :math:`u < f_0`, valid if :math:`u < f_0 + f_1`, else test. Independent of the other pairs,
    so filtering the corpus never moves a pair to another split.

    Example:
        >>> [split_of(f"Genesis 1:{v}") for v in (5, 6)]
        ['train', 'test']

    Notes: S1.
    """
    digest = hashlib.blake2b(f"{split_seed}\x00{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2.0**64
    return "train" if u < fractions[0] else "valid" if u < fractions[0] + fractions[1] else "test"


def truncate_pad(indices: Sequence[int], num_steps: int, pad: int) -> list[int]:
    """Cut ``indices`` to ``num_steps`` or fill it up with ``pad`` to that length.

    Example:
        >>> truncate_pad([5, 6, 3], 5, pad=1), truncate_pad([5, 6, 7, 8, 3], 3, pad=1)
        ([5, 6, 3, 1, 1], [5, 6, 7])

    Notes: S1.
    """
    return list(indices[:num_steps]) + [pad] * (num_steps - len(indices))


def build_array(
    lines: Sequence[Sequence[str]], vocab: Vocab, num_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensor and valid lengths of tokenised sentences: ``tokens + <eos>``, truncated/padded.

    :math:`\\text{valid\\_len}_i = \\min(|x_i| + 1, T)` (the ``<eos>`` counts; padding does not).
    A sentence longer than ``T - 1`` tokens loses its tail and its ``<eos>``.

    Shape:
        - output: :math:`(N, T)` int64 indices and :math:`(N,)` int64 valid lengths.

    Example:
        >>> v = Vocab([["hi", "hi", "!"]])
        >>> build_array([["hi", "!"], ["yo"]], v, num_steps=4)
        (tensor([[4, 5, 3, 1],
                [0, 3, 1, 1]]), tensor([3, 2]))

    Notes: S1.
    """
    rows = [truncate_pad(vocab.to_indices(list(tokens)) + [vocab.eos], num_steps, vocab.pad)
            for tokens in lines]
    array = torch.tensor(rows, dtype=torch.long).reshape(len(rows), num_steps)  # (N, T)
    valid_len = torch.tensor([min(len(t) + 1, num_steps) for t in lines], dtype=torch.long)
    return array, valid_len


@dataclass
class TranslationSplit:
    """One split: index tensors, valid lengths and the raw (untokenised) sentences.

    Shape:
        - src, tgt: :math:`(N, T)` int64; src_valid_len, tgt_valid_len: :math:`(N,)` int64.
    """

    src: torch.Tensor
    src_valid_len: torch.Tensor
    tgt: torch.Tensor
    tgt_valid_len: torch.Tensor
    src_text: list[str]  # raw source sentences, for reading translations
    tgt_text: list[str]  # raw references, for BLEU against untokenised text
    keys: list[str]  # verse references (Bible) or source sentences (TSV)

    def __len__(self) -> int:
        return self.src.shape[0]

    @property
    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(src, src_valid_len, tgt, tgt_valid_len)``."""
        return self.src, self.src_valid_len, self.tgt, self.tgt_valid_len


@dataclass
class TranslationData:
    """A parallel corpus ready for a seq2seq model: three splits and the two vocabularies."""

    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: TranslationSplit
    valid: TranslationSplit
    test: TranslationSplit
    num_steps: int
    batch_size: int
    seed: int
    codec: Any = field(default_factory=WordCodec)  # how sentences became tokens (and back)

    def batches(self, split: str = "train", shuffle: bool | None = None,
                drop_last: bool = False) -> MiniBatches:
        """Minibatches ``(src, src_valid_len, tgt, tgt_valid_len)``: (B, T), (B,), (B, T), (B,).

        The training split is reshuffled every epoch (seeded by ``seed``); the others keep order.
        """
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
        shuffle = split == "train" if shuffle is None else shuffle
        return MiniBatches(getattr(self, split).tensors, self.batch_size, shuffle=shuffle,
                           seed=self.seed, drop_last=drop_last)


def load_translation_data(
    name: str | None = BIBLE_NAME,
    path: str | os.PathLike | None = None,
    max_words: int | None = 15,
    num_steps: int | None = None,
    min_freq: int = 2,
    batch_size: int = 64,
    seed: int = 0,
    split_seed: int = 0,
    fractions: Sequence[float] = (0.9, 0.05, 0.05),
    reverse: bool = False,
    limit: int | None = None,
    subwords: int = 0,
) -> TranslationData:
    """Tokenise, filter, split and index a parallel corpus (S1) into a :class:`TranslationData`.

    Args:
        name: ``"bible-en-es"`` (English -> Spanish verses) or ``"toy-en-es"`` (the made-up
            corpus of :mod:`deepnotes.data.toy_mt`, generated from ``seed``); ignored when
            ``path`` is given.
        path: the user's ``source<TAB>target`` file instead of a named corpus.
        max_words: keep pairs with 1..max_words tokens on both sides (punctuation marks count
            as tokens, as in d2l); None keeps all.
        num_steps: T, the padded length; default ``max_words + 1`` (room for ``<eos>``).
        min_freq: tokens seen fewer times in the training split become ``<unk>``.
        batch_size: examples per minibatch.
        seed: seed of the training batches' shuffle.
        split_seed: seed of the train/valid/test hash; keep it fixed to keep the test set fixed.
        fractions: (train, valid, test) shares, summing to 1.
        reverse: swap the columns (translate Spanish -> English).
        limit: keep only the first ``limit`` pairs after filtering (quick runs).
        subwords: 0 (default): word tokens. ``N > 0``: byte-level BPE pieces from one BPE of
            ``N`` tokens learnt on both sides of the training split (lower-cased); the pairs
            are still chosen by their WORD length (``max_words``), ``num_steps`` defaults to
            the longest piece sequence + 1, ``min_freq`` is ignored (every piece is known).

    Raises:
        UnknownNameError: ``name`` is not a known corpus. DataMissingError: data not installed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.tsv"
        >>> _ = p.write_text("".join(f"Go {i % 9}!\\tVe {i % 9}.\\n" for i in range(60)))
        >>> data = load_translation_data(path=p, num_steps=5, batch_size=8)
        >>> src, src_len, tgt, tgt_len = next(iter(data.batches("train")))
        >>> src.shape, tgt_len.shape, data.tgt_vocab.to_tokens(data.train.tgt[0])
        (torch.Size([8, 5]), torch.Size([8]), ['ve', '0', '.', '<eos>', '<pad>'])

    Notes: S1.
    """
    if path is not None:
        pairs, label = read_parallel_tsv(path), str(path)
    elif name == BIBLE_NAME:
        pairs, label = load_bible_pairs(), BIBLE_NAME
    elif name == TOY_NAME:
        # generated from ``seed``; the key that picks the split is the source, as for a TSV
        made = toy_pairs(TOY_PAIRS if limit is None else limit, seed)
        pairs, label = [(s, t, s) for s, t in made], TOY_NAME
    else:
        raise UnknownNameError(f"unknown parallel corpus {name!r}; use name={BIBLE_NAME!r}, "
                               f"{TOY_NAME!r} or path= a 'source<TAB>target' file.")
    if num_steps is None and not subwords:
        num_steps = 32 if max_words is None else max_words + 1
    for arg, value in (("max_words", max_words), ("num_steps", num_steps), ("min_freq", min_freq),
                       ("batch_size", batch_size), ("limit", limit)):
        bad = isinstance(value, bool) or not isinstance(value, int) or value < 1
        if value is not None and bad:
            raise ConfigError(f"{arg} must be a positive integer, got {value!r}")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(f"fractions must be three shares >= 0 that sum to 1, got {fractions!r}")
    if reverse:
        pairs = [(t, s, k) for s, t, k in pairs]

    src_tok, tgt_tok = tokenize([p[0] for p in pairs]), tokenize([p[1] for p in pairs])
    kept = [i for i in range(len(pairs)) if src_tok[i] and tgt_tok[i] and (
        max_words is None or (len(src_tok[i]) <= max_words and len(tgt_tok[i]) <= max_words))]
    kept = kept[:limit]
    kept_set = set(kept)
    parts: dict[str, list[int]] = {s: [] for s in SPLITS}
    for i in kept:
        parts[split_of(pairs[i][2], split_seed, fractions)].append(i)
    if not parts["train"]:
        raise ConfigError(f"no training pairs are left in {label} with max_words={max_words}; "
                          "raise max_words or use a larger file.")
    codec: Any = WordCodec()
    if subwords:
        if isinstance(subwords, bool) or not isinstance(subwords, int) or subwords < 257:
            raise ConfigError(f"subwords must be 0 (words) or a BPE vocabulary size >= 257, "
                              f"got {subwords!r}")
        codec = SubwordCodec.train([pairs[i][j] for i in parts["train"] for j in (0, 1)],
                                   vocab_size=subwords)
        src_tok = [codec.split(p[0]) if k in kept_set else [] for k, p in enumerate(pairs)]
        tgt_tok = [codec.split(p[1]) if k in kept_set else [] for k, p in enumerate(pairs)]
        longest = max(max(len(src_tok[i]), len(tgt_tok[i])) for i in kept)
        num_steps = num_steps or longest + 1
        min_freq = 1
    src_vocab = Vocab([src_tok[i] for i in parts["train"]], min_freq=min_freq)
    tgt_vocab = Vocab([tgt_tok[i] for i in parts["train"]], min_freq=min_freq)

    def make(idx: list[int]) -> TranslationSplit:
        src, src_len = build_array([src_tok[i] for i in idx], src_vocab, num_steps)
        tgt, tgt_len = build_array([tgt_tok[i] for i in idx], tgt_vocab, num_steps)
        return TranslationSplit(src, src_len, tgt, tgt_len, [pairs[i][0] for i in idx],
                                [pairs[i][1] for i in idx], [pairs[i][2] for i in idx])

    return TranslationData(label, src_vocab, tgt_vocab, *(make(parts[s]) for s in SPLITS),
                           num_steps=num_steps, batch_size=batch_size, seed=seed, codec=codec)
