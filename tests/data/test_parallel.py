"""Tests for deepnotes.data.parallel (S1): Bible verse alignment and the MT data pipeline.

The two fixtures at the bottom are real ``mod2imp`` output (SWORD modules engWEB2015eb and
spaRV1909eb, captured on this machine) for 18 verses and a chapter heading, chosen for what
they exercise: footnotes, a psalm title, a speaker label, translators' added words, empty
verses on either side, a deutero-canonical verse with no Spanish, a too-short Spanish verse
and WEB Revelation 22:21 with the start of its glossary (cut after two entries to keep the
file small). A fake ``mod2imp`` script serves them, so nothing real is read. No verse of
either module carries a ¶ mark, so that rule is checked on a made-up verse.
"""

from __future__ import annotations

import doctest
import os
import stat
from pathlib import Path

import pytest
import torch

from deepnotes import data
from deepnotes.data import parallel
from deepnotes.data.parallel import (
    align_verses,
    build_array,
    clean_osis,
    load_bible_pairs,
    load_translation_data,
    parse_imp,
    read_parallel_tsv,
    split_of,
    truncate_pad,
)
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError
from deepnotes.text import Vocab, tokenize

ALIGNED = [
    "Genesis 1:1", "Genesis 1:3", "I Kings 4:22", "Psalms 3:1", "Song of Solomon 7:10",
    "Zechariah 8:1", "Luke 11:3", "Luke 12:59", "John 11:35", "John 18:6", "Hebrews 6:3",
    "Revelation of John 22:21",
]
# expected plain text, checked by reading the verses
CLEAN_EN = {
    # footnote between two words leaves one space
    "Genesis 1:1": "In the beginning, God created the heavens and the earth.",
    # footnote before " of" (plain text, no <w>), not doubled
    "I Kings 4:22": "Solomon’s provision for one day was thirty cors of fine flour, sixty "
                    "measures of meal,",
    # canonical psalm title kept (the Spanish verse has it too), poetry milestones are spaces
    "Psalms 3:1": "A Psalm by David, when he fled from Absalom his son. Yahweh, how my adversaries "
                  "have increased! Many are those who rise up against me.",
    # the speaker label "Beloved" is dropped
    "Song of Solomon 7:10": "I am my beloved’s. His desire is toward me.",
    # a footnote stood between "." and the closing quote
    "Luke 12:59": "I tell you, you will by no means get out of there until you have paid the very "
                  "last penny.”",
    # "he,”</q><w>they": a closing quote glued to the next word gets a space
    "John 18:6": "When therefore he said to them, “I am he,” they went backward and fell to "
                 "the ground.",
    # the glossary after the last verse is gone
    "Revelation of John 22:21": "The grace of the Lord Jesus Christ be with all the saints. Amen.",
}
CLEAN_ES = {
    "Genesis 1:1": "EN el principio crió Dios los cielos y la tierra.",
    "Psalms 3:1": "Salmo de David, cuando huía de delante de Absalom su hijo. ¡OH Jehová, "
                  "cuánto se han multiplicado mis enemigos! muchos se levantan contra mí.",
    # added words "á mí" touch both neighbours in the markup
    "Zechariah 8:1": "Y FUÉ á mí palabra de Jehová de los ejércitos, diciendo:",
    # an added enclitic pronoun joins its verb ...
    "Luke 11:3": "El pan nuestro de cada día, dánoslo hoy.",
    # ... but not a noun
    "Hebrews 6:3": "Y esto haremos á la verdad, si Dios lo permitiere.",
}


# ---- parsing and cleaning ----------------------------------------------------------------------
def test_parse_imp_keeps_verses_in_order_and_skips_headings():
    en, es = parse_imp(WEB_IMP), parse_imp(RV_IMP)
    assert "Genesis 1:0" not in en and not any(r.startswith("[") for r in en)
    assert list(en)[:3] == ["Genesis 1:1", "Genesis 1:3", "Numbers 12:16"]
    assert len(en) == 18 and len(es) == 17
    assert set(en) - set(es) == {"II Esdras 14:7"}
    assert en["John 11:35"].endswith('"strong:G1145">wept</w>. <div eID="gen33819" type="x-p"/>')
    assert es["John 11:35"] == ('<w lemma="strong:G1145">Y lloró</w> '
                                '<w lemma="strong:G2424">Jesús</w>.')


@pytest.mark.parametrize("ref", sorted(CLEAN_EN))
def test_clean_osis_english(ref):
    assert clean_osis(parse_imp(WEB_IMP)[ref]) == CLEAN_EN[ref]


@pytest.mark.parametrize("ref", sorted(CLEAN_ES))
def test_clean_osis_spanish(ref):
    assert clean_osis(parse_imp(RV_IMP)[ref]) == CLEAN_ES[ref]


def test_clean_osis_leaves_no_markup():
    for text in (WEB_IMP, RV_IMP):
        for ref, markup in parse_imp(text).items():
            plain = clean_osis(markup)
            assert "<" not in plain and ">" not in plain and "  " not in plain, ref
            assert plain == plain.strip()
    glossary = parse_imp(WEB_IMP)["Revelation of John 22:21"]
    assert "Abaddon" in glossary and "Abaddon" not in clean_osis(glossary)


def test_clean_osis_pilcrow_newlines_and_notes():
    markup = '¶ <w lemma="x">And</w>\n  <w>it</w><note type="x">a <i>x</i></note>came ¶to pass .'
    assert clean_osis(markup) == "And it came to pass."
    assert clean_osis('<w>God</w><note n="1">Elohim</note>’s <lb/>word') == "God’s word"
    assert clean_osis('<div type="x-p"/> <chapter eID="Num.12"/>') == ""


# ---- alignment ---------------------------------------------------------------------------------
def test_align_verses_drops_empty_unmatched_and_unbalanced_pairs():
    en, es = parse_imp(WEB_IMP), parse_imp(RV_IMP)
    pairs = align_verses(en, es)
    assert [ref for _, _, ref in pairs] == ALIGNED
    # Deuteronomy 5:18 is dropped by the ratio alone: 15 / 31 chars < 0.5
    deut = (clean_osis(en["Deuteronomy 5:18"]), clean_osis(es["Deuteronomy 5:18"]))
    assert deut == ("“You shall not commit adultery.", "No adulterarás.")
    assert [ref for *_, ref in align_verses(en, es, min_ratio=0.4)] == sorted(
        ALIGNED + ["Deuteronomy 5:18"], key=list(en).index)
    assert pairs[-1] == (CLEAN_EN["Revelation of John 22:21"],
                         "La gracia de nuestro Señor Jesucristo sea con todos vosotros. Amén.",
                         "Revelation of John 22:21")


def test_align_verses_ratio_bounds_are_inclusive():
    src = {"A 1:1": "x" * 10, "A 1:2": "x" * 10, "A 1:3": "x" * 10, "A 1:4": "x" * 10}
    tgt = {"A 1:1": "y" * 5, "A 1:2": "y" * 20, "A 1:3": "y" * 4, "A 1:4": "y" * 21}
    assert [r for *_, r in align_verses(src, tgt)] == ["A 1:1", "A 1:2"]


# ---- export with a fake mod2imp ----------------------------------------------------------------
def _fake_mod2imp(folder: Path, modules: dict[str, str]) -> Path:
    """A shell-script ``mod2imp`` printing the fixture for each module; logs each call."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = ""
    for module, text in modules.items():
        (folder / f"{module}.imp").write_text(text, encoding="utf-8")
        cases += f'  {module}) cat "{folder}/{module}.imp";;\n'
    script = folder / "mod2imp"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{folder}/calls.log"\ncase "$1" in\n{cases}'
                      '  *) echo "mod2imp: Couldn\'t find module: $1" >&2; exit 255;;\nesac\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def fake_bible(tmp_path, monkeypatch):
    folder = _fake_mod2imp(tmp_path / "bin", {"engWEB2015eb": WEB_IMP, "spaRV1909eb": RV_IMP})
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/bin{os.pathsep}/usr/bin")
    return folder


def test_export_runs_mod2imp_once_and_caches_a_tsv(fake_bible):
    pairs = load_bible_pairs()
    assert [p[2] for p in pairs] == ALIGNED
    assert (fake_bible / "calls.log").read_text().split() == ["engWEB2015eb", "spaRV1909eb"]
    cache = parallel.bible_cache_path()
    assert cache.parent == Path(os.environ["DEEPNOTES_DATA"]) / "bible-en-es"
    lines = cache.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{CLEAN_EN['Genesis 1:1']}\t{CLEAN_ES['Genesis 1:1']}\tGenesis 1:1"
    assert load_bible_pairs() == pairs  # from the cache: mod2imp not run again
    assert len((fake_bible / "calls.log").read_text().split()) == 2
    assert parallel.locate() == str(cache)
    load_bible_pairs(refresh=True)
    assert len((fake_bible / "calls.log").read_text().split()) == 4


def test_locate_needs_the_tool_and_both_modules(fake_bible, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "SWORD_DIRS", (str(tmp_path / "sword"),))
    monkeypatch.delenv("SWORD_PATH", raising=False)
    (tmp_path / "sword" / "mods.d").mkdir(parents=True)
    (tmp_path / "sword" / "mods.d" / "engweb2015eb.conf").write_text("[engWEB2015eb]\n")
    assert parallel.locate() is None  # the Spanish module is missing
    (tmp_path / "sword" / "mods.d" / "sparv1909eb.conf").write_text("[spaRV1909eb]\n")
    assert parallel.locate() == "mod2imp engWEB2015eb + spaRV1909eb"
    assert parallel.status_row()["available"] is True
    load_bible_pairs()
    assert parallel.locate() == str(parallel.bible_cache_path())


def test_data_get_exports_the_pairs_when_the_modules_are_there(fake_bible, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(parallel, "SWORD_DIRS", (str(tmp_path / "sword"),))
    monkeypatch.delenv("SWORD_PATH", raising=False)
    assert "install them with `sudo apt-get" in data.get("bible-en-es")  # no modules: no run
    assert not (fake_bible / "calls.log").exists() and not parallel.bible_cache_path().exists()
    (tmp_path / "sword" / "mods.d").mkdir(parents=True)
    for module in parallel.BIBLE_MODULES:
        (tmp_path / "sword" / "mods.d" / f"{module.lower()}.conf").write_text(f"[{module}]\n")
    assert data.get("bible-en-es") == ("bible-en-es: verse pairs exported and cached at "
                                       f"{parallel.bible_cache_path()}.")
    assert len(parallel.bible_cache_path().read_text(encoding="utf-8").splitlines()) == len(ALIGNED)
    row = data.entry("bible-en-es").status()
    assert (row["kind"], row["location"]) == ("parallel", str(parallel.bible_cache_path()))


def test_missing_mod2imp_or_module_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataMissingError, match="mod2imp.*apt-get install .*sword-text-sparv"):
        load_bible_pairs()
    row = parallel.status_row()
    assert row["name"] == "bible-en-es" and row["available"] is False and row["location"] is None
    assert "sword-text-sparv" in row["how_to_get"]
    folder = _fake_mod2imp(tmp_path / "bin", {"engWEB2015eb": WEB_IMP})  # no Spanish module
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}/bin{os.pathsep}/usr/bin")
    with pytest.raises(DataMissingError, match="spaRV1909eb is not installed.*sword-text-sparv"):
        load_translation_data()
    assert not parallel.bible_cache_path().exists()


# ---- the user's TSV ----------------------------------------------------------------------------
def _write(tmp_path: Path, text: str, name: str = "pairs.tsv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_read_parallel_tsv_tatoeba_style(tmp_path):
    path = _write(tmp_path, "Go.\tVe.\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\r\n"
                            "\n   \nWho?\t¿Quién?\n \t¡Hola!\nWow!\t \n"
                            "Run!\t¡Corre!\textra\tcols\n")
    assert read_parallel_tsv(path) == [("Go.", "Ve.", "Go."), ("Who?", "¿Quién?", "Who?"),
                                       ("Run!", "¡Corre!", "Run!")]


def test_read_parallel_tsv_errors(tmp_path):
    path = _write(tmp_path, "Go.\tVe.\n\nno tab on this line\nHi.\tHola.\n")
    with pytest.raises(ConfigError, match=r"line 3 has no tab .*'no tab on this line'"):
        read_parallel_tsv(path)
    with pytest.raises(DataMissingError, match="no parallel corpus file at .*missing.tsv"):
        read_parallel_tsv(tmp_path / "missing.tsv")


# ---- tokens to tensors -------------------------------------------------------------------------
def test_truncate_pad():
    assert truncate_pad([7, 8], 4, pad=1) == [7, 8, 1, 1]
    assert truncate_pad([7, 8, 9, 3], 4, pad=1) == [7, 8, 9, 3]
    assert truncate_pad([7, 8, 9, 10, 3], 3, pad=1) == [7, 8, 9]
    assert truncate_pad([], 2, pad=0) == [0, 0]


def test_build_array_appends_eos_pads_and_counts_valid_length():
    vocab = Vocab([["a", "a", "b", "b", "c"]], min_freq=2)  # c is rare -> <unk>
    assert (vocab["a"], vocab["b"], vocab["c"], vocab.eos, vocab.pad) == (4, 5, 0, 3, 1)
    array, valid = build_array([["a", "c"], [], ["b", "a", "b", "a", "b"]], vocab, num_steps=4)
    assert array.tolist() == [[4, 0, 3, 1], [3, 1, 1, 1], [5, 4, 5, 4]]
    assert valid.tolist() == [3, 1, 4] and array.dtype == valid.dtype == torch.long
    empty, empty_len = build_array([], vocab, num_steps=4)
    assert empty.shape == (0, 4) and empty_len.shape == (0,)


# ---- load_translation_data ---------------------------------------------------------------------
EN_WORDS = ["i", "you", "we", "see", "like", "want", "the", "red", "big", "dog", "cat", "house"]
ES_WORDS = ["yo", "tú", "nosotros", "veo", "quiero", "deseo", "el", "rojo", "grande", "perro",
            "gato", "casa"]


def _corpus(tmp_path: Path, n: int = 300) -> Path:
    """``n`` made-up pairs of 2-6 words (word i <-> word i), then 5 special lines."""
    gen = torch.Generator().manual_seed(0)
    lines = []
    for _ in range(n):
        idx = torch.randint(len(EN_WORDS), (int(torch.randint(2, 7, (1,), generator=gen)),),
                            generator=gen).tolist()
        en = " ".join(EN_WORDS[i] for i in idx).capitalize() + "."
        es = " ".join(ES_WORDS[i] for i in idx).capitalize() + "."
        lines.append(f"{en}\t{es}")
    lines += ["Zebra!\t¡Cebra!",  # zebra/cebra once: rare on both sides
              "Ant ant!\t¡Hormiga hormiga!",  # twice: kept with min_freq=2 (and ¡, !)
              " ".join(["dog"] * 14) + ".\t" + " ".join(["perro"] * 14) + ".",  # 15 tokens
              " ".join(["dog"] * 15) + ".\tPerro.",  # 16 tokens on one side: out
              "Dog.\t" + " ".join(["perro"] * 15) + "."]
    return _write(tmp_path, "\n".join(lines) + "\n")


def test_vocab_min_freq_and_word_filter(tmp_path):
    data = load_translation_data(path=_corpus(tmp_path), max_words=15, min_freq=2,
                                 fractions=(1.0, 0.0, 0.0), batch_size=32)
    src_v, tgt_v = data.src_vocab, data.tgt_vocab
    assert len(data.train) == 303 and len(data.valid) == len(data.test) == 0  # 16 tokens: out
    assert "zebra" not in src_v and "¡" in tgt_v and "cebra" not in tgt_v
    assert "ant" in src_v and "hormiga" in tgt_v and "hormiga" not in src_v
    assert set(EN_WORDS) <= set(src_v) and not set(ES_WORDS) & set(src_v)
    row = data.train.src_text.index("Zebra!")
    assert data.train.src[row, :3].tolist() == [src_v.unk, src_v["!"], src_v.eos]
    assert data.train.tgt[row, :4].tolist() == [tgt_v["¡"], tgt_v.unk, tgt_v["!"], tgt_v.eos]
    assert data.num_steps == 16 and data.train.src.shape == (303, 16)
    assert int(data.train.src_valid_len.max()) == 16  # 15 tokens + <eos>, not cut


def test_tensors_match_the_raw_sentences(tmp_path):
    data = load_translation_data(path=_corpus(tmp_path), max_words=8, num_steps=10,
                                 batch_size=16, seed=3)
    for part in (data.train, data.valid, data.test):
        assert len(part.src_text) == len(part.tgt_text) == len(part) > 0
        for k in range(len(part)):
            for x, valid, text, vocab in (
                (part.src, part.src_valid_len, part.src_text, data.src_vocab),
                (part.tgt, part.tgt_valid_len, part.tgt_text, data.tgt_vocab),
            ):
                tokens = tokenize([text[k]])[0]
                n = int(valid[k])
                assert n == len(tokens) + 1 <= 9
                assert x[k, :n].tolist() == vocab.to_indices(tokens) + [vocab.eos]
                assert (x[k, n:] == vocab.pad).all()
    assert data.test.tgt_text[0][0].isupper()  # raw: case and punctuation kept for BLEU


def test_batches_cover_each_training_pair_once(tmp_path):
    data = load_translation_data(path=_corpus(tmp_path), batch_size=32, seed=1)
    batches = data.batches("train")
    seen = []
    for src, src_len, tgt, tgt_len in batches:
        assert src.shape[1] == tgt.shape[1] == data.num_steps
        assert src.shape[0] == src_len.shape[0] == tgt.shape[0] == tgt_len.shape[0] <= 32
        seen += [tuple(r) for r in src.tolist()]
    assert sorted(seen) == sorted(tuple(r) for r in data.train.src.tolist())
    first = [b[0] for b in data.batches("train")]
    again = [b[0] for b in load_translation_data(path=_corpus(tmp_path), batch_size=32,
                                                 seed=1).batches("train")]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    test_order = torch.cat([b[2] for b in data.batches("test")])
    assert torch.equal(test_order, data.test.tgt)  # evaluation splits are not shuffled


def test_split_is_deterministic_disjoint_and_stable(tmp_path):
    path = _corpus(tmp_path)
    a = load_translation_data(path=path, seed=0)
    b = load_translation_data(path=path, seed=7)  # another training seed: same splits
    keys = [set(getattr(a, s).keys) for s in ("train", "valid", "test")]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    for s in ("train", "valid", "test"):
        assert getattr(a, s).keys == getattr(b, s).keys
        assert torch.equal(getattr(a, s).tgt, getattr(b, s).tgt)
    assert a.src_vocab == b.src_vocab and a.tgt_vocab == b.tgt_vocab
    shorter = load_translation_data(path=path, max_words=4)  # filtering never moves a pair
    assert set(shorter.test.keys) <= keys[2] and set(shorter.train.keys) <= keys[0]
    other = load_translation_data(path=path, split_seed=1)
    assert set(other.test.keys) != keys[2]


def test_split_of_fractions():
    counts = {"train": 0, "valid": 0, "test": 0}
    for i in range(20000):
        counts[split_of(f"Book {i // 30 + 1}:{i % 30 + 1}")] += 1
    assert abs(counts["train"] / 20000 - 0.90) < 0.01
    assert abs(counts["valid"] / 20000 - 0.05) < 0.005
    assert abs(counts["test"] / 20000 - 0.05) < 0.005
    assert split_of("x", fractions=(1.0, 0.0, 0.0)) == "train"
    assert split_of("x", fractions=(0.0, 0.0, 1.0)) == "test"


def test_bible_pipeline_end_to_end(fake_bible):
    data = load_translation_data(max_words=None, num_steps=12, min_freq=1, batch_size=4,
                                 fractions=(0.5, 0.25, 0.25))
    keys = data.train.keys + data.valid.keys + data.test.keys
    assert sorted(keys) == sorted(ALIGNED) and data.name == "bible-en-es"
    assert data.num_steps == 12 and data.train.src.shape[1] == 12
    assert (data.train.src_valid_len <= 12).all()  # long verses are cut (and lose <eos>)
    k = keys.index("John 11:35")
    part = [data.train, data.valid, data.test][(k >= len(data.train))
                                               + (k >= len(data.train) + len(data.valid))]
    j = part.keys.index("John 11:35")
    assert (part.src_text[j], part.tgt_text[j]) == ("Jesus wept.", "Y lloró Jesús.")
    assert data.tgt_vocab.to_tokens(part.tgt[j, :5].tolist()) == ["y", "lloró", "jesús", ".",
                                                                  "<eos>"]
    # the vocabularies come from the training split only
    def words(texts):
        return {w for tokens in tokenize(texts) for w in tokens}

    for side, vocab in (("src_text", data.src_vocab), ("tgt_text", data.tgt_vocab)):
        held_out = words(getattr(data.test, side)) - words(getattr(data.train, side))
        assert held_out and not held_out & set(vocab)
    rev = load_translation_data(max_words=None, min_freq=1, reverse=True)
    assert "jesús" in rev.src_vocab and "wept" in rev.tgt_vocab


def test_load_translation_data_argument_errors(tmp_path):
    path = _corpus(tmp_path, n=20)
    with pytest.raises(UnknownNameError, match="'tatoeba'"):
        load_translation_data(name="tatoeba")
    with pytest.raises(ConfigError, match="fractions"):
        load_translation_data(path=path, fractions=(0.9, 0.2, 0.1))
    with pytest.raises(ConfigError, match="max_words"):
        load_translation_data(path=path, max_words=0)
    with pytest.raises(ConfigError, match="no training pairs"):
        load_translation_data(path=path, fractions=(0.0, 0.0, 1.0))


def test_docstring_examples_run():
    result = doctest.testmod(parallel, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 8


# ---- fixtures: real mod2imp output (see the module docstring) ----------------------------------
WEB_IMP = '''\
$$$[ Module Heading ]

$$$[ Testament 1 Heading ]
<milestone type="x-importer" subType="x-osis2mod" n="$Rev: 3769 $ (SWORD: 1.9.0)"/>
$$$Genesis 1:0
<chapter n="1" osisID="Gen.1" sID="Gen.1"/>
$$$Genesis 1:1
<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> <w lemma="strong:H7225">beginning\
</w>, <w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 </\
reference>The Hebrew word rendered “God” is “אֱלֹהִ֑ים” (Elohim).</note><w lemma="strong:H1254">\
created</w> <w lemma="strong:H0853">the</w> <w lemma="strong:H8064">heavens</w> <w lemma="strong\
:H0430">and</w> <w lemma="strong:H0853">the</w> <w lemma="strong:H0776">earth</w>.
$$$Genesis 1:3
<div type="x-milestone" subType="x-preverse" sID="pv1"/><div sID="gen26" type="x-p"/><div type="\
x-milestone" subType="x-preverse" eID="pv1"/><w lemma="strong:H0430">God</w> <w lemma="strong:H0\
559">said</w>, “<w lemma="strong:H1961">Let</w> <w lemma="strong:H1961">there</w> <w lemma="stro\
ng:H1961">be</w> <w lemma="strong:H0216">light</w>,” <w lemma="strong:H0430">and</w> <w lemma="s\
trong:H1961">there</w> <w lemma="strong:H1961">was</w> <w lemma="strong:H0216">light</w>.
$$$Numbers 12:16
<w lemma="strong:H0310">Afterward</w> <w lemma="strong:H0310">the</w> <w lemma="strong:H5971">pe\
ople</w> <w lemma="strong:H5265">traveled</w> <w lemma="strong:H5265">from</w> <w lemma="strong:\
H2698">Hazeroth</w>, <w lemma="strong:H5265">and</w> <w lemma="strong:H2583">encamped</w> <w lem\
ma="strong:H2583">in</w> <w lemma="strong:H0310">the</w> <w lemma="strong:H4057">wilderness</w\
> <w lemma="strong:H0310">of</w> <w lemma="strong:H6290">Paran</w>.  <chapter eID="Num.12"/><di\
v eID="gen1617" type="x-p"/>
$$$Deuteronomy 5:18
<div type="x-milestone" subType="x-preverse" sID="pv1425"/><div sID="gen2014" type="x-p"/><div t\
ype="x-milestone" subType="x-preverse" eID="pv1425"/>“<w lemma="strong:H3808">You</w> <w lemma="\
strong:H3808">shall</w> <w lemma="strong:H3808">not</w> <w lemma="strong:H5003">commit</w> <w le\
mma="strong:H5003">adultery</w>. <div eID="gen2014" type="x-p"/>
$$$I Kings 4:22
Solomon’s provision for one day was thirty cors<note placement="foot"><reference type="annotateR\
ef">4:22 </reference>1 cor is the same as a homer, or about 55.9 U. S. gallons (liquid) or 211 l\
iters or 6 bushels</note> of fine flour, sixty measures of meal,
$$$Job 38:39
<div type="x-milestone" subType="x-preverse" sID="pv4764"/><lb type="x-p"/> <l level="1" sID="ge\
n7613"/><div type="x-milestone" subType="x-preverse" eID="pv4764"/>“Can you <w lemma="strong:H66\
79">hunt</w> <w lemma="strong:H4390">the</w> <w lemma="strong:H2964">prey</w> <w lemma="strong:H\
4390">for</w> <w lemma="strong:H4390">the</w> <w lemma="strong:H3833">lioness</w>,<l eID="gen761\
3" level="1"/> <l level="2" sID="gen7614"/>or <w lemma="strong:H4390">satisfy</w> <w lemma="stro\
ng:H4390">the</w> appetite <w lemma="strong:H4390">of</w> <w lemma="strong:H4390">the</w> <w lem\
ma="strong:H3715">young</w> <w lemma="strong:H3715">lions</w>, <l eID="gen7614" level="2"/>
$$$Psalms 3:1
<div type="x-milestone" subType="x-preverse" sID="pv4877"/><title canonical="true" type="psalm">\
A Psalm by David, when he fled from Absalom his son.</title> <lg sID="gen7860"/> <l level="1" sI\
D="gen7861"/><div type="x-milestone" subType="x-preverse" eID="pv4877"/>Yahweh, how <w lemma="st\
rong:H1732">my</w> adversaries <w lemma="strong:H1121">have</w> increased!<l eID="gen7861" level\
="1"/> <l level="2" sID="gen7862"/>Many <w lemma="strong:H1121">are</w> <w lemma="strong:H1121">\
those</w> <w lemma="strong:H1121">who</w> rise <w lemma="strong:H1121">up</w> <w lemma="strong:H\
6440">against</w> <w lemma="strong:H6440">me</w>. <l eID="gen7862" level="2"/>
$$$Song of Solomon 7:10
<div type="x-milestone" subType="x-preverse" sID="pv8334"/><speaker>Beloved</speaker> <lg sID="g\
en15950"/> <l level="1" sID="gen15951"/><div type="x-milestone" subType="x-preverse" eID="pv8334\
"/>I <w lemma="strong:H1980">am</w> <w lemma="strong:H1980">my</w> <w lemma="strong:H1730">belov\
ed’s</w>.<l eID="gen15951" level="1"/> <l level="2" sID="gen15952"/><w lemma="strong:H1980">His<\
/w> desire <w lemma="strong:H2896">is</w> <w lemma="strong:H1980">toward</w> <w lemma="strong:H1\
980">me</w>. <l eID="gen15952" level="2"/>
$$$Zechariah 8:1
<w lemma="strong:H0559">The</w> <w lemma="strong:H1697">word</w> <w lemma="strong:H3068">of</w\
> <w lemma="strong:H3068">Yahweh</w> <w lemma="strong:H3068">of</w> <w lemma="strong:H6635">Armi\
es</w> <w lemma="strong:H1961">came</w> <w lemma="strong:H0559">to</w> <w lemma="strong:H1961">m\
e</w>.
$$$II Esdras 14:7
Now I say to you:
$$$Luke 11:3
<div type="x-milestone" subType="x-preverse" sID="pv14599"/><l level="1" sID="gen32672"/> <div t\
ype="x-milestone" subType="x-preverse" eID="pv14599"/> <q marker="" who="Jesus"><w lemma="strong\
:G1325">Give</w> <w lemma="strong:G1325">us</w> <w lemma="strong:G2250">day</w> <w lemma="strong\
:G2596">by</w> <w lemma="strong:G2250">day</w> <w lemma="strong:G2596">our</w> <w lemma="strong:\
G1967">daily</w> <w lemma="strong:G0740">bread</w>.</q>  <l eID="gen32672" level="1"/>
$$$Luke 12:59
<q marker="" who="Jesus"><w lemma="strong:G2532">I</w> <w lemma="strong:G3004">tell</w> <w lemma\
="strong:G4771">you</w>, <w lemma="strong:G4771">you</w> <w lemma="strong:G2532">will</w> <w lem\
ma="strong:G3004">by</w> <w lemma="strong:G3756">no</w> <w lemma="strong:G3004">means</w> <w lem\
ma="strong:G1831">get</w> <w lemma="strong:G1831">out</w> <w lemma="strong:G3004">of</w> <w lemm\
a="strong:G1564">there</w> <w lemma="strong:G2193">until</w> <w lemma="strong:G4771">you</w> <\
w lemma="strong:G2532">have</w> <w lemma="strong:G0591">paid</w> <w lemma="strong:G3588">the</w\
> <w lemma="strong:G2532">very</w> <w lemma="strong:G2078">last</w> penny.</q> <note placement="\
foot"><reference type="annotateRef">12:59 </reference>literally, lepton. A lepton is a very smal\
l brass Jewish coin worth half a Roman quadrans each, which is worth a quarter of the copper ass\
arion. Lepta are worth less than 1% of an agricultural worker’s daily wages.</note> <q marker="\
" who="Jesus">”</q>  <chapter eID="Luke.12"/> <div eID="gen32811" type="x-p"/>
$$$John 11:35
<div type="x-milestone" subType="x-preverse" sID="pv14990"/><div sID="gen33819" type="x-p"/><di\
v type="x-milestone" subType="x-preverse" eID="pv14990"/><w lemma="strong:G2424">Jesus</w> <w le\
mma="strong:G1145">wept</w>. <div eID="gen33819" type="x-p"/>
$$$John 18:6
<w lemma="strong:G5613">When</w> <w lemma="strong:G3767">therefore</w> <w lemma="strong:G2532">h\
e</w> <w lemma="strong:G3004">said</w> <w lemma="strong:G1519">to</w> <w lemma="strong:G0846">th\
em</w>, <q marker="" who="Jesus">“<w lemma="strong:G1473">I</w> <w lemma="strong:G1510">am</w> <\
w lemma="strong:G2532">he</w>,”</q><w lemma="strong:G0846">they</w> <w lemma="strong:G0565">went\
</w> backward <w lemma="strong:G2532">and</w> <w lemma="strong:G4098">fell</w> <w lemma="strong:\
G1519">to</w> <w lemma="strong:G3588">the</w> <w lemma="strong:G5476">ground</w>. <div eID="gen3\
4071" type="x-p"/>
$$$Acts 15:34
<note placement="foot"><reference type="annotateRef">15:34 </reference>Some manuscripts add: <rd\
g type="alternate">But it seemed good to Silas to stay there. </rdg></note>
$$$Romans 16:26

$$$Hebrews 6:3
<w lemma="strong:G3778">This</w> <w lemma="strong:G2316">will</w> <w lemma="strong:G1437">we</w\
> <w lemma="strong:G4160">do</w>, <w lemma="strong:G1437">if</w> <w lemma="strong:G2316">God</w\
> <w lemma="strong:G2010">permits</w>.
$$$Revelation of John 22:21
<div type="x-milestone" subType="x-preverse" sID="pv16039"/><div sID="gen35836" type="x-p"/><di\
v type="x-milestone" subType="x-preverse" eID="pv16039"/><w lemma="strong:G3956">The</w> <w lemm\
a="strong:G5485">grace</w> <w lemma="strong:G5485">of</w> <w lemma="strong:G3956">the</w> <w lem\
ma="strong:G2962">Lord</w> <w lemma="strong:G2424">Jesus</w> <w lemma="strong:G2962">Christ</w\
> <w lemma="strong:G3956">be</w> <w lemma="strong:G3326">with</w> <w lemma="strong:G3956">all</w\
> <w lemma="strong:G3956">the</w> saints. Amen.  <chapter eID="Rev.22"/><div eID="gen35836" type\
="x-p"/> <div canonical="true" eID="gen35575" osisID="Rev" type="book"/> <div sID="gen35837" typ\
e="glossary"/> <milestone n="Glossary" type="x-usfm-h"/> <milestone n="World English Bible Gloss\
ary" type="x-usfm-toc1"/> <milestone n="Glossary" type="x-usfm-toc2"/> <milestone n="Glo" type="\
x-usfm-toc3"/> <title level="1" type="main">World English Bible Glossary</title> <div sID="gen35\
838" type="introduction"/> <div sID="gen35839" type="x-p"/> The following words used in the Worl\
d English Bible (WEB) are not very common, either because they refer to ancient weights, measure\
s, or money, or because they are in some way unique to the Bible.<div eID="gen35839" type="x-p"/\
> <list> <item subType="x-introduction" type="x-indent-1"><seg type="keyword">Abaddon</seg> Abad\
don is Hebrew for destruction.</item> <item subType="x-introduction" type="x-indent-1"><seg type\
="keyword">Abba</seg> Abba is a Chaldee word for father, used in a respectful, affectionate, an\
d familiar way, like papa, dad, or daddy. Often used in prayer to refer to our Father in Heaven.\
</item> </list>
'''

RV_IMP = '''\
$$$[ Module Heading ]

$$$[ Testament 1 Heading ]
<milestone type="x-importer" subType="x-osis2mod" n="$Rev: 3769 $ (SWORD: 1.9.0)"/>
$$$Genesis 1:0
<chapter n="1" osisID="Gen.1" sID="Gen.1"/>
$$$Genesis 1:1
<w lemma="strong:H7225">EN el principio</w> <w lemma="strong:H1254">crió</w> <w lemma="strong:H0\
430">Dios</w> <w lemma="strong:H8064">los cielos</w> <w lemma="strong:H0776">y la tierra</w>.
$$$Genesis 1:3
<w lemma="strong:H0559">Y dijo</w> <w lemma="strong:H0430">Dios</w>: <w lemma="strong:H1961">Sea\
</w> <w lemma="strong:H0216">la luz</w>: <w lemma="strong:H1961">y fué</w> <w lemma="strong:H021\
6">la luz</w>.
$$$Numbers 12:16
<chapter eID="Num.12"/><div eID="gen134" type="x-p"/>
$$$Deuteronomy 5:18
<w lemma="strong:H3808">No</w> <w lemma="strong:H5003">adulterarás</w>.
$$$I Kings 4:22
<w lemma="strong:H8010">Y la despensa de Salomón</w> <w lemma="strong:H1961">era</w> <w lemma="s\
trong:H0259">cada</w> <w lemma="strong:H3117">día</w> <w lemma="strong:H7970">treinta</w> <w lem\
ma="strong:H3564">coros</w> <w lemma="strong:H5560">de flor de harina</w>, <w lemma="strong:H834\
6">y sesenta</w> <w lemma="strong:H3564">coros</w> <w lemma="strong:H7058">de harina</w>.
$$$Job 38:39

$$$Psalms 3:1
<w lemma="strong:H4210">Salmo</w> <w lemma="strong:H1732">de David</w>, <w lemma="strong:H1272">\
cuando huía</w> <w lemma="strong:H6440">de delante</w> <w lemma="strong:H0053">de Absalom</w> <\
w lemma="strong:H1121">su hijo</w>. ¡<w lemma="strong:H1121">OH</w> <w lemma="strong:H3068">Jeho\
vá</w>, <w lemma="strong:H4100">cuánto se</w> <w lemma="strong:H7231">han multiplicado</w> <w le\
mma="strong:H6862">mis enemigos</w>! <w lemma="strong:H7227">muchos</w> <w lemma="strong:H4100">\
se</w> <w lemma="strong:H6965">levantan</w> <w lemma="strong:H5921">contra</w> mí.
$$$Song of Solomon 7:10
<w lemma="strong:H0589">Yo</w> <w lemma="strong:H0589">soy de mi</w> <w lemma="strong:H1730">ama\
do</w>, <w lemma="strong:H5921">y conmigo</w> <w lemma="strong:H8669">tiene su contentamiento</w\
>.
$$$Zechariah 8:1
<w lemma="strong:H1961">Y FUÉ</w><transChange type="added">á mí</transChange><w lemma="strong:H1\
697">palabra</w> <w lemma="strong:H3068">de Jehová</w> <w lemma="strong:H6635">de los ejércitos<\
/w>, <w lemma="strong:H0559">diciendo</w>:
$$$Luke 11:3
<w lemma="strong:G3588">El</w> <w lemma="strong:G0740">pan</w> <w lemma="strong:G2257">nuestro</\
w> <w lemma="strong:G1967">de cada día</w>, <w lemma="strong:G1325 G2254">dános</w><transChang\
e type="added">lo</transChange><w lemma="strong:G2596 G2250">hoy</w>.
$$$Luke 12:59
<w lemma="strong:G4671">Te</w> <w lemma="strong:G3004">digo</w> <w lemma="strong:G3756 G3361">qu\
e no</w> <w lemma="strong:G1831">saldrás</w> de allá, <w lemma="strong:G2193">hasta</w> <w lemma\
="strong:G0591">que hayas pagado</w> <w lemma="strong:G2193">hasta</w> <w lemma="strong:G2078">e\
l último</w> <w lemma="strong:G3016">maravedí</w>.  <chapter eID="Luke.12"/><div eID="gen1028" t\
ype="x-p"/>
$$$John 11:35
<w lemma="strong:G1145">Y lloró</w> <w lemma="strong:G2424">Jesús</w>.
$$$John 18:6
<w lemma="strong:G2532">Y</w> <w lemma="strong:G0846">como les</w> <w lemma="strong:G2036">dijo<\
/w>, <w lemma="strong:G1473">Yo</w> <w lemma="strong:G1510">soy</w>, <w lemma="strong:G0565">vol\
vieron</w> <w lemma="strong:G1519 G3694">atrás</w>, <w lemma="strong:G2532">y</w> <w lemma="stro\
ng:G4098">cayeron</w> <w lemma="strong:G5476">en tierra</w>.
$$$Acts 15:34
<w lemma="strong:G1161">Mas</w> <w lemma="strong:G4609">á Silas</w> <w lemma="strong:G1380">pare\
ció</w> <w lemma="strong:G1961">bien el quedarse</w> <w lemma="strong:G0847">allí</w>.
$$$Romans 16:26
<w lemma="strong:G1161">Mas</w> <w lemma="strong:G5319">manifestado</w> <w lemma="strong:G3568">\
ahora</w>, <w lemma="strong:G5037">y</w> <w lemma="strong:G1223">por</w> <w lemma="strong:G1124"\
>las Escrituras</w> <w lemma="strong:G4397">de los profetas</w>, <w lemma="strong:G2596">según</\
w> <w lemma="strong:G2003">el mandamiento</w> <w lemma="strong:G3588">del</w> <w lemma="strong:G\
2316">Dios</w> <w lemma="strong:G0166">eterno</w>, <w lemma="strong:G1107">declarado</w> <w lemm\
a="strong:G1519">á</w> <w lemma="strong:G3956">todas</w> <w lemma="strong:G3588">las</w> <w lemm\
a="strong:G1484">gentes</w> <w lemma="strong:G5218">para que obedezcan</w> <w lemma="strong:G410\
2">á la fe</w>;
$$$Hebrews 6:3
<w lemma="strong:G2532">Y</w> <w lemma="strong:G5124">esto</w> <w lemma="strong:G4160">haremos</\
w> <w lemma="strong:G4007">á la verdad</w>, <w lemma="strong:G1437">si</w> <w lemma="strong:G231\
6">Dios</w><transChange type="added">lo</transChange><w lemma="strong:G2010">permitiere</w>.
$$$Revelation of John 22:21
<w lemma="strong:G3588">La</w> <w lemma="strong:G5485">gracia</w> <w lemma="strong:G2257">de nue\
stro</w> <w lemma="strong:G2962">Señor</w> <w lemma="strong:G2424 G5547">Jesucristo</w> <w lemma\
="strong:G3326">sea con</w> <w lemma="strong:G3956">todos</w> <w lemma="strong:G5216">vosotros</\
w>. <w lemma="strong:G0281">Amén</w>.  <chapter eID="Rev.22"/><div eID="gen1256" type="x-p"/> <d\
iv canonical="true" eID="gen1234" osisID="Rev" type="book"/>

'''
