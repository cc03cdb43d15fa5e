"""Word-embedding lessons (E1-E4, E7): quick runs assert each lesson's claim."""

from __future__ import annotations

import math

from deepnotes import lessons
from deepnotes.text.vectors import WordVectors

FAMILY = {"mother", "father", "brother", "daughter", "son", "wife", "husband", "cousin",
          "uncle", "aunt", "niece", "sisters", "friend"}


def test_word2vec_all_four_variants_learn_and_cost_what_the_formulas_say(tmp_path):
    r = lessons.get("word2vec").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    rows = {row["variant"]: row for row in r.tables["variants"]}
    assert set(rows) == {"sg-ns", "cbow-ns", "sg-hs", "cbow-hs"}
    for name, row in rows.items():
        # training lowers the loss, and words seen in one window end up closer than random
        assert row["final_loss"] < 0.95 * row["first_loss"], name
        assert row["window_pair_cosine"] > row["random_pair_cosine"] + 0.01, name
    # cost per pair: K + 1 for negative sampling; the Huffman code length for the hierarchical
    # softmax, which lies within one bit of the unigram entropy (Huffman's bound), near
    # log2 |V| and far below the |V| dot products of a full softmax
    h = m["unigram_entropy_bits"]
    for name in ("sg-ns", "cbow-ns"):
        assert rows[name]["dot_products_per_pair"] == 6
    for name in ("sg-hs", "cbow-hs"):
        dots = rows[name]["dot_products_per_pair"]
        assert h <= dots < h + 1
        assert dots < m["log2_vocab"] < m["full_softmax_dot_products"] / 100
    # neighbours make sense: "sister" sits among family words in every variant
    sister = next(n for n in r.tables["neighbours"] if n["word"] == "sister")
    for name in rows:
        assert FAMILY & set(sister[name].split(", ")), (name, sister[name])
    # skip-gram answers some analogies even on 265k words (chance is ~1 in 4,000)
    assert m["sg-ns_analogy_add"] > 0.01
    # the saved vectors load back
    assert len(WordVectors.load_word2vec(tmp_path / "vectors-sg-ns.txt")) == m["vocab_size"]


def test_glove_fits_log_counts_and_agrees_with_skipgram(tmp_path):
    r = lessons.get("glove").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    assert m["glove_final_loss"] < 0.5 * m["glove_first_loss"]
    # weighted least squares on log X: the fit follows the counts
    assert m["glove_fit_pearson_log_x"] > 0.8
    # most of the V x V matrix is zero and costs nothing
    assert m["matrix_density"] < 0.1
    # w and w~ learn the same thing (symmetric counts)
    assert m["w_vs_context_w_agreement_spearman"] > 0.5
    # count-based and prediction-based spaces agree far beyond chance
    assert m["cosine_agreement_spearman"] > 0.15
    assert m["neighbour_overlap"] > 10 * m["neighbour_overlap_chance"]
    # both answer analogies far above chance (~1 in 4,300; seeds 0-2 gave GloVe 0.012-0.028)
    for name in ("glove", "skipgram"):
        assert m[f"{name}_analogy_add"] > 0.005 and math.isfinite(m[f"{name}_wordsim353"])


def test_fasttext_gives_unseen_words_vectors_where_word2vec_has_none(tmp_path):
    r = lessons.get("fasttext-oov").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    assert m["held_out_words"] >= 30 and m["misspellings"] >= 30
    # the unseen words really are unseen: word2vec has no vector for any of them
    assert m["word2vec_coverage_held_out"] == 0 and m["word2vec_coverage_misspellings"] == 0
    assert all(row["word2vec"] == "no vector" for row in r.tables["inflections"])
    # fastText's n-gram vectors: the stem / right word among the 10 nearest of ~4,000 words
    # far more often than chance (10 / 4,000)
    assert m["inflection_stem_hit10"] > 0.25
    assert m["misspelling_hit10"] > 0.25
    assert m["inflection_cosine_to_stem"] > m["inflection_cosine_to_random_word"] + 0.15


def test_contextual_embeddings_separate_senses_in_the_encoder_not_at_the_input(tmp_path):
    r = lessons.get("contextual-embeddings").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    for word in ("apple", "bank"):
        # at the input (token + position embeddings) the senses are not told apart ...
        assert abs(m[f"{word}_sense_gap_input"]) < 0.02
        # ... after the encoder, same-sense contexts are clearly closer (notes: the 果 figure)
        assert m[f"{word}_sense_gap_last_layer"] > 0.05
        assert m[f"{word}_same_sense_cosine"] > m[f"{word}_other_sense_cosine"]
        # a static vector cannot tell them apart at all
        assert abs(m[f"{word}_static_sense_gap"]) < 1e-6
    # the notes' own 果 is [UNK] for this English model: no separation, and the lesson says so
    r = lessons.get("contextual-embeddings").run(out_dir=tmp_path / "zh", words=("果",))
    assert r.metrics["果_is_unk"] == 1 and "[UNK]" in r.claim
    assert abs(r.metrics["果_sense_gap_last_layer"]) < 0.02
