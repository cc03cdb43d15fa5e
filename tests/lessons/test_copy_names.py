"""The copy-names lesson (A14) in quick mode: three variants trained and scored, and the copy
rate by hand."""

from __future__ import annotations

import math

from deepnotes import lessons
from deepnotes.lessons.copy_names import copy_rate


def test_a14_copy_rate_counts_shared_words_kept():
    rate, n = copy_rate([["isaac", "went", "to", "gerar", "ur"], ["moses"]],
                        [["isaac", "fue", "a", "gerar", "ur"], ["moisés"]],
                        [["isaac", "fue", "a", "gera"], ["moisés"]])
    assert (rate, n) == (0.5, 2)  # "ur" is shorter than 3; "moses" is not kept by the reference
    assert math.isnan(copy_rate([["a"]], [["b"]], [["c"]])[0])


def test_a14_copy_names_quick_run_trains_three_translators(tmp_path):
    r = lessons.get("copy-names").run(out_dir=tmp_path, quick=True)
    assert [row["variant"] for row in r.tables["variants"]] == ["plain", "copy", "guided"]
    for v in ("plain", "copy", "guided"):
        assert r.metrics[f"{v}_test_bleu"] > 20  # the toy corpus is learnt by all three
        assert (tmp_path / v / "checkpoint.safetensors").exists()
    assert (tmp_path / "copy_names.png").exists()
