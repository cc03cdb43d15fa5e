"""The ctc lesson (R10): its strings, its model (the registry's ctc-reader), its quick claim."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from deepnotes import lessons, models
from deepnotes.errors import ConfigError, ShapeError
from deepnotes.lessons.ctc import BLANK, make_strings
from deepnotes.models.ctc_reader import CTCReader
from deepnotes.train.checkpoint import load_checkpoint


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
    model = models.create("ctc-reader", in_features=8, hidden=5, num_classes=11)
    assert isinstance(model, CTCReader)
    out = model(torch.randn(3, 7, 8))
    assert out.shape == (3, 7, 11)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 7))
    assert set(model.state_dict()) >= {"mean", "std", "rnn.weight_ih_l0_reverse", "head.weight"}
    # the frames are standardised with the buffers: shifting both changes nothing
    x = torch.randn(2, 4, 8)
    before = model(x)
    model.mean.fill_(3.0)
    torch.testing.assert_close(model(x + 3.0), before)
    with pytest.raises(ShapeError, match=r"\(B, T, 8\)"):
        model(torch.zeros(2, 4, 6))
    with pytest.raises(ConfigError, match="num_classes"):
        models.create("ctc-reader", num_classes=1)


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
    # the checkpoint names the registered model, so it rebuilds with its standardisation
    saved = load_checkpoint(r.checkpoint)
    again = models.from_info(saved["model_info"])
    assert isinstance(again, CTCReader)
    again.load_state_dict(saved["model_state"])
    assert not torch.equal(again.std, torch.ones(8))  # σ of the training frames, not the init
