"""deepnotes.tasks: one module per end-to-end task, on top of the Trainer.

Each task goes data → model → train → evaluate → predict → save/load, and is used alike by the
lessons, the command line (``deepnotes generate``, ``deepnotes translate``), the tests and the
benchmarks:

- :mod:`deepnotes.tasks.classification`: fit a classifier or regressor on ``(x, y)`` batches,
  observe a held-out set, report the usual numbers;
- :mod:`deepnotes.tasks.text_classification`: many-to-one text classification on padded
  variable-length batches, settings chosen on a validation split;
- :mod:`deepnotes.tasks.tagging`: many-to-many sequence tagging (one label per token);
- :mod:`deepnotes.tasks.lm`: language models (corpus ids, truncated BPTT, perplexity,
  generation, checkpoints with the vocabulary);
- :mod:`deepnotes.tasks.translation`: sequence-to-sequence translation (masked loss, scheduled
  sampling, greedy/beam decoding, BLEU, checkpoints with both vocabularies).

Dependencies point downward: tasks import train/, models/, metrics/, data/; only lessons/ and
the CLI import tasks.
"""
