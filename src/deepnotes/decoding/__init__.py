"""deepnotes.decoding: model scores to sequences (greedy, beam, exhaustive, sampling, CTC)."""

from deepnotes.decoding.ctc import ctc_best_path, ctc_prefix_beam_search
from deepnotes.decoding.sampling import sample, sampling_distribution
from deepnotes.decoding.search import (
    Hypothesis,
    SearchResult,
    StepFn,
    beam_search,
    exhaustive_search,
    greedy_search,
    length_penalized,
    map_state,
)

__all__ = [
    # CTC (R10)
    "ctc_best_path",
    "ctc_prefix_beam_search",
    # search (S3, S5)
    "Hypothesis",
    "SearchResult",
    "StepFn",
    "beam_search",
    "exhaustive_search",
    "greedy_search",
    "length_penalized",
    "map_state",
    # sampling (A14)
    "sample",
    "sampling_distribution",
]
