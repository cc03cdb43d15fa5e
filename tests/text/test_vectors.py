"""WordVectors: lookup, cosine neighbours, and the word2vec text format gensim reads and writes.

Notes: E7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from deepnotes.errors import ConfigError, DataMissingError, ShapeError, UnknownNameError
from deepnotes.text.vectors import WordVectors, cosine_scores, suggest_words

WORDS = ["king", "queen", "man", "woman", "apple"]
VECTORS = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0],
                        [0.0, -1.0, 0.0]])


def small() -> WordVectors:
    return WordVectors(WORDS, VECTORS)


def random_vectors(n: int = 300, dim: int = 12, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32)


def test_lookup_index_and_vector():
    wv = small()
    assert wv.words == WORDS and wv.index == {w: i for i, w in enumerate(WORDS)}
    assert len(wv) == 5 and wv.dim == 3 and "queen" in wv and "prince" not in wv
    assert torch.equal(wv.vector("woman"), VECTORS[3])
    assert wv.vectors.dtype == torch.float32
    assert repr(wv) == "WordVectors(5 words, dim 3)"
    # numpy arrays and nested lists are accepted; integers become float32
    assert WordVectors(["a", "b"], np.eye(2, dtype=np.float32)).vectors.dtype == torch.float32
    assert WordVectors(["a"], [[1, 2]]).vectors.dtype == torch.float32
    assert WordVectors(["a"], torch.ones(1, 2, dtype=torch.float64)).vectors.dtype == torch.float64


def test_bad_shapes_and_duplicate_words_are_clear_errors():
    with pytest.raises(ShapeError, match=r"got 2 words but 3 vectors"):
        WordVectors(["a", "b"], torch.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"\(V, D\) matrix, got shape \(3,\)"):
        WordVectors(["a", "b", "c"], torch.zeros(3))
    with pytest.raises(ConfigError, match=r"'b' appears twice \(rows 1 and 2\)"):
        WordVectors(["a", "b", "b"], torch.zeros(3, 2))
    with pytest.raises(ConfigError, match="not a string"):
        WordVectors(["a", 7], torch.zeros(2, 2))


def test_unknown_word_names_close_words():
    wv = small()
    with pytest.raises(UnknownNameError, match=r"'quen' is not among the 5 words.*'queen'"):
        wv.vector("quen")
    with pytest.raises(UnknownNameError, match="did you mean 'king'"):  # the other case
        wv.vector("KING")
    with pytest.raises(UnknownNameError, match="empty"):
        wv.vector("")
    with pytest.raises(UnknownNameError) as err:
        wv.vector("zzzzzz")
    assert "did you mean" not in str(err.value)


def test_suggest_words_prefers_case_then_edits_then_prefixes():
    vocab = ["the", "kingdom", "King", "kings", "kin", "sing", "queen"]
    assert suggest_words("king", vocab) == ["King", "kings", "kin", "sing", "kingdom"]
    assert suggest_words("king", vocab, n=2) == ["King", "kings"]
    assert suggest_words("kingd", ["kingdom", "kingdoms"], max_distance=1) == ["kingdom",
                                                                                "kingdoms"]
    assert suggest_words("", vocab) == []
    assert suggest_words("king", ["x"] * 3 + ["king2"], search=3) == []  # only the first 3


def test_cosine_scores_by_hand():
    scores = cosine_scores(VECTORS, torch.tensor([1.0, 0.0, 1.0]))
    expected = torch.tensor([1.0, 2 / (3 ** 0.5 * 2 ** 0.5), 1 / 2 ** 0.5, 1 / 2, 0.0])
    assert torch.allclose(scores, expected)
    assert cosine_scores(torch.zeros(2, 3), torch.ones(3)).tolist() == [0.0, 0.0]


def test_most_similar_by_hand():
    wv = small()
    got = wv.most_similar("king", k=4)
    assert [w for w, _ in got] == ["queen", "man", "woman", "apple"]  # king itself left out
    assert got[0][1] == pytest.approx(2 / 6 ** 0.5) and got[1][1] == pytest.approx(2 ** -0.5)
    assert got[2][1] == pytest.approx(0.5) and got[3][1] == pytest.approx(0.0)
    assert [w for w, _ in wv.most_similar("king", k=10, exclude=["queen"])] == [
        "man", "woman", "apple"]
    by_vector = wv.most_similar(torch.tensor([0.0, 1.0, 0.0]), k=2)
    assert [w for w, _ in by_vector] == ["woman", "queen"]  # a vector query excludes nothing
    assert [s for _, s in by_vector] == pytest.approx([2 ** -0.5, 3 ** -0.5])
    assert wv.most_similar(torch.zeros(3), k=1)[0][1] == 0.0
    with pytest.raises(ConfigError, match="k must be at least 1"):
        wv.most_similar("king", k=0)
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        wv.most_similar(torch.zeros(4))
    with pytest.raises(UnknownNameError):
        wv.most_similar("prince")
    assert wv.similarity("king", "queen") == pytest.approx(2 / 6 ** 0.5)


def test_changed_vectors_are_seen_by_the_next_search():
    wv = small()
    assert wv.most_similar("man", k=1)[0][1] == pytest.approx(2 ** -0.5)  # king and woman
    wv.vectors[4] = torch.tensor([2.0, 0.1, 0.0])  # in place: apple moves next to man
    assert wv.most_similar("man", k=1)[0][0] == "apple"
    wv.vectors = torch.eye(5, 3)  # replaced: man (row 2) is now e3, like no other row
    assert wv.most_similar("man", k=1)[0][1] == 0.0


def test_most_similar_equals_gensims():
    words, x = random_vectors()
    wv, kv = WordVectors(words, torch.from_numpy(x)), KeyedVectors(x.shape[1])
    kv.add_vectors(words, x)
    for word in ("w0", "w17", "w299"):
        ours, theirs = wv.most_similar(word, k=10), kv.most_similar(word, topn=10)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-6)


def test_save_and_load_word2vec_text_round_trip(tmp_path):
    words = ["a", "Bé", "日本", "x.y", "--"]
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((5, 3)) * 10.0 ** rng.integers(-8, 8, (5, 3))).astype(np.float32)
    path = WordVectors(words, torch.from_numpy(x)).save_word2vec(tmp_path / "sub" / "v.txt")
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "5 3" and lines[1].split(" ")[0] == "a" and len(lines[1].split()) == 4
    back = WordVectors.load_word2vec(path)
    assert back.words == words and np.array_equal(back.vectors.numpy(), x)


def test_gensim_loads_what_we_save(tmp_path):
    words, x = random_vectors(50, 7)
    words[3] = "naïve"
    path = WordVectors(words, torch.from_numpy(x)).save_word2vec(tmp_path / "ours.txt")
    kv = KeyedVectors.load_word2vec_format(str(path))
    assert kv.index_to_key == words and np.array_equal(kv.vectors, x)


def test_we_load_what_gensim_saves(tmp_path):
    words, x = random_vectors(50, 7, seed=3)
    kv = KeyedVectors(7)
    kv.add_vectors(words, x)
    kv.save_word2vec_format(str(tmp_path / "gensim.txt"))
    wv = WordVectors.load_word2vec(tmp_path / "gensim.txt")
    assert wv.words == words and np.array_equal(wv.vectors.numpy(), x)


def test_float64_vectors_are_written_with_17_digits(tmp_path):
    x = torch.tensor([[1 / 3, -2 / 7]], dtype=torch.float64)
    path = WordVectors(["third"], x).save_word2vec(tmp_path / "v.txt")
    assert path.read_text().split("\n")[1] == "third 0.33333333333333331 -0.2857142857142857"


def test_words_the_format_cannot_hold_are_refused(tmp_path):
    for bad in ("new york", "", "tab\there"):
        with pytest.raises(ConfigError, match="whitespace"):
            WordVectors([bad], torch.zeros(1, 2)).save_word2vec(tmp_path / "v.txt")


@pytest.mark.parametrize("text, match", [
    ("", "first line must be 'VOCAB_SIZE DIM'"),
    ("2 x\n", "first line must be"),
    ("2 2\na 1 2\n", "holds 1 words but its header announces 2"),
    ("1 2\na 1 2\nb 3 4\n", "more than the 1 words"),
    ("1 2\na 1\n", "line 2 has 1 numbers, the header says 2"),
    ("1 2\na 1 two\n", "line 2 holds a value that is not a number"),
])
def test_malformed_word2vec_files_name_the_problem(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        WordVectors.load_word2vec(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataMissingError, match="no word-vector file at"):
        WordVectors.load_word2vec(tmp_path / "none.txt")
    (tmp_path / "bin.txt").write_bytes(b"2 2\n\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        WordVectors.load_word2vec(tmp_path / "bin.txt")


def test_trailing_spaces_and_windows_line_ends_are_read(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 2\r\na 1 2 \r\nb 3 4\r\n\r\n")
    wv = WordVectors.load_word2vec(path)
    assert wv.words == ["a", "b"] and wv.vectors.tolist() == [[1, 2], [3, 4]]


def test_docstring_examples():
    import doctest

    import deepnotes.text.vectors as module

    result = doctest.testmod(module)
    assert result.attempted >= 4 and result.failed == 0
