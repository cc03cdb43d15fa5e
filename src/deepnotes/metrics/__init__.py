"""deepnotes.metrics: the one home of every score computed on model outputs.

- classification: :func:`accuracy` (B7);
- language models: :func:`perplexity`, :func:`causal_perplexity`, :func:`perplexity_from_nll` (R8);
- sequence labelling: :func:`edit_distance`, :func:`label_error_rate` (R10);
- translation: BLEU as in the notes and sacrebleu-compatible corpus BLEU (S4);
- extractive QA: the best span, SQuAD's exact match and F1 (P4);
- word vectors: cosine similarity, neighbours, 3CosAdd/3CosMul analogies and their accuracy
  on the Google set, Spearman/Pearson on word-pair similarity sets, as gensim scores them (E7);
- generators: FID (Fréchet distance of classifier features), a classifier's confidence, class
  spread and Inception Score, mode coverage on 2-D mixtures, ROC AUC of anomaly scores (N5).

Notes: B7, R8, R10, S4, E7, P4, N5.
"""

from deepnotes.metrics.bleu import (
    BLEUScore,
    bleu,
    corpus_bleu,
    ngram_matches,
    sentence_bleu,
    tokenize_13a,
)
from deepnotes.metrics.classification import accuracy
from deepnotes.metrics.edit_distance import edit_distance, label_error_rate
from deepnotes.metrics.embeddings import (
    AnalogyResult,
    AnalogySection,
    WordPairsResult,
    analogy,
    cosine_similarity,
    evaluate_analogies,
    evaluate_word_pairs,
    nearest_neighbors,
    pearson,
    sense_gap,
    spearman,
)
from deepnotes.metrics.generative import (
    auroc,
    classifier_scores,
    fid,
    frechet_distance,
    gaussian_stats,
    mode_coverage,
    predicted_class_counts,
    sqrtm_psd,
)
from deepnotes.metrics.perplexity import causal_perplexity, perplexity, perplexity_from_nll
from deepnotes.metrics.qa import best_span, exact_match, normalize_answer, qa_scores, squad_f1

__all__ = [
    # extractive QA (P4)
    "best_span", "exact_match", "normalize_answer", "qa_scores", "squad_f1",
    # classification (B7)
    "accuracy",
    # language models (R8)
    "causal_perplexity",
    "perplexity",
    "perplexity_from_nll",
    # sequence labelling (R10)
    "edit_distance",
    "label_error_rate",
    # BLEU (S4)
    "BLEUScore",
    "bleu",
    "corpus_bleu",
    "ngram_matches",
    "sentence_bleu",
    "tokenize_13a",
    # word vectors (E7)
    "AnalogyResult",
    "AnalogySection",
    "WordPairsResult",
    "analogy",
    "cosine_similarity",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "nearest_neighbors",
    "pearson",
    "sense_gap",
    "spearman",
    # generators (N5)
    "auroc",
    "classifier_scores",
    "fid",
    "frechet_distance",
    "gaussian_stats",
    "mode_coverage",
    "predicted_class_counts",
    "sqrtm_psd",
]
