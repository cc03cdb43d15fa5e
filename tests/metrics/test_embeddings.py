"""Word-vector evaluation (E7): hand-computed analogies, and our scores equal gensim's.

gensim is the reference: ``KeyedVectors.evaluate_word_analogies`` (3CosAdd, via
``most_similar``), the same loop with ``most_similar_cosmul`` (3CosMul; gensim's evaluation has
no switch for it, so :func:`gensim_cosmul_sections` runs gensim's loop with it) and
``evaluate_word_pairs``. They run on the same vectors loaded into a ``KeyedVectors``: random
vectors over the analogy set's own words (with case variants and missing words), and the first
words of the pretrained GloVe 6B-50d.

Notes: E7.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from scipy import stats

from deepnotes.data import embedding_eval_path, load_glove
from deepnotes.errors import ConfigError, DataMissingError, UnknownNameError
from deepnotes.metrics import embeddings as E
from deepnotes.text.vectors import WordVectors

QUESTIONS = embedding_eval_path("questions-words")
# gensim's most_similar_cosmul calls its own deprecated init_sims on every question
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")


def as_keyed(wv: WordVectors) -> KeyedVectors:
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.words, wv.vectors.numpy())
    return kv


def gensim_cosmul_sections(kv: KeyedVectors, path, restrict_vocab=300_000) -> list[dict]:
    """gensim 4.4's evaluate_word_analogies loop (case-insensitive) with most_similar_cosmul
    in place of most_similar."""
    ok_vocab = {k.upper(): kv.get_index(k) for k in reversed(kv.index_to_key[:restrict_vocab])}
    sections: list[dict] = []
    for line in open(path, encoding="utf-8"):
        if line.startswith(": "):
            sections.append({"section": line.lstrip(": ").strip(), "correct": [],
                             "incorrect": []})
            continue
        try:
            a, b, c, expected = [w.upper() for w in line.split()]
        except ValueError:
            continue
        if not all(w in ok_vocab for w in (a, b, c, expected)):
            continue
        original, kv.key_to_index = kv.key_to_index, ok_vocab
        sims = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        kv.key_to_index = original
        predicted = None
        for word, _ in sims:
            predicted = word.upper()
            if predicted in ok_vocab and predicted not in {a, b, c}:
                break
        sections[-1]["correct" if predicted == expected else "incorrect"].append(
            (a, b, c, expected))
    return sections


def question_words() -> list[str]:
    words: list[str] = []
    for line in open(QUESTIONS, encoding="utf-8"):
        if not line.startswith(":"):
            words += [w for w in line.split() if w not in words]
    return words


@pytest.fixture(scope="module")
def random_set() -> WordVectors:
    """Random vectors for ~90% of the analogy words (the rest are OOV), plus lower-case
    variants of 60 of them (case folding must take the first), in a shuffled order."""
    rng = np.random.default_rng(0)
    words = [w for w in question_words() if rng.random() < 0.9]
    words += [w.lower() for w in words[:60] if w.lower() not in words]
    rng.shuffle(words)
    return WordVectors(words, torch.from_numpy(
        rng.standard_normal((len(words), 10)).astype(np.float32)))


@pytest.fixture(scope="module")
def glove_small() -> WordVectors:
    return load_glove("6B-50d", max_words=8000)


@pytest.fixture(scope="module")
def few_questions(tmp_path_factory):
    """Every 4th question of each section (all 14 section headers kept): gensim's loop is
    slow."""
    out = tmp_path_factory.mktemp("analogies") / "questions.txt"
    lines, n = [], 0
    for line in open(QUESTIONS, encoding="utf-8"):
        if line.startswith(":") or n % 4 == 0:
            lines.append(line)
        n = 0 if line.startswith(":") else n + 1
    out.write_text("".join(lines), encoding="utf-8")
    return out


def assert_same_sections(ours: E.AnalogyResult, theirs: list[dict]) -> None:
    theirs = [s for s in theirs if s["section"] != "Total accuracy"]
    assert [s.name for s in ours.sections] == [s["section"] for s in theirs]
    for mine, ref in zip(ours.sections, theirs):
        assert mine.correct == ref["correct"], mine.name
        assert mine.incorrect == ref["incorrect"], mine.name
    n_correct = sum(len(s["correct"]) for s in theirs)
    n_total = n_correct + sum(len(s["incorrect"]) for s in theirs)
    assert ours.correct == n_correct and ours.count == n_total
    assert ours.accuracy == (n_correct / n_total if n_total else 0.0)


# ---- cosine and hand-computed analogies -------------------------------------------------------
def test_cosine_similarity_matches_torch_and_is_zero_for_zero_vectors():
    torch.manual_seed(0)
    a, b = torch.randn(4, 7), torch.randn(4, 7)
    assert torch.allclose(E.cosine_similarity(a, b), torch.nn.functional.cosine_similarity(a, b))
    assert torch.allclose(E.cosine_similarity(a, b[0]),
                          torch.nn.functional.cosine_similarity(a, b[:1]))
    assert E.cosine_similarity(torch.zeros(3), torch.ones(3)).item() == 0.0
    with pytest.raises(Exception, match="one length"):
        E.cosine_similarity(torch.ones(3), torch.ones(4))


# a = e1, b = e2, c = e3: 3CosAdd's query is b - a + c = (-1, 1, 1) / sqrt(3)
HAND = WordVectors(["a", "b", "c", "bc", "not-a", "b-only"],
                   torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [-1, 0, 0],
                                 [0, 1, 0.1]]))


def test_3cosadd_by_hand():
    got = E.analogy(HAND, "a", "b", "c", k=3, method="add")
    # cos((0,1,1), (-1,1,1)) = 2/sqrt(6); cos((0,1,.1), .) = 1.1/sqrt(1.01 * 3);
    # cos((-1,0,0), .) = 1/sqrt(3)
    assert [w for w, _ in got] == ["bc", "b-only", "not-a"]
    assert [s for _, s in got] == pytest.approx(
        [2 / math.sqrt(6), 1.1 / math.sqrt(1.01 * 3), 1 / math.sqrt(3)], abs=1e-6)


def test_3cosmul_by_hand_prefers_the_word_opposite_to_a():
    got = E.analogy(HAND, "a", "b", "c", k=2, method="mul")
    # not-a: cos' = (1+0)/2 to b and c, (1-1)/2 = 0 to a: 0.25 / (0 + 0.001) = 250
    # bc: cos' = (1 + 1/sqrt2)/2 to b and c, 1/2 to a: ((1 + 1/sqrt2)/2)^2 / 0.501
    assert [w for w, _ in got] == ["not-a", "bc"]
    assert got[0][1] == pytest.approx(250.0, rel=1e-5)
    assert got[1][1] == pytest.approx(((1 + 2 ** -0.5) / 2) ** 2 / 0.501, rel=1e-5)
    # gensim's epsilon (1e-6) makes the opposite word win by far more
    assert E.analogy(HAND, "a", "b", "c", method="mul", eps=1e-6)[0][1] == pytest.approx(
        250_000, rel=1e-4)


def test_analogy_leaves_the_question_out_and_checks_its_input():
    assert {w for w, _ in E.analogy(HAND, "a", "b", "c", k=10)} == {"bc", "not-a", "b-only"}
    assert E.analogy(HAND, "a", "b", "c", k=10, restrict_vocab=4) == E.analogy(
        HAND, "a", "b", "c", k=1)
    with pytest.raises(UnknownNameError, match="'d' is not among"):
        E.analogy(HAND, "a", "b", "d")
    with pytest.raises(ConfigError, match="'add' \\(3CosAdd\\) or 'mul'"):
        E.analogy(HAND, "a", "b", "c", method="sum")
    with pytest.raises(ConfigError, match="k must be"):
        E.analogy(HAND, "a", "b", "c", k=0)


def test_analogy_equals_gensims_most_similar_and_cosmul(random_set):
    kv = as_keyed(random_set)
    for a, b, c in [("Athens", "Greece", "Baghdad"), ("boy", "girl", "brother"),
                    ("good", "better", "bad")]:
        ours = E.analogy(random_set, a, b, c, k=5)
        theirs = kv.most_similar(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)
        ours = E.analogy(random_set, a, b, c, k=5, method="mul", eps=1e-6)
        theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-4)


def test_nearest_neighbors_is_most_similar():
    assert E.nearest_neighbors(HAND, "bc", k=2) == HAND.most_similar("bc", k=2)


# ---- analogy accuracy: equal to gensim ------------------------------------------------------
def test_3cosadd_accuracy_equals_gensims_on_random_vectors(random_set):
    ours = E.evaluate_analogies(random_set, QUESTIONS)
    _, theirs = as_keyed(random_set).evaluate_word_analogies(str(QUESTIONS))
    assert_same_sections(ours, theirs)
    assert ours.questions == 19544 and ours.oov > 0
    assert ours.count + ours.oov == ours.questions
    assert 0 < ours.correct


def test_3cosmul_accuracy_equals_gensims_cosmul_on_random_vectors(random_set):
    ours = E.evaluate_analogies(random_set, QUESTIONS, method="mul", eps=1e-6)
    assert_same_sections(ours, gensim_cosmul_sections(as_keyed(random_set), QUESTIONS))


def test_restrict_vocab_and_case_sensitivity_follow_gensim(random_set, few_questions):
    kv = as_keyed(random_set)
    for restrict, case_insensitive in [(300, True), (len(random_set), False)]:
        ours = E.evaluate_analogies(random_set, few_questions, restrict_vocab=restrict,
                                    case_insensitive=case_insensitive)
        _, theirs = kv.evaluate_word_analogies(str(few_questions), restrict_vocab=restrict,
                                               case_insensitive=case_insensitive)
        assert_same_sections(ours, theirs)


def test_accuracy_equals_gensims_on_glove(glove_small, few_questions):
    kv = as_keyed(glove_small)
    ours = E.evaluate_analogies(glove_small, few_questions)
    score, theirs = kv.evaluate_word_analogies(str(few_questions))
    assert_same_sections(ours, theirs)
    assert ours.accuracy == score and ours.accuracy > 0.4  # real vectors answer many
    ours = E.evaluate_analogies(glove_small, few_questions, method="mul", eps=1e-6)
    assert_same_sections(ours, gensim_cosmul_sections(kv, few_questions))


def test_analogy_result_counts_and_summary(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(": first\na b c bc\nA B C NOT-A\nbad line\n\na b zzz c\n: empty\n"
                    ": second\nb c bc a\n", encoding="utf-8")
    result = E.evaluate_analogies(HAND, path)
    assert [s.name for s in result.sections] == ["first", "empty", "second"]
    first, empty, second = result.sections
    assert first.correct == [("A", "B", "C", "BC")] and first.incorrect == [
        ("A", "B", "C", "NOT-A")]
    assert (empty.count, empty.accuracy) == (0, 0.0)
    assert (result.questions, result.oov, result.count) == (4, 1, 3)
    assert result.oov_ratio == 25.0
    summary = result.summary()
    assert summary["sections"]["first"] == {"accuracy": 0.5, "correct": 1, "count": 2}
    assert summary["method"] == "add" and summary["accuracy"] == result.correct / 3
    # 3CosMul answers "not-a" (see the hand example)
    mul = E.evaluate_analogies(HAND, path, method="mul")
    assert mul.sections[0].correct == [("A", "B", "C", "NOT-A")]


def test_analogy_file_errors(tmp_path):
    with pytest.raises(DataMissingError, match="no analogy file"):
        E.evaluate_analogies(HAND, tmp_path / "none.txt")
    (tmp_path / "q.txt").write_text("a b c d\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 1 comes before any ': section' line"):
        E.evaluate_analogies(HAND, tmp_path / "q.txt")
    with pytest.raises(ConfigError, match="unknown analogy method"):
        E.evaluate_analogies(HAND, QUESTIONS, method="cos")


# ---- word pairs: equal to gensim --------------------------------------------------------------
def test_ranks_spearman_and_pearson_equal_scipys():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 40).astype(float).tolist()  # many ties
    y = (np.array(x) + rng.standard_normal(40)).tolist()
    assert E.average_ranks(x) == stats.rankdata(x).tolist()
    assert E.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-14)
    assert E.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-14)
    assert math.isnan(E.pearson([1.0, 1.0], [1.0, 2.0]))
    with pytest.raises(ConfigError, match="equally long"):
        E.pearson([1.0], [2.0])


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_word_pair_scores_equal_gensims(name, random_set, glove_small):
    path = embedding_eval_path(name)
    pair_words = sorted({w for line in open(path, encoding="utf-8") if not line.startswith("#")
                         for w in line.split("\t")[:2]})
    rng = np.random.default_rng(1)
    words = [w for w in pair_words if rng.random() < 0.85]
    mostly_known = WordVectors(words, torch.from_numpy(
        rng.standard_normal((len(words), 8)).astype(np.float32)))
    for wv in (mostly_known, random_set, glove_small):
        ours = E.evaluate_word_pairs(wv, path)
        pearson, spearman, oov_ratio = as_keyed(wv).evaluate_word_pairs(str(path))
        assert ours.spearman == pytest.approx(spearman[0], abs=1e-12)
        assert ours.pearson == pytest.approx(pearson[0], abs=1e-6)
        assert ours.oov_ratio == oov_ratio
    assert E.evaluate_word_pairs(glove_small, path).spearman > 0.2  # real vectors correlate


def test_word_pairs_counts_case_and_errors(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("# comment\na\tb\t1.0\nB\tbc\t3\nb\tb-only\t2.5\nmalformed line\n"
                    "a\tzzz\t4\nbc\tnot-a\tnot a number\n", encoding="utf-8")
    result = E.evaluate_word_pairs(HAND, path)
    assert (result.pairs, result.oov) == (3, 1) and result.oov_ratio == 25.0
    # gold 1, 3, 2.5 has ranks (1, 3, 2); the cosines 0, 1/sqrt(2), 1/sqrt(1.01) have (1, 2, 3):
    # rho = 1 - 6 * (0 + 1 + 1) / (3 * (9 - 1)) = 0.5
    assert result.spearman == pytest.approx(0.5, abs=1e-12)
    assert result.pearson == pytest.approx(stats.pearsonr([1, 3, 2.5],
                                                          [0, 2 ** -0.5, 1.01 ** -0.5])[0])
    assert set(result.summary()) == {"spearman", "pearson", "oov_ratio", "pairs", "oov"}
    sensitive = E.evaluate_word_pairs(HAND, path, case_insensitive=False)
    assert (sensitive.pairs, sensitive.oov) == (2, 2)
    (tmp_path / "none.tsv").write_text("# nothing\nzzz\tyyy\t1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no pair of"):
        E.evaluate_word_pairs(HAND, tmp_path / "none.tsv")
    with pytest.raises(DataMissingError, match="no word-pair file"):
        E.evaluate_word_pairs(HAND, tmp_path / "missing.tsv")


def test_docstring_examples():
    import doctest

    result = doctest.testmod(E)
    assert result.attempted >= 5 and result.failed == 0
