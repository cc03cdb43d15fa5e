"""Text corpora: parsers on fixture text in the exact format of Rscript, mod2imp and fortune files.

No test runs R or mod2imp or reads /usr/share: the command runner and the tool lookup are
replaced, and fortune folders are written to tmp_path. Notes: R1.
"""

from __future__ import annotations

import pytest

from deepnotes import data
from deepnotes.data import corpora
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError

# what `Rscript -e <corpora._AUSTEN_R>` prints: book <TAB> line, blank lines kept
AUSTEN_TSV = (
    "Sense & Sensibility\tSENSE AND SENSIBILITY\n"
    "Sense & Sensibility\t\n"
    "Sense & Sensibility\tby Jane Austen\n"
    "Pride & Prejudice\tIt is a truth universally acknowledged, that a single man in possession\n"
    "Pride & Prejudice\tof a good fortune, must be in want of a wife.\n"
    "Persuasion\tfive thousand pounds, \u00a3 ready.\n"
)

# mod2imp engWEB2015eb / engKJV2006eb output (real lines, trimmed)
WEB_IMP = """$$$[ Module Heading ]

$$$[ Testament 1 Heading ]
<milestone type="x-importer" subType="x-osis2mod" n="$Rev: 3769 $ (SWORD: 1.9.0)"/>
$$$Genesis 0:0
<div sID="gen2" type="front"/> <title level="1" type="main">Preface to the World English Bible</tit\
le> The Holy Bible is a collection of books.
$$$Genesis 1:0
<chapter n="1" osisID="Gen.1" sID="Gen.1"/>
$$$Genesis 1:1
<w lemma="strong:H0430">In</w> <w lemma="strong:H0853">the</w> <w lemma="strong:H7225">beginning</w\
>, <w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 </refere\
nce>The Hebrew word rendered \u201cGod\u201d is \u201c\u05d0\u05b1\u05dc\u05b9\u05d4\u05b4\u0591\
\u05d9\u05dd\u201d (Elohim).</note><w lemma="strong:H1254">created</w> <w lemma="strong:H0853">the<\
/w> <w lemma="strong:H8064">heavens</w> <w lemma="strong:H0430">and</w> <w lemma="strong:H0853">the\
</w> <w lemma="strong:H0776">earth</w>.
$$$Genesis 1:3
<div type="x-milestone" subType="x-preverse" sID="pv1"/><div sID="gen26" type="x-p"/><div type="x-m\
ilestone" subType="x-preverse" eID="pv1"/><w lemma="strong:H0430">God</w> <w lemma="strong:H0559">s\
aid</w>, \u201c<w lemma="strong:H1961">Let</w> <w lemma="strong:H1961">there</w> <w lemma="strong:H\
1961">be</w> <w lemma="strong:H0216">light</w>,\u201d <w lemma="strong:H0430">and</w> <w lemma="str\
ong:H1961">there</w> <w lemma="strong:H1961">was</w> <w lemma="strong:H0216">light</w>.
$$$Psalms 3:1
<div type="x-milestone" subType="x-preverse" sID="pv4877"/><title canonical="true" type="psalm">A P\
salm by David, when he fled from Absalom his son.</title> <lg sID="gen7860"/> <l level="1" sID="gen\
7861"/><div type="x-milestone" subType="x-preverse" eID="pv4877"/>Yahweh, how <w lemma="strong:H173\
2">my</w> adversaries <w lemma="strong:H1121">have</w> increased!<l eID="gen7861" level="1"/> <l le\
vel="2" sID="gen7862"/>Many <w lemma="strong:H1121">are</w> those.<l eID="gen7862" level="2"/>
$$$Song of Solomon 1:5
<lg eID="gen15617"/> <speaker>Beloved</speaker> <l level="1" sID="gen15631"/><w lemma="strong:H0589\
">I</w> <w lemma="strong:H0589">am</w> <w lemma="strong:H0168">dark</w>, <w lemma="strong:H7838">bu\
t</w> <w lemma="strong:H5000">lovely</w>,<l eID="gen15631" level="1"/> <l level="2" sID="gen15632"/\
>you <w lemma="strong:H1323">daughters</w>.<l eID="gen15632" level="2"/>
$$$Esther (Greek) 5:14
for my danger is near at hand<note placement="foot"><reference type="annotateRef">4:32 </reference>\
<seg type="x-usfm-fl">Greek </seg>in my hand. </note>. <div type="x-milestone" subType="x-preverse"\
 sID="pv3846"/><div sID="gen5611" type="x-p"/>Then Zeresh spoke.
$$$Matthew 17:21
<div type="x-milestone" subType="x-preverse" sID="pv9"/>
$$$Revelation of John 22:21
<div type="x-milestone" subType="x-preverse" sID="pv16039"/><div sID="gen35836" type="x-p"/><div ty\
pe="x-milestone" subType="x-preverse" eID="pv16039"/><w lemma="strong:G3956">The</w> <w lemma="stro\
ng:G5485">grace</w> be with all the saints. Amen.  <chapter eID="Rev.22"/><div eID="gen35836" type=\
"x-p"/> <div canonical="true" eID="gen35575" osisID="Rev" type="book"/> <div sID="gen35837" type="g\
lossary"/> <milestone n="Glossary" type="x-usfm-h"/> <title level="1" type="main">World English Bib\
le Glossary</title> <list> <item subType="x-introduction" type="x-indent-1"><seg type="keyword">Aba\
ddon</seg> Abaddon is Hebrew for destruction.</item>
"""

KJV_IMP = """$$$Genesis 1:3
<div type="x-milestone" subType="x-preverse" sID="pv1"/><div sID="gen4" type="x-p"/> <div type="x-m\
ilestone" subType="x-preverse" eID="pv1"/>And <w lemma="strong:H0430">God</w> <w lemma="strong:H055\
9">said</w>, Let there <w lemma="strong:H1961">be</w> <w lemma="strong:H0216">light</w>: and there \
was <w lemma="strong:H0216">light</w>.
$$$Genesis 1:4
\u00b6 And <w lemma="strong:H0430">God</w> <w lemma="strong:H7200">saw</w> the <w lemma="strong:H02\
16">light</w>, <w lemma="strong:H3588">that</w> <transChange type="added">it was</transChange> <w l\
emma="strong:H2896">good</w>: and <divineName>LORD</divineName> <w lemma="strong:H0914">divided</w>\
 the <w lemma="strong:H0216">light</w>.<note placement="foot"><reference type="annotateRef">1.4 </r\
eference>the light from\u2026: Heb. between the light and between the darkness</note>
"""

# a fortune file: entries split by lines holding "%", tabs, colour codes and overstrikes
FORTUNE_SCIENCE = "E = mc^2\n\t-- Einstein\n%\nThe \x1b[33mspeed\x1b[m of light.\n%\nB\bBold\n%\n"
FORTUNE_LAW = "Law 1.\n%\nLaw 2,\nsecond line.\n"
TANG = ("\x1b[32m\u300a\u9759\u591c\u601d\u300b\x1b[m\n"
        "\x1b[33m\u4f5c\u8005\uff1a\u674e\u767d\x1b[m\n"
        "\u5e8a\u524d\u660e\u6708\u5149\uff0c\n%\n\x1b[32m\u300a\u6625\u6653\u300b\x1b[m\n\u6625\u7720\n%\n")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty data folder, so no cached real corpus is read."""
    monkeypatch.setenv("DEEPNOTES_DATA", str(tmp_path / "data"))
    return tmp_path / "data" / "corpora"


def _fake_tools(monkeypatch, outputs: dict[str, str], calls: list | None = None):
    monkeypatch.setattr(corpora.shutil, "which", lambda exe: f"/usr/bin/{exe}")

    def run(cmd):
        if calls is not None:
            calls.append(cmd)
        key = cmd[1] if cmd[0] == "mod2imp" else cmd[0]
        if key not in outputs:
            raise RuntimeError(f"{cmd[0]}: Couldn't find module: {key}")
        return outputs[key]

    monkeypatch.setattr(corpora, "_run", run)


def test_parse_imp_keeps_verse_text_only():
    verses = dict(corpora.parse_imp(WEB_IMP))
    assert list(verses) == ["Genesis 1:1", "Genesis 1:3", "Psalms 3:1", "Song of Solomon 1:5",
                            "Esther (Greek) 5:14", "Revelation of John 22:21"]
    # the note is dropped without gluing "God" to "created"
    assert verses["Genesis 1:1"] == "In the beginning, God created the heavens and the earth."
    assert verses["Genesis 1:3"] == "God said, \u201cLet there be light,\u201d and there was light."
    assert verses["Psalms 3:1"] == "Yahweh, how my adversaries have increased! Many are those."
    assert verses["Song of Solomon 1:5"] == "I am dark, but lovely, you daughters."
    assert verses["Esther (Greek) 5:14"] == "for my danger is near at hand. Then Zeresh spoke."
    # the glossary after the last verse is not verse text
    assert verses["Revelation of John 22:21"] == "The grace be with all the saints. Amen."


def test_parse_imp_kjv_paragraph_marks_and_added_words():
    verses = corpora.parse_imp(KJV_IMP)
    assert verses == [
        ("Genesis 1:3", "And God said, Let there be light: and there was light."),
        ("Genesis 1:4", "And God saw the light, that it was good: and LORD divided the light."),
    ]


def test_load_bible_runs_mod2imp_once_and_caches(cache, monkeypatch):
    calls = []
    _fake_tools(monkeypatch, {"engWEB2015eb": WEB_IMP, "engKJV2006eb": KJV_IMP}, calls)
    first = corpora.load_bible("bible-web")
    assert first[0] == ("Genesis 1:1", "In the beginning, God created the heavens and the earth.")
    assert corpora.load_bible("bible-web") == first and len(calls) == 1
    assert (cache / "engWEB2015eb.tsv").is_file()
    assert corpora.load_bible("bible-web", book="Psalms") == [first[2]]
    assert corpora.load_documents("bible-kjv")[1].startswith("And God saw the light")
    text = corpora.load_corpus("bible-web", max_chars=20)
    assert text == "In the beginning, Go"
    with pytest.raises(UnknownNameError, match="Exodus"):
        corpora.load_bible("bible-web", book="Exodus")
    with pytest.raises(UnknownNameError, match="bible-web"):
        corpora.load_bible("bible-xyz")


def test_missing_bible_tools_name_the_apt_command(cache, monkeypatch):
    _fake_tools(monkeypatch, {})
    with pytest.raises(DataMissingError,
                       match="apt-get install -y --no-install-recommends sword-text-kjv"):
        corpora.load_bible("bible-kjv")
    monkeypatch.setattr(corpora.shutil, "which", lambda exe: None)
    with pytest.raises(DataMissingError, match="libsword-utils"):
        corpora.load_corpus("bible-web")


def test_austen_export_parse_cache_and_book_filter(cache, monkeypatch):
    calls = []
    _fake_tools(monkeypatch, {"Rscript": AUSTEN_TSV}, calls)
    rows = corpora.load_austen()
    assert rows[0] == ("Sense & Sensibility", "SENSE AND SENSIBILITY")
    assert rows[1] == ("Sense & Sensibility", "")
    assert calls == [["Rscript", "-e", corpora._AUSTEN_R]]
    assert corpora.load_corpus("austen", book="Pride & Prejudice") == (
        "It is a truth universally acknowledged, that a single man in possession\n"
        "of a good fortune, must be in want of a wife.")
    assert corpora.load_documents("austen", book="Persuasion") == [
        "five thousand pounds, \u00a3 ready."]
    assert len(calls) == 1  # R ran once; the rest came from the cache
    assert (cache / "austen.tsv").read_text(encoding="utf-8") == AUSTEN_TSV
    with pytest.raises(UnknownNameError, match="Pride & Prejudice"):
        corpora.load_austen(book="Dracula")
    with pytest.raises(ConfigError, match="no tab"):
        corpora.parse_austen_tsv("no tab here\n")


def test_austen_missing_r_or_package(cache, monkeypatch):
    _fake_tools(monkeypatch, {})  # Rscript "runs" but fails, as when janeaustenr is missing
    with pytest.raises(DataMissingError, match="r-cran-janeaustenr"):
        corpora.load_corpus("austen")
    monkeypatch.setattr(corpora.shutil, "which", lambda exe: None)
    with pytest.raises(DataMissingError, match="r-cran-janeaustenr"):
        corpora.load_austen()


def test_parse_fortunes_and_strip_ansi():
    assert corpora.parse_fortunes(FORTUNE_SCIENCE) == ["E = mc^2\n\t-- Einstein",
                                                       "The speed of light.", "Bold"]
    assert corpora.parse_fortunes(FORTUNE_LAW) == ["Law 1.", "Law 2,\nsecond line."]
    assert corpora.strip_ansi("\x1b[1;36mhi\x1b[;m \x1b[0;31mthere\x1b[m") == "hi there"


def _fortune_dir(tmp_path):
    root = tmp_path / "fortunes"
    root.mkdir()
    (root / "science").write_text(FORTUNE_SCIENCE, encoding="utf-8")
    (root / "science.dat").write_bytes(b"\x00\x00\x00\x02binary index")
    (root / "science.u8").symlink_to("science")
    (root / "law").write_text(FORTUNE_LAW, encoding="utf-8")
    (root / "tang300").write_text(TANG, encoding="utf-8")
    return root


def test_fortunes_with_categories(tmp_path):
    root = _fortune_dir(tmp_path)
    pairs = corpora.load_fortunes(root=root)
    assert pairs == [("Law 1.", "law"), ("Law 2,\nsecond line.", "law"),
                     ("E = mc^2\n\t-- Einstein", "science"), ("The speed of light.", "science"),
                     ("Bold", "science")]  # no .dat, no .u8 link, no Chinese file
    assert corpora.load_fortunes(categories=["law"], root=root) == pairs[:2]
    assert corpora.load_documents("fortunes", root=root)[2] == "E = mc^2\n\t-- Einstein"
    with pytest.raises(UnknownNameError, match="law, science"):
        corpora.load_fortunes(categories=["poetry"], root=root)
    with pytest.raises(DataMissingError, match="fortunes-min"):
        corpora.load_fortunes(root=tmp_path / "nowhere")


def test_chinese_poems_lose_their_colour_codes(tmp_path):
    root = _fortune_dir(tmp_path)
    poems = corpora.load_documents("tang-poems", root=root)
    assert poems == ["\u300a\u9759\u591c\u601d\u300b\n\u4f5c\u8005\uff1a\u674e\u767d\n"
                     "\u5e8a\u524d\u660e\u6708\u5149\uff0c",
                     "\u300a\u6625\u6653\u300b\n\u6625\u7720"]
    with pytest.raises(DataMissingError, match="fortunes-zh"):
        corpora.load_corpus("fortunes-zh", root=root)


def test_own_text_file_and_errors(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("first line\nsecond line\n", encoding="utf-8")
    assert corpora.load_corpus("file", path=path) == "first line\nsecond line\n"
    assert corpora.load_corpus(str(path), max_chars=5) == "first"
    with pytest.raises(ConfigError, match="path="):
        corpora.load_corpus("file")
    with pytest.raises(DataMissingError, match="no text file"):
        corpora.load_corpus("file", path=tmp_path / "none.txt")
    with pytest.raises(UnknownNameError, match="austen"):
        corpora.load_corpus("austin")
    with pytest.raises(ConfigError, match="max_chars"):
        corpora.load_corpus("file", path=path, max_chars=-1)


def test_d2l_style_chars():
    assert corpora.d2l_style_chars("The Time-Machine, 1895!\nBy H. G. Wells") == (
        "the time machine by h g wells")
    assert corpora.d2l_style_chars("\u00a3 caf\u00e9") == " caf "


def test_status_lists_the_corpora_with_install_commands(cache):
    rows = {r["name"]: r for r in data.status()}
    for name in corpora.CORPORA:
        assert name in rows
        assert set(rows[name]) == {"name", "kind", "summary", "available", "location",
                                   "how_to_get"}
        assert rows[name]["kind"] == "text"
    assert "r-cran-janeaustenr" in rows["austen"]["how_to_get"]
    assert "fortunes-zh" in rows["tang-poems"]["how_to_get"]
