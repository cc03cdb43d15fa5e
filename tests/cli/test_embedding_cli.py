"""`deepnotes neighbors VECTORS WORD` and `deepnotes analogy VECTORS A B C` on saved vectors.

Notes: E7.
"""

from __future__ import annotations

import pytest
import torch

from deepnotes.cli import main
from deepnotes.metrics.embeddings import analogy
from deepnotes.text.vectors import WordVectors

WORDS = ["man", "woman", "king", "queen", "apple", "kingdom"]
VECTORS = torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, -1, 0],
                        [1, 0, 1.2]])


@pytest.fixture
def saved(tmp_path):
    return WordVectors(WORDS, VECTORS).save_word2vec(tmp_path / "vectors.txt")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_neighbors_prints_the_closest_words_with_their_cosines(saved, capsys):
    code, out, err = run(capsys, "neighbors", saved, "king", "-k", "2")
    assert code == 0 and err == ""
    wv = WordVectors.load_word2vec(saved)
    expected = [f"{w:<7}  {s:.4f}" for w, s in wv.most_similar("king", k=2)]
    assert out.splitlines() == ["nearest neighbours of 'king' by cosine similarity (6 words):",
                                *expected]
    assert out.splitlines()[1].startswith("kingdom")


def test_analogy_prints_the_best_answers_of_both_methods(saved, capsys):
    wv = WordVectors.load_word2vec(saved)
    for method, name in (("add", "3CosAdd"), ("mul", "3CosMul")):
        code, out, _ = run(capsys, "analogy", saved, "man", "king", "woman", "-k", "2",
                           "--method", method)
        lines = out.splitlines()
        assert code == 0 and lines[0] == f"man : king :: woman : ?  ({name}; man, king, woman " \
                                         "left out)"
        answers = analogy(wv, "man", "king", "woman", k=2, method=method)
        assert [line.split()[0] for line in lines[1:]] == [w for w, _ in answers]
        assert lines[1].split()[0] == "queen"
        assert float(lines[1].split()[1]) == pytest.approx(answers[0][1], abs=1e-4)


def test_glove_shortcut_uses_the_pretrained_vectors(capsys):
    code, out, _ = run(capsys, "analogy", "glove-6b-50d", "man", "king", "woman", "-k", "1")
    assert code == 0 and out.splitlines()[1].split()[0] == "queen"
    code, out, _ = run(capsys, "neighbors", "GloVe-6B-50d", "paris", "-k", "3")
    assert code == 0 and "(400,000 words)" in out.splitlines()[0]
    # GloVe 6B-50d's own neighbours (prohertrib: a Gigaword token next to Paris datelines)
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["prohertrib", "france",
                                                                  "brussels"]


@pytest.mark.parametrize("argv, message", [
    (["neighbors", "{missing}", "king"], "no word-vector file"),
    (["neighbors", "{folder}", "king"], "is a folder; give a word2vec text file"),
    (["neighbors", "{bad}", "king"], "is not a word2vec text file"),
    (["neighbors", "{saved}", "kign"], "'kign' is not among the 6 words of these vectors; "
                                       "did you mean 'king'"),
    (["neighbors", "{saved}", "kin"], "did you mean 'king', 'man', 'kingdom'?"),
    (["neighbors", "{saved}", ""], "the word is empty"),
    (["neighbors", "{saved}", "king", "-k", "0"], "-k must be at least 1"),
    (["analogy", "{saved}", "man", "king", "womn"], "'womn' is not among"),
    (["analogy", "{saved}", "man", " ", "woman"], "the word is empty"),
    (["analogy", "{saved}", "man", "king", "woman", "-k", "-1"], "-k must be at least 1"),
])
def test_bad_input_gets_one_sentence_and_exit_2(saved, tmp_path, capsys, argv, message):
    (tmp_path / "bad.txt").write_text("not vectors\n", encoding="utf-8")
    paths = {"missing": tmp_path / "none.txt", "folder": tmp_path, "saved": saved,
             "bad": tmp_path / "bad.txt"}
    code, out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("deepnotes: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_method_is_refused_by_the_parser(saved, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["analogy", str(saved), "a", "b", "c", "--method", "sum"])
    assert exit_.value.code == 2 and "invalid choice: 'sum'" in capsys.readouterr().err
