"""The ctc lesson (R10): its strings, its model, and its quick-mode claim."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepnotes import lessons
from deepnotes.errors import ConfigError
from deepnotes.lessons.ctc import BLANK, CTCReader, make_strings


def test_strings_are_the_digit_images_side_by_side():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 8, 8) + 0.1  # no all-zero column: gaps are easy to find
    labels = torch.tensor([3, 1, 4, 1, 5, 9])
    frames, lengths, targets, target_lengths = make_strings(images, labels, 20, 2, 4, 2, g)
    assert frames.shape == (20, 4 * 8 + 5 * 2, 8) and targets.shape == (20, 4)
    for x, n, t, k in zip(frames, lengths, targets, target_lengths):
        assert 2 <= k <= 4 and (t[k:] == BLANK).all() and (t[:k] >= 1).all()
        assert (x[n:] == 0).all()  # padding after the string
        inked = x[:n].abs().sum(1) > 0  # (n,) frames that belong to a digit
        assert int(inked.sum()) == 8 * int(k)  # every digit contributes its 8 columns
        assert k * 8 <= n <= k * 8 + (k + 1) * 2
        # the inked columns, cut into runs of 8, are the images of the target digits in order
        cols = x[:n][inked].view(int(k), 8, 8)  # (k, W, H)
        for img_cols, cls in zip(cols, t[:k]):
            matches = [j for j in range(6) if torch.equal(images[j, 0].T, img_cols)]
            assert matches and all(int(labels[j]) + 1 == int(cls) for j in matches)
    with pytest.raises(ConfigError):
        make_strings(images, labels, 1, 3, 2, 1, g)


def test_reader_outputs_per_frame_distributions():
    model = CTCReader(8, 5, 11)
    out = model(torch.randn(3, 7, 8))
    assert out.shape == (3, 7, 11)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 7))
    assert set(model.state_dict()) >= {"mean", "std", "rnn.weight_ih_l0_reverse", "head.weight"}


def test_ctc_lesson_reads_digit_strings(tmp_path):
    r = lessons.get("ctc").run(out_dir=tmp_path, quick=True)
    m = r.metrics
    # the trivial transcription (nothing) has error rate 1; CTC training gets far below it
    assert m["ler_empty_output"] == 1.0
    assert m["ler_best_path"] < 0.3
    assert m["ler_prefix_beam"] < 0.3
    # summing each labelling's paths is at least about as good as the single best path
    assert m["ler_prefix_beam"] <= m["ler_best_path"] + 0.02
    assert m["string_accuracy_prefix_beam"] > 0.5
    losses = [row["train_loss"] for row in r.history]
    assert losses[-1] < 0.5 * losses[0]
    assert m["ctc_loss_seconds_ours"] > 0 and m["ctc_loss_seconds_torch"] > 0
    assert len(r.tables["examples"]) == 10
    assert Path(r.checkpoint).is_file()
    assert all(Path(f).is_file() for f in r.figures)
